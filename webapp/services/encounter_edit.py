"""Change a booked encounter: start, duration, billing type, insurance and services.

Like a booking (webapp/services/booking.py):
1. the client's `booking_version` is bumped first, the row lock that makes an edit
   and a booking of the same client wait for each other;
2. the warnings are computed inside that transaction, for the encounter as it
   will be (its current allocation is not counted twice);
3. with Block over-scheduling on, an edit with warnings is refused unless an admin
   gives a reason (audit log);
4. the allocation ledger is rewritten, and the pre-authorization follows the
   encounter: a scheduled hold moves to the new start − the Payments Settings'
   hours now; a placed hold stays, or is released and a new one scheduled
   (services.hold_moves, previewed by `move_preview`).
Before all that, a pre-authorization that may have holds at the gateway is
checked there (services.hold_checks), outside the booking transaction.
"""

from datetime import datetime

from webapp.domain.preauth_rules import FAILED, PROCESSING, SCHEDULED
from webapp.domain.windows import to_utc_naive
from webapp.extensions import db
from webapp.models import Encounter, EncounterService, User
from webapp.models.base import utcnow
from webapp.models.organization import Organization
from webapp.services import allocation, audit, booking, hold_checks, hold_moves, preauth


def _draft(
    org: Organization, encounter: Encounter, booking_request: booking.BookingRequest
) -> Encounter:
    """The encounter as the edit would leave it (unsaved, carrying the real id and status)."""
    draft = booking.draft_encounter(
        org, encounter.client, booking_request, booking_request.start_local
    )
    draft.id = encounter.id
    draft.status = encounter.status
    draft.clinician_id = encounter.clinician_id
    return draft


def check_edit(
    org: Organization, encounter: Encounter, booking_request: booking.BookingRequest
) -> booking.BookingCheck:
    """What the edited appointment would carry, placed with the client's others (the same
    run as after saving), and the saved appointments the change would push over."""
    draft = _draft(org, encounter, booking_request)
    check = booking.judge(org, encounter.client, [draft], [booking_request.start_local])
    insurance = draft.client_insurance
    check.messaging_on = bool(insurance and insurance.payer.messaging_enabled)
    return check


def _snapshot(encounter: Encounter) -> dict:
    values = audit.snapshot(encounter)
    values["services"] = [[line.service_type_id, line.minutes] for line in encounter.lines]
    return values


def edit(
    org: Organization,
    encounter: Encounter,
    booking_request: booking.BookingRequest,
    *,
    actor: User,
    override_reason: str | None = None,
) -> Encounter:
    """Apply the change in one transaction, or raise booking.BookingRefused."""
    row = preauth.for_encounter(encounter.id)
    new_start = to_utc_naive(booking_request.start_local, org.timezone)
    moved = new_start != encounter.starts_at
    wants = not moved and row is not None and row.state in (SCHEDULED, PROCESSING, FAILED)
    hold_checks.check_if_needed(row, found_by="a change of the appointment", wants_hold=wants)
    db.session.expire_all()
    booking.lock_client_bookings(encounter.client_id)
    check = check_edit(org, encounter, booking_request)
    overridden = booking.refuse_unless_overridden(
        org, check, actor=actor, override_reason=override_reason
    )
    before = _snapshot(encounter)
    before_start = encounter.starts_at
    draft = _draft(org, encounter, booking_request)
    encounter.starts_at = draft.starts_at
    encounter.service_date = draft.service_date
    encounter.duration_minutes = booking_request.duration_minutes
    encounter.billing_type = booking_request.billing_type
    encounter.client_insurance_id = draft.client_insurance_id
    encounter.client_insurance = draft.client_insurance
    encounter.lines = [
        EncounterService(service_type_id=line.service_type_id, minutes=line.minutes)
        for line in draft.lines
    ]
    db.session.flush()
    db.session.refresh(encounter)
    allocation.reallocate_client(org, encounter.client_id)
    audit.record(
        organization_id=org.id,
        user_id=actor.id,
        action="encounter.changed",
        row=encounter,
        before=before,
        after=_snapshot(encounter),
    )
    if check.shows_warnings and overridden:
        audit.record(
            organization_id=org.id,
            user_id=actor.id,
            action="encounter.overbooking_overridden",
            row=encounter,
            after={"warnings": [w.message for w in check.occurrences[0].warnings]},
            reason=override_reason,
        )
    preauth.sync_encounters(
        org, [encounter], actor=actor, previous_starts={encounter.id: before_start}
    )
    db.session.commit()
    return encounter


def move_preview(
    org: Organization, encounter: Encounter, booking_request: booking.BookingRequest, now=None
) -> hold_moves.MovePreview:
    """What saving this change does to the pre-authorization (the edit page says it)."""
    new_start: datetime = to_utc_naive(booking_request.start_local, org.timezone)
    return hold_moves.preview(org, encounter, new_start, now or utcnow())
