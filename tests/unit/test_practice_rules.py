"""A new practice's name, time zone and week start; the password policy."""

from zoneinfo import available_timezones

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webapp.domain import practice_rules as rules
from webapp.domain.password_rules import MAX_LENGTH, MIN_LENGTH, password_refusal

ZONES = sorted(available_timezones())


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("Harbor Therapy", "Harbor Therapy"),
        ("  Harbor   Therapy \t", "Harbor Therapy"),
        ("Clínica Esperança", "Clínica Esperança"),
        ("x" * 200, "x" * 200),
    ],
)
def test_it_keeps_a_name_trimmed(raw, stored):
    assert rules.parse_name(raw) == stored


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "Enter the practice's name"),
        ("   ", "Enter the practice's name"),
        ("x" * 201, "at most 200"),
        ("Harbor\x00Therapy", "control character"),
        ("Harbor\x1bTherapy", "control character"),
    ],
)
def test_it_refuses_a_bad_name(raw, message):
    with pytest.raises(ValueError, match=message):
        rules.parse_name(raw)


@given(st.sampled_from(ZONES), st.sampled_from([str.lower, str.upper, str, str.swapcase]))
def test_any_iana_zone_in_any_case_is_stored_in_its_own_spelling(zone, case):
    assert rules.parse_time_zone(f" {case(zone)} ") == zone


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "Enter the practice's time zone"),
        ("Eastern", "not a time zone name"),
        ("America/New York", "Did you mean America/New_York"),
        ("Mars/Olympus_Mons", "not a time zone name"),
        ("../../etc/passwd", "not a time zone name"),
        ("+05:00", "not a time zone name"),
    ],
)
def test_it_refuses_an_unknown_time_zone(raw, message):
    with pytest.raises(ValueError, match=message):
        rules.parse_time_zone(raw)


@pytest.mark.parametrize(("number", "day"), list(enumerate(rules.WEEKDAYS)))
def test_a_weekday_name_or_its_three_letters_is_pythons_weekday_number(number, day):
    for raw in (day, day.upper(), day[:3], f" {day[:3].title()} "):
        assert rules.parse_week_start(raw) == number
    assert rules.week_start_name(number) == day.title()


@pytest.mark.parametrize("raw", ["", "0", "6", "su", "sundays", "domingo", "weekend"])
def test_it_refuses_anything_but_a_weekday(raw):
    with pytest.raises(ValueError, match="monday, tuesday"):
        rules.parse_week_start(raw)


@given(st.text(min_size=MIN_LENGTH, max_size=MAX_LENGTH))
def test_any_password_of_an_allowed_length_passes_the_length_rule(password):
    assert password_refusal(password) is None


@given(st.text(max_size=MIN_LENGTH - 1))
def test_a_short_password_is_refused_with_the_minimum(password):
    assert password_refusal(password) == f"Use at least {MIN_LENGTH} characters."


def test_a_password_past_the_maximum_is_refused():
    assert password_refusal("x" * (MAX_LENGTH + 1)) == f"Use at most {MAX_LENGTH} characters."
