"""Change a booked encounter: start, duration, billing type, insurance and services.

Like a booking (webapp/services/booking.py):
1. the client's `booking_version` is bumped first, the row lock that makes an edit
   and a booking of the same client wait for each other;
2. the warnings are computed inside that transaction, for the encounter as it
   will be (its current allocation is not counted twice);
3. with Block over-scheduling on, an edit with warnings is refused unless an admin
   gives a reason (audit log);
4. the allocation ledger is rewritten, and the pre-authorization follows the
   encounter (a scheduled hold moves with the start).
"""

from webapp.extensions import db
from webapp.models import Encounter, EncounterService, User
from webapp.models.organization import Organization
from webapp.services import allocation, audit, booking, preauth


def _draft(org: Organization, encounter: Encounter, request: booking.BookingRequest) -> Encounter:
    """The encounter as the edit would leave it (unsaved, carrying the real id and status)."""
    draft = booking._draft_encounter(org, encounter.client, request, request.start_local)
    draft.id = encounter.id
    draft.status = encounter.status
    draft.clinician_id = encounter.clinician_id
    return draft


def check_edit(
    org: Organization, encounter: Encounter, request: booking.BookingRequest
) -> booking.BookingCheck:
    """What the edited appointment would carry, placed with the client's others (the same
    run as after saving), and the saved appointments the change would push over."""
    draft = _draft(org, encounter, request)
    check = booking.judge(org, encounter.client, [draft], [request.start_local])
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
    request: booking.BookingRequest,
    *,
    actor: User,
    override_reason: str | None = None,
) -> Encounter:
    """Apply the change in one transaction, or raise booking.BookingRefused."""
    booking.lock_client_bookings(encounter.client_id)
    check = check_edit(org, encounter, request)
    overridden = booking.refuse_unless_overridden(
        org, check, actor=actor, override_reason=override_reason
    )
    before = _snapshot(encounter)
    draft = _draft(org, encounter, request)
    encounter.starts_at = draft.starts_at
    encounter.service_date = draft.service_date
    encounter.duration_minutes = request.duration_minutes
    encounter.billing_type = request.billing_type
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
    preauth.sync_encounters(org, [encounter], actor=actor)
    db.session.commit()
    return encounter
