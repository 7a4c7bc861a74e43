"""The Authorizations Report's rules: range, windows, allowances, percentages and forecast."""

import math
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webapp.domain.authorization_rules import (
    ACTIVE,
    EXHAUSTED,
    EXPIRED,
    INACTIVE,
    SESSIONS,
    UNITS,
    AuthorizationTerms,
)
from webapp.domain.report_rules import (
    BREAKDOWN_LABELS,
    BREAKDOWNS,
    LASTS,
    NOT_APPLICABLE,
    PACE_DAYS,
    RUNS_OUT,
    USED_UP,
    Figures,
    add_years,
    allowance_between,
    as_decimal,
    breakdown_span,
    breakdown_windows,
    bucket_start,
    calendar_window,
    count_windows,
    forecast,
    is_whole_share,
    month_range,
    pace_window,
    percent,
    range_refusal,
)
from webapp.domain.windows import Window, total_allowed, window_containing, windows_for

D = date
MONDAY, SUNDAY = 0, 6


JAN_1, JUN_30 = D(2026, 1, 1), D(2026, 6, 30)


def terms(kind=SESSIONS, start=JAN_1, end=JUN_30, allowed=20, frequency=None):
    return AuthorizationTerms(
        id=1,
        client_insurance_id=1,
        kind=kind,
        start=start,
        end=end,
        allowed=allowed,
        frequency=frequency,
        service_type_ids=frozenset(),
        week_start=SUNDAY,
    )


# --- The date range ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (D(2026, 3, 17), (D(2026, 3, 1), D(2026, 3, 31))),
        (D(2026, 2, 1), (D(2026, 2, 1), D(2026, 2, 28))),
        (D(2028, 2, 29), (D(2028, 2, 1), D(2028, 2, 29))),
        (D(2026, 12, 31), (D(2026, 12, 1), D(2026, 12, 31))),
    ],
)
def test_it_defaults_to_the_month_of_today(today, expected):
    assert month_range(today) == expected


@pytest.mark.parametrize(
    ("start", "end", "problem"),
    [
        (D(2026, 3, 1), D(2026, 3, 1), None),
        (D(2026, 3, 2), D(2026, 3, 1), "The end date is before the start date."),
        (D(2024, 1, 1), D(2026, 12, 31), None),  # exactly three years
        (D(2024, 1, 1), D(2027, 1, 1), "Choose a range of at most 3 years."),
        (D(2024, 2, 29), D(2027, 2, 28), None),
        (D(2024, 2, 29), D(2027, 3, 1), "Choose a range of at most 3 years."),
    ],
)
def test_it_refuses_backward_ranges_and_ranges_over_three_years(start, end, problem):
    assert range_refusal(start, end) == problem


def test_it_adds_years_moving_leap_days_to_march():
    assert add_years(D(2024, 2, 29), 3) == D(2027, 3, 1)
    assert add_years(D(2024, 2, 29), 4) == D(2028, 2, 29)


# --- Windows ----------------------------------------------------------------------------------


def test_it_names_every_breakdown():
    assert set(BREAKDOWN_LABELS) == set(BREAKDOWNS)
    assert BREAKDOWN_LABELS["period"] == "Entire period"


@pytest.mark.parametrize(
    ("start", "end", "frequency", "week_start", "count"),
    [
        (D(2026, 3, 1), D(2026, 3, 31), "day", SUNDAY, 31),
        (D(2026, 3, 1), D(2026, 3, 31), "week", SUNDAY, 5),  # Mar 1 is a Sunday
        (D(2026, 3, 1), D(2026, 3, 31), "week", MONDAY, 6),
        (D(2026, 3, 15), D(2026, 4, 2), "month", SUNDAY, 2),
        (D(2025, 12, 31), D(2026, 1, 1), "month", SUNDAY, 2),
        (D(2026, 3, 1), D(2026, 3, 31), "period", SUNDAY, 1),
        (D(2026, 3, 2), D(2026, 3, 1), "day", SUNDAY, 0),
    ],
)
def test_it_counts_calendar_windows(start, end, frequency, week_start, count):
    assert count_windows(start, end, frequency, week_start) == count


@settings(max_examples=300, deadline=None)
@given(
    start=st.dates(D(2020, 1, 1), D(2030, 12, 31)),
    days=st.integers(0, 800),
    frequency=st.sampled_from(["day", "week", "month", "period"]),
    week_start=st.integers(0, 6),
)
def test_counting_windows_agrees_with_listing_them(start, days, frequency, week_start):
    end = start + timedelta(days=days)
    assert count_windows(start, end, frequency, week_start) == len(
        windows_for(start, end, frequency, week_start)
    )


@pytest.mark.parametrize(
    ("by", "expected"),
    [
        # Authorization Feb 10 – Jun 30, range Mar 4 – Mar 20, 2026 (a Wednesday to a Friday):
        # a breakdown never reaches outside the range, whatever its windows.
        ("period", Window(D(2026, 2, 10), D(2026, 6, 30))),
        ("month", Window(D(2026, 3, 4), D(2026, 3, 20))),
        ("week", Window(D(2026, 3, 4), D(2026, 3, 20))),
        ("day", Window(D(2026, 3, 4), D(2026, 3, 20))),
    ],
)
def test_a_span_is_the_range_clipped_to_the_authorization(by, expected):
    span = breakdown_span(D(2026, 2, 10), D(2026, 6, 30), D(2026, 3, 4), D(2026, 3, 20), by, SUNDAY)
    assert span == expected


def test_a_span_is_clipped_to_the_authorization():
    # The authorization starts on a Tuesday inside the range's first week.
    span = breakdown_span(D(2026, 3, 3), D(2026, 3, 12), D(2026, 3, 1), D(2026, 3, 31), "week", 6)
    assert span == Window(D(2026, 3, 3), D(2026, 3, 12))
    assert breakdown_windows(span, "week", SUNDAY) == [
        Window(D(2026, 3, 8), D(2026, 3, 12)),
        Window(D(2026, 3, 3), D(2026, 3, 7)),
    ]


def test_an_authorization_outside_the_range_has_no_span():
    assert (
        breakdown_span(D(2026, 1, 1), D(2026, 2, 28), D(2026, 3, 1), D(2026, 3, 31), "day", 6)
        is None
    )


def test_windows_come_newest_first_and_buckets_are_window_starts():
    windows = breakdown_windows(Window(D(2026, 1, 20), D(2026, 3, 10)), "month", SUNDAY)
    assert windows == [
        Window(D(2026, 3, 1), D(2026, 3, 10)),
        Window(D(2026, 2, 1), D(2026, 2, 28)),
        Window(D(2026, 1, 20), D(2026, 1, 31)),
    ]
    assert bucket_start(D(2026, 1, 20), "month", SUNDAY) == D(2026, 1, 1)
    assert bucket_start(D(2026, 3, 5), "week", SUNDAY) == D(2026, 3, 1)
    assert bucket_start(D(2026, 3, 5), "week", MONDAY) == D(2026, 3, 2)
    assert bucket_start(D(2026, 3, 5), "day", SUNDAY) == D(2026, 3, 5)


# --- Allowances -------------------------------------------------------------------------------

WEEKLY_20 = terms(UNITS, D(2026, 3, 4), D(2026, 4, 30), 20, "week")  # starts on a Wednesday


@pytest.mark.parametrize(
    ("auth", "start", "end", "allowed"),
    [
        # Sessions: the total pro-rated by days (181 days in Jan – Jun 2026).
        (terms(allowed=181), D(2026, 1, 1), D(2026, 1, 7), 7),
        (terms(allowed=20), D(2026, 1, 1), D(2026, 1, 7), Fraction(140, 181)),
        (terms(allowed=20), D(2026, 1, 1), D(2026, 6, 30), 20),
        (terms(allowed=20), D(2025, 1, 1), D(2027, 1, 1), 20),  # clipped to the dates
        # Units per day: allowed × days.
        (terms(UNITS, allowed=8, frequency="day"), D(2026, 3, 1), D(2026, 3, 7), 56),
        # Units per week, broken down by its own weeks: whole numbers, clipped weeks included.
        (WEEKLY_20, D(2026, 3, 4), D(2026, 3, 7), 20),
        (WEEKLY_20, D(2026, 3, 8), D(2026, 3, 14), 20),
        (WEEKLY_20, D(2026, 3, 4), D(2026, 3, 21), 60),
        # … broken down by day: a seventh of a whole week, a quarter of the clipped first one.
        (WEEKLY_20, D(2026, 3, 9), D(2026, 3, 9), Fraction(20, 7)),
        (WEEKLY_20, D(2026, 3, 4), D(2026, 3, 4), 5),
        # … by month: March holds the clipped first week, 3 whole weeks and 3 days of the next.
        (WEEKLY_20, D(2026, 3, 1), D(2026, 3, 31), 20 + 60 + Fraction(60, 7)),
        # Units per month by week: Feb 22 – 28 is all February.
        (terms(UNITS, allowed=28, frequency="month"), D(2026, 2, 22), D(2026, 2, 28), 7),
        # Entire period: like Sessions.
        (terms(UNITS, allowed=181, frequency="period"), D(2026, 2, 1), D(2026, 2, 28), 28),
    ],
)
def test_it_pro_rates_the_allowance_by_days(auth, start, end, allowed):
    assert allowance_between(auth, start, end) == allowed


@settings(max_examples=200, deadline=None)
@given(
    start=st.dates(D(2024, 1, 1), D(2027, 12, 31)),
    days=st.integers(0, 500),
    frequency=st.sampled_from([None, "day", "week", "month", "period"]),
    by=st.sampled_from(["day", "week", "month"]),
    allowed=st.integers(1, 200),
)
def test_the_windows_of_an_authorization_share_out_exactly_its_total(
    start, days, frequency, by, allowed
):
    auth = terms(UNITS if frequency else SESSIONS, start, start + timedelta(days=days), allowed)
    auth = AuthorizationTerms(**{**auth.__dict__, "frequency": frequency})
    shares = [
        allowance_between(auth, w.start, w.end) for w in windows_for(auth.start, auth.end, by)
    ]
    assert (
        sum(Fraction(s) for s in shares)
        == auth.total
        == total_allowed(allowed, auth.start, auth.end, auth.cap_frequency, SUNDAY)
    )


@pytest.mark.parametrize(
    ("auth", "start", "end", "whole"),
    [
        (terms(), JAN_1, JUN_30, True),  # the whole period
        (terms(), D(2025, 6, 1), D(2026, 12, 31), True),  # clipped to it
        (terms(), D(2026, 3, 1), D(2026, 3, 31), False),  # a month of a half-year total
        (WEEKLY_20, D(2026, 3, 4), D(2026, 3, 7), True),  # its clipped first week
        (WEEKLY_20, D(2026, 3, 1), D(2026, 3, 7), True),
        (WEEKLY_20, D(2026, 3, 8), D(2026, 3, 21), True),  # two whole weeks
        (WEEKLY_20, D(2026, 3, 9), D(2026, 3, 9), False),  # a day of a week
        (WEEKLY_20, D(2026, 3, 1), D(2026, 3, 31), False),  # March ends mid-week
        (terms(UNITS, allowed=8, frequency="day"), D(2026, 3, 3), D(2026, 3, 5), True),
    ],
)
def test_it_knows_a_real_cap_from_a_pro_rated_share(auth, start, end, whole):
    assert is_whole_share(auth, start, end) is whole


def test_only_a_real_cap_can_be_over():
    assert Figures(8, 9, 0).over
    assert not Figures(Fraction(9, 10), 1, 0, whole_share=False).over
    assert (
        Figures(8, 1, 0) + Figures(Fraction(1, 2), 0, 0, whole_share=False)
    ).whole_share is False


@pytest.mark.parametrize(
    ("value", "text"),
    [(12, "12"), (Fraction(24, 2), "12"), (Fraction(140, 181), "0.8"), (Fraction(1, 20), "0.1")],
)
def test_amounts_are_decimals_with_one_place_at_most(value, text):
    assert as_decimal(value) == Decimal(text)
    assert str(as_decimal(value)) == text


# --- Percentages and figures ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("part", "whole", "expected"),
    [
        (0, 10, 0),
        (5, 10, 50),
        (2, 3, 66),  # rounded down
        (199, 200, 99),  # never "100%" before it is
        (10, 10, 100),
        (15, 10, 150),  # over-used windows show it
        (1, Fraction(140, 181), 129),
        (3, 0, None),
    ],
)
def test_percentages_are_whole_numbers_rounded_down(part, whole, expected):
    assert percent(part, whole) == expected


def test_figures_follow_from_allowed_kept_and_upcoming():
    figures = Figures(allowed=20, kept=9, upcoming=6)
    assert (figures.available, figures.kept_percent, figures.upcoming_percent) == (5, 45, 30)
    assert (figures.bar, figures.over, figures.over_by) == (("45%", "30%"), False, 0)
    assert figures.booked_percent_text == "75%"
    over = Figures(allowed=10, kept=8, upcoming=5)
    assert (over.available, over.bar, over.over, over.over_by) == (-3, ("80%", "20%"), True, 3)
    assert (over.kept_percent_text, over.upcoming_percent_text) == ("80%", "50%")
    nothing = Figures(allowed=0, kept=0, upcoming=0)
    assert (nothing.kept_percent, nothing.kept_percent_text, nothing.bar) == (
        None,
        "—",
        ("0%", "0%"),
    )
    # A pro-rated share is a pace: over it is not "over by".
    pace = Figures(allowed=Fraction(1, 2), kept=1, upcoming=0, whole_share=False)
    assert (pace.over, pace.over_by, pace.kept_percent_text) == (False, 0, "200%")


def test_a_full_bar_and_100_percent_only_when_full():
    assert Figures(allowed=6, kept=2, upcoming=4).booked_percent_text == "100%"
    assert Figures(allowed=200, kept=199, upcoming=0).kept_percent_text == "99%"
    assert Figures(allowed=624, kept=108, upcoming=0).kept_percent_text == "17%"
    assert Figures(allowed=1000, kept=1, upcoming=0).kept_percent_text == "<1%"


def test_figures_add_up_for_the_totals_row():
    total = Figures(Fraction(1, 3), 1, 0) + Figures(Fraction(2, 3), 0, 2) + Figures(5, 3, 1)
    assert total == Figures(6, 4, 3)
    assert isinstance(total.allowed, int)


# --- Forecast ---------------------------------------------------------------------------------

TODAY = D(2026, 3, 17)
HALF_YEAR = terms(SESSIONS, D(2026, 1, 1), D(2026, 6, 30), 24)


def test_the_pace_counts_the_last_four_weeks_up_to_today():
    assert pace_window(TODAY) == Window(D(2026, 2, 18), TODAY)
    assert pace_window(TODAY).days == PACE_DAYS


@pytest.mark.parametrize("status", [INACTIVE, EXPIRED])
def test_it_forecasts_nothing_for_inactive_or_expired_authorizations(status):
    outlook = forecast(HALF_YEAR, status=status, today=TODAY, kept=3, booked=[], recent_kept=2)
    assert outlook.state == NOT_APPLICABLE and not outlook.expires_unused


def test_an_authorization_kept_to_its_total_is_used_up():
    outlook = forecast(HALF_YEAR, status=EXHAUSTED, today=TODAY, kept=24, booked=[], recent_kept=4)
    assert (outlook.state, outlook.run_out) == (USED_UP, None)


def test_booked_appointments_that_reach_the_total_set_the_run_out_day():
    booked = [(D(2026, 4, 7), 1), (D(2026, 3, 24), 1), (D(2026, 3, 31), 1)]
    outlook = forecast(HALF_YEAR, status=ACTIVE, today=TODAY, kept=22, booked=booked, recent_kept=0)
    assert (outlook.state, outlook.run_out) == (RUNS_OUT, D(2026, 3, 31))


def test_a_booked_appointment_left_in_the_past_runs_out_today_at_the_earliest():
    booked = [(D(2026, 3, 10), 2)]
    outlook = forecast(HALF_YEAR, status=ACTIVE, today=TODAY, kept=22, booked=booked, recent_kept=0)
    assert (outlook.state, outlook.run_out) == (RUNS_OUT, TODAY)


def test_after_the_booked_appointments_the_recent_pace_runs_it_out():
    # 10 kept + 2 booked (last on Mar 31); 12 left at 8 per 28 days = 2/7 a day → 42 days.
    booked = [(D(2026, 3, 24), 1), (D(2026, 3, 31), 1)]
    outlook = forecast(HALF_YEAR, status=ACTIVE, today=TODAY, kept=10, booked=booked, recent_kept=8)
    assert outlook.pace == Fraction(2, 7)
    assert (outlook.state, outlook.run_out) == (RUNS_OUT, D(2026, 3, 31) + timedelta(days=42))
    assert not outlook.expires_unused


def test_a_slow_pace_flags_an_authorization_that_will_expire_with_units_unused():
    # 4 per 28 days from today to Jun 30 (105 days) uses 15 of the 20 left: 5 unused.
    outlook = forecast(HALF_YEAR, status=ACTIVE, today=TODAY, kept=4, booked=[], recent_kept=4)
    assert (outlook.state, outlook.unused_at_end, outlook.expires_unused) == (LASTS, 5, True)


def test_no_recent_pace_leaves_everything_not_booked_unused():
    booked = [(D(2026, 4, 1), 1)]
    outlook = forecast(HALF_YEAR, status=ACTIVE, today=TODAY, kept=3, booked=booked, recent_kept=0)
    assert (outlook.state, outlook.unused_at_end) == (LASTS, 20)


def test_a_recent_authorization_paces_over_the_days_since_it_started():
    young = terms(SESSIONS, D(2026, 3, 10), D(2026, 4, 30), 20)  # 8 days old today
    outlook = forecast(young, status=ACTIVE, today=TODAY, kept=4, booked=[], recent_kept=4)
    assert outlook.pace == Fraction(1, 2)
    assert (outlook.state, outlook.run_out) == (RUNS_OUT, TODAY + timedelta(days=32))


def test_an_authorization_not_started_has_no_pace_and_lasts_with_what_is_not_booked():
    later = terms(SESSIONS, D(2026, 5, 1), D(2026, 7, 31), 10)
    outlook = forecast(
        later, status=ACTIVE, today=TODAY, kept=0, booked=[(D(2026, 5, 4), 1)], recent_kept=0
    )
    assert (outlook.state, outlook.unused_at_end, outlook.pace) == (LASTS, 9, 0)


def test_a_weekly_cap_limits_what_the_pace_can_use():
    # 10 a week from Sunday Jan 4 to Thursday Apr 30: 17 windows, 170 units; 40 kept.
    capped = terms(UNITS, D(2026, 1, 4), D(2026, 4, 30), 10, "week")
    assert capped.total == 170
    # A pace of 2 a day (over the cap) would use 88 in the 44 days left, but the windows
    # after today allow only 4/7 of this week, 5 whole weeks and the last (clipped) one.
    outlook = forecast(capped, status=ACTIVE, today=TODAY, kept=40, booked=[], recent_kept=56)
    assert outlook.pace == 2
    capacity = Fraction(40, 7) + 50 + 10
    assert (outlook.state, outlook.unused_at_end) == (LASTS, math.floor(130 - capacity))


@settings(max_examples=300, deadline=None)
@given(
    day=st.dates(D(2020, 1, 1), D(2030, 12, 31)),
    frequency=st.sampled_from(["day", "week", "month"]),
    week_start=st.integers(0, 6),
)
def test_calendar_windows_are_the_windows_of_the_authorization_rules(day, frequency, week_start):
    wide = window_containing(
        day, frequency, start=D(2019, 1, 1), end=D(2031, 12, 31), week_start=week_start
    )
    assert calendar_window(day, frequency, week_start) == wide
    assert bucket_start(day, frequency, week_start) == wide.start


@settings(max_examples=300, deadline=None)
@given(
    start=st.dates(D(2020, 1, 1), D(2030, 12, 31)),
    days=st.integers(0, 400),
    by=st.sampled_from(["day", "week", "month"]),
    week_start=st.integers(0, 6),
)
def test_breakdown_windows_are_the_calendar_windows_newest_first(start, days, by, week_start):
    span = Window(start, start + timedelta(days=days))
    expected = windows_for(span.start, span.end, by, week_start)
    assert breakdown_windows(span, by, week_start) == list(reversed(expected))


@settings(max_examples=300, deadline=None)
@given(
    part=st.integers(0, 10_000), numerator=st.integers(1, 10_000), denominator=st.integers(1, 400)
)
def test_percentages_of_fractions_are_exact(part, numerator, denominator):
    whole = Fraction(numerator, denominator)
    assert percent(part, whole) == math.floor(Fraction(part) * 100 / whole)
    assert percent(whole, numerator) == math.floor(whole * 100 / numerator)
