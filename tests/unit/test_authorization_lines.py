"""Authorization lines and the payer's decisions (issue 16 parts 1 and 2), as pure rules.

The allocation picks a *line* (covering = insurance + service + date within the
line's dates); an authorization's figures are its lines' and its status rolls up
from theirs (Exhausted when every counting line is). Only approved quantities count.
Table-driven cases, then properties over random authorizations and visits (Hypothesis).
"""

from collections import defaultdict
from datetime import date, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webapp.domain.allocation_rules import Visit, VisitLine, allocate_visits
from webapp.domain.authorization_rules import (
    ACTIVE,
    CANCELLED,
    EXHAUSTED,
    EXPIRED,
    INACTIVE,
    KEPT,
    NO_SHOW,
    PENDING,
    SESSIONS,
    UNITS,
    UPCOMING,
    AuthorizationTerms,
    Usage,
    build_ledger,
    decision_status,
    line_status,
    rolled_up_status,
)
from webapp.domain.decision_rules import (
    APPROVED,
    DECISIONS,
    EXPEDITED,
    MODIFIED,
    PARTLY_APPROVED,
    PENDED,
    STANDARD,
    Clock,
    decision_due,
    line_counts,
)
from webapp.domain.pas_terms import CANCELLED as CANCELLED_DECISION
from webapp.domain.pas_terms import DENIED

D = date
INS = 7
ABA, SUPERVISION, THERAPY = 97153, 97155, 90837
TODAY = D(2026, 3, 15)


def line(id, auth_id, services, allowed, kind=UNITS, frequency="week", start=None, end=None):
    return AuthorizationTerms(
        id=id,
        client_insurance_id=INS,
        kind=kind,
        start=start or D(2026, 1, 4),
        end=end or D(2026, 6, 27),
        allowed=allowed,
        frequency=frequency if kind == UNITS else None,
        service_type_ids=frozenset(services),
        authorization_id=auth_id,
    )


def visit(id, day, lines, status=UPCOMING):
    return Visit(
        encounter_id=id,
        starts_at=datetime.combine(day, time(9)),
        day=day,
        status=status,
        client_insurance_id=INS,
        rounding_profile="cms-8-minute",
        lines=tuple(lines),
    )


# --- Per-line counting: the ABA authorization payers write ------------------------------------


def test_an_aba_authorization_counts_each_code_on_its_own_line():
    """One number: 97153 at 40 units a week and 97155 at 8 a week. A visit with both
    codes puts each code's units on its own line, each against its own weekly cap."""
    direct, supervision = line(11, 1, [ABA], 40), line(12, 1, [SUPERVISION], 8)
    monday = D(2026, 3, 2)
    visits = [
        visit(1, monday, [VisitLine(ABA, 120, 15), VisitLine(SUPERVISION, 60, 15)]),
        visit(2, monday + timedelta(days=1), [VisitLine(SUPERVISION, 75, 15)]),
    ]
    placed = allocate_visits([direct, supervision], visits)
    assert placed[1].amounts == {11: 8, 12: 4}
    assert placed[2].amounts == {12: 5}  # 4 + 5 = 9 of 8 in the week: over on its line
    assert placed[2].over and not placed[1].over


def test_a_line_with_its_own_dates_covers_only_them():
    early = line(21, 2, [ABA], 10, start=D(2026, 1, 4), end=D(2026, 2, 28))
    late = line(22, 2, [ABA], 10, start=D(2026, 3, 1), end=D(2026, 6, 27))
    placed = allocate_visits([early, late], [visit(1, D(2026, 3, 2), [VisitLine(ABA, 60, 15)])])
    assert placed[1].amounts == {22: 4}


def test_the_visit_goes_to_the_line_that_ends_first_with_room_across_authorizations():
    """The room-aware rule of issue 10 picks among lines: A's 97153 line is full, so
    the visit counts against B's 97153 line, not A's 97155 line (which does not cover it)."""
    a_direct = line(31, 3, [ABA], 4, end=D(2026, 3, 31))
    a_supervision = line(32, 3, [SUPERVISION], 8, end=D(2026, 3, 31))
    b_direct = line(41, 4, [ABA], 40, end=D(2026, 6, 27))
    visits = [visit(1, D(2026, 3, 2), [VisitLine(ABA, 60, 15)], KEPT)]
    visits.append(visit(2, D(2026, 3, 3), [VisitLine(ABA, 60, 15)]))
    placed = allocate_visits([a_direct, a_supervision, b_direct], visits)
    assert placed[1].amounts == {31: 4}
    assert placed[2].amounts == {41: 4} and not placed[2].over


# --- Roll-up status ----------------------------------------------------------------------------

ROLL_UP = [
    # line statuses, authorization decision, expected
    ([ACTIVE, ACTIVE], APPROVED, ACTIVE),
    ([EXHAUSTED, ACTIVE], APPROVED, ACTIVE),
    ([EXHAUSTED, EXHAUSTED], APPROVED, EXHAUSTED),
    ([EXHAUSTED, EXPIRED], APPROVED, EXHAUSTED),
    ([EXPIRED, EXPIRED], APPROVED, EXPIRED),
    ([EXPIRED, ACTIVE], APPROVED, ACTIVE),
    ([ACTIVE, DENIED], PARTLY_APPROVED, ACTIVE),
    ([EXHAUSTED, DENIED], PARTLY_APPROVED, EXHAUSTED),
    ([DENIED, DENIED], APPROVED, DENIED),
    ([PENDING, DENIED], APPROVED, PENDING),
    ([PENDING], PENDED, PENDING),
    ([ACTIVE], DENIED, DENIED),
    ([ACTIVE], CANCELLED_DECISION, CANCELLED_DECISION),
]


@pytest.mark.parametrize(("lines", "decision", "expected"), ROLL_UP)
def test_an_authorization_status_rolls_up_from_its_lines(lines, decision, expected):
    status = rolled_up_status(
        insurance_active=True,
        authorization_decision=decision,
        end_date=D(2026, 6, 30),
        line_statuses=lines,
        today=TODAY,
    )
    assert status == expected


def test_inactive_insurance_and_an_ended_authorization_come_first():
    common = dict(authorization_decision=APPROVED, line_statuses=[ACTIVE], today=TODAY)
    assert rolled_up_status(insurance_active=False, end_date=D(2026, 6, 30), **common) == INACTIVE
    assert rolled_up_status(insurance_active=True, end_date=D(2026, 3, 14), **common) == EXPIRED


# --- Decision states: only approved quantities count ------------------------------------------

GRANTING_LINE = {APPROVED, PARTLY_APPROVED, MODIFIED}


@pytest.mark.parametrize("authorization", DECISIONS)
@pytest.mark.parametrize("own", DECISIONS)
def test_only_approved_quantities_count(authorization, own):
    counts = line_counts(authorization, own)
    withholding = {PENDED, DENIED, CANCELLED_DECISION}
    assert counts == (own in GRANTING_LINE and authorization not in withholding)
    status = line_status(
        insurance_active=True,
        authorization_decision=authorization,
        line_decision=own,
        end_date=D(2026, 6, 30),
        remaining=5,
        today=TODAY,
    )
    assert (status == ACTIVE) == counts
    if not counts:
        assert status == decision_status(authorization, own)
        assert status in (PENDING, DENIED, CANCELLED_DECISION)


def test_an_unknown_decision_is_refused():
    with pytest.raises(ValueError):
        line_counts("maybe", APPROVED)


DUE = [
    (datetime(2026, 3, 2, 9), EXPEDITED, datetime(2026, 3, 5, 9)),  # 72 hours
    (datetime(2026, 3, 2, 9), STANDARD, datetime(2026, 3, 9, 9)),  # 7 calendar days
    (datetime(2026, 12, 28, 23, 30), STANDARD, datetime(2027, 1, 4, 23, 30)),
]


@pytest.mark.parametrize(("asked", "urgency", "due"), DUE)
def test_the_payer_decision_clock_is_72_hours_or_7_days(asked, urgency, due):
    assert decision_due(asked, urgency) == due
    assert not Clock(asked, urgency, due).overdue
    assert Clock(asked, urgency, due + timedelta(seconds=1)).overdue


def test_the_clock_says_its_age_and_what_is_left():
    asked = datetime(2026, 3, 2, 9)
    assert Clock(asked, EXPEDITED, asked + timedelta(hours=30)).text == (
        "Waiting 30 hours of 72 hours (expedited): due in 42 hours"
    )
    assert Clock(asked, STANDARD, asked + timedelta(days=9)).text == (
        "Waiting 9 days of 7 days (standard): overdue by 2 days"
    )


# --- Properties over random authorizations with lines ----------------------------------------

SERVICES = (ABA, SUPERVISION, THERAPY)
DAYS = [D(2026, 1, 1) + timedelta(days=n) for n in range(0, 180, 3)]


@st.composite
def authorizations(draw):
    """A few authorizations, each with one to three lines of their own services/dates."""
    found, next_line = [], 100
    for auth_id in range(1, draw(st.integers(1, 3)) + 1):
        start = draw(st.sampled_from(DAYS))
        end = start + timedelta(days=draw(st.integers(0, 150)))
        for _ in range(draw(st.integers(1, 3))):
            kind = draw(st.sampled_from([SESSIONS, UNITS]))
            frequency = draw(st.sampled_from(["day", "week", "month", "period"]))
            own = draw(st.booleans())
            shift = draw(st.integers(0, (end - start).days)) if own else 0
            line_start = start + timedelta(days=shift)
            found.append(
                AuthorizationTerms(
                    id=next_line,
                    client_insurance_id=INS,
                    kind=kind,
                    start=line_start,
                    end=end,
                    allowed=draw(st.integers(1, 12)),
                    frequency=frequency if kind == UNITS else None,
                    service_type_ids=frozenset(
                        draw(st.sets(st.sampled_from(SERVICES), min_size=1, max_size=2))
                    ),
                    authorization_id=auth_id,
                )
            )
            next_line += 1
    return found


@st.composite
def visits(draw):
    found = []
    for encounter_id in range(1, draw(st.integers(0, 12)) + 1):
        codes = draw(st.lists(st.sampled_from(SERVICES), min_size=1, max_size=2, unique=True))
        minutes = [draw(st.integers(0, 120)) for _ in codes]
        found.append(
            visit(
                encounter_id,
                draw(st.sampled_from(DAYS)),
                [
                    VisitLine(code, spent, None if code == THERAPY else 15)
                    for code, spent in zip(codes, minutes, strict=True)
                ],
                draw(st.sampled_from([KEPT, UPCOMING, CANCELLED, NO_SHOW])),
            )
        )  # fmt: skip
    return found


@settings(max_examples=150, deadline=None)
@given(authorizations(), visits())
def test_a_visit_counts_only_on_lines_that_cover_it(terms, booked):
    by_id = {t.id: t for t in terms}
    for result in allocate_visits(terms, booked).values():
        for line_id, placement in result.placements.items():
            t = by_id[line_id]
            for index in placement.line_indexes:
                assert t.covers(INS, result.visit.lines[index].service_type_id, result.visit.day)


@settings(max_examples=150, deadline=None)
@given(authorizations(), visits())
def test_an_authorization_total_is_the_sum_of_its_lines(terms, booked):
    """Kept and Upcoming of an authorization = the sums over its lines' ledgers = the sum of
    the allocation's placements on its lines; a line never counts past its room unless the
    allocation flagged the visit over."""
    placed = allocate_visits(terms, booked)
    usages = defaultdict(list)
    per_authorization = defaultdict(int)
    for result in placed.values():
        for line_id, p in result.placements.items():
            usages[line_id].append(
                Usage(p.encounter_id, p.day, result.visit.status, p.amount,
                      result.visit.starts_at, placement=p)
            )  # fmt: skip
            if result.visit.can_count:
                per_authorization[next(t.parent_id for t in terms if t.id == line_id)] += p.amount
    ledgers = {t.id: build_ledger(t, usages[t.id], count_upcoming=True) for t in terms}
    for auth_id in {t.parent_id for t in terms}:
        lines = [ledgers[t.id] for t in terms if t.parent_id == auth_id]
        assert sum(ledger.booked for ledger in lines) == per_authorization[auth_id]
    for t in terms:
        fits = sum(r.usage.amount for r in ledgers[t.id].rows if r.counted and not r.over)
        assert fits <= t.total


@settings(max_examples=200, deadline=None)
@given(authorizations(), visits(), st.sampled_from(DAYS))
def test_an_authorization_is_exhausted_exactly_when_every_line_is(terms, booked, today):
    placed = allocate_visits(terms, booked)
    usages = defaultdict(list)
    for result in placed.values():
        for line_id, p in result.placements.items():
            usages[line_id].append(
                Usage(p.encounter_id, p.day, result.visit.status, p.amount,
                      result.visit.starts_at, placement=p)
            )  # fmt: skip
    for auth_id in {t.parent_id for t in terms}:
        lines = [t for t in terms if t.parent_id == auth_id]
        end = max(t.end for t in lines)
        statuses = []
        for t in lines:
            ledger = build_ledger(t, usages[t.id], count_upcoming=True)
            statuses.append(
                line_status(insurance_active=True, authorization_decision=APPROVED,
                            line_decision=APPROVED, end_date=t.end,
                            remaining=ledger.remaining, today=today)
            )  # fmt: skip
        rolled = rolled_up_status(
            insurance_active=True,
            authorization_decision=APPROVED,
            end_date=end,
            line_statuses=statuses,
            today=today,
        )
        nothing_left = all(s in (EXHAUSTED, EXPIRED) for s in statuses)
        if today > end or all(s == EXPIRED for s in statuses):
            assert rolled == EXPIRED
        else:
            assert (rolled == EXHAUSTED) == nothing_left
            assert (rolled == ACTIVE) == (ACTIVE in statuses)


@settings(max_examples=100, deadline=None)
@given(authorizations(), visits())
def test_a_one_line_authorization_counts_exactly_as_the_authorization_did(terms, booked):
    """Migrated data: each authorization becomes one line with its id. Whether the terms
    carry their authorization's id or not, the allocation is the same."""
    one_line = [t for t in terms if t.id == min(x.id for x in terms if x.parent_id == t.parent_id)]
    as_lines = allocate_visits(one_line, booked)
    legacy = [
        AuthorizationTerms(
            id=t.id,
            client_insurance_id=t.client_insurance_id,
            kind=t.kind,
            start=t.start,
            end=t.end,
            allowed=t.allowed,
            frequency=t.frequency,
            service_type_ids=t.service_type_ids,
        )
        for t in one_line
    ]
    assert {e: r.amounts for e, r in as_lines.items()} == {
        e: r.amounts for e, r in allocate_visits(legacy, booked).items()
    }
