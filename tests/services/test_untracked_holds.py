"""No untracked hold, ever (issue 11 part 1), through the strict gateway and a real worker.

Each *state* below leaves a hold at the gateway that the row does not know about,
the way it happens: the gateway placed a hold and its answer was lost, and (for the
later states) the checks that would have found it could not reach the gateway
either. Each *action* is then taken the way people and jobs take it. After the
action, and again after the periodic reconciliation, the rule must hold:

    at most one live hold for the visit; exactly the row's own when it is held;
    none otherwise (a cancelled visit, a cancelled, released or charged hold).

An action that does not apply to a state is refused (nothing changes; the
reconciliation still fixes what is left).
"""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from jobs import hold_checks as check_job
from tests.billing_support import visit_day
from tests.preauth_support import add_card, book, edit, practice, preauth_of, work
from webapp.extensions import db
from webapp.models import AuditEvent, HoldFinding
from webapp.models.base import utcnow
from webapp.payments.gateway import TransientGatewayError
from webapp.services import booking, charges, encounter_events, hold_reconciliation
from webapp.services import preauth as service
from webapp.services.preauth_runs import place_hold
from webapp.services.queue import queue

SOON = timedelta(hours=3)  # inside the 24-hour window: the hold is due at once


@pytest.fixture
def p(world, app):
    app.config["PREAUTH_RETRY_INTERVALS"] = [0]
    return practice(world, hours=24, copay=2500)


def _live(gateway, row):
    return gateway.live(f"preauth-{row.id}-")


def _scheduled_lost(p, world, gateway):
    """The hold call of attempt 1 was placed, its answer lost; RQ will retry."""
    add_card(gateway, p.client)
    encounter = book(p, world.biller, starts_in=SOON)
    queue().empty()
    gateway.lose_answers(1)
    with pytest.raises(TransientGatewayError):
        place_hold(preauth_of(encounter).id, 1, can_retry=True)
    return encounter


def _failed_lost(p, world, gateway):
    """The last try's answer was lost and the check before writing failed could not
    reach the gateway either: failed ("could not be reached") while a hold exists."""
    add_card(gateway, p.client)
    encounter = book(p, world.biller, starts_in=SOON)
    queue().empty()
    gateway.lose_answers(1)
    gateway.go_down(1, only={"holds_for"})
    place_hold(preauth_of(encounter).id, 1, can_retry=False)
    return encounter


def _held_with_stray(p, world, gateway):
    """Held at attempt 2 while attempt 1's lost hold is still live (the checks on the
    way could not reach the gateway)."""
    encounter = _scheduled_lost(p, world, gateway)
    gateway.go_down(1, only={"holds_for"})
    edit(p, encounter, world.biller, moves_by=timedelta(minutes=30))
    queue().empty()
    row = preauth_of(encounter)
    gateway.go_down(1, only={"holds_for"})
    place_hold(row.id, row.attempt)
    return encounter


def _cancelled_with_stray(p, world, gateway):
    encounter = _scheduled_lost(p, world, gateway)
    gateway.go_down(1, only={"holds_for"})
    service.cancel(encounter, actor=world.biller)
    return encounter


def _released_with_stray(p, world, gateway):
    encounter = _held_with_stray(p, world, gateway)
    gateway.go_down(1, only={"holds_for"})
    charges.release(encounter, actor=world.biller)
    return encounter


def _charged_with_stray(p, world, gateway):
    encounter = _held_with_stray(p, world, gateway)
    charges.charge(encounter, actor=world.biller)
    return encounter


STATES = {
    "scheduled, answer lost": (_scheduled_lost, "scheduled"),
    "failed, answer lost": (_failed_lost, "failed"),
    "held, an earlier hold live": (_held_with_stray, "held"),
    "cancelled, a hold live": (_cancelled_with_stray, "cancelled"),
    "released, an earlier hold live": (_released_with_stray, "released"),
    "charged, an earlier hold live": (_charged_with_stray, "charged"),
}


def _job(p, world, encounter):
    """The attempt's job run again by a real worker (RQ's retry, or a new attempt)."""
    row = preauth_of(encounter)
    service.enqueue(row.id, row.attempt, utcnow())
    work()


def _retry(p, world, encounter):
    service.retry(encounter, actor=world.biller)
    work()


def _cancel(p, world, encounter):
    service.cancel(encounter, actor=world.biller)


def _reschedule(p, world, encounter):
    service.reschedule(encounter, "1", actor=world.biller)
    work()  # the settle job releases a replaced hold


def _move(p, world, encounter):
    edit(p, encounter, world.biller, moves_by=timedelta(minutes=30))
    queue().empty()  # the moved attempt's job would place the next hold: not this test's


def _cancel_visit(p, world, encounter):
    encounter_events.cancel(encounter, "cancelled_by_client", actor=world.biller)


def _finalize(p, world, encounter):
    encounter_events.finalize(encounter, actor=world.biller, confirm_early=visit_day(encounter))


def _release(p, world, encounter):
    charges.release(encounter, actor=world.biller)
    work()


def _check_job(p, world, encounter):
    queue().enqueue(check_job.check, preauth_of(encounter).id)
    work()


ACTIONS = {
    "job": _job,
    "Retry": _retry,
    "Cancel": _cancel,
    "Reschedule": _reschedule,
    "move the visit": _move,
    "cancel the visit": _cancel_visit,
    "finalize the visit": _finalize,
    "Release Hold": _release,
    "hold-check job": _check_job,
}

# (state, action) → the row's state after the action; REFUSED: the action does not apply;
# UNCHANGED: it applies to nothing here (the job finds no scheduled attempt to claim).
REFUSED, UNCHANGED = "refused", "unchanged"
EXPECTED = {
    "scheduled, answer lost": {
        "job": "held",  # the same key replays: the lost hold is the row's
        "Retry": REFUSED,
        "Cancel": "cancelled",
        "Reschedule": "scheduled",
        "move the visit": "scheduled",
        "cancel the visit": "cancelled",
        "finalize the visit": "held",  # adopted: the visit happened, the hold is there
        "Release Hold": REFUSED,
        "hold-check job": "held",
    },
    "failed, answer lost": {
        "job": UNCHANGED,  # nothing scheduled to run
        "Retry": "held",  # adopted instead of placing another
        "Cancel": REFUSED,
        "Reschedule": "scheduled",
        "move the visit": "failed",
        "cancel the visit": "failed",
        "finalize the visit": "held",
        "Release Hold": REFUSED,
        "hold-check job": "held",
    },
    "held, an earlier hold live": {
        "job": UNCHANGED,
        "Retry": REFUSED,
        "Cancel": REFUSED,
        "Reschedule": "scheduled",
        "move the visit": "held",
        "cancel the visit": "held",  # tracked, for the fee or release rule (none here)
        "finalize the visit": "held",
        "Release Hold": "released",
        "hold-check job": "held",
    },
    "cancelled, a hold live": {
        "job": UNCHANGED,
        "Retry": REFUSED,
        "Cancel": REFUSED,
        "Reschedule": "scheduled",
        "move the visit": "cancelled",
        "cancel the visit": "cancelled",
        "finalize the visit": "cancelled",
        "Release Hold": REFUSED,
        "hold-check job": "cancelled",
    },
    "released, an earlier hold live": {
        "job": UNCHANGED,
        "Retry": REFUSED,
        "Cancel": REFUSED,
        "Reschedule": "scheduled",
        "move the visit": "released",
        "cancel the visit": "released",
        "finalize the visit": "released",
        "Release Hold": REFUSED,
        "hold-check job": "released",
    },
    "charged, an earlier hold live": {
        "job": UNCHANGED,
        "Retry": REFUSED,
        "Cancel": REFUSED,
        "Reschedule": REFUSED,
        "move the visit": "charged",
        "cancel the visit": "charged",  # charged by hand before the visit: still upcoming
        "finalize the visit": "charged",
        "Release Hold": REFUSED,
        "hold-check job": "charged",
    },
}


def _assert_one_rule(gateway, row) -> None:
    live = [intent.id for intent in _live(gateway, row)]
    if row.state == "held":
        assert live == [row.gateway_reference], (row.state, live)
    else:
        assert live == [], (row.state, live)


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("state", STATES)
def test_every_state_and_action_leaves_no_untracked_hold(world, p, strict_gateway, state, action):
    build, built_state = STATES[state]
    encounter = build(p, world, strict_gateway)
    row = preauth_of(encounter)
    assert row.state == built_state
    assert len(_live(strict_gateway, row)) >= 1 + (built_state == "held")  # something untracked

    expected = EXPECTED[state][action]
    if expected == UNCHANGED:
        expected = built_state
        untouched = True
    else:
        untouched = False
    try:
        ACTIONS[action](p, world, encounter)
    except (service.ActionRefused, charges.ChargeRefused, encounter_events.EventRefused):
        assert expected == REFUSED, f"{action} was refused from {state}"
    else:
        assert expected != REFUSED, f"{action} was not refused from {state}"
        row = preauth_of(encounter)
        assert row.state == expected
        if not untouched:
            _assert_one_rule(strict_gateway, row)

    hold_reconciliation.reconcile(now=utcnow() + timedelta(minutes=11))
    work()
    _assert_one_rule(strict_gateway, preauth_of(encounter))


def test_cancelling_the_visit_before_the_retry_releases_the_lost_hold(world, p, strict_gateway):
    encounter = _scheduled_lost(p, world, strict_gateway)
    encounter_events.cancel(encounter, "cancelled_by_client", actor=world.biller)
    row = preauth_of(encounter)
    assert row.state == "cancelled"
    assert _live(strict_gateway, row) == []
    work()  # RQ's retry of the attempt finds it cancelled
    assert strict_gateway.calls["place_hold"] == 1 and _live(strict_gateway, row) == []


def test_moving_the_visit_leaves_one_hold_not_two(world, p, strict_gateway):
    encounter = _scheduled_lost(p, world, strict_gateway)
    edit(p, encounter, world.biller, moves_by=timedelta(hours=1))
    work()  # attempt 2 runs now
    row = preauth_of(encounter)
    assert (row.state, row.attempt) == ("held", 2)
    assert [i.id for i in _live(strict_gateway, row)] == [row.gateway_reference]


def test_a_lost_answer_on_the_last_retry_is_adopted_not_failed(world, p, strict_gateway):
    add_card(strict_gateway, p.client)
    encounter = book(p, world.biller, starts_in=SOON)
    queue().empty()
    strict_gateway.lose_answers(1)
    assert place_hold(preauth_of(encounter).id, 1, can_retry=False) == "adopted"
    row = preauth_of(encounter)
    assert row.state == "held" and row.failure_code is None  # not "could not be reached"
    assert len(strict_gateway.holds(f"preauth-{row.id}-1")) == 1
    assert strict_gateway.calls["place_hold"] == 1


def test_retry_after_a_lost_last_answer_adopts_instead_of_placing_another(world, p, strict_gateway):
    encounter = _failed_lost(p, world, strict_gateway)
    assert preauth_of(encounter).failure_code == "gateway_unavailable"
    found = service.retry(encounter, actor=world.biller)
    assert found.adopted is not None and "was found at the card processor" in found.message
    row = preauth_of(encounter)
    assert (row.state, row.attempt) == ("held", 1)
    assert strict_gateway.calls["place_hold"] == 1


def test_findings_and_audit_say_what_was_found(world, p, strict_gateway):
    encounter = _cancelled_with_stray(p, world, strict_gateway)
    row = preauth_of(encounter)
    hold_reconciliation.reconcile(now=utcnow() + timedelta(minutes=11))
    (finding,) = db.session.scalars(select(HoldFinding)).all()
    assert (finding.outcome, finding.pre_authorization_id, finding.amount_cents) == (
        "released",
        row.id,
        2500,
    )
    assert finding.found_by == "reconciliation" and "untracked hold of $25.00" in finding.message
    actions = db.session.scalars(
        select(AuditEvent.action).where(AuditEvent.entity_id == row.id)
    ).all()
    assert "preauth.untracked_released" in actions
    assert preauth_of(encounter).gateway_check_due is False


def test_a_check_that_cannot_reach_the_gateway_keeps_the_row_marked(world, p, strict_gateway):
    encounter = _scheduled_lost(p, world, strict_gateway)
    strict_gateway.go_down(1, only={"holds_for"})
    service.cancel(encounter, actor=world.biller)
    row = preauth_of(encounter)
    assert row.state == "cancelled" and row.gateway_check_due is True
    report = hold_reconciliation.reconcile(now=utcnow() + timedelta(minutes=11))
    assert (report.released, report.checked) == (1, 1)
    assert preauth_of(encounter).gateway_check_due is False


def test_the_reconciliation_reports_holds_it_must_not_touch(world, p, strict_gateway):
    """A live hold naming a pre-authorization that does not exist here is left alone."""
    add_card(strict_gateway, p.client)
    strict_gateway.place_hold(
        customer_id=p.client.gateway_customer_id,
        payment_method_id=next(iter(strict_gateway.cards)),
        amount_cents=900,
        reference="preauth-999-1",
        idempotency_key="elsewhere",
        organization_id=p.org.id,
    )
    report = hold_reconciliation.reconcile(now=utcnow() + timedelta(minutes=11))
    assert report.reported == 1 and len(strict_gateway.live()) == 1
    (finding,) = hold_reconciliation.findings(p.org.id)
    assert finding.outcome == "reported" and "does not exist here" in finding.message
    again = hold_reconciliation.reconcile(now=utcnow() + timedelta(minutes=12))
    assert again.reported == 1
    assert db.session.scalar(select(func.count(HoldFinding.id))) == 1  # reported once


def test_a_status_correction_to_cancelled_releases_the_lost_hold(world, p, strict_gateway):
    """Any path that cancels the visit asks first, the status correction too."""
    encounter = _scheduled_lost(p, world, strict_gateway)
    booking.set_status(encounter, "cancelled", actor=world.biller)
    row = preauth_of(encounter)
    assert row.state == "cancelled" and _live(strict_gateway, row) == []


def test_a_path_that_could_not_ask_leaves_a_check_job_that_asks(world, p, strict_gateway):
    encounter = _scheduled_lost(p, world, strict_gateway)
    strict_gateway.go_down(1, only={"holds_for"})
    booking.set_status(encounter, "cancelled", actor=world.biller)
    row = preauth_of(encounter)
    assert row.state == "cancelled" and len(_live(strict_gateway, row)) == 1
    assert f"hold-check-{row.id}" in queue().job_ids
    work()  # the check job
    assert _live(strict_gateway, preauth_of(encounter)) == []
