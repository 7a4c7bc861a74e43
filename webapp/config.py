"""Settings from the environment, with embedded defaults for one machine.

Every helper fails loudly with the variable's name when a value is bad, so a
typo stops start-up instead of running with a surprise.
"""

import os
import secrets
from pathlib import Path
from urllib.parse import urlparse


class ConfigError(RuntimeError):
    """A setting from the environment is missing or malformed."""


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def env_int(name: str, default: int, *, minimum: int = 0, maximum: int = 65535) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if not minimum <= value <= maximum:
        raise ConfigError(f"{name} must be between {minimum} and {maximum}, got {value}")
    return value


def env_url(name: str, default: str | None, schemes: tuple[str, ...]) -> str | None:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    scheme = urlparse(raw).scheme.split("+")[0]
    if scheme not in schemes:
        allowed = ", ".join(schemes)
        raise ConfigError(f"{name} must be a URL starting with one of: {allowed}; got {raw!r}")
    if scheme == "postgres":  # Heroku-style URLs; SQLAlchemy wants postgresql+psycopg
        raw = "postgresql" + raw[len("postgres") :]
    if raw.startswith("postgresql://"):
        raw = "postgresql+psycopg://" + raw[len("postgresql://") :]
    return raw


def secret_key(instance_path: Path) -> str:
    """SECRET_KEY from the environment, else one generated once and kept in instance/."""
    raw = os.environ.get("SECRET_KEY")
    if raw:
        if len(raw) < 16:
            raise ConfigError("SECRET_KEY must be at least 16 characters long")
        return raw
    key_file = instance_path / "secret_key"
    if not key_file.exists():
        instance_path.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


LOCALSTRIPE_BASE = "http://127.0.0.1:8420"
STRIPE_BASE = "https://api.stripe.com"
STRIPE_JS = "https://js.stripe.com/v3/"


def env_prefixed(name: str, prefixes: tuple[str, ...]) -> str | None:
    raw = (os.environ.get(name) or "").strip()
    if not raw:
        return None
    if not raw.startswith(prefixes) or len(raw) <= max(map(len, prefixes)):
        raise ConfigError(f"{name} must start with one of: {', '.join(prefixes)}")
    return raw


def stripe_settings() -> dict:
    """The payment gateway: localstripe on 127.0.0.1 unless STRIPE_API_KEY is set.

    With STRIPE_API_KEY set the base address defaults to Stripe's own, and the
    publishable key and webhook secret become required. A live key never talks to
    anything but Stripe, and the two keys must be both test or both live.
    """
    api_key = env_prefixed("STRIPE_API_KEY", ("sk_test_", "sk_live_", "rk_test_", "rk_live_"))
    api_base = env_url("STRIPE_API_BASE", None, ("http", "https"))
    api_base = (api_base or (STRIPE_BASE if api_key else LOCALSTRIPE_BASE)).rstrip("/")
    on_stripe = api_base == STRIPE_BASE
    publishable = env_prefixed("STRIPE_PUBLISHABLE_KEY", ("pk_test_", "pk_live_"))
    webhook_secret = env_prefixed("STRIPE_WEBHOOK_SECRET", ("whsec_",))
    if on_stripe:
        missing = [
            name
            for name, value in (
                ("STRIPE_API_KEY", api_key),
                ("STRIPE_PUBLISHABLE_KEY", publishable),
                ("STRIPE_WEBHOOK_SECRET", webhook_secret),
            )
            if not value
        ]
        if missing:
            raise ConfigError(f"talking to {STRIPE_BASE} needs {', '.join(missing)}")
    api_key = api_key or "sk_test_covered"
    publishable = publishable or "pk_test_covered"
    if "_live_" in api_key and not on_stripe:
        raise ConfigError(f"a live STRIPE_API_KEY only talks to {STRIPE_BASE}, not {api_base}")
    if ("_live_" in api_key) != ("_live_" in publishable):
        raise ConfigError(
            "STRIPE_API_KEY and STRIPE_PUBLISHABLE_KEY must be both test or both live"
        )
    js_default = STRIPE_JS if on_stripe else f"{api_base}/js.stripe.com/v3/"
    return {
        "STRIPE_API_KEY": api_key,
        "STRIPE_API_BASE": api_base,
        "STRIPE_PUBLISHABLE_KEY": publishable,
        "STRIPE_JS_URL": env_url("STRIPE_JS_URL", js_default, ("http", "https")),
        "STRIPE_WEBHOOK_SECRET": webhook_secret or "whsec_covered_localstripe",
    }


def _mail_address(name: str, raw: str) -> str:
    from email.utils import parseaddr

    _display, address = parseaddr(raw)
    local, _, domain = address.partition("@")
    if not local or not domain or " " in address:
        raise ConfigError(
            f"{name} must be an email address such as 'Covered <covered@example.com>'"
        )
    return raw.strip()


def mail_settings() -> dict:
    """Email: SMTP when MAIL_SERVER is set, else files in instance/outbox/.

    MAIL_USE_TLS is STARTTLS (port 587 by default), MAIL_USE_SSL implicit TLS (465).
    With MAIL_SERVER set, MAIL_DEFAULT_SENDER is required; the other MAIL_* values
    without MAIL_SERVER are a mistake and stop start-up. PUBLIC_URL is the address
    people open the app at, used for links in emails (see `public_url`).
    """
    server = (os.environ.get("MAIL_SERVER") or "").strip() or None
    use_tls = env_bool("MAIL_USE_TLS", False)
    use_ssl = env_bool("MAIL_USE_SSL", False)
    if use_tls and use_ssl:
        raise ConfigError("MAIL_USE_TLS (STARTTLS) and MAIL_USE_SSL cannot both be on")
    default_port = 465 if use_ssl else 587 if use_tls else 25
    username = os.environ.get("MAIL_USERNAME") or None
    password = os.environ.get("MAIL_PASSWORD") or None
    sender = (os.environ.get("MAIL_DEFAULT_SENDER") or "").strip()
    if server is None:
        stray = [n for n in ("MAIL_PORT", "MAIL_USERNAME", "MAIL_PASSWORD") if os.environ.get(n)]
        if stray or use_tls or use_ssl:
            names = ", ".join(stray + ["MAIL_USE_TLS"] * use_tls + ["MAIL_USE_SSL"] * use_ssl)
            raise ConfigError(f"{names} set but MAIL_SERVER is not")
    else:
        if "://" in server or any(c.isspace() for c in server):
            raise ConfigError(
                f"MAIL_SERVER must be a host name such as smtp.example.com, got {server!r}"
            )
        if bool(username) != bool(password):
            raise ConfigError("MAIL_USERNAME and MAIL_PASSWORD go together: set both or neither")
        if not sender:
            raise ConfigError("MAIL_DEFAULT_SENDER is required when MAIL_SERVER is set")
    port = env_int("MAIL_PORT", default_port, minimum=1)
    return {
        "MAIL_SERVER": server,
        "MAIL_PORT": port,
        "MAIL_USE_TLS": use_tls,
        "MAIL_USE_SSL": use_ssl,
        "MAIL_USERNAME": username,
        "MAIL_PASSWORD": password,
        "MAIL_DEFAULT_SENDER": _mail_address(
            "MAIL_DEFAULT_SENDER", sender or "Covered <covered@localhost>"
        ),
        "MAIL_TIMEOUT": env_int("MAIL_TIMEOUT", 30, minimum=1, maximum=600),
        "PUBLIC_URL": public_url(),
    }


def public_url() -> str:
    """Where people open the app: the base of every link in an email.

    PUBLIC_URL when set (`make run` sets it once for every process). Otherwise the web
    server's own address, from COVERED_PORT, the web port `make run` exports to every
    process: not PORT, which honcho gives each process of the Procfile a different value
    of, so a worker would write links to a port nobody serves. Plain PORT is the last
    resort for a web server started on its own.
    """
    port = env_int("COVERED_PORT", 0, minimum=0) or env_int("PORT", 5000, minimum=1)
    return env_url("PUBLIC_URL", f"http://127.0.0.1:{port}", ("http", "https")).rstrip("/")


def load_settings(instance_path: Path) -> dict:
    """Everything the app reads from the environment, as Flask config keys."""
    sqlite_default = f"sqlite:///{instance_path / 'covered.sqlite3'}"
    return {
        "SECRET_KEY": secret_key(instance_path),
        "SQLALCHEMY_DATABASE_URI": env_url(
            "DATABASE_URL", sqlite_default, ("sqlite", "postgresql", "postgres")
        ),
        "REDIS_URL": env_url("REDIS_URL", None, ("redis", "rediss", "unix")),
        "PORT": env_int("PORT", 5000, minimum=1),
        "SESSION_COOKIE_SECURE": env_bool("SESSION_COOKIE_SECURE", False),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "WTF_CSRF_TIME_LIMIT": None,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        **stripe_settings(),
        **mail_settings(),
    }
