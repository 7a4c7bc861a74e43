"""Properties of the date rules over every date Python has, edges first.

Dates are drawn from the whole calendar (0001-01-01 … 9999-12-31) with extra
weight on its two ends and on the supported range's (1900 … 2099), so a window
that would run past date.max or before date.min is met often. Lengths are kept
to a few years so each example stays quick; frequencies and week starts range
over all of them. Each property says what a rule promises for *every* such input:
windows cover an authorization's dates exactly once, counts agree with lists,
allowances add up to the total, and nothing raises.
"""

from datetime import date, datetime, timedelta
from fractions import Fraction

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from webapp.domain import report_rules
from webapp.domain.allocation_rules import Visit, VisitLine, allocate_visits
from webapp.domain.authorization_rules import (
    ENCOUNTER_STATUSES,
    KEPT,
    SESSIONS,
    UNITS,
    UPCOMING,
    AuthorizationTerms,
    Usage,
    authorization_status,
    build_ledger,
)
from webapp.domain.limits import EARLIEST_DATE, LATEST_DATE, date_refusal
from webapp.domain.reminder_rules import (
    EXHAUSTION,
    EXPIRATION,
    EXPIRATION_DAYS,
    due_reminders,
    expiration_threshold,
    headline,
)
from webapp.domain.windows import (
    FREQUENCIES,
    shift,
    total_allowed,
    window_containing,
    windows_for,
)

EDGE_DAYS = 40
ANY_DAY = st.one_of(
    st.dates(),
    st.dates(min_value=date.max - timedelta(days=EDGE_DAYS)),
    st.dates(max_value=date.min + timedelta(days=EDGE_DAYS)),
    st.dates(min_value=LATEST_DATE - timedelta(days=EDGE_DAYS), max_value=LATEST_DATE),
    st.dates(min_value=EARLIEST_DATE, max_value=EARLIEST_DATE + timedelta(days=EDGE_DAYS)),
)
LENGTH = st.integers(min_value=0, max_value=3 * 366)  # days after the first
WEEK_START = st.integers(min_value=0, max_value=6)
CAPPED = st.sampled_from(("day", "week", "month"))
FREQUENCY = st.sampled_from((*FREQUENCIES, None))
PROPERTY = settings(max_examples=150, deadline=None, database=None)


@st.composite
def spans(draw, length=LENGTH):
    """(start, end) with start ≤ end, both real dates, near the calendar's ends often."""
    first = draw(ANY_DAY)
    days = draw(length)
    if draw(st.booleans()):  # count back from the end, so spans end on date.max too
        return shift(first, -days), first
    return first, shift(first, days)


KINDS = st.sampled_from((SESSIONS, UNITS))


@st.composite
def terms(draw):
    start, end = draw(spans())
    chosen = draw(KINDS)
    return AuthorizationTerms(
        id=draw(st.integers(min_value=1, max_value=2**31 - 1)),
        client_insurance_id=1,
        kind=chosen,
        start=start,
        end=end,
        allowed=draw(st.integers(min_value=1, max_value=10_000)),
        frequency=draw(FREQUENCY) if chosen == UNITS else None,
        service_type_ids=frozenset({1, 2}),
        week_start=draw(WEEK_START),
    )


def _days(start: date, end: date) -> int:
    return (end - start).days + 1


# --- windows ---------------------------------------------------------------------------------


@given(span=spans(), frequency=FREQUENCY, week_start=WEEK_START)
@PROPERTY
def test_windows_cover_the_dates_exactly_once(span, frequency, week_start):
    start, end = span
    windows = windows_for(start, end, frequency, week_start)
    assert windows[0].start == start and windows[-1].end == end
    for before, after in zip(windows, windows[1:], strict=False):
        assert after.start == before.end + timedelta(days=1)
    assert sum(w.days for w in windows) == _days(start, end)


@given(span=spans(), frequency=CAPPED, week_start=WEEK_START)
@PROPERTY
def test_each_window_is_one_calendar_day_week_or_month(span, frequency, week_start):
    start, end = span
    for window in windows_for(start, end, frequency, week_start):
        assert window.start <= window.end
        if frequency == "day":
            assert window.days == 1
        elif frequency == "week":
            assert window.days <= 7
            if window.start != start:  # a whole week begins on the week start
                assert window.start.weekday() == week_start
        else:
            assert (window.start.year, window.start.month) == (window.end.year, window.end.month)
            if window.start != start:
                assert window.start.day == 1


@given(span=spans(), frequency=FREQUENCY, week_start=WEEK_START, data=st.data())
@PROPERTY
def test_the_window_of_a_day_is_the_one_that_holds_it(span, frequency, week_start, data):
    start, end = span
    day = start + timedelta(days=data.draw(st.integers(0, (end - start).days)))
    window = window_containing(day, frequency, start=start, end=end, week_start=week_start)
    assert window.contains(day)
    assert window in windows_for(start, end, frequency, week_start)


@given(
    span=spans(),
    frequency=FREQUENCY,
    week_start=WEEK_START,
    allowed=st.integers(0, 10_000),
)
@PROPERTY
def test_the_total_is_allowed_times_the_windows(span, frequency, week_start, allowed):
    start, end = span
    count = (
        1 if frequency in (None, "period") else len(windows_for(start, end, frequency, week_start))
    )
    assert total_allowed(allowed, start, end, frequency, week_start) == allowed * count


@given(span=spans(), frequency=CAPPED, week_start=WEEK_START)
@PROPERTY
def test_the_report_counts_windows_as_the_rules_list_them(span, frequency, week_start):
    start, end = span
    assert report_rules.count_windows(start, end, frequency, week_start) == len(
        windows_for(start, end, frequency, week_start)
    )


# --- authorizations --------------------------------------------------------------------------


@st.composite
def usages(draw, auth: AuthorizationTerms):
    count = draw(st.integers(0, 12))
    rows = []
    for number in range(count):
        day = auth.start + timedelta(days=draw(st.integers(0, (auth.end - auth.start).days)))
        rows.append(
            Usage(
                encounter_id=number + 1,
                day=day,
                status=draw(st.sampled_from(ENCOUNTER_STATUSES)),
                amount=draw(st.integers(0, 20)),
                starts_at=datetime.combine(day, datetime.min.time()),
            )
        )
    return rows


@given(data=st.data(), count_upcoming=st.booleans())
@PROPERTY
def test_a_ledger_adds_up_whatever_the_dates(data, count_upcoming):
    auth = data.draw(terms())
    rows = data.draw(usages(auth))
    ledger = build_ledger(auth, rows, count_upcoming=count_upcoming)
    counted = [u for u in rows if u.status == KEPT or (count_upcoming and u.status == UPCOMING)]
    assert ledger.counted == sum(u.amount for u in counted)
    assert ledger.remaining == ledger.total - ledger.counted
    assert ledger.kept == sum(u.amount for u in rows if u.status == KEPT)
    assert ledger.upcoming == sum(u.amount for u in rows if u.status == UPCOMING)
    kept_width, upcoming_width = (Fraction(w.rstrip("%")) for w in ledger.bar)
    assert kept_width >= 0 and upcoming_width >= 0 and kept_width + upcoming_width <= 100
    for text in (ledger.kept_percent, ledger.upcoming_percent, ledger.booked_percent):
        assert text.endswith("%")
    for row in ledger.rows:
        assert row.window is None or row.window.contains(row.usage.day)
    if auth.cap_frequency:
        assert len(ledger.windows) == len(auth.windows())
        assert sum(auth.allowed - w.remaining for w in ledger.windows) == ledger.counted


@given(data=st.data(), today=ANY_DAY)
@PROPERTY
def test_status_is_one_of_four_for_any_today(data, today):
    auth = data.draw(terms())
    remaining = data.draw(st.integers(-50, 50))
    status = authorization_status(
        insurance_active=data.draw(st.booleans()),
        end_date=auth.end,
        remaining=remaining,
        today=today,
    )
    assert status in ("active", "inactive", "expired", "exhausted")


@given(data=st.data())
@PROPERTY
def test_allocation_only_uses_authorizations_that_cover_the_day(data):
    candidates = data.draw(st.lists(terms(), min_size=0, max_size=3, unique_by=lambda t: t.id))
    day = data.draw(ANY_DAY)
    lines = tuple(
        VisitLine(service_type_id=data.draw(st.sampled_from((1, 2, 3))), minutes=m, unit_minutes=u)
        for m, u in data.draw(
            st.lists(st.tuples(st.integers(1, 600), st.sampled_from((None, 15, 60))), max_size=3)
        )
    )
    visit = Visit(
        encounter_id=1,
        starts_at=datetime.combine(day, datetime.min.time()),
        day=day,
        status=data.draw(st.sampled_from(ENCOUNTER_STATUSES)),
        client_insurance_id=1,
        rounding_profile="cms-8-minute",
        lines=lines,
    )
    result = allocate_visits(candidates, [visit])[1]
    by_id = {c.id: c for c in candidates}
    assert all(by_id[auth_id].start <= day <= by_id[auth_id].end for auth_id in result.amounts)
    assert all(amount >= 0 for amount in result.amounts.values())
    for index in result.uncovered:
        assert not any(c.covers(1, lines[index].service_type_id, day) for c in candidates)


# --- the report ------------------------------------------------------------------------------


@given(data=st.data(), by=st.sampled_from(report_rules.BREAKDOWNS))
@PROPERTY
def test_report_allowances_add_up_to_the_authorizations_total(data, by):
    auth = data.draw(terms())
    assume(_days(auth.start, auth.end) <= 400 or by != "day")
    span = report_rules.breakdown_span(
        auth.start, auth.end, auth.start, auth.end, by, auth.week_start
    )
    windows = report_rules.breakdown_windows(span, by, auth.week_start)
    assert windows[0].end == auth.end and windows[-1].start == auth.start
    for newer, older in zip(windows, windows[1:], strict=False):
        assert older.end + timedelta(days=1) == newer.start
    shares = [report_rules.allowance_between(auth, w.start, w.end) for w in windows]
    assert sum(Fraction(s) for s in shares) == auth.total


@given(range_start=ANY_DAY, range_end=ANY_DAY)
@PROPERTY
def test_a_report_range_gets_an_answer_not_an_error(range_start, range_end):
    problem = report_rules.range_refusal(range_start, range_end)
    assert problem is None or problem.endswith(".")
    if problem is None:
        assert (
            range_start
            <= range_end
            < report_rules.add_years(range_start, report_rules.MAX_RANGE_YEARS)
        )
    first, last = report_rules.month_range(range_start)
    assert first <= range_start <= last


@given(data=st.data(), today=ANY_DAY)
@PROPERTY
def test_a_forecast_is_made_for_any_dates(data, today):
    auth = data.draw(terms())
    booked = [
        (auth.start + timedelta(days=data.draw(st.integers(0, (auth.end - auth.start).days))), 1)
        for _ in range(data.draw(st.integers(0, 4)))
    ]
    outcome = report_rules.forecast(
        auth,
        status=data.draw(st.sampled_from(("active", "exhausted", "expired", "inactive"))),
        today=today,
        kept=data.draw(st.integers(0, 50)),
        booked=booked,
        recent_kept=data.draw(st.integers(0, 50)),
    )
    assert outcome.state in (
        report_rules.USED_UP,
        report_rules.RUNS_OUT,
        report_rules.LASTS,
        report_rules.NOT_APPLICABLE,
    )
    assert outcome.unused_at_end >= 0
    window = report_rules.pace_window(today)
    assert window.end == today and window.days <= report_rules.PACE_DAYS


# --- reminders -------------------------------------------------------------------------------


@given(end=ANY_DAY, today=ANY_DAY, remaining=st.integers(-5, 5), active=st.booleans())
@PROPERTY
def test_reminders_come_due_once_per_kind_at_a_real_threshold(end, today, remaining, active):
    due = due_reminders(insurance_active=active, end=end, remaining=remaining, today=today)
    assert len({d.kind for d in due}) == len(due)
    for reminder in due:
        if reminder.kind == EXPIRATION:
            assert reminder.threshold in EXPIRATION_DAYS
        else:
            assert reminder.kind == EXHAUSTION and reminder.threshold in (0, 1)
        text = headline(kind=reminder.kind, threshold=reminder.threshold, end=end, today=today,
                        remaining=remaining, auth_kind=SESSIONS)  # fmt: skip
        assert text


@given(end=ANY_DAY, today=ANY_DAY, later=st.integers(1, 90))
@PROPERTY
def test_expiration_reminders_only_grow_more_urgent(end, today, later):
    assume((end - today).days >= 0)
    next_day = shift(today, later)
    assume(next_day <= end)
    first, then = expiration_threshold(end, today), expiration_threshold(end, next_day)
    if first is not None:
        assert then is not None and then <= first


# --- the supported range ---------------------------------------------------------------------


@given(day=ANY_DAY)
@PROPERTY
def test_the_supported_range_is_1900_to_2099(day):
    assert (date_refusal(day) is None) == (date(1900, 1, 1) <= day <= date(2099, 12, 31))
