"""MAIL_* settings: SMTP when MAIL_SERVER is set, the outbox otherwise; mistakes stop start-up."""

import pytest

from webapp.config import ConfigError, mail_settings

MAIL_VARIABLES = (
    "MAIL_SERVER", "MAIL_PORT", "MAIL_USERNAME", "MAIL_PASSWORD", "MAIL_USE_TLS",
    "MAIL_USE_SSL", "MAIL_DEFAULT_SENDER", "MAIL_TIMEOUT", "PUBLIC_URL", "PORT", "COVERED_PORT",
)  # fmt: skip


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in MAIL_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_without_a_mail_server_mail_goes_to_the_outbox():
    settings = mail_settings()
    assert settings["MAIL_SERVER"] is None
    assert settings["MAIL_DEFAULT_SENDER"] == "Covered <covered@localhost>"
    assert settings["PUBLIC_URL"] == "http://127.0.0.1:5000"


@pytest.mark.parametrize(
    ("environment", "url"),
    [
        ({"PORT": "5100"}, "http://127.0.0.1:5100"),  # a web server started on its own
        # Under honcho every process gets its own PORT; COVERED_PORT is the web's, for all.
        ({"PORT": "5100", "COVERED_PORT": "5000"}, "http://127.0.0.1:5000"),
        ({"PORT": "5100", "COVERED_PORT": "5000", "PUBLIC_URL": "https://c.example"},
         "https://c.example"),
    ],
)  # fmt: skip
def test_links_in_emails_point_at_the_web_server_whatever_port_a_process_has(
    monkeypatch, environment, url
):
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert mail_settings()["PUBLIC_URL"] == url


def test_a_full_smtp_configuration(monkeypatch):
    for name, value in {
        "MAIL_SERVER": "smtp.example.com",
        "MAIL_USE_TLS": "true",
        "MAIL_USERNAME": "covered",
        "MAIL_PASSWORD": "s3cret",
        "MAIL_DEFAULT_SENDER": "Covered <reminders@example.com>",
        "PUBLIC_URL": "https://covered.example.com/",
    }.items():
        monkeypatch.setenv(name, value)
    settings = mail_settings()
    assert (settings["MAIL_SERVER"], settings["MAIL_PORT"]) == ("smtp.example.com", 587)
    assert (settings["MAIL_USE_TLS"], settings["MAIL_USE_SSL"]) == (True, False)
    assert settings["PUBLIC_URL"] == "https://covered.example.com"


def test_implicit_tls_defaults_to_port_465(monkeypatch):
    monkeypatch.setenv("MAIL_SERVER", "smtp.example.com")
    monkeypatch.setenv("MAIL_USE_SSL", "1")
    monkeypatch.setenv("MAIL_DEFAULT_SENDER", "reminders@example.com")
    assert mail_settings()["MAIL_PORT"] == 465


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"MAIL_SERVER": "smtp.example.com"}, "MAIL_DEFAULT_SENDER is required"),
        ({"MAIL_SERVER": "smtp://smtp.example.com", "MAIL_DEFAULT_SENDER": "a@b.c"},
         "MAIL_SERVER must be a host name"),
        ({"MAIL_SERVER": "smtp.example.com", "MAIL_DEFAULT_SENDER": "a@b.c",
          "MAIL_PORT": "smtp"}, "MAIL_PORT must be a whole number"),
        ({"MAIL_SERVER": "smtp.example.com", "MAIL_DEFAULT_SENDER": "a@b.c",
          "MAIL_USE_TLS": "sometimes"}, "MAIL_USE_TLS must be true or false"),
        ({"MAIL_SERVER": "smtp.example.com", "MAIL_DEFAULT_SENDER": "a@b.c",
          "MAIL_USE_TLS": "1", "MAIL_USE_SSL": "1"}, "cannot both be on"),
        ({"MAIL_SERVER": "smtp.example.com", "MAIL_DEFAULT_SENDER": "a@b.c",
          "MAIL_USERNAME": "covered"}, "MAIL_USERNAME and MAIL_PASSWORD go together"),
        ({"MAIL_SERVER": "smtp.example.com", "MAIL_DEFAULT_SENDER": "Covered"},
         "MAIL_DEFAULT_SENDER must be an email address"),
        ({"MAIL_PORT": "2525"}, "MAIL_PORT set but MAIL_SERVER is not"),
        ({"MAIL_USE_TLS": "true"}, "MAIL_USE_TLS set but MAIL_SERVER is not"),
        ({"PUBLIC_URL": "covered.example.com"}, "PUBLIC_URL must be a URL"),
    ],
)  # fmt: skip
def test_a_bad_mail_setting_stops_start_up_and_names_it(monkeypatch, values, message):
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=message):
        mail_settings()
