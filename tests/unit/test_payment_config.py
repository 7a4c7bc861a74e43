"""Payment settings: localstripe by default, Stripe once a key is set, loud on bad values."""

import pytest

from webapp.config import ConfigError, stripe_settings

STRIPE_VARS = (
    "STRIPE_API_KEY",
    "STRIPE_API_BASE",
    "STRIPE_PUBLISHABLE_KEY",
    "STRIPE_JS_URL",
    "STRIPE_WEBHOOK_SECRET",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in STRIPE_VARS:
        monkeypatch.delenv(name, raising=False)


def production(monkeypatch, **overrides):
    values = {
        "STRIPE_API_KEY": "sk_live_abc123",
        "STRIPE_PUBLISHABLE_KEY": "pk_live_abc123",
        "STRIPE_WEBHOOK_SECRET": "whsec_abc123",
        **overrides,
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)


def test_it_talks_to_localstripe_on_127_0_0_1_by_default():
    settings = stripe_settings()
    assert settings["STRIPE_API_BASE"] == "http://127.0.0.1:8420"
    assert settings["STRIPE_JS_URL"] == "http://127.0.0.1:8420/js.stripe.com/v3/"
    assert settings["STRIPE_API_KEY"].startswith("sk_test_")
    assert settings["STRIPE_PUBLISHABLE_KEY"].startswith("pk_test_")


def test_it_talks_to_stripe_once_a_key_is_set(monkeypatch):
    production(monkeypatch)
    settings = stripe_settings()
    assert settings["STRIPE_API_BASE"] == "https://api.stripe.com"
    assert settings["STRIPE_JS_URL"] == "https://js.stripe.com/v3/"
    assert settings["STRIPE_WEBHOOK_SECRET"] == "whsec_abc123"


def test_it_follows_a_localstripe_on_another_port(monkeypatch):
    monkeypatch.setenv("STRIPE_API_BASE", "http://127.0.0.1:9999/")
    settings = stripe_settings()
    assert settings["STRIPE_API_BASE"] == "http://127.0.0.1:9999"
    assert settings["STRIPE_JS_URL"] == "http://127.0.0.1:9999/js.stripe.com/v3/"


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"STRIPE_PUBLISHABLE_KEY": ""}, "STRIPE_PUBLISHABLE_KEY"),
        ({"STRIPE_WEBHOOK_SECRET": ""}, "STRIPE_WEBHOOK_SECRET"),
        ({"STRIPE_API_KEY": "pk_live_wrong_kind"}, "STRIPE_API_KEY"),
        ({"STRIPE_API_KEY": "sk_test_"}, "STRIPE_API_KEY"),
        ({"STRIPE_WEBHOOK_SECRET": "secret"}, "STRIPE_WEBHOOK_SECRET"),
        ({"STRIPE_API_BASE": "ftp://api.stripe.com"}, "STRIPE_API_BASE"),
        ({"STRIPE_API_BASE": "http://127.0.0.1:8420"}, "live STRIPE_API_KEY"),
        ({"STRIPE_PUBLISHABLE_KEY": "pk_test_abc"}, "both test or both live"),
        ({"STRIPE_JS_URL": "js.stripe.com/v3"}, "STRIPE_JS_URL"),
    ],
)
def test_it_fails_loudly_on_a_bad_value(monkeypatch, overrides, named):
    production(monkeypatch, **overrides)
    with pytest.raises(ConfigError, match=named):
        stripe_settings()
