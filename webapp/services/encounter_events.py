"""Finalize and Cancel an encounter: the events that automation rules answer.

One transaction sets the status (finalize → kept; cancel → cancelled,
late-cancelled or no-show by disposition), cancels a pre-authorization that is
still only scheduled, writes the audit record and the AutomationRun naming the
rule that won. The rule's job is enqueued after the commit.
"""

from datetime import datetime

from sqlalchemy import update

from webapp.domain import billing_rules, preauth_rules, schedule_rules
from webapp.domain.schedule_rules import early_keep_label, future_visit
from webapp.domain.windows import to_local
from webapp.extensions import db
from webapp.models import AutomationRun, Encounter, Organization, PreAuthorization, User
from webapp.models.base import utcnow
from webapp.services import allocation, audit, automations, hold_checks, preauth
from webapp.services.errors import Refused


class EventRefused(Refused):
    """A Finalize or Cancel that does not apply to the encounter as it is."""


def finalize(
    encounter: Encounter,
    *,
    actor: User,
    confirm_early: str | None = None,
    now: datetime | None = None,
) -> AutomationRun:
    """Mark the encounter Kept and run the Encounter Finalized rule.

    A visit that has not started yet needs `confirm_early`, its local date (ISO),
    confirmed by the person (webapp.domain.schedule_rules.early_keep_refusal).

    Raises:
        EventRefused: it is no longer upcoming, or its date is not confirmed.
    """
    org = db.session.get(Organization, encounter.organization_id)
    refusal = early_keep_refusal(org, encounter, confirm_early, now)
    if refusal:
        raise EventRefused(refusal)
    early = future_visit(encounter.starts_at, now or utcnow())
    return _close(
        encounter,
        billing_rules.ENCOUNTER_FINALIZED,
        billing_rules.FINALIZED_STATUS,
        None,
        actor,
        early,
    )


def early_keep_refusal(
    org: Organization, encounter: Encounter, confirmed: str | None, now: datetime | None = None
) -> str | None:
    """Why the encounter cannot be marked Kept before it starts (its date unconfirmed)."""
    local_start = to_local(encounter.starts_at, org.timezone).replace(tzinfo=None)
    return schedule_rules.early_keep_refusal(
        encounter.starts_at, now or utcnow(), local_start, confirmed
    )


def early_keep(org: Organization, encounter: Encounter, now: datetime | None = None):
    """(the local start, the confirmation label) when the visit has not started; else None."""
    if not future_visit(encounter.starts_at, now or utcnow()):
        return None
    local_start = to_local(encounter.starts_at, org.timezone).replace(tzinfo=None)
    return local_start, early_keep_label(local_start)


def cancel(encounter: Encounter, disposition: str, *, actor: User) -> AutomationRun:
    """Cancel the encounter with its disposition and run the Encounter Cancelled rule.

    Raises:
        EventRefused: an unknown disposition, or the encounter is no longer upcoming.
    """
    if disposition not in billing_rules.DISPOSITIONS:
        raise EventRefused("Choose a disposition from the list.")
    status = billing_rules.STATUS_FOR_DISPOSITION[disposition]
    return _close(encounter, billing_rules.ENCOUNTER_CANCELLED, status, disposition, actor)


def _call_off_scheduled_hold(encounter: Encounter, actor: User) -> None:
    """A visit finalized before its hold ran needs no hold any more: billed by invoice.
    Its queued job then finds nothing to claim."""
    row = preauth.for_encounter(encounter.id)
    if row is None or row.state != preauth_rules.SCHEDULED:
        return
    before = audit.snapshot(row)
    reason = "The appointment was finalized before the hold ran."
    called_off = db.session.execute(
        update(PreAuthorization)
        .where(
            PreAuthorization.id == row.id,
            PreAuthorization.state == preauth_rules.SCHEDULED,
            PreAuthorization.attempt == row.attempt,
        )
        .values(state=preauth_rules.CANCELLED, failure_code="encounter_finalized",
                failure_reason=reason, finished_at=utcnow(), updated_at=utcnow()),
        execution_options={"synchronize_session": False},
    )  # fmt: skip
    if called_off.rowcount == 1:
        db.session.refresh(row)
        audit.record(organization_id=row.organization_id, user_id=actor.id,
                     action="preauth.cancelled", row=row, before=before,
                     after=audit.snapshot(row), reason=reason)  # fmt: skip


def _close(
    encounter: Encounter, event: str, status: str, disposition, actor, early: bool = False
) -> AutomationRun:
    problem = billing_rules.event_refusal(event, encounter.status)
    if problem:
        raise EventRefused(problem)
    # Holds the gateway may have that the row does not show: a finalized visit adopts
    # its lost hold (the rule then charges it); a cancelled one has them released.
    row = preauth.for_encounter(encounter.id)
    finalizing = status == billing_rules.FINALIZED_STATUS
    hold_checks.check_if_needed(row, found_by=f"{event.replace('_', ' ')}", wants_hold=finalizing)
    db.session.expire_all()
    before = audit.snapshot(encounter)
    # Compare-and-set: of two people finalizing/cancelling at once, one wins.
    won = db.session.execute(
        update(Encounter)
        .where(Encounter.id == encounter.id, Encounter.status == before["status"])
        .values(status=status, disposition=disposition),
        execution_options={"synchronize_session": False},
    )
    if won.rowcount != 1:
        db.session.rollback()
        db.session.refresh(encounter)
        raise EventRefused(
            billing_rules.event_refusal(event, encounter.status)
            or "Someone changed this appointment a moment ago. Reload the page."
        )
    db.session.refresh(encounter)
    org = db.session.get(Organization, encounter.organization_id)
    allocation.reallocate_client(org, encounter.client_id)
    preauth.sync_encounters(org, [encounter], actor=actor)
    if status == billing_rules.FINALIZED_STATUS:
        _call_off_scheduled_hold(encounter, actor)
    audit.record(
        organization_id=encounter.organization_id,
        user_id=actor.id,
        action="encounter.finalized"
        if status == billing_rules.FINALIZED_STATUS
        else "encounter.cancelled",
        row=encounter,
        before=before,
        after=audit.snapshot(encounter),
        reason="Kept before it started; its date was confirmed." if early else None,
    )
    run = automations.record_event(encounter, event, actor=actor)
    db.session.commit()
    automations.enqueue(run)
    return run
