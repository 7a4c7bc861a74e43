"""The allocation through the real database: every entry point gives the same ledger.

A booking, an edit, a status change, an authorization added, edited, removed or
imported all run the one rule over the client's whole history; the ledger never
depends on which of them ran last, and a Kept visit never moves by itself.
"""

import random
from datetime import UTC, date, datetime, time, timedelta
from types import SimpleNamespace

import pytest
import time_machine
from sqlalchemy import select

from tests import factories
from webapp.domain import authorization_rules as rules
from webapp.extensions import db
from webapp.models import Allocation, Authorization, Encounter
from webapp.services import allocation, authorizations, booking, encounter_edit, records
from webapp.services.coverage import load_coverage, visit_warnings
from webapp.services.legacy_import import import_rows, parse_csv

D = date


@pytest.fixture(autouse=True)
def _early_2026():
    """Today is 1 March 2026 (the visits below are in 2026); the clock only ticks."""
    with time_machine.travel(datetime(2026, 3, 1, 12, tzinfo=UTC), tick=True):
        yield


@pytest.fixture
def practice(world):
    org = world.org
    org.enhanced_authorizations_release_date = D(2026, 1, 1)
    client = factories.client(org, first_name="Ada", last_name="Lovelace")
    payer = factories.payer(org, name="Blue Harbor", messaging_enabled=True)
    policy = factories.insurance(org, client, payer)
    therapy = factories.service_type(org, cpt_code="90837")
    aba = factories.service_type(org, cpt_code="97153", unit_minutes=15)
    supervision = factories.service_type(org, cpt_code="97155", unit_minutes=15)
    db.session.commit()
    return SimpleNamespace(
        world=world, org=org, client=client, payer=payer, policy=policy,
        therapy=therapy, aba=aba, supervision=supervision,
    )  # fmt: skip


def book(p, day, lines=None, hour=10, **extra):
    request = booking.BookingRequest(
        clinician_id=p.world.clinician.id,
        start_local=datetime.combine(day, time(hour)),
        duration_minutes=60,
        lines=lines or [(p.therapy.id, 60)],
        billing_type="insurance",
        client_insurance_id=p.policy.id,
        **extra,
    )
    return booking.book(p.org, p.client, request, actor=p.world.admin)


def ledger() -> set[tuple[int, int, int, str]]:
    """(encounter, authorization, amount, reason) of every row."""
    rows = db.session.execute(
        select(
            Allocation.encounter_id,
            Allocation.authorization_id,
            Allocation.amount,
            Allocation.reason,
        )
    )
    return {tuple(row) for row in rows}


def where(encounter) -> dict[int, int]:
    rows = db.session.execute(
        select(Allocation.authorization_id, Allocation.amount).where(
            Allocation.encounter_id == encounter.id
        )
    )
    return dict(rows.all())


def add_auth(p, number, start, end, allowed, services=None, **values):
    values = {
        "client_insurance_id": p.policy.id, "number": number, "kind": "sessions",
        "start_date": start, "end_date": end, "allowed": allowed, "frequency": None, **values,
    }  # fmt: skip
    ids = [s.id for s in services or [p.therapy]]
    return authorizations.save_authorization(None, p.client, values, ids, actor=p.world.admin)


def keep(p, encounter):
    confirmed = encounter.service_date.isoformat()  # kept before it starts: its date confirmed
    booking.set_status(encounter, rules.KEPT, actor=p.world.admin, confirm_early=confirmed)


def test_the_overlapping_case_counts_against_the_one_with_room(practice):
    p = practice
    a = add_auth(p, "A", D(2026, 1, 1), D(2026, 3, 31), 2)
    b = add_auth(p, "B", D(2026, 3, 1), D(2026, 6, 30), 10)
    first, second = book(p, D(2026, 1, 12))[0], book(p, D(2026, 2, 9))[0]
    for visit in (first, second):
        visit.status = rules.KEPT
    allocation.reallocate_client(p.org, p.client.id)
    db.session.commit()
    check = booking.check_booking(p.org, p.client, _request(p, D(2026, 3, 16)))
    assert check.occurrences[0].warnings == []
    march = book(p, D(2026, 3, 16))[0]
    assert (where(first), where(second), where(march)) == ({a.id: 1}, {a.id: 1}, {b.id: 1})
    row = db.session.scalars(select(Allocation).where(Allocation.encounter_id == march.id)).one()
    assert (row.reason, row.passed_over) == ("next_with_room", [{"id": a.id, "why": "total"}])


def _request(p, day, **extra):
    return booking.BookingRequest(
        clinician_id=p.world.clinician.id,
        start_local=datetime.combine(day, time(10)),
        duration_minutes=60,
        lines=[(p.therapy.id, 60)],
        billing_type="insurance",
        client_insurance_id=p.policy.id,
        **extra,
    )


def test_a_booking_check_says_what_the_saved_series_carries(practice):
    p = practice
    add_auth(p, "A", D(2026, 3, 1), D(2026, 6, 30), 3)
    request = _request(p, D(2026, 3, 2), repeat="weekly", repeat_count=6)
    check = booking.check_booking(p.org, p.client, request)
    assert [o.number for o in check.affected] == [4, 5, 6]
    saved = booking.book(p.org, p.client, request, actor=p.world.admin)
    coverage = load_coverage(p.org, [p.client.id])
    carried = [visit_warnings(coverage, e) for e in saved]
    assert carried == [o.warnings for o in check.occurrences]


@pytest.mark.parametrize("count_upcoming", [False, True])
def test_every_affected_occurrence_carries_its_warning_whatever_the_setting(
    practice, count_upcoming
):
    p = practice
    p.org.count_upcoming_for_exhaustion = count_upcoming
    add_auth(p, "A", D(2026, 3, 1), D(2026, 6, 30), 2)
    saved = book(p, D(2026, 3, 2), repeat="weekly", repeat_count=5)
    coverage = load_coverage(p.org, [p.client.id])
    codes = [[w.code for w in visit_warnings(coverage, e)] for e in saved]
    assert codes == [[], [], ["exhausted"], ["exhausted"], ["exhausted"]]


def test_the_order_of_the_changes_does_not_change_the_ledger(practice, world):
    """Upcoming visits only (nothing Kept pins them): any order of the same changes ends
    in the same ledger, and running the rule again changes nothing."""
    p = practice
    days = [D(2026, 3, 2) + timedelta(days=3 * n) for n in range(8)]
    results = []
    for seed in range(3):
        order = ["A", "B", *days]
        random.Random(seed).shuffle(order)
        for step in order:
            if step == "A":
                add_auth(p, "A", D(2026, 3, 1), D(2026, 3, 31), 3)
            elif step == "B":
                add_auth(p, "B", D(2026, 2, 1), D(2026, 4, 30), 4)
            else:
                book(p, step, hour=9 + days.index(step) % 3)
        numbers = {a.id: a.number for a in db.session.scalars(select(Authorization))}
        dates = {e.id: e.service_date for e in db.session.scalars(select(Encounter))}
        results.append(
            sorted((dates[e], numbers[a], amount, reason) for e, a, amount, reason in ledger())
        )
        before = ledger()
        allocation.reallocate_client(p.org, p.client.id)
        assert ledger() == before
        for table in (Allocation, Encounter, Authorization):
            db.session.execute(table.__table__.delete())
        db.session.commit()
    assert results[0] == results[1] == results[2]


def test_adding_or_importing_an_authorization_never_moves_a_kept_visit(practice):
    p = practice
    wide = add_auth(p, "WIDE", D(2026, 1, 1), D(2026, 12, 31), 20)
    kept, upcoming = book(p, D(2026, 3, 2))[0], book(p, D(2026, 3, 9))[0]
    keep(p, kept)
    sooner = add_auth(p, "SOON", D(2026, 3, 1), D(2026, 3, 31), 5)
    assert (where(kept), where(upcoming)) == ({wide.id: 1}, {sooner.id: 1})
    # The legacy import adds one ending sooner still, for every service.
    text = "client,payer,authorization_number,end_date,sessions_allowed\n"
    import_rows(
        p.org, parse_csv(text + "Ada Lovelace,Blue Harbor,LEG-1,2026-03-20,4\n"), actor_id=None
    )
    legacy = db.session.scalar(select(Authorization).where(Authorization.number == "LEG-1"))
    assert (where(kept), where(upcoming)) == ({wide.id: 1}, {legacy.id: 1})


def test_an_edit_that_uncovers_kept_visits_lists_them_before_saving(practice):
    p = practice
    a = add_auth(p, "A", D(2026, 1, 1), D(2026, 6, 30), 10)
    b = add_auth(p, "B", D(2026, 1, 1), D(2026, 12, 31), 10)
    march, may = book(p, D(2026, 3, 2))[0], book(p, D(2026, 5, 4))[0]
    keep(p, march)
    keep(p, may)
    assert where(may) == {a.id: 1}
    shorter = {
        "client_insurance_id": p.policy.id, "number": "A", "kind": "sessions",
        "start_date": D(2026, 1, 1), "end_date": D(2026, 3, 31), "allowed": 10, "frequency": None,
    }  # fmt: skip
    moves = authorizations.kept_moves(p.org, p.client, a, shorter, [p.therapy.id])
    assert [(m.encounter_id, m.leaves, m.goes_to) for m in moves] == [(may.id, ["A"], ["B"])]
    assert where(may) == {a.id: 1}  # nothing saved by looking
    # Raising the allowance moves nobody.
    more = {**shorter, "end_date": D(2026, 6, 30), "allowed": 12}
    assert authorizations.kept_moves(p.org, p.client, a, more, [p.therapy.id]) == []
    authorizations.save_authorization(a, p.client, shorter, [p.therapy.id], actor=p.world.admin)
    assert (where(march), where(may)) == ({a.id: 1}, {b.id: 1})
    removal = authorizations.kept_moves(p.org, p.client, a, None)
    assert [(m.encounter_id, m.goes_to) for m in removal] == [(march.id, ["B"])]


def test_editing_one_visit_changes_the_units_of_another_that_day(practice):
    p = practice
    units = add_auth(
        p, "U", D(2026, 1, 1), D(2026, 12, 31), 100, [p.aba, p.supervision],
        kind="units", frequency="period",
    )  # fmt: skip
    morning = book(p, D(2026, 3, 2), [(p.aba.id, 33)], hour=9)[0]
    afternoon = book(p, D(2026, 3, 2), [(p.supervision.id, 7)], hour=14)[0]
    assert (where(morning), where(afternoon)) == ({units.id: 2}, {units.id: 1})  # 40 min = 3
    shorter = booking.BookingRequest(
        clinician_id=p.world.clinician.id, start_local=datetime(2026, 3, 2, 9),
        duration_minutes=30, lines=[(p.aba.id, 15)], billing_type="insurance",
        client_insurance_id=p.policy.id,
    )  # fmt: skip
    encounter_edit.edit(p.org, morning, shorter, actor=p.world.admin)
    assert (where(morning), where(afternoon)) == ({units.id: 1}, {units.id: 0})  # 22 min = 1


def test_a_payers_new_rounding_profile_recounts_its_clients_units(practice):
    p = practice
    units = add_auth(
        p, "U", D(2026, 1, 1), D(2026, 12, 31), 100, [p.aba], kind="units", frequency="period"
    )
    visit = book(p, D(2026, 3, 2), [(p.aba.id, 5)])[0]
    assert where(visit) == {units.id: 0}
    values = {"name": p.payer.name, "messaging_enabled": True, "rounding_profile": "midpoint-min-1"}
    records.save_payer(p.payer, values, actor=p.world.admin)
    assert where(visit) == {units.id: 1}


def test_a_cancelled_visit_frees_its_room_for_a_later_one(practice):
    p = practice
    a = add_auth(p, "A", D(2026, 3, 1), D(2026, 3, 31), 1)
    b = add_auth(p, "B", D(2026, 3, 1), D(2026, 6, 30), 5)
    first, second = book(p, D(2026, 3, 2))[0], book(p, D(2026, 3, 9))[0]
    assert (where(first), where(second)) == ({a.id: 1}, {b.id: 1})
    booking.set_status(first, rules.CANCELLED, actor=p.world.admin)
    assert (where(first), where(second)) == ({a.id: 1}, {a.id: 1})
    coverage = load_coverage(p.org, [p.client.id])
    assert visit_warnings(coverage, first) == []


def test_the_cli_places_rows_written_before_the_rule_again(app, practice):
    p = practice
    a = add_auth(p, "A", D(2026, 3, 1), D(2026, 3, 31), 1)
    b = add_auth(p, "B", D(2026, 3, 1), D(2026, 6, 30), 5)
    first, second = book(p, D(2026, 3, 2))[0], book(p, D(2026, 3, 9))[0]
    # As an upgrade leaves them: both on A, no reason recorded.
    row = db.session.scalars(select(Allocation).where(Allocation.encounter_id == second.id)).one()
    row.authorization_id, row.reason, row.room_before, row.passed_over = (
        a.id,
        "ends_first",
        None,
        None,
    )
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["authorizations", "reallocate"])
    assert result.exit_code == 0, result.output
    assert "Placed the visits of 1 clients again." in result.output
    assert (where(first), where(second)) == ({a.id: 1}, {b.id: 1})
