"""COVERED_ENV and what production asks of the environment; the payment call's bounds."""

import pytest

from webapp.config import (
    PRODUCTION_REQUIRES,
    STRIPE_CALL_LIMIT_SECONDS,
    STRIPE_RETRY_FIRST_DELAY,
    STRIPE_RETRY_MAX_DELAY,
    ConfigError,
    gateway_call_worst_case,
    load_settings,
)
from webapp.services.demo import seeding_refusal

VARIABLES = (
    "COVERED_ENV", "SECRET_KEY", "DATABASE_URL", "REDIS_URL", "PUBLIC_URL", "PORT",
    "SESSION_COOKIE_SECURE", "STRIPE_API_KEY", "STRIPE_API_BASE", "STRIPE_PUBLISHABLE_KEY",
    "STRIPE_JS_URL", "STRIPE_WEBHOOK_SECRET", "STRIPE_TIMEOUT_SECONDS",
    "STRIPE_MAX_NETWORK_RETRIES", "MAIL_SERVER",
)  # fmt: skip
PRODUCTION = {
    "COVERED_ENV": "production",
    "SECRET_KEY": "a-long-random-secret-from-the-store",
    "DATABASE_URL": "postgresql://covered:pw@127.0.0.1:5432/covered",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "PUBLIC_URL": "https://covered.example.org",
    "STRIPE_API_KEY": "sk_live_abc123",
    "STRIPE_PUBLISHABLE_KEY": "pk_live_abc123",
    "STRIPE_WEBHOOK_SECRET": "whsec_abc123",
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)


def settings(monkeypatch, tmp_path, **values):
    for name, value in values.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    return load_settings(tmp_path)


def test_it_runs_as_development_by_default_and_names_a_bad_environment(monkeypatch, tmp_path):
    assert settings(monkeypatch, tmp_path)["COVERED_ENV"] == "development"
    assert settings(monkeypatch, tmp_path, COVERED_ENV="Test")["COVERED_ENV"] == "test"
    with pytest.raises(ConfigError, match="COVERED_ENV must be one of: development, production"):
        settings(monkeypatch, tmp_path, COVERED_ENV="staging")


def test_production_loads_with_everything_it_needs(monkeypatch, tmp_path):
    loaded = settings(monkeypatch, tmp_path, **PRODUCTION)
    assert loaded["COVERED_ENV"] == "production"
    assert loaded["SQLALCHEMY_DATABASE_URI"].startswith("postgresql+psycopg://")
    assert (loaded["SESSION_COOKIE_SECURE"], loaded["REMEMBER_COOKIE_SECURE"]) == (True, True)
    assert not (tmp_path / "secret_key").exists()  # never a generated key


@pytest.mark.parametrize("missing", PRODUCTION_REQUIRES)
def test_production_names_each_variable_it_lacks(monkeypatch, tmp_path, missing):
    with pytest.raises(ConfigError, match=f"COVERED_ENV=production needs .*{missing}"):
        settings(monkeypatch, tmp_path, **{**PRODUCTION, missing: None})
    assert not (tmp_path / "secret_key").exists()


def test_production_names_every_missing_variable_at_once(monkeypatch, tmp_path):
    with pytest.raises(ConfigError) as error:
        settings(monkeypatch, tmp_path, COVERED_ENV="production")
    assert str(error.value) == f"COVERED_ENV=production needs {', '.join(PRODUCTION_REQUIRES)}"


def test_production_refuses_sqlite(monkeypatch, tmp_path):
    sqlite = f"sqlite:///{tmp_path / 'covered.sqlite3'}"
    with pytest.raises(ConfigError, match="PostgreSQL DATABASE_URL"):
        settings(monkeypatch, tmp_path, **{**PRODUCTION, "DATABASE_URL": sqlite})


@pytest.mark.parametrize(
    ("public_url", "secure"),
    [
        ("https://covered.example.org", True),
        ("https://127.0.0.1:8443", True),
        ("http://127.0.0.1:8000", False),  # trying production on one machine
        ("http://localhost:8000", False),
        ("http://[::1]:8000", False),
    ],
)
def test_production_cookies_follow_the_public_url(monkeypatch, tmp_path, public_url, secure):
    loaded = settings(monkeypatch, tmp_path, **{**PRODUCTION, "PUBLIC_URL": public_url})
    assert (loaded["SESSION_COOKIE_SECURE"], loaded["REMEMBER_COOKIE_SECURE"]) == (secure, secure)


@pytest.mark.parametrize(
    "public_url", ["http://covered.example.org", "http://10.0.0.5:8000", "http://127.0.0.1.nip.io"]
)
def test_production_refuses_plain_http_beyond_this_machine(monkeypatch, tmp_path, public_url):
    with pytest.raises(ConfigError, match="https PUBLIC_URL"):
        settings(monkeypatch, tmp_path, **{**PRODUCTION, "PUBLIC_URL": public_url})


def test_production_refuses_cookies_without_secure_over_https(monkeypatch, tmp_path):
    with pytest.raises(ConfigError, match="SESSION_COOKIE_SECURE=false is refused"):
        settings(monkeypatch, tmp_path, **PRODUCTION, SESSION_COOKIE_SECURE="false")


@pytest.mark.parametrize(
    ("environment", "public_url", "flag", "secure"),
    [
        ("development", None, None, False),
        ("development", "https://covered.test", None, True),
        ("development", "https://covered.test", "false", False),
        ("test", None, "true", True),
    ],
)
def test_elsewhere_cookies_are_secure_over_https_unless_told(
    monkeypatch, tmp_path, environment, public_url, flag, secure
):
    loaded = settings(
        monkeypatch, tmp_path, COVERED_ENV=environment, PUBLIC_URL=public_url,
        SESSION_COOKIE_SECURE=flag,
    )  # fmt: skip
    assert loaded["SESSION_COOKIE_SECURE"] is secure


def test_stripe_python_still_backs_off_as_the_worst_case_assumes():
    from stripe._http_client import HTTPClient

    assert (HTTPClient.INITIAL_DELAY, HTTPClient.MAX_DELAY) == (
        STRIPE_RETRY_FIRST_DELAY,
        STRIPE_RETRY_MAX_DELAY,
    )


@pytest.mark.parametrize(
    ("timeout", "retries", "worst"),
    [(10, 0, 20), (10, 1, 40.5), (5, 2, 31.5), (1, 3, 11.5), (30, 0, 60)],
)
def test_a_payment_calls_worst_case_counts_each_attempt_and_the_backoff(timeout, retries, worst):
    assert gateway_call_worst_case(timeout, retries) == worst


def test_the_payment_call_defaults_stay_within_the_limit(monkeypatch, tmp_path):
    loaded = settings(monkeypatch, tmp_path)
    assert (loaded["STRIPE_TIMEOUT_SECONDS"], loaded["STRIPE_MAX_NETWORK_RETRIES"]) == (10, 1)
    assert gateway_call_worst_case(10, 1) <= STRIPE_CALL_LIMIT_SECONDS


@pytest.mark.parametrize(
    ("timeout", "retries", "message"),
    [
        ("0", "1", "STRIPE_TIMEOUT_SECONDS must be between 1 and 30"),
        ("31", "0", "STRIPE_TIMEOUT_SECONDS must be between 1 and 30"),
        ("ten", "1", "STRIPE_TIMEOUT_SECONDS must be a whole number"),
        ("10", "4", "STRIPE_MAX_NETWORK_RETRIES must be between 0 and 3"),
        ("20", "1", "lets one payment call take 80.5 s; keep it within 60 s"),
        ("30", "3", "lets one payment call take 243.5 s"),
    ],
)
def test_it_refuses_payment_timeouts_a_request_cannot_outlast(
    monkeypatch, tmp_path, timeout, retries, message
):
    with pytest.raises(ConfigError, match=message):
        settings(
            monkeypatch, tmp_path, STRIPE_TIMEOUT_SECONDS=timeout,
            STRIPE_MAX_NETWORK_RETRIES=retries,
        )  # fmt: skip


@pytest.mark.parametrize(
    ("environment", "database_url_set", "refused_because"),
    [
        ("development", False, None),
        ("development", True, "DATABASE_URL is set"),
        ("production", False, "COVERED_ENV is production"),
        ("production", True, "COVERED_ENV is production"),
        ("test", False, "COVERED_ENV is test"),
    ],
)
def test_the_demo_goes_only_into_the_default_development_database(
    environment, database_url_set, refused_because
):
    refusal = seeding_refusal(environment, database_url_set)
    if refused_because is None:
        assert refusal is None
    else:
        assert refused_because in refusal
