from datetime import date, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webapp.domain.authorization_rules import (
    ACTIVE,
    CANCELLED,
    ENCOUNTER_STATUS_LABELS,
    ENCOUNTER_STATUSES,
    EXHAUSTED,
    EXPIRED,
    INACTIVE,
    KEPT,
    LATE_CANCELLED,
    NO_SHOW,
    SESSIONS,
    STATUS_LABELS,
    STATUSES,
    UNITS,
    UPCOMING,
    AuthorizationTerms,
    CoverageWarning,
    Ledger,
    Usage,
    authorization_status,
    build_ledger,
    counts_toward,
    uncovered_warning,
    windows_with_usage,
)
from webapp.domain.windows import Window

D = date
INS = 7  # client insurance id
PSYCHOTHERAPY, ABA, ASSESSMENT = 90837, 97153, 97151  # service type ids
YEAR_START, YEAR_END = D(2025, 1, 1), D(2025, 12, 31)


def terms(
    id=1,
    kind=SESSIONS,
    start=YEAR_START,
    end=YEAR_END,
    allowed=20,
    frequency=None,
    services=(PSYCHOTHERAPY,),
    insurance=INS,
):
    return AuthorizationTerms(
        id=id,
        client_insurance_id=insurance,
        kind=kind,
        start=start,
        end=end,
        allowed=allowed,
        frequency=frequency,
        service_type_ids=frozenset(services),
    )


def usage(encounter_id, day, status=KEPT, amount=1, hour=9):
    return Usage(encounter_id, day, status, amount, datetime.combine(day, time(hour)))


def test_it_labels_every_status():
    assert set(STATUS_LABELS) == set(STATUSES)
    assert ENCOUNTER_STATUS_LABELS == {
        UPCOMING: "Upcoming",
        KEPT: "Kept",
        CANCELLED: "Cancelled",
        LATE_CANCELLED: "Late cancelled",
        NO_SHOW: "No-show",
    }
    assert tuple(ENCOUNTER_STATUS_LABELS) == ENCOUNTER_STATUSES


@pytest.mark.parametrize(
    ("status", "count_upcoming", "counts"),
    [
        (KEPT, False, True),
        (KEPT, True, True),
        (UPCOMING, False, False),
        (UPCOMING, True, True),
        (CANCELLED, True, False),
        (LATE_CANCELLED, True, False),
        (NO_SHOW, True, False),
        (NO_SHOW, False, False),
    ],
)
def test_it_counts_kept_always_and_upcoming_only_with_the_setting(status, count_upcoming, counts):
    assert counts_toward(status, count_upcoming) is counts


END = D(2025, 6, 30)


@pytest.mark.parametrize(
    ("insurance_active", "today", "remaining", "status"),
    [
        (False, D(2025, 7, 1), 0, INACTIVE),  # inactive beats expired and exhausted
        (False, D(2025, 3, 1), 5, INACTIVE),
        (True, D(2025, 7, 1), 0, EXPIRED),  # expired beats exhausted
        (True, D(2025, 7, 1), 5, EXPIRED),
        (True, END, 5, ACTIVE),  # the end date itself is still in force
        (True, END, 0, EXHAUSTED),
        (True, D(2025, 3, 1), -2, EXHAUSTED),
        (True, D(2025, 3, 1), 1, ACTIVE),
    ],
)
def test_it_derives_status_first_match_wins(insurance_active, today, remaining, status):
    result = authorization_status(
        insurance_active=insurance_active, end_date=END, remaining=remaining, today=today
    )
    assert result == status


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "visits"}, "kind"),
        ({"frequency": "fortnight"}, "frequency"),
        ({"start": D(2025, 2, 1), "end": D(2025, 1, 31)}, "end before it starts"),
        ({"allowed": -1}, "negative"),
    ],
)
def test_it_rejects_invalid_terms(kwargs, message):
    with pytest.raises(ValueError, match=message):
        terms(**kwargs)


@pytest.mark.parametrize(
    ("insurance", "service", "day", "covered"),
    [
        (INS, PSYCHOTHERAPY, D(2025, 1, 1), True),
        (INS, PSYCHOTHERAPY, D(2025, 12, 31), True),
        (INS, PSYCHOTHERAPY, D(2024, 12, 31), False),
        (INS, PSYCHOTHERAPY, D(2026, 1, 1), False),
        (INS, ABA, D(2025, 5, 1), False),
        (INS + 1, PSYCHOTHERAPY, D(2025, 5, 1), False),
    ],
)
def test_it_covers_its_insurance_services_and_dates(insurance, service, day, covered):
    assert terms().covers(insurance, service, day) is covered


@pytest.mark.parametrize(
    ("kind", "frequency", "total", "window_count"),
    [
        (SESSIONS, None, 20, 1),
        (UNITS, None, 20, 1),
        (UNITS, "period", 20, 1),
        (UNITS, "month", 240, 12),
        (UNITS, "day", 365 * 20, 365),
    ],
)
def test_it_totals_allowed_over_its_windows(kind, frequency, total, window_count):
    auth = terms(kind=kind, frequency=frequency)
    assert auth.total == total
    assert len(auth.windows()) == window_count


def session_ledger(count_upcoming, allowed=3):
    auth = terms(allowed=allowed)
    usages = [
        usage(14, D(2025, 3, 20), UPCOMING),
        usage(11, D(2025, 3, 3), KEPT),
        usage(12, D(2025, 3, 10), CANCELLED),
        usage(13, D(2025, 3, 10), KEPT, hour=15),
        usage(15, D(2025, 3, 27), UPCOMING),
    ]
    return build_ledger(auth, usages, count_upcoming=count_upcoming)


@pytest.mark.parametrize(
    ("count_upcoming", "counted", "remaining", "running", "over"),
    [
        (False, 2, 1, [2, None, 1, None, None], [False] * 5),
        (True, 4, -1, [2, None, 1, 0, -1], [False, False, False, False, True]),
    ],
)
def test_it_builds_a_chronological_ledger(count_upcoming, counted, remaining, running, over):
    ledger = session_ledger(count_upcoming)
    assert [row.usage.encounter_id for row in ledger.rows] == [11, 12, 13, 14, 15]
    assert (ledger.kept, ledger.upcoming, ledger.total) == (2, 2, 3)
    assert (ledger.counted, ledger.remaining) == (counted, remaining)
    assert [row.running_remaining for row in ledger.rows] == running
    assert [row.over for row in ledger.rows] == over
    assert ledger.rows[1].counted is False
    assert ledger.windows == []


def test_it_orders_rows_at_the_same_time_by_encounter_id():
    same = datetime(2025, 3, 3, 9)
    usages = [Usage(9, D(2025, 3, 3), KEPT, 1, same), Usage(8, D(2025, 3, 3), KEPT, 1, same)]
    ledger = build_ledger(terms(), usages, count_upcoming=False)
    assert [row.usage.encounter_id for row in ledger.rows] == [8, 9]


@pytest.mark.parametrize(
    ("kept", "upcoming", "total", "percents", "bar", "over_by"),
    [
        (0, 0, 20, ("0%", "0%", "0%"), ("0%", "0%"), 0),
        (5, 5, 20, ("25%", "25%", "50%"), ("25%", "25%"), 0),
        (1, 1, 3, ("33%", "33%", "66%"), ("33.3333%", "33.3333%"), 0),
        # booked is worked out from its own sum: 2 + 4 of 6 is full, not 33 + 66 = 99
        (2, 4, 6, ("33%", "66%", "100%"), ("33.3333%", "66.6666%"), 0),
        (15, 10, 20, ("75%", "50%", "125%"), ("75%", "25%"), 5),  # bars never pass 100
        (25, 0, 20, ("125%", "0%", "125%"), ("100%", "0%"), 5),
        (1, 0, 624, ("<1%", "0%", "<1%"), ("0.1602%", "0%"), 0),
        (3, 2, 0, ("—", "—", "—"), ("0%", "0%"), 5),
    ],
)
def test_it_gives_percentages_bars_and_over_use(kept, upcoming, total, percents, bar, over_by):
    ledger = Ledger(terms(), kept, upcoming, kept, total, total - kept, [], [])
    assert (ledger.kept_percent, ledger.upcoming_percent, ledger.booked_percent) == percents
    assert ledger.bar == bar
    assert ledger.over_by == over_by


WEEKLY = terms(
    id=2, kind=UNITS, start=D(2025, 3, 5), end=D(2025, 3, 18), allowed=10, frequency="week"
)


def weekly_ledger(count_upcoming):
    usages = [
        usage(1, D(2025, 3, 5), KEPT, 4),  # Wed; week Mar 5–8 (clipped)
        usage(2, D(2025, 3, 7), UPCOMING, 4),
        usage(3, D(2025, 3, 8), NO_SHOW, 4),
        usage(4, D(2025, 3, 9), KEPT, 8),  # Sun; week Mar 9–15
        usage(5, D(2025, 3, 11), KEPT, 4),
        usage(6, D(2025, 3, 17), UPCOMING, 2),  # week Mar 16–18 (clipped)
    ]
    return build_ledger(WEEKLY, usages, count_upcoming=count_upcoming)


def test_it_tracks_usage_per_window():
    ledger = weekly_ledger(count_upcoming=True)
    assert ledger.total == 30
    assert [
        (w.window.label, w.allowed, w.kept, w.upcoming, w.remaining, w.over) for w in ledger.windows
    ] == [
        ("Mar 5 – Mar 8, 2025", 10, 4, 4, 2, False),
        ("Mar 9 – Mar 15, 2025", 10, 12, 0, -2, True),
        ("Mar 16 – Mar 18, 2025", 10, 0, 2, 8, False),
    ]
    assert (ledger.kept, ledger.upcoming, ledger.counted, ledger.remaining) == (16, 6, 22, 8)


def test_it_flags_the_row_that_goes_over_its_window():
    rows = weekly_ledger(count_upcoming=True).rows
    assert [r.window_remaining for r in rows] == [6, 2, None, 2, -2, 8]
    assert [r.over for r in rows] == [False, False, False, False, True, False]
    assert rows[2].window == Window(D(2025, 3, 5), D(2025, 3, 8))


def test_it_leaves_upcoming_out_of_window_remaining_when_the_setting_is_off():
    ledger = weekly_ledger(count_upcoming=False)
    assert [w.remaining for w in ledger.windows] == [6, -2, 10]
    assert [w.upcoming for w in ledger.windows] == [4, 0, 2]
    assert (ledger.counted, ledger.remaining) == (16, 14)


def test_it_explains_an_authorization_that_has_not_started():
    starts_later = terms(id=3, start=D(2025, 4, 1), services=(ABA,))
    ends_earlier = terms(id=4, end=D(2025, 2, 28), services=(ABA,))
    warning = uncovered_warning(
        [starts_later, ends_earlier],
        number_by_auth={3: "A-3", 4: "A-4"},
        client_insurance_id=INS,
        service_type_id=ABA,
        service_name="97153",
        day=D(2025, 3, 3),
    )
    assert warning == CoverageWarning(
        "not_started",
        "Authorization A-3 for 97153 starts on Apr 1, 2025; nothing covers Mar 3, 2025.",
    )


def test_it_falls_back_to_none_covers():
    warning = uncovered_warning(
        [terms(id=4, end=D(2025, 2, 28), services=(ABA,))],
        number_by_auth={4: "A-4"},
        client_insurance_id=INS,
        service_type_id=ABA,
        service_name="97153",
        day=D(2025, 3, 3),
    )
    assert warning.code == "none_covers"


@st.composite
def _capped_usages(draw):
    """Units terms with a day, week or month cap (either week start, any dates) and
    usages in every status, some outside the dates."""
    start = draw(st.dates(D(2024, 1, 1), D(2026, 12, 31)))
    end = start + timedelta(days=draw(st.integers(0, 200)))
    capped = AuthorizationTerms(
        id=1, client_insurance_id=INS, kind=UNITS, start=start, end=end,
        allowed=draw(st.integers(0, 8)), frequency=draw(st.sampled_from(("day", "week", "month"))),
        service_type_ids=frozenset({ABA}), week_start=draw(st.sampled_from((0, 6))),
    )  # fmt: skip
    days = st.dates(start - timedelta(days=10), end + timedelta(days=10))
    found = draw(
        st.lists(
            st.tuples(days, st.sampled_from(ENCOUNTER_STATUSES), st.integers(0, 6)), max_size=40
        )
    )
    return capped, [usage(n, day, status, amount) for n, (day, status, amount) in enumerate(found)]


@given(_capped_usages(), st.booleans())
def test_windows_with_usage_are_the_ledgers_windows_that_have_usage(case, count_upcoming):
    """The table's windows (`windows_with_usage`, fed sums by day) are the full ledger's,
    less the windows no usage falls in: same figures, same order."""
    capped, usages = case
    ledger = build_ledger(capped, usages, count_upcoming=count_upcoming)
    used = {capped.window_for(u.day) for u in usages} - {None}
    expected = [w for w in ledger.windows if w.window in used]
    assert windows_with_usage(capped, usages, count_upcoming=count_upcoming) == expected
