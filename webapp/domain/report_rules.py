"""Authorizations Report rules: date range, breakdown windows, allowances, percentages, forecast.

Vocabulary (see DESIGN.md §3):
- The report covers the authorizations whose dates touch a date range.
- **Break down by** "period" gives one row per authorization over its whole dates
  (allowed = the total, kept/upcoming = everything, as on the client's page);
  "day", "week" or "month" gives one row per calendar window touching the range,
  clipped to the authorization's dates (`breakdown_span`, `breakdown_windows`).
- The **allowed** amount of a window is the authorization's allowance pro-rated
  by days (`allowance_between`): exact whole numbers when the window lines up with
  the authorization's own windows (a weekly cap broken down by week), fractions
  otherwise (20 sessions over 200 days broken down by week: 0.7 a week). Amounts
  are `Fraction`s here and `Decimal`s with one place for people (`as_decimal`);
  never floats.
- Percentages and over-use follow `webapp.domain.figures`, the rule of every page:
  rounded down (99.6% shows 99, 100% only when full), "<1%" for a sliver, past
  100 when over-used; "over by N" is what is booked beyond a real cap.
- Every row's window is clipped to the chosen range as well as to the
  authorization's dates: a week breakdown of Nov 1–30 ends on a "Nov 29 – Nov 30"
  row that counts nothing from December, with its allowance pro-rated ("≈").
- The **forecast** projects when an authorization runs out from the Upcoming
  encounters already booked and the recent pace of Kept ones (`forecast`).
"""

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from webapp.domain import figures
from webapp.domain.authorization_rules import EXPIRED, INACTIVE, AuthorizationTerms
from webapp.domain.windows import (
    ONE_DAY,
    Window,
    days_into_week,
    format_day,
    last_of_month,
    shift,
    week_start_of,
)

PERIOD, MONTH, WEEK, DAY = "period", "month", "week", "day"
BREAKDOWNS = (PERIOD, MONTH, WEEK, DAY)
BREAKDOWN_LABELS = {PERIOD: "Entire period", MONTH: "Month", WEEK: "Week", DAY: "Day"}
MAX_RANGE_YEARS = 3
PACE_DAYS = 28  # the forecast's pace: Kept amounts per day over the last four weeks

Amount = int | Fraction


# --- The date range -------------------------------------------------------------------------


def month_range(today: date) -> tuple[date, date]:
    """The calendar month containing `today`: the report's default range."""
    return today.replace(day=1), last_of_month(today)


def add_years(day: date, years: int) -> date:
    """The same date `years` later; Feb 29 becomes Mar 1 in a common year.

    Past year 9999 (the calendar's end): date.max.
    """
    if day.year + years > date.max.year:
        return date.max
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return date(day.year + years, 3, 1)


def range_refusal(start: date, end: date) -> str | None:
    """Why a report range is refused, or None. At most 3 years: end before start + 3 years."""
    if end < start:
        return "The end date is before the start date."
    if end >= add_years(start, MAX_RANGE_YEARS):
        return f"Choose a range of at most {MAX_RANGE_YEARS} years."
    return None


# --- Windows ----------------------------------------------------------------------------------


def calendar_window(day: date, frequency: str, week_start: int) -> Window:
    """The whole calendar day, week or month containing `day` (not clipped).

    The same windows as `window_containing`, without its checks: the report asks
    for hundreds of thousands of them.
    """
    if frequency == WEEK:
        offset = days_into_week(day, week_start)
        return Window(shift(day, -offset), shift(day, 6 - offset))
    if frequency == MONTH:
        return Window(day.replace(day=1), last_of_month(day))
    if frequency == DAY:
        return Window(day, day)
    raise ValueError(f"Unknown calendar window {frequency!r}.")


def _clipped(day: date, frequency: str, terms: AuthorizationTerms) -> Window:
    """`terms.window_for(day)`, for a day inside the authorization's dates."""
    window = calendar_window(day, frequency, terms.week_start)
    return Window(max(window.start, terms.start), min(window.end, terms.end))


def month_number(day: date) -> int:
    """Months since year 0: consecutive months differ by one."""
    return day.year * 12 + day.month - 1


def count_windows(start: date, end: date, frequency: str | None, week_start: int) -> int:
    """How many calendar windows touch [start, end]; equals `len(windows_for(...))`.

    Arithmetic, so the report can count the rows of 10,000 authorizations cheaply.
    """
    if end < start:
        return 0
    if frequency == DAY:
        return (end - start).days + 1
    if frequency == WEEK:  # day numbers, not dates: a week may begin before date.min
        first = start.toordinal() - days_into_week(start, week_start)
        last = end.toordinal() - days_into_week(end, week_start)
        return (last - first) // 7 + 1
    if frequency == MONTH:
        return month_number(end) - month_number(start) + 1
    return 1


def breakdown_span(
    auth_start: date, auth_end: date, start: date, end: date, by: str, week_start: int
) -> Window | None:
    """The days an authorization's report rows cover, or None when it misses the range.

    "period": the authorization's whole dates. Otherwise the range [start, end]
    clipped to the authorization's dates; its rows are the calendar windows of
    `by` touching it, each clipped to it (`breakdown_windows`). `week_start` is
    kept for callers that pass it; the span no longer widens to whole windows.
    """
    if auth_start > end or auth_end < start:
        return None
    if by == PERIOD:
        return Window(auth_start, auth_end)
    return Window(max(auth_start, start), min(auth_end, end))


def breakdown_windows(span: Window, by: str, week_start: int) -> list[Window]:
    """The report rows of one authorization, newest window first."""
    if by == PERIOD:
        return [span]
    windows = []
    day = span.end
    while day >= span.start:
        window = calendar_window(day, by, week_start)
        windows.append(Window(max(window.start, span.start), day))
        if window.start == date.min:
            break
        day = window.start - ONE_DAY
    return windows


def bucket_start(day: date, by: str, week_start: int) -> date:
    """The first day of the calendar window containing `day`: the SQL GROUP BY key."""
    if by == WEEK:
        return week_start_of(day, week_start)
    return day.replace(day=1) if by == MONTH else day


# --- Allowances and figures -------------------------------------------------------------------


def allowance_between(terms: AuthorizationTerms, start: date, end: date) -> Amount:
    """The part of an authorization's allowance that belongs to [start, end].

    Each of the authorization's own windows (day, week or month for a capped
    Units authorization; the whole period otherwise) contributes its allowed
    amount in proportion to the days of it inside [start, end].
    """
    start, end = max(start, terms.start), min(end, terms.end)
    if end < start:
        return 0
    days = (end - start).days + 1
    cap = terms.cap_frequency
    if cap is None:
        return _whole(Fraction(terms.total * days, (terms.end - terms.start).days + 1))
    if cap == DAY:
        return terms.allowed * days
    first = _clipped(start, cap, terms)
    if first.end >= end:  # inside one of its windows: often exactly that window
        if (first.start, first.end) == (start, end):
            return terms.allowed
        return _whole(Fraction(terms.allowed * days, first.days))
    last = _clipped(end, cap, terms)
    if first == last:
        return _whole(Fraction(terms.allowed * days, first.days))
    head = Fraction(terms.allowed * ((first.end - start).days + 1), first.days)
    tail = Fraction(terms.allowed * ((end - last.start).days + 1), last.days)
    middle = count_windows(first.end + ONE_DAY, last.start - ONE_DAY, cap, terms.week_start)
    return _whole(head + tail + terms.allowed * middle)


def is_whole_share(terms: AuthorizationTerms, start: date, end: date) -> bool:
    """Whether [start, end] is made of whole allowance windows of the authorization.

    Then its allowed amount is a real cap (8 units in a week of a weekly cap, the
    total over the whole period); otherwise it is a pro-rated share, shown as "≈"
    and never flagged as over.
    """
    start, end = max(start, terms.start), min(end, terms.end)
    cap = terms.cap_frequency
    if cap is None:
        return (start, end) == (terms.start, terms.end)
    return (_clipped(start, cap, terms).start, _clipped(end, cap, terms).end) == (start, end)


def _whole(value: Fraction) -> Amount:
    return int(value) if value.denominator == 1 else value


def as_decimal(value: Amount) -> Decimal:
    """An amount for people and CSV: whole numbers as they are, fractions to one place."""
    if isinstance(value, int) or value.denominator == 1:
        return Decimal(int(value))
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return exact.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


percent = figures.percent


@dataclass(frozen=True)
class Figures:
    """One report row's numbers: allowed, kept, upcoming and what follows from them."""

    allowed: Amount
    kept: int
    upcoming: int
    whole_share: bool = True  # False: `allowed` is a pro-rated share (see `is_whole_share`)

    @property
    def available(self) -> Amount:
        return self.allowed - self.kept - self.upcoming

    @property
    def booked(self) -> int:
        return self.kept + self.upcoming

    @property
    def kept_percent(self) -> int | None:
        return percent(self.kept, self.allowed)

    @property
    def upcoming_percent(self) -> int | None:
        return percent(self.upcoming, self.allowed)

    @property
    def booked_percent(self) -> int | None:
        return percent(self.booked, self.allowed)

    @property
    def kept_percent_text(self) -> str:
        return figures.percent_text(self.kept, self.allowed)

    @property
    def upcoming_percent_text(self) -> str:
        return figures.percent_text(self.upcoming, self.allowed)

    @property
    def booked_percent_text(self) -> str:
        return figures.percent_text(self.booked, self.allowed)

    @property
    def bar(self) -> tuple[str, str]:
        """CSS widths of the kept and upcoming parts of the utilization bar."""
        return figures.bar_widths(self.kept, self.upcoming, self.allowed)

    @property
    def over_by(self) -> Amount:
        """Booked beyond a real cap; 0 for a pro-rated share (a pace, not a limit)."""
        return figures.over_by(self.allowed, self.kept, self.upcoming) if self.whole_share else 0

    @property
    def over(self) -> bool:
        """Over a real cap (a pro-rated share is a pace, not a limit)."""
        return self.over_by > 0

    def __add__(self, other: "Figures") -> "Figures":
        allowed = self.allowed + other.allowed
        return Figures(
            allowed if isinstance(allowed, int) else _whole(allowed),
            self.kept + other.kept,
            self.upcoming + other.upcoming,
            self.whole_share and other.whole_share,
        )


NO_FIGURES = Figures(0, 0, 0)


# --- Forecast ---------------------------------------------------------------------------------

USED_UP, RUNS_OUT, LASTS, NOT_APPLICABLE = "used_up", "runs_out", "lasts", "not_applicable"


@dataclass(frozen=True)
class Forecast:
    state: str  # USED_UP, RUNS_OUT, LASTS or NOT_APPLICABLE
    run_out: date | None = None  # RUNS_OUT: the projected day the last unit is used
    unused_at_end: int = 0  # LASTS: whole sessions/units projected to be left at the end
    pace: Fraction = Fraction(0)  # Kept per day over the recent weeks

    @property
    def expires_unused(self) -> bool:
        """The flag: at this pace the authorization expires with units left."""
        return self.state == LASTS and self.unused_at_end > 0

    @property
    def text(self) -> str:
        """What the report and its CSV both say: 'Runs out Mar 19, 2026', 'Used up',
        '36 unused at end', 'Lasts to the end'; '' when there is no forecast."""
        if self.state == RUNS_OUT and self.run_out is not None:
            return f"Runs out {format_day(self.run_out)}"
        if self.state == USED_UP:
            return "Used up"
        if self.expires_unused:
            return f"{self.unused_at_end} unused at end"
        if self.state == LASTS:
            return "Lasts to the end"
        return ""


def forecast(
    terms: AuthorizationTerms,
    *,
    status: str,
    today: date,
    kept: int,
    booked: Iterable[tuple[date, int]],
    recent_kept: int,
) -> Forecast:
    """When the authorization's total will be used, and what is left at its end.

    1. Inactive or expired: no forecast. Kept already reaching the total: used up.
    2. The Upcoming encounters already booked (`booked`: (day, amount)) are used in
       date order; if they reach the total, it runs out on that encounter's day
       (today at the earliest, for booked encounters left in the past).
    3. After the last booked day (or today), Kept amounts continue at the recent
       pace: `recent_kept` over the last `PACE_DAYS` days up to today (fewer
       when the authorization started more recently). A capped Units
       authorization cannot use more than its remaining windows allow.
    4. If the pace uses the rest before the end date: runs out that day; else it
       lasts, with the projected remainder (rounded down) left unused.
    """
    if status in (INACTIVE, EXPIRED):
        return Forecast(NOT_APPLICABLE)
    total = terms.total
    pace = _pace(terms.start, today, recent_kept)
    if kept >= total:
        return Forecast(USED_UP, pace=pace)
    used, last_booked = kept, None
    for day, amount in sorted(booked):
        used += amount
        last_booked = day
        if used >= total:
            return Forecast(RUNS_OUT, run_out=max(day, today), pace=pace)
    remaining = total - used
    base = max(today, shift(terms.start, -1), last_booked or today)
    days_left = max(0, (terms.end - base).days)
    projected = pace * days_left
    if terms.cap_frequency is not None and days_left:
        projected = min(projected, Fraction(allowance_between(terms, shift(base, 1), terms.end)))
    if pace > 0 and remaining <= projected:
        return Forecast(RUNS_OUT, run_out=shift(base, math.ceil(remaining / pace)), pace=pace)
    return Forecast(LASTS, unused_at_end=math.floor(remaining - projected), pace=pace)


def _pace(start: date, today: date, recent_kept: int) -> Fraction:
    observed = min(PACE_DAYS, (today - start).days + 1)
    return Fraction(recent_kept, observed) if observed > 0 else Fraction(0)


def pace_window(today: date) -> Window:
    """The days whose Kept amounts make the forecast's pace."""
    return Window(shift(today, -(PACE_DAYS - 1)), today)
