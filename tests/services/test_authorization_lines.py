"""Authorization lines and decision states through the real database (SQLite and PostgreSQL).

One authorization number with several lines counts each service on its own line
everywhere (the ledger, the client's figures, the report, the reminders), its status
rolls up (Exhausted when every line is), only approved quantities count, a booking
against a pending or denied authorization warns like one with none, and a pending
request carries its age against the payer's decision clock. The migration moves each
existing authorization into one line with nothing lost.
"""

from datetime import UTC, date, datetime, time, timedelta
from types import SimpleNamespace

import pytest
import time_machine
from sqlalchemy import select, text

from tests import factories
from webapp.domain import authorization_rules as rules
from webapp.domain import decision_rules
from webapp.extensions import db
from webapp.models import Allocation, Authorization, AuthorizationLine
from webapp.services import allocation, authorizations, booking, reminders, reports
from webapp.services.coverage import load_coverage, visit_warnings
from webapp.services.reports import ReportQuery

D = date
NOW = datetime(2026, 3, 4, 12)


@pytest.fixture(autouse=True)
def _march_2026():
    with time_machine.travel(datetime(2026, 3, 4, 12, tzinfo=UTC), tick=True):
        yield


@pytest.fixture
def p(world):
    org = world.org
    org.count_upcoming_for_exhaustion = True  # booked visits use up what is left
    client = factories.client(org, first_name="Ada", last_name="Lovelace")
    payer = factories.payer(org, name="Blue Harbor", messaging_enabled=True)
    policy = factories.insurance(org, client, payer)
    aba = factories.service_type(org, cpt_code="97153", unit_minutes=15)
    supervision = factories.service_type(org, cpt_code="97155", unit_minutes=15)
    therapy = factories.service_type(org, cpt_code="90837")
    db.session.commit()
    return SimpleNamespace(
        world=world, org=org, client=client, policy=policy, aba=aba,
        supervision=supervision, therapy=therapy,
    )  # fmt: skip


def aba_lines(p, direct=8, supervise=4, **values):
    """ABA as payers write it: one number, 97153 and 97155 each with weekly units."""
    lines = [
        {"kind": "units", "allowed": direct, "frequency": "week", "service_type_ids": [p.aba.id]},
        {"kind": "units", "allowed": supervise, "frequency": "week",
         "service_type_ids": [p.supervision.id]},
    ]  # fmt: skip
    values = {
        "client_insurance_id": p.policy.id, "number": "ABA-1",
        "start_date": D(2026, 3, 1), "end_date": D(2026, 3, 28), **values,
    }  # fmt: skip
    return authorizations.save_authorization(
        None, p.client, values, actor=p.world.biller, lines=lines
    )


def book(p, day, lines, hour=9):
    request = booking.BookingRequest(
        clinician_id=p.world.clinician.id,
        start_local=datetime.combine(day, time(hour)),
        duration_minutes=sum(m for _, m in lines),
        lines=lines,
        billing_type="insurance",
        client_insurance_id=p.policy.id,
    )
    return booking.book(p.org, p.client, request, actor=p.world.admin)[0]


def placed(encounter) -> dict[int, int]:
    rows = db.session.execute(
        select(Allocation.line_id, Allocation.amount, Allocation.authorization_id).where(
            Allocation.encounter_id == encounter.id
        )
    )
    return {line_id: amount for line_id, amount, _auth in rows}


def test_each_code_counts_on_its_own_line_and_the_status_rolls_up(p):
    auth = aba_lines(p, direct=8, supervise=4)
    direct, supervision = auth.lines
    visit = book(p, D(2026, 3, 2), [(p.aba.id, 60), (p.supervision.id, 60)])
    assert placed(visit) == {direct.id: 4, supervision.id: 4}
    rows = db.session.scalars(select(Allocation).where(Allocation.encounter_id == visit.id))
    assert {row.authorization_id for row in rows} == {auth.id}
    coverage = load_coverage(p.org, [p.client.id], today=D(2026, 3, 4))
    [rollup] = coverage.authorizations_for_client(p.client.id)
    figures = {s.line.id: (s.ledger.total, s.ledger.upcoming, s.status) for s in rollup.lines}
    assert figures == {direct.id: (32, 4, rules.ACTIVE), supervision.id: (16, 4, rules.ACTIVE)}
    assert rollup.status == rules.ACTIVE
    # Use up the supervision line only: the authorization stays Active (97153 has room).
    for week in range(1, 4):
        book(p, D(2026, 3, 2) + timedelta(weeks=week), [(p.supervision.id, 60)])
    coverage = load_coverage(p.org, [p.client.id], today=D(2026, 3, 4))
    [rollup] = coverage.authorizations_for_client(p.client.id)
    assert [s.status for s in rollup.lines] == [rules.ACTIVE, rules.EXHAUSTED]
    assert rollup.status == rules.ACTIVE
    # Then the direct line: now every line is exhausted, and so is the authorization.
    for week in range(4):
        book(p, D(2026, 3, 3) + timedelta(weeks=week), [(p.aba.id, 120)])
    coverage = load_coverage(p.org, [p.client.id], today=D(2026, 3, 4))
    [rollup] = coverage.authorizations_for_client(p.client.id)
    assert [s.status for s in rollup.lines] == [rules.EXHAUSTED, rules.EXHAUSTED]
    assert rollup.status == rules.EXHAUSTED
    assert coverage.counts_by_status(p.client.id)[rules.EXHAUSTED] == 1


def test_the_report_and_reminders_count_per_line(p):
    auth = aba_lines(p, direct=8, supervise=2)
    book(p, D(2026, 3, 2), [(p.aba.id, 60), (p.supervision.id, 30)])
    query = ReportQuery(start=D(2026, 3, 1), end=D(2026, 3, 31))
    rows = list(reports.iter_rows(p.org, query, today=D(2026, 3, 4)))
    by_line = {row.line_id: row for row in rows}
    direct, supervision = auth.lines
    assert set(by_line) == {direct.id, supervision.id}
    assert {row.authorization_id for row in rows} == {auth.id}
    assert (by_line[direct.id].codes, by_line[direct.id].figures.upcoming) == ("97153", 4)
    assert (by_line[supervision.id].codes, by_line[supervision.id].figures.allowed) == ("97155", 8)
    # Reminders: the authorization's figures are those of its line with the most left.
    facts = reminders.load_facts(p.org, authorization_ids=[auth.id])
    assert (facts[auth.id].total, facts[auth.id].remaining) == (32, 32 - 4)


DECISIONS = [
    # authorization decision, line decision, counts
    (decision_rules.APPROVED, decision_rules.APPROVED, True),
    (decision_rules.PARTLY_APPROVED, decision_rules.PARTLY_APPROVED, True),
    (decision_rules.MODIFIED, decision_rules.MODIFIED, True),
    (decision_rules.PENDED, decision_rules.APPROVED, False),
    (decision_rules.APPROVED, decision_rules.PENDED, False),
    (decision_rules.DENIED, decision_rules.APPROVED, False),
    (decision_rules.APPROVED, decision_rules.DENIED, False),
    (decision_rules.CANCELLED, decision_rules.APPROVED, False),
]


@pytest.mark.parametrize(("decision", "line_decision", "counts"), DECISIONS)
def test_only_approved_quantities_count_and_the_rest_warn_like_none(
    p, decision, line_decision, counts
):
    values = {
        "client_insurance_id": p.policy.id, "number": "T-1", "decision": decision,
        "start_date": D(2026, 3, 1), "end_date": D(2026, 6, 30),
    }  # fmt: skip
    line = {"kind": "sessions", "allowed": 10, "frequency": None, "decision": line_decision,
            "service_type_ids": [p.therapy.id]}  # fmt: skip
    auth = authorizations.save_authorization(
        None, p.client, values, actor=p.world.biller, lines=[line]
    )
    visit = book(p, D(2026, 3, 9), [(p.therapy.id, 60)])
    assert placed(visit) == ({auth.lines[0].id: 1} if counts else {})
    coverage = load_coverage(p.org, [p.client.id], today=D(2026, 3, 4))
    warnings = visit_warnings(coverage, visit)
    if counts:
        assert warnings == []
    else:
        [warning] = warnings
        assert warning.code == rules.NONE_COVERS
        assert "not approved" in warning.message and "T-1" in warning.message
        [rollup] = coverage.authorizations_for_client(p.client.id)
        assert rollup.status in (rules.PENDING, rules.DENIED, rules.CANCELLED_STATUS)
    # The booking check (what the dialog shows before saving) says the same.
    request = booking.BookingRequest(
        clinician_id=p.world.clinician.id,
        start_local=datetime(2026, 3, 16, 9),
        duration_minutes=60,
        lines=[(p.therapy.id, 60)],
        billing_type="insurance",
        client_insurance_id=p.policy.id,
    )
    check = booking.check_booking(p.org, p.client, request)
    assert bool(check.occurrences[0].warnings) is not counts


def test_a_pending_request_carries_its_decision_clock_and_is_listed(p):
    values = {
        "client_insurance_id": p.policy.id, "number": "REQ-1",
        "decision": decision_rules.PENDED, "urgency": decision_rules.EXPEDITED,
        "start_date": D(2026, 3, 1), "end_date": D(2026, 6, 30),
    }  # fmt: skip
    line = {"kind": "units", "allowed": 40, "frequency": "week",
            "service_type_ids": [p.aba.id]}  # fmt: skip
    auth = authorizations.save_authorization(
        None, p.client, values, actor=p.world.biller, lines=[line]
    )
    assert auth.requested_at is not None
    auth.requested_at = NOW - timedelta(hours=80)
    approved = aba_lines(p)  # another, approved: not listed
    db.session.commit()
    [pending] = authorizations.pending_requests(p.org, NOW)
    assert (pending.authorization_id, pending.number, pending.codes) == (auth.id, "REQ-1", "97153")
    assert pending.overdue and pending.clock.due == auth.requested_at + timedelta(hours=72)
    assert "overdue by 8 hours" in pending.clock.text
    assert approved.id != pending.authorization_id
    coverage = load_coverage(p.org, [p.client.id], today=D(2026, 3, 4))
    rollup = coverage.rollup_of(auth.id)
    assert rollup.status == rules.PENDING and rollup.clock(NOW).overdue


def test_an_edit_keeps_line_ids_so_kept_visits_stay_and_removing_a_line_moves_them(p):
    auth = aba_lines(p)
    direct, supervision = auth.lines
    visit = book(p, D(2026, 3, 2), [(p.supervision.id, 60)])
    booking.set_status(visit, rules.KEPT, actor=p.world.admin, confirm_early="2026-03-02")
    assert placed(visit) == {supervision.id: 4}
    values = {"client_insurance_id": p.policy.id, "number": "ABA-1",
              "start_date": D(2026, 3, 1), "end_date": D(2026, 3, 28)}  # fmt: skip
    raised = [
        {"id": direct.id, "kind": "units", "allowed": 10, "frequency": "week",
         "service_type_ids": [p.aba.id]},
        {"id": supervision.id, "kind": "units", "allowed": 6, "frequency": "week",
         "service_type_ids": [p.supervision.id]},
    ]  # fmt: skip
    assert authorizations.kept_moves(p.org, p.client, auth, values, lines=raised) == []
    authorizations.save_authorization(auth, p.client, values, actor=p.world.biller, lines=raised)
    assert placed(visit) == {supervision.id: 4}
    assert [x.allowed for x in auth.lines] == [10, 6]
    moves = authorizations.kept_moves(p.org, p.client, auth, values, lines=raised[:1])
    assert [(m.encounter_id, m.leaves, m.goes_to) for m in moves] == [
        (visit.id, ["ABA-1 (97155)"], [])
    ]
    authorizations.save_authorization(
        auth, p.client, values, actor=p.world.biller, lines=raised[:1]
    )
    assert placed(visit) == {}
    gone = select(AuthorizationLine).where(AuthorizationLine.id == supervision.id)
    assert db.session.scalar(gone) is None


def test_the_migration_moves_each_authorization_into_one_line_with_nothing_lost(app):
    """The demo practice written as a 0009 database (one allowance per authorization),
    upgraded: every authorization has one line with its id, type, allowed, frequency and
    services; every allocation sits on that line; and running the rule again changes
    nothing."""
    from flask_migrate import downgrade, upgrade

    from webapp.services import demo

    db.drop_all()
    with db.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    upgrade()
    org, _ = demo.seed_demo(today=D(2026, 11, 22))
    org_id = org.id
    db.session.commit()
    db.session.remove()
    downgrade(revision="0009_money_truth")
    before_auths = {r[0]: tuple(r[1:]) for r in _rows(OLD_AUTHORIZATIONS)}
    before_services = _rows(
        "SELECT authorization_id, service_type_id FROM authorization_service_types"
    )
    before_allocations = _rows(
        "SELECT id, authorization_id, encounter_id, amount, reason FROM allocations"
    )
    assert before_auths and before_allocations
    upgrade()
    lines = {r[0]: tuple(r[1:]) for r in _rows(NEW_LINES)}
    services = _rows("SELECT line_id, service_type_id FROM authorization_line_service_types")
    allocations = _rows("SELECT id, line_id, encounter_id, amount, reason FROM allocations")
    parents = _rows("SELECT id, authorization_id FROM allocations")
    assert lines == {
        auth_id: (auth_id, kind, allowed, frequency, None, None, "approved")
        for auth_id, (kind, allowed, frequency) in before_auths.items()
    }
    assert services == before_services
    assert allocations == before_allocations
    assert parents == {(row[0], row[1]) for row in before_allocations}
    # The rule run again on the upgraded data writes the same ledger.
    org = db.session.get(type(org), org_id)
    client_ids = {
        row[0]
        for row in db.session.execute(
            text("SELECT id FROM clients WHERE organization_id = :o"), {"o": org_id}
        )  # fmt: skip
    }
    allocation.reallocate_clients(org, client_ids)
    db.session.commit()
    after = set(
        db.session.execute(
            select(Allocation.line_id, Allocation.encounter_id, Allocation.amount)
        ).all()
    )
    assert after == {(line_id, e, amount) for _id, line_id, e, amount, _r in before_allocations}
    # And a new line gets an id of its own (PostgreSQL's sequence was moved past them).
    auth = db.session.scalars(select(Authorization)).first()
    auth.lines.append(
        AuthorizationLine(organization_id=org_id, kind="sessions", allowed=1, position=9)
    )
    db.session.commit()
    assert auth.lines[-1].id > max(lines)


OLD_AUTHORIZATIONS = "SELECT id, kind, allowed, frequency FROM authorizations"
NEW_LINES = (
    "SELECT id, authorization_id, kind, allowed, frequency, start_date, end_date, decision "
    "FROM authorization_lines"
)


def _rows(sql: str) -> set[tuple]:
    with db.engine.connect() as conn:
        return {tuple(row) for row in conn.execute(text(sql))}
