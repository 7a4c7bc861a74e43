"""Pre-authorizations follow their encounters; Reschedule, Cancel and Retry are compare-and-set.

Jobs go to the real embedded Redis; future ones sit in RQ's scheduled registry.
"""

from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from tests.preauth_support import (
    add_card,
    book,
    local_start,
    practice,
    preauth_of,
    scheduled_at,
    scheduled_job_ids,
)
from webapp.domain.windows import to_local
from webapp.extensions import db
from webapp.models import AuditEvent, PreAuthorization
from webapp.models.base import utcnow
from webapp.services import booking, encounter_edit
from webapp.services import preauth as service
from webapp.services.preauth_runs import HoldRun, place_hold
from webapp.services.preauth_state import starts_at
from webapp.services.queue import queue


@pytest.fixture
def p(world):
    return practice(world, hours=24)


def _edit(
    p, encounter, actor, *, starts_in=None, moves_by=None, services=None, billing_type="insurance"
):
    """Edit the encounter to start `starts_in` from now, or `moves_by` from its own start
    (the clock can pass a minute boundary between a booking and an edit)."""
    if moves_by is not None:
        start_local = to_local(encounter.starts_at + moves_by, p.org.timezone).replace(tzinfo=None)
    else:
        start_local = local_start(p, starts_in)
    request = booking.BookingRequest(
        clinician_id=encounter.clinician_id,
        start_local=start_local,
        duration_minutes=60,
        lines=[(s.id, 60) for s in (services or [p.therapy])],
        billing_type=billing_type,
        client_insurance_id=p.policy.id if billing_type == "insurance" else None,
    )
    return encounter_edit.edit(p.org, encounter, request, actor=actor)


def test_booking_while_active_schedules_a_hold_at_start_minus_hours(world, p):
    encounter = book(p, world.biller, starts_in=timedelta(days=3))

    row = preauth_of(encounter)
    assert (row.state, row.hours_before, row.attempt) == ("scheduled", 24, 1)
    assert row.run_at == encounter.starts_at - timedelta(hours=24)
    assert scheduled_job_ids() == [f"preauth-{row.id}-1"]
    assert scheduled_at(row.job_id) == starts_at(row.run_at)
    assert queue().job_ids == []
    audit = db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert audit == ["encounter.booked", "preauth.scheduled"]


def test_a_hold_already_due_is_enqueued_to_run_now(world, p):
    encounter = book(p, world.biller, starts_in=timedelta(hours=5))
    row = preauth_of(encounter)
    assert row.run_at < utcnow()
    assert queue().job_ids == [f"preauth-{row.id}-1"]
    assert scheduled_job_ids() == []


def test_nothing_is_scheduled_while_payments_settings_are_inactive(world):
    p = practice(world, active=False)
    encounter = book(p, world.biller)
    assert preauth_of(encounter) is None
    assert scheduled_job_ids() == [] and queue().job_ids == []


def test_an_appointment_booked_in_the_past_gets_no_hold(world, p):
    encounter = book(p, world.biller, starts_in=timedelta(days=-2))
    assert preauth_of(encounter) is None


def test_a_rolled_back_transaction_enqueues_nothing(world, p):
    encounter = book(p, world.biller, billing_type="self_pay")
    db.session.delete(preauth_of(encounter))
    db.session.commit()
    queue().empty()
    queue().scheduled_job_registry.remove(scheduled_job_ids()[0])

    service.sync_encounters(p.org, [encounter], actor=world.biller)
    assert db.session.scalar(select(func.count(PreAuthorization.id))) == 1
    db.session.rollback()

    assert db.session.scalar(select(func.count(PreAuthorization.id))) == 0
    assert scheduled_job_ids() == [] and queue().job_ids == []


def test_when_the_start_moves_the_hold_moves_and_the_old_job_goes(world, p):
    encounter = book(p, world.biller, starts_in=timedelta(days=3))
    first_run_at = preauth_of(encounter).run_at

    _edit(p, encounter, world.biller, moves_by=timedelta(days=2))

    row = preauth_of(encounter)
    assert (row.state, row.attempt, row.hours_before) == ("scheduled", 2, 24)
    assert row.run_at == encounter.starts_at - timedelta(hours=24)
    assert row.run_at - first_run_at == timedelta(days=2)
    assert scheduled_job_ids() == [f"preauth-{row.id}-2"]
    assert scheduled_at(f"preauth-{row.id}-2") == starts_at(row.run_at)


def test_an_edit_that_keeps_the_start_leaves_the_hold_alone(world, p):
    encounter = book(p, world.biller, starts_in=timedelta(days=3))
    _edit(p, encounter, world.biller, moves_by=timedelta(0), services=[p.testing])
    row = preauth_of(encounter)
    assert row.attempt == 1
    assert scheduled_job_ids() == [f"preauth-{row.id}-1"]


def test_moving_the_start_inside_the_window_runs_the_hold_now(world, p):
    encounter = book(p, world.biller, starts_in=timedelta(days=3))
    _edit(p, encounter, world.biller, starts_in=timedelta(hours=3))
    row = preauth_of(encounter)
    assert row.run_at < utcnow()
    assert queue().job_ids == [f"preauth-{row.id}-2"]
    assert scheduled_job_ids() == []


@pytest.mark.parametrize("status", ["cancelled", "late_cancelled", "no_show"])
def test_a_cancelled_appointment_cancels_its_scheduled_hold(world, p, status):
    encounter = book(p, world.biller)
    booking.set_status(encounter, status, actor=world.clinician)

    row = preauth_of(encounter)
    assert row.state == "cancelled"
    assert row.failure_code == service.ENCOUNTER_CANCELLED
    assert scheduled_job_ids() == []


def test_an_appointment_back_to_upcoming_gets_its_hold_again(world, p):
    encounter = book(p, world.biller)
    booking.set_status(encounter, "cancelled", actor=world.biller)
    booking.set_status(encounter, "upcoming", actor=world.biller)

    row = preauth_of(encounter)
    assert (row.state, row.attempt) == ("scheduled", 2)
    assert scheduled_job_ids() == [f"preauth-{row.id}-2"]


def test_a_hold_cancelled_by_a_person_stays_cancelled_when_the_start_moves(world, p):
    encounter = book(p, world.biller)
    service.cancel(encounter, actor=world.biller)
    _edit(p, encounter, world.biller, starts_in=timedelta(days=6))
    assert preauth_of(encounter).state == "cancelled"
    assert scheduled_job_ids() == []


def test_reschedule_sets_new_hours_and_a_new_job(world, p):
    encounter = book(p, world.biller)
    service.reschedule(encounter, "48", actor=world.biller)

    row = preauth_of(encounter)
    assert (row.state, row.hours_before, row.attempt) == ("scheduled", 48, 2)
    assert row.run_at == encounter.starts_at - timedelta(hours=48)
    assert scheduled_job_ids() == [f"preauth-{row.id}-2"]
    event = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert (event.action, event.user_id, event.before["hours_before"]) == (
        "preauth.rescheduled",
        world.biller.id,
        24,
    )


def test_reschedule_creates_a_hold_where_there_was_none(world):
    p = practice(world, active=False)
    encounter = book(p, world.biller)
    service.reschedule(encounter, "12", actor=world.admin)
    row = preauth_of(encounter)
    assert (row.state, row.hours_before, row.attempt) == ("scheduled", 12, 1)


@pytest.mark.parametrize(
    ("hours", "message"),
    [
        ("-3", "Hours cannot be negative."),
        ("1.5", "Use a whole number of hours, such as 24."),
        ("", "Enter the number of hours before the appointment (0–168)."),
        ("200", "At most 168 hours (7 days) before the appointment."),
    ],
)
def test_reschedule_with_bad_hours_changes_nothing(world, p, hours, message):
    encounter = book(p, world.biller)
    run_at = preauth_of(encounter).run_at
    with pytest.raises(ValueError) as error:
        service.reschedule(encounter, hours, actor=world.biller)
    assert str(error.value) == message
    row = preauth_of(encounter)
    assert (row.hours_before, row.attempt, row.run_at) == (24, 1, run_at)
    assert scheduled_job_ids() == [f"preauth-{row.id}-1"]


def test_a_second_cancel_is_told_it_is_already_cancelled(world, p):
    encounter = book(p, world.biller)
    service.cancel(encounter, actor=world.biller)
    events = db.session.scalar(select(func.count(AuditEvent.id)))

    with pytest.raises(service.ActionRefused) as refused:
        service.cancel(encounter, actor=world.admin)
    assert refused.value.message == "This pre-authorization is already cancelled."
    assert db.session.scalar(select(func.count(AuditEvent.id))) == events
    assert preauth_of(encounter).failure_reason == f"Cancelled by {world.biller.name}."


def test_retry_of_a_hold_that_did_not_fail_is_refused(world, p):
    encounter = book(p, world.biller)
    with pytest.raises(service.ActionRefused) as refused:
        service.retry(encounter, actor=world.biller)
    assert refused.value.message == (
        "This pre-authorization is already scheduled; there is nothing to retry."
    )
    assert preauth_of(encounter).attempt == 1


def test_retry_waits_until_the_cause_is_resolved(world, p, strict_gateway):
    encounter = book(p, world.biller)
    row = preauth_of(encounter)
    db.session.execute(
        text("UPDATE pre_authorizations SET state='failed', failure_code='no_card' WHERE id=:id"),
        {"id": row.id},
    )
    db.session.commit()
    with pytest.raises(service.ActionRefused) as refused:
        service.retry(encounter, actor=world.biller)
    assert "Add a card" in refused.value.message

    add_card(strict_gateway, p.client)
    service.retry(encounter, actor=world.biller)
    row = preauth_of(encounter)
    assert (row.state, row.attempt, row.failure_code) == ("scheduled", 2, None)
    assert queue().job_ids == [f"preauth-{row.id}-2"]


def test_the_loser_of_a_race_gets_the_message_of_the_state_it_lost_to(world, p):
    """Our copy says scheduled; another process claimed the row a moment ago."""
    encounter = book(p, world.biller)
    row = preauth_of(encounter)
    assert row.state == "scheduled"
    with db.engine.begin() as other:  # another connection: the job claiming the row
        other.execute(
            text("UPDATE pre_authorizations SET state='processing' WHERE id=:id"), {"id": row.id}
        )

    with pytest.raises(service.ActionRefused) as refused:
        service.cancel(encounter, actor=world.biller)
    assert refused.value.message == (
        "The hold is being placed right now. Wait for the result, then try again."
    )
    assert preauth_of(encounter).state == "processing"


def test_a_job_of_an_older_attempt_claims_nothing(world, p):
    encounter = book(p, world.biller)
    service.reschedule(encounter, "30", actor=world.biller)
    row = preauth_of(encounter)
    assert place_hold(row.id, 1) is HoldRun.NOT_SCHEDULED
    assert preauth_of(encounter).state == "scheduled"


def test_a_start_moved_into_the_past_carries_its_hold_which_runs_now(world, p):
    encounter = book(p, world.biller, starts_in=timedelta(days=3))
    _edit(p, encounter, world.biller, starts_in=timedelta(hours=-1))
    row = preauth_of(encounter)
    assert (row.state, row.attempt) == ("scheduled", 2)
    assert row.run_at == encounter.starts_at - timedelta(hours=24)
    assert queue().job_ids == [f"preauth-{row.id}-2"]
    assert scheduled_job_ids() == []
