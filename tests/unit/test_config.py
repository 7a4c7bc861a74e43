"""Settings from the environment fail loudly, naming the variable."""

import pytest

from webapp.config import ConfigError, env_bool, env_int, env_url, load_settings


@pytest.mark.parametrize(
    ("name", "value", "loader"),
    [
        ("PORT", "eighty", lambda: env_int("PORT", 5000)),
        ("PORT", "70000", lambda: env_int("PORT", 5000)),
        (
            "DATABASE_URL",
            "mysql://x",
            lambda: env_url("DATABASE_URL", None, ("sqlite", "postgresql")),
        ),
        ("SESSION_COOKIE_SECURE", "maybe", lambda: env_bool("SESSION_COOKIE_SECURE", False)),
    ],
)
def test_it_names_the_variable_with_a_bad_value(monkeypatch, name, value, loader):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        loader()


def test_it_turns_a_postgres_url_into_the_psycopg_dialect(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://u@h/db")
    assert (
        env_url("DATABASE_URL", None, ("postgres", "postgresql")) == "postgresql+psycopg://u@h/db"
    )


def test_it_generates_a_secret_key_once_and_keeps_it(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    first = load_settings(tmp_path)["SECRET_KEY"]
    assert first == load_settings(tmp_path)["SECRET_KEY"]
    assert len(first) >= 32
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_it_refuses_a_short_secret_key(tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "short")
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_settings(tmp_path)
