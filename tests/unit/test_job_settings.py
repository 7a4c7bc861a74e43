"""The background jobs' retry and stuck-time settings: declared once in webapp/config.py,
read from the environment, refused with the variable's name when malformed."""

import pytest

from webapp.config import (
    PREAUTH_STUCK_MINUTES,
    RETRY_SETTINGS,
    ConfigError,
    job_settings,
)


def test_without_variables_every_job_gets_its_declared_intervals(monkeypatch):
    knobs = ["PREAUTH_STUCK_MINUTES", "PREAUTH_LEAD_SECONDS", "PREAUTH_BATCH_SIZE"]
    for name in [*RETRY_SETTINGS, *knobs, "PREAUTH_GATEWAY_THREADS"]:
        monkeypatch.delenv(name, raising=False)
    settings = job_settings()
    assert {name: settings[name] for name in RETRY_SETTINGS} == RETRY_SETTINGS
    assert settings["PREAUTH_STUCK_MINUTES"] == PREAUTH_STUCK_MINUTES == 10
    assert (settings["PREAUTH_LEAD_SECONDS"], settings["PREAUTH_BATCH_SIZE"]) == (120, 100)
    assert settings["PREAUTH_GATEWAY_THREADS"] == 8


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("PREAUTH_RETRY_INTERVALS", "5,10,20", (5, 10, 20)),
        ("AUTOMATION_RETRY_INTERVALS", " 0 ", (0,)),
        ("SETTLE_RETRY_INTERVALS", "none", ()),
        ("HOLD_CHECK_RETRY_INTERVALS", "NONE", ()),
        ("REMINDER_DIGEST_RETRY_INTERVALS", "", RETRY_SETTINGS["REMINDER_DIGEST_RETRY_INTERVALS"]),
        ("DEMO_PAYMENTS_RETRY_INTERVALS", "86400", (86400,)),
        ("PREAUTH_STUCK_MINUTES", "3", 3),
        ("PREAUTH_STUCK_MINUTES", "1440", 1440),
        ("PREAUTH_LEAD_SECONDS", "0", 0),
        ("PREAUTH_LEAD_SECONDS", "600", 600),
        ("PREAUTH_BATCH_SIZE", "1", 1),
        ("PREAUTH_GATEWAY_THREADS", "12", 12),
    ],
)
def test_a_variable_sets_its_knob(monkeypatch, name, raw, expected):
    monkeypatch.setenv(name, raw)
    assert job_settings()[name] == expected


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        ("PREAUTH_RETRY_INTERVALS", "15,1m", "PREAUTH_RETRY_INTERVALS must be seconds separated"),
        ("AUTOMATION_RETRY_INTERVALS", "15,,60", "AUTOMATION_RETRY_INTERVALS must be seconds"),
        ("SETTLE_RETRY_INTERVALS", "-1", "SETTLE_RETRY_INTERVALS takes at most 10 retries"),
        ("HOLD_CHECK_RETRY_INTERVALS", "86401", "HOLD_CHECK_RETRY_INTERVALS takes at most"),
        ("REMINDER_DIGEST_RETRY_INTERVALS", ",".join(["1"] * 11), "takes at most 10 retries"),
        ("PREAUTH_STUCK_MINUTES", "2", "PREAUTH_STUCK_MINUTES must be between 3 and 1440"),
        ("PREAUTH_STUCK_MINUTES", "ten", "PREAUTH_STUCK_MINUTES must be a whole number"),
        ("PREAUTH_LEAD_SECONDS", "601", "PREAUTH_LEAD_SECONDS must be between 0 and 600"),
        ("PREAUTH_BATCH_SIZE", "0", "PREAUTH_BATCH_SIZE must be between 1 and 1000"),
        ("PREAUTH_GATEWAY_THREADS", "13", "PREAUTH_GATEWAY_THREADS must be between 1 and 12"),
    ],
)
def test_a_malformed_variable_stops_start_up_naming_it(monkeypatch, name, raw, message):
    monkeypatch.setenv(name, raw)
    with pytest.raises(ConfigError, match=message):
        job_settings()
