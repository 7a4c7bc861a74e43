"""The allocation rule: which authorization each visit counts against, and how much.

Table-driven cases for each kind of case a practice meets (overlapping
authorizations, caps, pooled minutes, kept visits that stay, cancellations), then
properties over random clients (Hypothesis).
"""

from datetime import date, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webapp.domain.allocation_rules import (
    ENDS_FIRST,
    KEPT_HERE,
    NEXT_WITH_ROOM,
    NO_ROOM,
    NOT_COUNTED,
    PassedOver,
    Visit,
    VisitLine,
    allocate_visits,
)
from webapp.domain.authorization_rules import (
    CANCELLED,
    KEPT,
    LATE_CANCELLED,
    NO_SHOW,
    SESSIONS,
    UNITS,
    UPCOMING,
    AuthorizationTerms,
)

D = date
INS, OTHER_INS = 7, 8
THERAPY, ABA, ABA_SUPERVISION, ASSESSMENT = 90837, 97153, 97155, 97151
CMS, MIDPOINT = "cms-8-minute", "midpoint-min-1"


def auth(id, start, end, allowed, kind=SESSIONS, frequency=None, services=(THERAPY,), ins=INS):
    return AuthorizationTerms(
        id=id,
        client_insurance_id=ins,
        kind=kind,
        start=start,
        end=end,
        allowed=allowed,
        frequency=frequency,
        service_type_ids=frozenset(services),
    )


def visit(id, day, status=UPCOMING, lines=None, hour=10, ins=INS, profile=CMS, stays_on=()):
    return Visit(
        encounter_id=id,
        starts_at=datetime.combine(day, time(hour)),
        day=day,
        status=status,
        client_insurance_id=ins,
        rounding_profile=profile,
        lines=tuple(lines or [VisitLine(THERAPY, 60, None)]),
        stays_on=frozenset(stays_on),
    )


def therapy():
    return [VisitLine(THERAPY, 60, None)]


def aba(minutes, code=ABA):
    return [VisitLine(code, minutes, 15)]


def where(results):
    """{encounter id: {authorization id: amount}}"""
    return {e: r.amounts for e, r in results.items()}


# --- Overlapping authorizations: the one ending first that still has room ----------------

A = auth(1, D(2026, 1, 1), D(2026, 3, 31), 2)
B = auth(2, D(2026, 3, 1), D(2026, 6, 30), 10)


@pytest.mark.parametrize("kept_before", [True, False])
def test_a_visit_skips_a_used_up_authorization_for_an_overlapping_one_with_room(kept_before):
    # The case: A has 2 sessions, both kept; B overlaps it. Mar 16 counts against B.
    visits = [
        visit(10, D(2026, 1, 5), KEPT, stays_on=[1] if kept_before else ()),
        visit(11, D(2026, 2, 5), KEPT, stays_on=[1] if kept_before else ()),
        visit(12, D(2026, 3, 16)),
    ]
    results = allocate_visits([A, B], visits)
    assert where(results) == {10: {1: 1}, 11: {1: 1}, 12: {2: 1}}
    placement = results[12].placements[2]
    assert placement.reason == NEXT_WITH_ROOM
    assert placement.passed_over == [PassedOver(1, "total")]
    assert not results[12].over


def test_upcoming_visits_claim_room_too_whatever_the_counting_setting():
    visits = [visit(10, D(2026, 3, 2)), visit(11, D(2026, 3, 9)), visit(12, D(2026, 3, 16))]
    assert where(allocate_visits([A, B], visits)) == {10: {1: 1}, 11: {1: 1}, 12: {2: 1}}


def test_earlier_visits_claim_room_first_whatever_order_they_come_in():
    visits = [visit(12, D(2026, 3, 2)), visit(11, D(2026, 3, 9)), visit(10, D(2026, 3, 16))]
    results = allocate_visits([B, A], list(reversed(visits)))
    assert where(results) == {12: {1: 1}, 11: {1: 1}, 10: {2: 1}}


def test_visits_at_the_same_start_are_placed_by_encounter_id():
    visits = [visit(21, D(2026, 3, 2)), visit(20, D(2026, 3, 2)), visit(22, D(2026, 3, 2))]
    assert where(allocate_visits([A, B], visits)) == {20: {1: 1}, 21: {1: 1}, 22: {2: 1}}


def test_the_one_that_ends_first_wins_when_both_have_room():
    result = allocate_visits([B, A], [visit(10, D(2026, 3, 16))])[10]
    assert result.amounts == {1: 1}
    assert result.placements[1].reason == ENDS_FIRST


@pytest.mark.parametrize(
    ("terms", "expected"),
    [
        # ties on the end date: the earlier start, then the lower id
        ([auth(5, D(2026, 2, 1), D(2026, 6, 30), 9), auth(4, D(2026, 1, 1), D(2026, 6, 30), 9)], 4),
        ([auth(5, D(2026, 1, 1), D(2026, 6, 30), 9), auth(3, D(2026, 1, 1), D(2026, 6, 30), 9)], 3),
    ],
)
def test_ties_go_to_the_earlier_start_then_the_lower_id(terms, expected):
    assert list(allocate_visits(terms, [visit(10, D(2026, 3, 3))])[10].amounts) == [expected]


def test_with_no_room_anywhere_it_counts_over_the_one_ending_first():
    full_a, full_b = (
        auth(1, D(2026, 1, 1), D(2026, 3, 31), 1),
        auth(2, D(2026, 3, 1), D(2026, 6, 30), 1),
    )
    visits = [visit(10, D(2026, 3, 2)), visit(11, D(2026, 3, 3)), visit(12, D(2026, 3, 4))]
    results = allocate_visits([full_a, full_b], visits)
    assert where(results) == {10: {1: 1}, 11: {2: 1}, 12: {1: 1}}
    over = results[12].placements[1]
    assert (over.reason, over.over, over.room_before) == (NO_ROOM, True, 0)
    assert over.passed_over == [PassedOver(1, "total"), PassedOver(2, "total")]


def test_an_authorization_for_another_service_insurance_or_date_never_counts():
    others = [
        auth(3, D(2026, 1, 1), D(2026, 12, 31), 9, services=(ABA,)),
        auth(4, D(2026, 1, 1), D(2026, 12, 31), 9, ins=OTHER_INS),
        auth(5, D(2026, 4, 1), D(2026, 12, 31), 9),
    ]
    result = allocate_visits(others, [visit(10, D(2026, 3, 3))])[10]
    assert (result.amounts, result.uncovered) == ({}, [0])


def test_self_pay_visits_are_not_placed():
    result = allocate_visits([A], [visit(10, D(2026, 3, 3), ins=None)])[10]
    assert (result.amounts, result.uncovered, result.claim) == ({}, [], None)


# --- Caps: room in the visit's window as well as in the total -------------------------------

WEEKLY = auth(1, D(2026, 3, 1), D(2026, 3, 31), 8, UNITS, "week", (ABA,))
WIDE = auth(2, D(2026, 1, 1), D(2026, 12, 31), 100, UNITS, "period", (ABA,))


def test_a_full_week_sends_the_visit_to_the_next_authorization_with_room():
    # 6 units on Monday; Wednesday's 4 would take the week to 10 of 8.
    visits = [visit(10, D(2026, 3, 2), lines=aba(90)), visit(11, D(2026, 3, 4), lines=aba(60))]
    results = allocate_visits([WEEKLY, WIDE], visits)
    assert where(results) == {10: {1: 6}, 11: {2: 4}}
    assert results[11].placements[2].passed_over == [PassedOver(1, "window")]
    # The next week has room again.
    later = allocate_visits([WEEKLY, WIDE], [*visits, visit(12, D(2026, 3, 9), lines=aba(60))])
    assert later[12].amounts == {1: 4}


def test_over_a_cap_with_nowhere_else_to_go_is_over_the_window():
    visits = [visit(10, D(2026, 3, 2), lines=aba(90)), visit(11, D(2026, 3, 4), lines=aba(60))]
    placement = allocate_visits([WEEKLY], visits)[11].placements[1]
    assert (placement.over_window, placement.over_total) == (True, False)
    assert (placement.room_before, placement.window_room_before) == (34, 2)  # 5 weeks × 8 − 6


# --- Units: CMS pools a claim's timed minutes ------------------------------------------------

UNITS_AUTH = auth(
    1, D(2026, 1, 1), D(2026, 12, 31), 200, UNITS, "period", (ABA, ABA_SUPERVISION, THERAPY)
)


@pytest.mark.parametrize(
    ("visits", "expected"),
    [
        # one visit, 33 + 7 min = 40 min = 3 units: 2 to 97153, 1 to 97155 (7 min left over > 3)
        ([visit(1, D(2026, 3, 2), lines=aba(33) + aba(7, ABA_SUPERVISION))], {1: (2, 1)}),
        # the same minutes in two visits of the day are pooled just the same
        (
            [
                visit(1, D(2026, 3, 2), lines=aba(33)),
                visit(2, D(2026, 3, 2), lines=aba(7, ABA_SUPERVISION), hour=14),
            ],
            {1: (2,), 2: (1,)},
        ),
        # on different days they are two claims: 33 min = 2, 7 min = 0
        (
            [
                visit(1, D(2026, 3, 2), lines=aba(33)),
                visit(2, D(2026, 3, 3), lines=aba(7, ABA_SUPERVISION)),
            ],
            {1: (2,), 2: (0,)},
        ),
        # under another insurance (another claim) they are not pooled either
        (
            [
                visit(1, D(2026, 3, 2), lines=aba(33)),
                visit(2, D(2026, 3, 2), lines=aba(7, ABA_SUPERVISION), ins=OTHER_INS),
            ],
            {1: (2,), 2: (0,)},
        ),
        # a cancelled visit is not billed: not pooled
        (
            [
                visit(1, D(2026, 3, 2), lines=aba(33)),
                visit(2, D(2026, 3, 2), CANCELLED, lines=aba(7, ABA_SUPERVISION)),
            ],
            {1: (2,), 2: (0,)},
        ),
        # an untimed service is 1 unit and never adds minutes
        ([visit(1, D(2026, 3, 2), lines=aba(7) + therapy())], {1: (0, 1)}),
        # per-code rounding rounds each line alone, at least 1
        (
            [visit(1, D(2026, 3, 2), lines=aba(33) + aba(7, ABA_SUPERVISION), profile=MIDPOINT)],
            {1: (2, 1)},
        ),
        ([visit(1, D(2026, 3, 2), lines=aba(37) + aba(37), profile=MIDPOINT)], {1: (2, 2)}),
        ([visit(1, D(2026, 3, 2), lines=aba(37) + aba(37))], {1: (3, 2)}),
    ],
)
def test_units_come_from_the_claims_pooled_minutes(visits, expected):
    results = allocate_visits([UNITS_AUTH], visits)
    assert {e: r.line_units for e, r in results.items()} == expected


def test_editing_one_visit_changes_the_units_of_another_that_day():
    morning = visit(1, D(2026, 3, 2), lines=aba(10))
    afternoon = visit(2, D(2026, 3, 2), lines=aba(10), hour=14)
    assert where(allocate_visits([UNITS_AUTH], [morning, afternoon])) == {1: {1: 1}, 2: {1: 0}}
    longer = visit(1, D(2026, 3, 2), lines=aba(20))
    assert where(allocate_visits([UNITS_AUTH], [longer, afternoon])) == {1: {1: 1}, 2: {1: 1}}


# --- Sessions and lines: a visit's lines go together; no line is split -------------------


def test_a_sessions_authorization_counts_one_per_visit_whatever_its_lines():
    both = auth(1, D(2026, 1, 1), D(2026, 12, 31), 5, services=(THERAPY, ASSESSMENT))
    lines = [VisitLine(THERAPY, 53, None), VisitLine(ASSESSMENT, 60, None)]
    assert allocate_visits([both], [visit(1, D(2026, 3, 2), lines=lines)])[1].amounts == {1: 1}


def test_the_lines_one_authorization_covers_move_together_to_the_next_with_room():
    small = auth(1, D(2026, 1, 1), D(2026, 3, 31), 5, UNITS, "period", (ABA, ABA_SUPERVISION))
    big = auth(2, D(2026, 1, 1), D(2026, 6, 30), 50, UNITS, "period", (ABA, ABA_SUPERVISION))
    lines = aba(45) + aba(45, ABA_SUPERVISION)  # 3 + 3 units: 6 do not fit in 5
    result = allocate_visits([small, big], [visit(1, D(2026, 3, 2), lines=lines)])[1]
    assert result.amounts == {2: 6}


def test_a_line_is_never_split_between_two_authorizations():
    small = auth(1, D(2026, 1, 1), D(2026, 3, 31), 2, UNITS, "period", (ABA,))
    other = auth(2, D(2026, 1, 1), D(2026, 6, 30), 2, UNITS, "period", (ABA,))
    result = allocate_visits([small, other], [visit(1, D(2026, 3, 2), lines=aba(45))])[1]
    assert result.amounts == {1: 3}
    assert result.placements[1].reason == NO_ROOM


def test_lines_that_do_not_fit_together_are_tried_one_by_one():
    small = auth(1, D(2026, 1, 1), D(2026, 3, 31), 3, UNITS, "period", (ABA, ABA_SUPERVISION))
    supervision_only = auth(
        2, D(2026, 1, 1), D(2026, 6, 30), 9, UNITS, "period", (ABA_SUPERVISION,)
    )
    lines = aba(45) + aba(45, ABA_SUPERVISION)
    result = allocate_visits([small, supervision_only], [visit(1, D(2026, 3, 2), lines=lines)])[1]
    assert result.amounts == {1: 3, 2: 3}
    assert not result.over


# --- Kept visits stay; cancelled ones take no room ----------------------------------------


def test_a_kept_visit_stays_where_it_was_counted_when_a_sooner_authorization_appears():
    sooner = auth(3, D(2026, 3, 1), D(2026, 3, 31), 10)
    visits = [visit(10, D(2026, 3, 2), KEPT, stays_on=[2]), visit(11, D(2026, 3, 9))]
    results = allocate_visits([B, sooner], visits)
    assert where(results) == {10: {2: 1}, 11: {3: 1}}
    assert results[10].placements[2].reason == KEPT_HERE


def test_a_kept_visit_stays_even_where_it_is_over():
    one = auth(1, D(2026, 1, 1), D(2026, 3, 31), 1)
    visits = [
        visit(10, D(2026, 3, 2), KEPT, stays_on=[1]),
        visit(11, D(2026, 3, 3), KEPT, stays_on=[1]),
    ]
    results = allocate_visits([one, B], visits)
    assert where(results) == {10: {1: 1}, 11: {1: 1}}
    assert results[11].over


def test_a_kept_visit_moves_only_when_its_authorization_stops_covering_it():
    shortened = auth(1, D(2026, 1, 1), D(2026, 2, 28), 2)
    result = allocate_visits([shortened, B], [visit(10, D(2026, 3, 2), KEPT, stays_on=[1])])[10]
    assert result.amounts == {2: 1}
    assert result.placements[2].reason == ENDS_FIRST


def test_kept_visits_claim_their_room_before_upcoming_ones():
    one = auth(1, D(2026, 1, 1), D(2026, 3, 31), 1)
    visits = [visit(10, D(2026, 3, 2)), visit(11, D(2026, 3, 9), KEPT, stays_on=[1])]
    assert where(allocate_visits([one, B], visits)) == {10: {2: 1}, 11: {1: 1}}


@pytest.mark.parametrize("status", [CANCELLED, LATE_CANCELLED, NO_SHOW])
def test_cancelled_visits_are_listed_but_take_no_room(status):
    one = auth(1, D(2026, 1, 1), D(2026, 3, 31), 1)
    visits = [visit(10, D(2026, 3, 2), status), visit(11, D(2026, 3, 9))]
    results = allocate_visits([one, B], visits)
    assert where(results) == {10: {1: 1}, 11: {1: 1}}
    assert results[10].placements[1].reason == NOT_COUNTED
    assert not results[10].over and not results[11].over


def test_a_cancelled_visit_is_listed_where_it_was():
    visits = [visit(10, D(2026, 3, 2), CANCELLED, stays_on=[2])]
    assert where(allocate_visits([A, B], visits)) == {10: {2: 1}}


# --- Properties over random clients --------------------------------------------------------

SERVICES = (THERAPY, ABA, ABA_SUPERVISION)
START = D(2026, 1, 1)


@st.composite
def terms_lists(draw):
    count = draw(st.integers(0, 4))
    found = []
    for id in range(1, count + 1):
        start = START + timedelta(days=draw(st.integers(0, 60)))
        end = start + timedelta(days=draw(st.integers(0, 90)))
        kind = draw(st.sampled_from((SESSIONS, UNITS)))
        frequency = (
            draw(st.sampled_from((None, "day", "week", "month", "period")))
            if kind == UNITS
            else None
        )
        services = draw(st.sets(st.sampled_from(SERVICES), min_size=1))
        found.append(auth(id, start, end, draw(st.integers(0, 12)), kind, frequency, services))
    return found


@st.composite
def visit_lists(draw):
    count = draw(st.integers(0, 12))
    found = []
    for id in range(100, 100 + count):
        day = START + timedelta(days=draw(st.integers(0, 150)))
        status = draw(st.sampled_from((UPCOMING, KEPT, KEPT, CANCELLED, NO_SHOW)))
        lines = [
            VisitLine(code, draw(st.integers(1, 90)), None if code == THERAPY else 15)
            for code in draw(st.lists(st.sampled_from(SERVICES), min_size=1, max_size=3))
        ]
        found.append(
            visit(
                id,
                day,
                status,
                lines=lines,
                hour=draw(st.integers(8, 17)),
                ins=draw(st.sampled_from((INS, INS, None))),
                profile=draw(st.sampled_from((CMS, MIDPOINT))),
                stays_on=draw(st.sets(st.integers(1, 4), max_size=2)),
            )
        )
    return found


def snapshot(results):
    return {
        e: {
            a: (p.amount, p.reason, p.room_before, p.window_room_before, tuple(p.passed_over))
            for a, p in r.placements.items()
        }
        for e, r in results.items()
    }


@settings(max_examples=200, deadline=None)
@given(terms_lists(), visit_lists(), st.randoms(use_true_random=False))
def test_the_result_does_not_depend_on_the_order_of_the_arguments(terms, visits, random):
    shuffled_terms, shuffled_visits = list(terms), list(visits)
    random.shuffle(shuffled_terms)
    random.shuffle(shuffled_visits)
    assert snapshot(allocate_visits(terms, visits)) == snapshot(
        allocate_visits(shuffled_terms, shuffled_visits)
    )


@settings(max_examples=200, deadline=None)
@given(terms_lists(), visit_lists())
def test_every_line_goes_to_an_authorization_covering_it_or_is_uncovered(terms, visits):
    by_id = {t.id: t for t in terms}
    for result in allocate_visits(terms, visits).values():
        v = result.visit
        if v.client_insurance_id is None:
            assert result.placements == {} and result.uncovered == []
            continue
        placed = sorted(i for p in result.placements.values() for i in p.line_indexes)
        assert sorted(placed + result.uncovered) == list(range(len(v.lines)))
        for p in result.placements.values():
            for i in p.line_indexes:
                assert by_id[p.authorization_id].covers(INS, v.lines[i].service_type_id, v.day)
        for i in result.uncovered:
            assert not any(t.covers(INS, v.lines[i].service_type_id, v.day) for t in terms)


@settings(max_examples=200, deadline=None)
@given(terms_lists(), visit_lists())
def test_a_visit_is_over_only_when_every_covering_authorization_was_full(terms, visits):
    for result in allocate_visits(terms, visits).values():
        for p in result.placements.values():
            if p.over and p.reason == NO_ROOM:
                covering = {
                    t.id
                    for t in terms
                    for i in p.line_indexes
                    if t.covers(INS, result.visit.lines[i].service_type_id, result.visit.day)
                }
                assert covering <= {q.authorization_id for q in p.passed_over}
            if p.over:
                assert p.reason in (NO_ROOM, KEPT_HERE)


@settings(max_examples=200, deadline=None)
@given(terms_lists(), visit_lists())
def test_an_authorization_goes_over_its_total_only_through_visits_flagged_over(terms, visits):
    results = allocate_visits(terms, visits)
    for t in terms:
        placements = [r.placements[t.id] for r in results.values() if t.id in r.placements]
        used = sum(p.amount for p in placements if p.counted)
        if used > t.total:
            assert any(p.over_total for p in placements)


@settings(max_examples=150, deadline=None)
@given(terms_lists(), visit_lists())
def test_cancelled_visits_change_nothing_for_the_others(terms, visits):
    counting = [v for v in visits if v.status in (KEPT, UPCOMING)]
    with_all = snapshot(allocate_visits(terms, visits))
    without = snapshot(allocate_visits(terms, counting))
    assert {e: with_all[e] for e in without} == without


@settings(max_examples=150, deadline=None)
@given(terms_lists(), visit_lists(), st.integers(0, 60), st.integers(0, 90))
def test_adding_an_authorization_never_moves_a_kept_visit(terms, visits, offset, length):
    before = allocate_visits(terms, visits)
    # Kept visits then carry where they went, as the stored ledger does.
    pinned = []
    for v in visits:
        placements = before[v.encounter_id].placements
        lines = {(a, i) for a, p in placements.items() for i in p.line_indexes}
        pinned.append(
            Visit(
                **{**v.__dict__, "stays_on": frozenset(placements), "stays_lines": frozenset(lines)}
            )
        )
    start = START + timedelta(days=offset)
    added = auth(9, start, start + timedelta(days=length), 5, services=SERVICES)
    after = allocate_visits([*terms, added], pinned)
    for v in pinned:
        if v.status != KEPT:
            continue
        # every line counted before stays where it was (a line nothing covered may be covered now)
        for auth_id, placement in before[v.encounter_id].placements.items():
            assert set(placement.line_indexes) <= set(
                after[v.encounter_id].placements[auth_id].line_indexes
            )


def with_ledger(visits, results):
    """The visits as the next run sees them: carrying where the last run put them."""
    found = []
    for v in visits:
        placements = results[v.encounter_id].placements
        lines = {(a, i) for a, p in placements.items() for i in p.line_indexes}
        kept = v.status != UPCOMING
        found.append(
            Visit(
                **{
                    **v.__dict__,
                    "stays_on": frozenset(placements) if kept else frozenset(),
                    "stays_lines": frozenset(lines) if kept else frozenset(),
                }
            )
        )
    return found


@settings(max_examples=300, deadline=None)
@given(terms_lists(), visit_lists())
def test_running_the_rule_again_on_its_own_ledger_changes_nothing(terms, visits):
    """Whatever change triggers a reallocation, an unchanged client keeps its ledger."""
    first = allocate_visits(terms, visits)
    again = allocate_visits(terms, with_ledger(visits, first))

    def core(results):  # where each visit counts, how much, and the room it met
        return {
            e: {
                a: (p.amount, p.room_before, p.window_room_before, p.over, tuple(p.line_indexes))
                for a, p in r.placements.items()
            }
            for e, r in results.items()
        }

    assert core(again) == core(first)
    # Only the words change: a Kept visit placed by the rule now "stays where it was".
    for e, result in again.items():
        for a, placement in result.placements.items():
            if result.visit.status == KEPT:
                assert placement.reason == KEPT_HERE
            else:
                assert placement.reason == first[e].placements[a].reason
