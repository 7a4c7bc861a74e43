from datetime import date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webapp.domain.windows import (
    DEFAULT_WEEK_START,
    FREQUENCIES,
    FREQUENCY_LABELS,
    Window,
    local_date,
    to_local,
    to_utc_naive,
    total_allowed,
    window_containing,
    windows_for,
)

MONDAY, SUNDAY = 0, 6
D = date


def test_it_labels_every_frequency_and_starts_weeks_on_sunday():
    assert set(FREQUENCY_LABELS) == set(FREQUENCIES)
    assert FREQUENCY_LABELS["period"] == "entire period"
    assert DEFAULT_WEEK_START == SUNDAY


@pytest.mark.parametrize(
    ("window", "label"),
    [
        (Window(D(2025, 3, 3), D(2025, 3, 9)), "Mar 3 – Mar 9, 2025"),
        (Window(D(2025, 3, 3), D(2025, 3, 3)), "Mar 3, 2025"),
        (Window(D(2024, 12, 29), D(2025, 1, 4)), "Dec 29, 2024 – Jan 4, 2025"),
    ],
)
def test_it_labels_windows(window, label):
    assert window.label == label


def test_it_knows_which_days_a_window_contains():
    window = Window(D(2025, 3, 3), D(2025, 3, 9))
    assert window.contains(D(2025, 3, 3)) and window.contains(D(2025, 3, 9))
    assert not window.contains(D(2025, 3, 2)) and not window.contains(D(2025, 3, 10))
    assert window.days == 7


WIDE = {"start": D(2020, 1, 1), "end": D(2030, 12, 31)}


@pytest.mark.parametrize(
    ("day", "frequency", "week_start", "expected"),
    [
        # Wed Mar 5, 2025
        (D(2025, 3, 5), "day", SUNDAY, (D(2025, 3, 5), D(2025, 3, 5))),
        (D(2025, 3, 5), "week", SUNDAY, (D(2025, 3, 2), D(2025, 3, 8))),
        (D(2025, 3, 5), "week", MONDAY, (D(2025, 3, 3), D(2025, 3, 9))),
        # a Sunday starts its own week when weeks start on Sunday, ends it on Monday starts
        (D(2025, 3, 9), "week", SUNDAY, (D(2025, 3, 9), D(2025, 3, 15))),
        (D(2025, 3, 9), "week", MONDAY, (D(2025, 3, 3), D(2025, 3, 9))),
        # weeks across a month and a year boundary
        (D(2025, 5, 1), "week", SUNDAY, (D(2025, 4, 27), D(2025, 5, 3))),
        (D(2025, 1, 1), "week", SUNDAY, (D(2024, 12, 29), D(2025, 1, 4))),
        (D(2024, 12, 31), "week", MONDAY, (D(2024, 12, 30), D(2025, 1, 5))),
        # calendar months, leap and common Februaries
        (D(2024, 2, 10), "month", SUNDAY, (D(2024, 2, 1), D(2024, 2, 29))),
        (D(2025, 2, 10), "month", SUNDAY, (D(2025, 2, 1), D(2025, 2, 28))),
        (D(2025, 12, 31), "month", SUNDAY, (D(2025, 12, 1), D(2025, 12, 31))),
        (D(2025, 3, 5), "period", SUNDAY, (WIDE["start"], WIDE["end"])),
        (D(2025, 3, 5), None, SUNDAY, (WIDE["start"], WIDE["end"])),
    ],
)
def test_it_finds_the_calendar_window_containing_a_day(day, frequency, week_start, expected):
    window = window_containing(day, frequency, week_start=week_start, **WIDE)
    assert (window.start, window.end) == expected


@pytest.mark.parametrize(
    ("day", "frequency", "expected"),
    [
        (D(2025, 3, 12), "week", (D(2025, 3, 12), D(2025, 3, 15))),
        (D(2025, 4, 20), "week", (D(2025, 4, 20), D(2025, 4, 22))),
        (D(2025, 3, 31), "month", (D(2025, 3, 12), D(2025, 3, 31))),
        (D(2025, 4, 1), "month", (D(2025, 4, 1), D(2025, 4, 22))),
    ],
)
def test_it_clips_windows_to_the_authorization_dates(day, frequency, expected):
    window = window_containing(day, frequency, start=D(2025, 3, 12), end=D(2025, 4, 22))
    assert (window.start, window.end) == expected


@pytest.mark.parametrize(
    ("day", "frequency", "kwargs", "message"),
    [
        (D(2025, 3, 1), "week", {}, "outside"),
        (D(2025, 5, 1), "week", {}, "outside"),
        (D(2025, 3, 12), "fortnight", {}, "Unknown frequency"),
        (D(2025, 3, 12), "week", {"week_start": 7}, "Week start"),
    ],
)
def test_it_rejects_bad_window_requests(day, frequency, kwargs, message):
    with pytest.raises(ValueError, match=message):
        window_containing(day, frequency, start=D(2025, 3, 12), end=D(2025, 4, 22), **kwargs)


def test_it_lists_clipped_weeks_in_order():
    weeks = windows_for(D(2025, 3, 12), D(2025, 3, 31), "week")
    assert [(w.start, w.end) for w in weeks] == [
        (D(2025, 3, 12), D(2025, 3, 15)),
        (D(2025, 3, 16), D(2025, 3, 22)),
        (D(2025, 3, 23), D(2025, 3, 29)),
        (D(2025, 3, 30), D(2025, 3, 31)),
    ]


def test_it_lists_clipped_months_in_a_leap_year():
    months = windows_for(D(2024, 1, 15), D(2024, 3, 10), "month")
    assert [(w.start, w.end) for w in months] == [
        (D(2024, 1, 15), D(2024, 1, 31)),
        (D(2024, 2, 1), D(2024, 2, 29)),
        (D(2024, 3, 1), D(2024, 3, 10)),
    ]


@pytest.mark.parametrize("frequency", ["period", None])
def test_it_makes_one_window_for_the_entire_period(frequency):
    assert windows_for(D(2025, 1, 1), D(2025, 12, 31), frequency) == [
        Window(D(2025, 1, 1), D(2025, 12, 31))
    ]


@given(
    start=st.dates(min_value=D(2000, 1, 1), max_value=D(2040, 1, 1)),
    length=st.integers(min_value=0, max_value=400),
    frequency=st.sampled_from(FREQUENCIES),
    week_start=st.integers(min_value=0, max_value=6),
)
@settings(max_examples=200, database=None)
def test_it_tiles_the_period_with_windows_without_gaps(start, length, frequency, week_start):
    end = D.fromordinal(start.toordinal() + length)
    windows = windows_for(start, end, frequency, week_start)
    assert windows[0].start == start and windows[-1].end == end
    for before, after in zip(windows, windows[1:], strict=False):
        assert after.start.toordinal() == before.end.toordinal() + 1
    assert total_allowed(3, start, end, frequency, week_start) == (
        3 if frequency == "period" else 3 * len(windows)
    )


@pytest.mark.parametrize(
    ("start", "end", "frequency", "week_start", "total"),
    [
        (D(2025, 3, 1), D(2025, 3, 31), "day", SUNDAY, 31 * 4),
        (D(2024, 2, 1), D(2024, 2, 29), "day", SUNDAY, 29 * 4),
        # Sat Mar 1 .. Mon Mar 31, 2025: Sunday weeks → 1 + 4 + 1 windows
        (D(2025, 3, 1), D(2025, 3, 31), "week", SUNDAY, 6 * 4),
        # Monday weeks → Mar 1–2, then weeks from Mar 3, 10, 17, 24, 31
        (D(2025, 3, 1), D(2025, 3, 31), "week", MONDAY, 6 * 4),
        (D(2025, 3, 3), D(2025, 3, 30), "week", MONDAY, 4 * 4),
        (D(2025, 1, 15), D(2025, 12, 14), "month", SUNDAY, 12 * 4),
        (D(2025, 1, 1), D(2025, 12, 31), "period", SUNDAY, 4),
        (D(2025, 1, 1), D(2025, 12, 31), None, SUNDAY, 4),
    ],
)
def test_it_multiplies_allowed_by_the_number_of_windows(start, end, frequency, week_start, total):
    assert total_allowed(4, start, end, frequency, week_start) == total


@pytest.mark.parametrize(
    ("utc", "tz", "expected"),
    [
        (datetime(2025, 3, 10, 3, 30), "America/Los_Angeles", D(2025, 3, 9)),
        (datetime(2025, 3, 10, 7, 30), "America/Los_Angeles", D(2025, 3, 10)),
        (datetime(2025, 11, 2, 7, 30), "America/Los_Angeles", D(2025, 11, 2)),
        (datetime(2025, 11, 3, 7, 30), "America/Los_Angeles", D(2025, 11, 2)),
        (datetime(2025, 1, 1, 4, 59), "America/New_York", D(2024, 12, 31)),
        (datetime(2025, 1, 1, 5, 0), "America/New_York", D(2025, 1, 1)),
        (datetime(2025, 3, 9, 15, 0), "Asia/Tokyo", D(2025, 3, 10)),
        (datetime(2025, 6, 30, 23, 30), "Europe/London", D(2025, 7, 1)),
        (datetime(2025, 12, 31, 23, 30), "Europe/London", D(2025, 12, 31)),
        (datetime(2025, 3, 9, 12, 0), "UTC", D(2025, 3, 9)),
    ],
)
def test_it_finds_the_local_date_of_a_utc_time(utc, tz, expected):
    assert local_date(utc, tz) == expected


def test_it_converts_stored_utc_to_aware_local_time():
    local = to_local(datetime(2025, 7, 4, 16, 0), "America/Chicago")
    assert (local.hour, local.utcoffset().total_seconds()) == (11, -5 * 3600)


@pytest.mark.parametrize(
    ("local", "tz", "utc"),
    [
        (datetime(2025, 1, 15, 9, 0), "America/New_York", datetime(2025, 1, 15, 14, 0)),
        (datetime(2025, 7, 15, 9, 0), "America/New_York", datetime(2025, 7, 15, 13, 0)),
        # the skipped hour reads with the offset before the change
        (datetime(2025, 3, 9, 2, 30), "America/New_York", datetime(2025, 3, 9, 7, 30)),
        # the repeated hour: fold 0 is the first (daylight) occurrence
        (datetime(2025, 11, 2, 1, 30), "America/New_York", datetime(2025, 11, 2, 5, 30)),
        (datetime(2025, 11, 2, 1, 30, fold=1), "America/New_York", datetime(2025, 11, 2, 6, 30)),
        (datetime(2025, 3, 10, 9, 0), "Asia/Kolkata", datetime(2025, 3, 10, 3, 30)),
    ],
)
def test_it_stores_local_wall_time_as_utc(local, tz, utc):
    assert to_utc_naive(local, tz) == utc


def test_it_refuses_an_aware_datetime_as_local_wall_time():
    with pytest.raises(ValueError, match="naive"):
        to_utc_naive(to_local(datetime(2025, 1, 1), "UTC"), "UTC")


@given(
    utc=st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2060, 1, 1)),
    tz=st.sampled_from(
        ["America/Los_Angeles", "America/New_York", "Europe/London", "Australia/Sydney", "UTC"]
    ),
)
@settings(max_examples=300, database=None)
def test_it_round_trips_utc_through_local_wall_time(utc, tz):
    assert to_utc_naive(to_local(utc, tz).replace(tzinfo=None), tz) == utc
