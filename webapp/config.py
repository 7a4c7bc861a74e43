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
    }
