"""The Today list, section by section, at the edges of each rule (both databases).

Each table row builds one case in a fresh practice and says whether (and why) it is
listed; the page test then checks the rows link to where each is fixed, per role,
and that the page reads the same number of queries for a small and a larger practice.
"""

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import event

from tests import factories
from webapp.domain import worklist_rules
from webapp.domain.windows import to_utc_naive
from webapp.extensions import db
from webapp.models import PreAuthorization
from webapp.services import worklists

TODAY = date(2026, 3, 2)
NOW = datetime(2026, 3, 2, 14)  # naive UTC: 9 AM in New York


def _at(day: date, hour: int = 10) -> datetime:
    return to_utc_naive(
        datetime.combine(day, datetime.min.time()).replace(hour=hour), "America/New_York"
    )


@pytest.fixture
def practice(world):
    org = world.org
    org.count_upcoming_for_exhaustion = False
    therapy = factories.service_type(org, cpt_code="90837")
    other = factories.service_type(org, cpt_code="90791")
    client = factories.client(org, primary_clinician_id=world.clinician.id, first_name="Ana")
    payer = factories.payer(org)
    policy = factories.insurance(org, client, payer)
    db.session.commit()
    return dict(org=org, therapy=therapy, other=other, client=client, policy=policy)


def _visit(world, p, day: date, status: str = "upcoming", services=None, clinician=None, **values):
    return factories.encounter(
        world.org,
        p["client"],
        clinician or world.clinician,
        p["policy"],
        services or [p["therapy"]],
        starts_at=_at(day),
        service_date=day,
        status=status,
        **values,
    )


def _today(world, user=None):
    return worklists.today_list(world.org, user or world.biller, today=TODAY, now=NOW)


# --- holds -------------------------------------------------------------------------------------

VISIT_END = _at(TODAY + timedelta(days=3)) + timedelta(minutes=60)


@pytest.mark.parametrize(
    ("state", "lapses_at", "visit_status", "expected"),
    [
        ("failed", None, "upcoming", "failed"),
        ("held", VISIT_END - timedelta(minutes=1), "upcoming", "lapses"),
        ("held", VISIT_END, "upcoming", "lapses"),  # gone when the visit is charged
        ("held", VISIT_END + timedelta(minutes=1), "upcoming", None),
        ("held", None, "upcoming", None),
        ("scheduled", None, "upcoming", None),
        ("charged", None, "upcoming", None),
        ("failed", None, "kept", None),  # the visit is over: the invoice is the fix
        ("failed", None, "cancelled", None),
    ],
)
def test_holds_that_failed_or_lapse_before_their_visit(
    world, practice, state, lapses_at, visit_status, expected
):
    factories.authorization(world.org, practice["policy"], [practice["therapy"]])
    visit = _visit(world, practice, TODAY + timedelta(days=3), visit_status)
    db.session.add(
        PreAuthorization(
            organization_id=world.org.id,
            encounter_id=visit.id,
            state=state,
            hours_before=24,
            run_at=visit.starts_at - timedelta(hours=24),
            lapses_at=lapses_at,
            failure_reason="The card was declined." if state == "failed" else None,
        )
    )
    db.session.commit()
    found = [(h.encounter.id, h.problem) for h in _today(world).holds]
    assert found == ([(visit.id, expected)] if expected else [])


# --- authorizations running short ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("end_in_days", "allowed", "kept", "booked_in_days", "expected"),
    [
        (30, 10, 0, 1, ["expiring"]),  # 30 days: listed
        (31, 10, 0, 1, []),  # 31 days: not yet
        (0, 10, 0, 0, ["expiring"]),  # ends today, a visit today
        (30, 10, 0, None, []),  # nothing booked: nothing waits on it
        (200, 2, 1, 1, ["few_left"]),  # 1 left
        (200, 3, 1, 1, []),  # 2 left: not fewer than 2
        (200, 2, 2, 1, ["few_left"]),  # 0 left (exhausted)
        (20, 2, 1, 1, ["expiring", "few_left"]),
        (-1, 2, 2, 1, []),  # expired: nothing to do on it
        (200, 2, 1, -1, []),  # a visit still Upcoming but in the past is not "booked"
    ],
)
def test_authorizations_expiring_or_with_few_left_while_visits_are_booked(
    world, practice, end_in_days, allowed, kept, booked_in_days, expected
):
    auth = factories.authorization(
        world.org,
        practice["policy"],
        [practice["therapy"]],
        start_date=TODAY - timedelta(days=60),
        end_date=TODAY + timedelta(days=end_in_days),
        allowed=allowed,
    )
    for n in range(kept):
        _visit(world, practice, TODAY - timedelta(days=10 + n), "kept")
    if booked_in_days is not None:
        _visit(world, practice, TODAY + timedelta(days=booked_in_days))
    db.session.commit()
    found = {s.summary.authorization.id: s.problems for s in _today(world).authorizations}
    assert found == ({auth.id: expected} if expected else {})


def test_a_visit_booked_on_another_insurance_does_not_count(world, practice):
    factories.authorization(
        world.org, practice["policy"], [practice["therapy"]], end_date=TODAY + timedelta(days=5)
    )
    other_policy = factories.insurance(world.org, practice["client"], factories.payer(world.org))
    factories.encounter(
        world.org, practice["client"], world.clinician, other_policy, [practice["therapy"]],
        starts_at=_at(TODAY + timedelta(days=1)), service_date=TODAY + timedelta(days=1),
    )  # fmt: skip
    db.session.commit()
    assert _today(world).authorizations == []


# --- visits with no covering authorization -------------------------------------------------------


@pytest.mark.parametrize(
    ("day_offset", "status", "service", "billing", "listed"),
    [
        (5, "upcoming", "other", "insurance", True),  # a service the authorization lacks
        (5, "upcoming", "therapy", "insurance", False),  # covered
        (400, "upcoming", "therapy", "insurance", True),  # after the authorization ends
        (-30, "kept", "other", "insurance", True),  # Kept, 30 days back: still to fix
        (-31, "kept", "other", "insurance", False),  # 31 days back: out of the list
        (5, "cancelled", "other", "insurance", False),
        (5, "upcoming", "other", "self_pay", False),
        (-90, "upcoming", "other", "insurance", True),  # never closed out: still open
    ],
)
def test_visits_with_no_covering_authorization(
    world, practice, day_offset, status, service, billing, listed
):
    factories.authorization(
        world.org, practice["policy"], [practice["therapy"]],
        start_date=TODAY - timedelta(days=100), end_date=TODAY + timedelta(days=100),
    )  # fmt: skip
    visit = _visit(
        world, practice, TODAY + timedelta(days=day_offset), status, [practice[service]],
        billing_type=billing,
    )  # fmt: skip
    db.session.commit()
    found = [(u.encounter.id, u.services) for u in _today(world).uncovered]
    code = practice[service].cpt_code
    assert found == ([(visit.id, [code])] if listed else [])


# --- visits today, per role --------------------------------------------------------------------


def test_visits_today_per_role_with_authorization_and_hold(world, practice):
    auth = factories.authorization(world.org, practice["policy"], [practice["therapy"]])
    mine = _visit(world, practice, TODAY)
    colleague = factories.user(world.org, "clinician")
    theirs = _visit(world, practice, TODAY, clinician=colleague)
    _visit(world, practice, TODAY + timedelta(days=1))  # tomorrow: not today
    db.session.add(
        PreAuthorization(
            organization_id=world.org.id, encounter_id=mine.id, state="held", hours_before=24,
            run_at=mine.starts_at - timedelta(hours=24),
            lapses_at=mine.starts_at + timedelta(days=5),
        )
    )  # fmt: skip
    db.session.commit()
    practice_wide = _today(world, world.biller)
    assert [v.encounter.id for v in practice_wide.visits] == sorted([mine.id, theirs.id])
    own = _today(world, world.clinician)
    assert [v.encounter.id for v in own.visits] == [mine.id]
    visit = own.visits[0]
    assert [s.authorization.id for s in visit.authorizations] == [auth.id]
    assert visit.hold_label == "Held"
    assert practice_wide.visits[1].hold_label == "No hold"


def test_clinicians_see_only_their_own_work(world, practice):
    colleague = factories.user(world.org, "clinician")
    _visit(world, practice, TODAY + timedelta(days=2), clinician=colleague)  # uncovered
    db.session.commit()
    assert len(_today(world, world.biller).uncovered) == 1
    assert _today(world, world.clinician).uncovered == []
    assert _today(world, colleague).uncovered != []


# --- the page ----------------------------------------------------------------------------------


def test_each_row_links_to_where_it_is_fixed(client, auth, world, practice):
    factories.authorization(
        world.org, practice["policy"], [practice["therapy"]],
        start_date=date(2026, 1, 1), end_date=TODAY + timedelta(days=10), allowed=10,
    )  # fmt: skip
    uncovered = _visit(world, practice, TODAY + timedelta(days=1), services=[practice["other"]])
    db.session.commit()
    with time_machine.travel(NOW.replace(tzinfo=UTC), tick=False):
        auth.login(world.biller)
        page = client.get("/").get_data(as_text=True)
        assert (
            f'href="/clients/{practice["client"].id}/insurance" data-fix="add-authorization"'
            in page
        )
        assert 'data-count="uncovered">1<' in page
        assert "Ends in 10 days" in page
        auth.logout()
        auth.login(world.clinician)
        page = client.get("/").get_data(as_text=True)
        assert f'href="/encounters/{uncovered.id}" data-fix="visit"' in page
        assert "Your visits" in page


def test_today_reads_a_fixed_number_of_queries(client, auth, world, practice):
    auth.login(world.biller)

    def count(clients: int) -> int:
        for n in range(clients):
            person = factories.client(world.org, first_name=f"P{clients}-{n}")
            policy = factories.insurance(world.org, person, practice["policy"].payer)
            factories.authorization(
                world.org, policy, [practice["therapy"]], end_date=TODAY + timedelta(days=5)
            )
            for day in (TODAY, TODAY + timedelta(days=2)):
                visit = factories.encounter(
                    world.org, person, world.clinician, policy,
                    [practice["therapy"], practice["other"]],
                    starts_at=_at(day), service_date=day,
                )  # fmt: skip
                db.session.add(
                    PreAuthorization(
                        organization_id=world.org.id, encounter_id=visit.id, state="failed",
                        hours_before=24, run_at=visit.starts_at,
                    )
                )  # fmt: skip
        db.session.commit()
        statements = []

        def record(*_args):
            statements.append(1)

        event.listen(db.engine, "before_cursor_execute", record)
        try:
            response = client.get("/", headers={"HX-Request": "true"})
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
        assert response.status_code == 200
        return len(statements)

    assert count(1) == count(12)


def test_the_edges_are_the_rules_constants():
    assert worklist_rules.EXPIRING_WITHIN_DAYS == 30 and worklist_rules.FEW_LEFT == 2


def test_requests_waiting_for_the_payer_are_listed_for_billers_with_their_clock(world, practice):
    from webapp.domain import decision_rules
    from webapp.services import authorizations

    values = {
        "client_insurance_id": practice["policy"].id, "number": "REQ-9",
        "decision": decision_rules.PENDED, "urgency": decision_rules.STANDARD,
        "start_date": TODAY, "end_date": TODAY + timedelta(days=90),
    }  # fmt: skip
    line = {"kind": "sessions", "allowed": 12, "frequency": None,
            "service_type_ids": [practice["therapy"].id]}  # fmt: skip
    auth = authorizations.save_authorization(
        None, practice["client"], values, actor=world.biller, lines=[line]
    )
    auth.requested_at = NOW - timedelta(days=8)
    _visit(world, practice, TODAY + timedelta(days=1))
    db.session.commit()

    biller = _today(world)
    [waiting] = biller.pending
    assert (waiting.authorization_id, waiting.number, waiting.overdue) == (auth.id, "REQ-9", True)
    assert waiting.clock.text.endswith("overdue by 24 hours")
    # Nothing counts against a request: it is not "running short", and the visit is uncovered.
    assert [s.summary.authorization.id for s in biller.authorizations] == []
    assert len(biller.uncovered) == 1
    assert _today(world, world.clinician).pending == []
