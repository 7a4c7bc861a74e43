"""Reading the audit trail: practice days as UTC bounds, ranges, what changed."""

from datetime import date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from webapp.domain import audit_rules as rules
from webapp.domain.limits import EARLIEST_DATE, LATEST_DATE


def test_a_practice_day_is_its_own_zones_day_in_utc():
    low, high = rules.day_bounds(date(2026, 3, 2), date(2026, 3, 2), "America/New_York")
    assert (low, high) == (datetime(2026, 3, 2, 5), datetime(2026, 3, 3, 5))


def test_a_range_over_the_spring_forward_night_is_an_hour_shorter():
    low, high = rules.day_bounds(date(2026, 3, 8), date(2026, 3, 8), "America/New_York")
    assert (low, high) == (datetime(2026, 3, 8, 5), datetime(2026, 3, 9, 4))
    assert high - low == timedelta(hours=23)


def test_an_open_side_stays_open():
    assert rules.day_bounds(None, None, "UTC") == (None, None)
    assert rules.day_bounds(date(2026, 1, 1), None, "UTC") == (datetime(2026, 1, 1), None)
    assert rules.day_bounds(None, date(2026, 1, 1), "UTC") == (None, datetime(2026, 1, 2))


dates = st.dates(min_value=EARLIEST_DATE, max_value=LATEST_DATE)
zones = st.sampled_from(["UTC", "America/New_York", "Pacific/Auckland", "Asia/Kolkata"])


@given(dates, dates, zones)
def test_bounds_are_ordered_exactly_when_the_range_is_accepted(start, end, zone):
    low, high = rules.day_bounds(start, end, zone)
    assert (rules.range_refusal(start, end) is None) == (low < high)


def test_changes_list_every_field_of_either_side_once():
    assert rules.changes({"role": "biller", "active": True}, {"role": "admin"}) == [
        ("role", "biller", "admin"),
        ("active", True, None),
    ]
    assert rules.changes(None, {"to": "x@example.com"}) == [("to", None, "x@example.com")]
    assert rules.changes(None, None) == []


def test_labels_read_as_words():
    assert rules.action_label("user.role_changed") == "User: role changed"
    assert rules.action_label("settings.block_overscheduling") == "Settings: block overscheduling"
    assert rules.entity_label("pre_authorizations") == "Pre authorization"
    assert rules.entity_label("users") == "User"
    assert rules.entity_label("authorization_lines") == "Authorization line"
