"""One week-start rule (`windows.week_start_of`), used by the frequency windows, the
report's calendar windows and the schedule's week alike."""

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from webapp.domain import report_rules, schedule_rules
from webapp.domain.windows import days_into_week, week_start_of, window_containing

days = st.dates(min_value=date(1900, 1, 8), max_value=date(2099, 12, 24))
week_starts = st.integers(min_value=0, max_value=6)


@given(days, week_starts)
def test_the_week_starts_on_the_organizations_day_at_most_six_days_before(day, week_start):
    first = week_start_of(day, week_start)
    assert first.weekday() == week_start
    assert 0 <= (day - first).days == days_into_week(day, week_start) <= 6


@given(days, week_starts)
def test_every_week_the_app_shows_starts_the_same_day(day, week_start):
    first = week_start_of(day, week_start)
    far = (date(1900, 1, 1), date(2099, 12, 31))
    assert window_containing(
        day, "week", start=far[0], end=far[1], week_start=week_start
    ).start == (first)
    assert report_rules.calendar_window(day, report_rules.WEEK, week_start).start == first
    assert schedule_rules.schedule_days(schedule_rules.WEEK_VIEW, day, week_start) == [
        first + timedelta(days=i) for i in range(7)
    ]


def test_a_sunday_week_and_a_monday_week_around_a_wednesday():
    wednesday = date(2026, 3, 4)
    assert week_start_of(wednesday, 6) == date(2026, 3, 1)  # Sunday
    assert week_start_of(wednesday, 0) == date(2026, 3, 2)  # Monday
    assert schedule_rules.schedule_days(schedule_rules.DAY_VIEW, wednesday, 6) == [wednesday]
    assert schedule_rules.schedule_step(schedule_rules.WEEK_VIEW) == timedelta(days=7)
    assert schedule_rules.schedule_step(schedule_rules.DAY_VIEW) == timedelta(days=1)


def test_the_first_week_of_the_calendar_stops_at_its_first_day():
    assert week_start_of(date.min, 6) == date.min
