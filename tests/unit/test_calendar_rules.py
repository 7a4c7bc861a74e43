"""The calendar's pure rules (webapp/domain/schedule_rules.py): the range of days it may
ask for, its first day of the week, which visits move and which close with their day;
and adding a source to one directive of a Content-Security-Policy (webapp/security.py)."""

from datetime import date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webapp.domain.authorization_rules import (
    CANCELLED,
    ENCOUNTER_STATUS_LABELS,
    ENCOUNTER_STATUSES,
    KEPT,
    UPCOMING,
)
from webapp.domain.schedule_rules import (
    MAX_CALENDAR_DAYS,
    calendar_first_day,
    calendar_range_refusal,
    closes_with_day,
    move_refusal,
)
from webapp.domain.windows import week_start_of
from webapp.security import default_content_security_policy, with_sources

DAYS = st.dates(min_value=date(1900, 1, 1), max_value=date(2099, 12, 31))


@given(DAYS, st.integers(min_value=-400, max_value=400))
def test_a_range_is_refused_exactly_when_empty_backwards_or_longer_than_six_weeks(start, days):
    end = start + timedelta(days=days)
    refused = calendar_range_refusal(start, end) is not None
    assert refused == (days <= 0 or days > MAX_CALENDAR_DAYS)


@given(st.integers(min_value=0, max_value=6), DAYS)
def test_the_calendars_first_day_is_the_organizations_week_start(week_start, day):
    """FullCalendar counts from Sunday (0), Python from Monday (0): the same weekday."""
    first = week_start_of(day, week_start)
    assert (first.isoweekday() % 7) == calendar_first_day(week_start)


@pytest.mark.parametrize("status", ENCOUNTER_STATUSES)
def test_only_an_upcoming_visit_moves(status):
    refusal = move_refusal(status, ENCOUNTER_STATUS_LABELS[status])
    assert (refusal is None) == (status == UPCOMING)
    if refusal:
        assert ENCOUNTER_STATUS_LABELS[status] in refusal


@given(
    st.sampled_from([UPCOMING, KEPT, CANCELLED]),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1)),
    st.integers(min_value=-10_000, max_value=10_000),
)
def test_a_visit_closes_with_its_day_when_upcoming_and_started(status, starts_at, minutes):
    now = starts_at + timedelta(minutes=minutes)
    assert closes_with_day(status, starts_at, now) == (status == UPCOMING and minutes >= 0)


POLICY = default_content_security_policy("https://js.stripe.com/v3/", "https://api.stripe.com")


def _directives(policy: str) -> dict[str, list[str]]:
    return {d.split()[0]: d.split()[1:] for d in policy.split(";") if d.strip()}


def test_a_source_goes_into_its_directive_and_nowhere_else():
    widened = _directives(with_sources(POLICY, "style-src", ["'nonce-abc'"]))
    plain = _directives(POLICY)
    assert widened["style-src"] == [*plain["style-src"], "'nonce-abc'"]
    assert {k: v for k, v in widened.items() if k != "style-src"} == {
        k: v for k, v in plain.items() if k != "style-src"
    }


def test_a_missing_directive_starts_from_default_src():
    assert _directives(with_sources("default-src 'self' https://x", "font-src", ["data:"])) == {
        "default-src": ["'self'", "https://x"],
        "font-src": ["'self'", "https://x", "data:"],
    }
    assert _directives(with_sources("frame-ancestors 'none'", "style-src", ["'nonce-n'"]))[
        "style-src"
    ] == ["'self'", "'nonce-n'"]
