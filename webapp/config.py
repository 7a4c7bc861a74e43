"""Settings from the environment, with embedded defaults for one machine.

Every helper fails loudly with the variable's name when a value is bad, so a
typo stops start-up instead of running with a surprise.
"""

import ipaddress
import os
import secrets
from datetime import timedelta
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import urlparse

DEVELOPMENT, PRODUCTION, TEST = "development", "production", "test"
ENVIRONMENTS = (DEVELOPMENT, PRODUCTION, TEST)


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


def env_choice(name: str, default: str, allowed: tuple[str, ...]) -> str:
    raw = (os.environ.get(name) or "").strip()
    if not raw:
        return default
    if raw.lower() not in allowed:
        raise ConfigError(f"{name} must be one of: {', '.join(allowed)}; got {raw!r}")
    return raw.lower()


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


# stripe-python's backoff between network retries (stripe._http_client.HTTPClient): 0.5 s,
# doubling, at most 5 s. tests/unit/test_production_config.py checks the installed values.
STRIPE_RETRY_FIRST_DELAY = 0.5
STRIPE_RETRY_MAX_DELAY = 5.0
# A gateway call must give up well before the settler takes over a pending payment
# (webapp/services/settlement.py, STALE_AFTER = 2 minutes).
STRIPE_CALL_LIMIT_SECONDS = 60


def gateway_call_worst_case(timeout_seconds: float, max_network_retries: int) -> float:
    """Seconds one gateway call can take against a gateway that never answers.

    Each attempt can wait `timeout_seconds` to connect and again for the answer
    (requests applies the timeout to each); stripe-python makes 1 + retries attempts
    with its backoff between them. A gateway that trickles bytes can still hold a
    call longer: the timeout is between bytes, not for the whole answer.
    """
    backoff = sum(
        min(STRIPE_RETRY_FIRST_DELAY * 2 ** (n - 1), STRIPE_RETRY_MAX_DELAY)
        for n in range(1, max_network_retries + 1)
    )
    return (1 + max_network_retries) * 2 * timeout_seconds + backoff


def gateway_network_settings() -> dict:
    """STRIPE_TIMEOUT_SECONDS (default 10) and STRIPE_MAX_NETWORK_RETRIES (default 1).

    Their worst case (`gateway_call_worst_case`) must stay within 60 seconds, so the
    web server's timeout (README, Production) and the settler both outlast a call.
    """
    timeout = env_int("STRIPE_TIMEOUT_SECONDS", 10, minimum=1, maximum=30)
    retries = env_int("STRIPE_MAX_NETWORK_RETRIES", 1, minimum=0, maximum=3)
    worst = gateway_call_worst_case(timeout, retries)
    if worst > STRIPE_CALL_LIMIT_SECONDS:
        raise ConfigError(
            f"STRIPE_TIMEOUT_SECONDS={timeout} with STRIPE_MAX_NETWORK_RETRIES={retries} lets "
            f"one payment call take {worst:g} s; keep it within {STRIPE_CALL_LIMIT_SECONDS} s "
            "(fewer retries or a shorter timeout)"
        )
    return {"STRIPE_TIMEOUT_SECONDS": timeout, "STRIPE_MAX_NETWORK_RETRIES": retries}


# Background jobs: seconds between RQ's retries of each kind of job, and how long a
# claimed row may sit before a sweeper takes it over. `webapp.services.queue.enqueue`
# takes the name of one of these retry settings (its `retry=`); nothing reads them with
# an inline default. Tests set shorter ones through `create_app(overrides)`.
RETRY_SETTINGS = {
    # A hold that got no answer from the gateway (services/preauth_runs).
    "PREAUTH_RETRY_INTERVALS": (15, 60, 300, 900),
    # An automation's charge or release that got no answer (services/automations).
    "AUTOMATION_RETRY_INTERVALS": (30, 120, 300, 900),
    # Finishing a claim's pending payments after a timeout (services/settlement).
    "SETTLE_RETRY_INTERVALS": (30, 120, 300, 900, 3600),
    # Asking the gateway about a row's holds when a page could not (services/hold_checks).
    "HOLD_CHECK_RETRY_INTERVALS": (30, 120, 600),
    # A reminder email digest the mail server did not accept; after the last one the
    # reminders stay pending and the next hourly run queues them again.
    "REMINDER_DIGEST_RETRY_INTERVALS": (60, 300, 1800),
    # The demo's cards and holds, while the payments server is still starting.
    "DEMO_PAYMENTS_RETRY_INTERVALS": (2, 5, 10, 20, 30, 60),
}
MAX_RETRIES = 10
MAX_RETRY_SECONDS = 86_400
# A hold job is stopped after this long (RQ's job timeout); PREAUTH_STUCK_MINUTES must
# leave it that long, and the workers' stop timeout (deploy/systemd) outlasts it.
PREAUTH_JOB_TIMEOUT_SECONDS = 120
PREAUTH_STUCK_MINUTES = 10  # the setting's default
# Placing holds (services/hold_batches): a hold may be placed up to PREAUTH_LEAD_SECONDS
# before its run_at, so holds due at one instant (visits on the hour) are placed by
# their due time; each run takes due rows PREAUTH_BATCH_SIZE at a time and calls the
# gateway from PREAUTH_GATEWAY_THREADS threads (fewer than the database pool's 15).
PREAUTH_LEAD_SECONDS = 120
PREAUTH_BATCH_SIZE = 100
PREAUTH_GATEWAY_THREADS = 8
# A job still in RQ's scheduled registry this long after its time: no scheduler is
# moving jobs (its process died, Redis restarted), so the sweepers send it themselves.
SCHEDULER_GRACE_SECONDS = 30
# How often each worker runs RQ's maintenance, which starts a scheduler when the one
# holding the lock is gone (RQ's default: 10 minutes).
WORKER_MAINTENANCE_SECONDS = 60


def env_intervals(name: str, default: tuple[int, ...]) -> tuple[int, ...]:
    """Seconds between retries, from `NAME=15,60,300` (`none`: no retry).

    Raises:
        ConfigError: a value that is not whole seconds from 0 to 86,400, or more
            than MAX_RETRIES of them.
    """
    raw = (os.environ.get(name) or "").strip()
    if not raw:
        return tuple(default)
    if raw.lower() == "none":
        return ()
    try:
        values = tuple(int(part) for part in raw.split(","))
    except ValueError:
        raise ConfigError(
            f"{name} must be seconds separated by commas (such as 15,60,300) or none; got {raw!r}"
        ) from None
    if len(values) > MAX_RETRIES or not all(0 <= v <= MAX_RETRY_SECONDS for v in values):
        raise ConfigError(
            f"{name} takes at most {MAX_RETRIES} retries of 0 to {MAX_RETRY_SECONDS} seconds each;"
            f" got {raw!r}"
        )
    return values


def job_settings() -> dict:
    """Retry intervals of every kind of job (RETRY_SETTINGS, each overridable by the
    variable of the same name); PREAUTH_STUCK_MINUTES (default 10, 3 to 1440): how
    long a hold may sit in processing before the sweeper asks the gateway about it,
    longer than the hold job's timeout; PREAUTH_LEAD_SECONDS (default 120, 0 to 600):
    how early a hold may be placed; PREAUTH_BATCH_SIZE (default 100, 1 to 1000) and
    PREAUTH_GATEWAY_THREADS (default 8, 1 to 12): how a run places due holds.

    Raises:
        ConfigError: a value out of its range.
    """
    settings = {name: env_intervals(name, default) for name, default in RETRY_SETTINGS.items()}
    shortest = PREAUTH_JOB_TIMEOUT_SECONDS // 60 + 1
    settings["PREAUTH_STUCK_MINUTES"] = env_int(
        "PREAUTH_STUCK_MINUTES", PREAUTH_STUCK_MINUTES, minimum=shortest, maximum=1440
    )
    settings["PREAUTH_LEAD_SECONDS"] = env_int(
        "PREAUTH_LEAD_SECONDS", PREAUTH_LEAD_SECONDS, minimum=0, maximum=600
    )
    settings["PREAUTH_BATCH_SIZE"] = env_int(
        "PREAUTH_BATCH_SIZE", PREAUTH_BATCH_SIZE, minimum=1, maximum=1000
    )
    settings["PREAUTH_GATEWAY_THREADS"] = env_int(
        "PREAUTH_GATEWAY_THREADS", PREAUTH_GATEWAY_THREADS, minimum=1, maximum=12
    )
    return settings


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


def _is_loopback(url: str) -> bool:
    host = urlparse(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


PRODUCTION_REQUIRES = ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "PUBLIC_URL", "STRIPE_API_KEY")


def require_production_environment() -> None:
    """COVERED_ENV=production takes nothing from the one-machine defaults.

    Raises:
        ConfigError: naming every variable production needs that is not set.
    """
    missing = [name for name in PRODUCTION_REQUIRES if not (os.environ.get(name) or "").strip()]
    if missing:
        raise ConfigError(f"COVERED_ENV=production needs {', '.join(missing)}")


def env_policy(name: str) -> str | None:
    """A Content-Security-Policy from the environment: one line of `directive value;` parts."""
    raw = (os.environ.get(name) or "").strip()
    if not raw:
        return None
    if any(c in raw for c in "\r\n") or "frame-ancestors" not in raw:
        raise ConfigError(
            f"{name} must be one line and keep a frame-ancestors directive, got {raw!r}"
        )
    return raw


def session_settings(environment: str, address: str) -> dict:
    """Cookies, sign-in throttling and session lifetimes (see webapp/services/sessions.py).

    Cookies are Secure by default when PUBLIC_URL is https (production behind TLS);
    SESSION_COOKIE_SECURE overrides it for both the session and the remember-me
    cookie, except that in production an https PUBLIC_URL makes them Secure whatever
    it says, and PUBLIC_URL must be https unless it is a loopback address (trying
    production on one machine, as `make try-production` does). IDLE_TIMEOUT_MINUTES
    (default 30: HIPAA automatic logoff) ends every session of a user who did nothing
    for that long; REMEMBER_COOKIE_DAYS bounds "Keep me signed in" (default 7).
    """
    https = address.startswith("https://")
    secure = env_bool("SESSION_COOKIE_SECURE", https)
    if environment == PRODUCTION:
        if not https and not _is_loopback(address):
            raise ConfigError(f"COVERED_ENV=production needs an https PUBLIC_URL, got {address!r}")
        if https and not secure:
            raise ConfigError(
                "SESSION_COOKIE_SECURE=false is refused in production with an https PUBLIC_URL"
            )
    return {
        "SESSION_COOKIE_SECURE": secure,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": secure,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_DURATION": timedelta(
            days=env_int("REMEMBER_COOKIE_DAYS", 7, minimum=1, maximum=30)
        ),
        "IDLE_TIMEOUT_MINUTES": env_int("IDLE_TIMEOUT_MINUTES", 30, minimum=1, maximum=1440),
        # Failed sign-ins (Flask-Limiter syntax), per account and per client address.
        "SIGN_IN_ACCOUNT_LIMIT": "5 per 15 minutes",
        "SIGN_IN_ADDRESS_LIMIT": "30 per 15 minutes",
    }


def load_settings(instance_path: Path) -> dict:
    """Everything the app reads from the environment, as Flask config keys.

    COVERED_ENV: `development` (default: one machine, embedded Redis, localstripe,
    the demo on an empty default database), `test` (the test suite: development
    defaults, never the demo) or `production` (see `require_production_environment`
    and `session_settings`; PostgreSQL only; never the demo).
    """
    environment = env_choice("COVERED_ENV", DEVELOPMENT, ENVIRONMENTS)
    if environment == PRODUCTION:
        require_production_environment()
    sqlite_default = f"sqlite:///{instance_path / 'covered.sqlite3'}"
    database_url = env_url("DATABASE_URL", sqlite_default, ("sqlite", "postgresql", "postgres"))
    if environment == PRODUCTION and not database_url.startswith("postgresql"):
        raise ConfigError("COVERED_ENV=production needs a PostgreSQL DATABASE_URL")
    mail = mail_settings()
    return {
        "COVERED_ENV": environment,
        # The demo goes only into the default database (services/demo.py, seeding_refusal).
        "DATABASE_URL_SET": bool((os.environ.get("DATABASE_URL") or "").strip()),
        "SECRET_KEY": secret_key(instance_path),
        "SQLALCHEMY_DATABASE_URI": database_url,
        "REDIS_URL": env_url("REDIS_URL", None, ("redis", "rediss", "unix")),
        "PORT": env_int("PORT", 5000, minimum=1),
        **session_settings(environment, mail["PUBLIC_URL"]),
        "WTF_CSRF_TIME_LIMIT": None,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        # Uploads are at most 5 MB (legacy import); the rest of a request fits in 1 MB.
        "MAX_CONTENT_LENGTH": 6 * 1024 * 1024,
        "TRUSTED_PROXIES": env_int("TRUSTED_PROXIES", 0, minimum=0, maximum=5),
        "HSTS_SECONDS": 31_536_000,  # one year, sent only over HTTPS
        # None: the policy the pages need today (webapp/security.py), from the payment gateway.
        "CONTENT_SECURITY_POLICY": env_policy("CONTENT_SECURITY_POLICY"),
        **stripe_settings(),
        **gateway_network_settings(),
        **job_settings(),
        **mail,
    }
