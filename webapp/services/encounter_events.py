"""Finalize and Cancel an encounter: the events that automation rules answer.

One transaction sets the status (finalize → kept; cancel → cancelled,
late-cancelled or no-show by disposition), cancels a pre-authorization that is
still only scheduled, writes the audit record and the AutomationRun naming the
rule that won. The rule's job is enqueued after the commit.
"""

from sqlalchemy import update

from webapp.domain import billing
from webapp.extensions import db
from webapp.models import AutomationRun, Encounter, Organization, User
from webapp.services import audit, automations
from webapp.services import preauth as preauth_service


class EventRefused(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def finalize(encounter: Encounter, *, actor: User) -> AutomationRun:
    return _close(encounter, billing.ENCOUNTER_FINALIZED, billing.FINALIZED_STATUS, None, actor)


def cancel(encounter: Encounter, disposition: str, *, actor: User) -> AutomationRun:
    if disposition not in billing.DISPOSITIONS:
        raise EventRefused("Choose a disposition from the list.")
    status = billing.STATUS_FOR_DISPOSITION[disposition]
    return _close(encounter, billing.ENCOUNTER_CANCELLED, status, disposition, actor)


def _close(encounter: Encounter, event: str, status: str, disposition, actor) -> AutomationRun:
    problem = billing.event_refusal(event, encounter.status)
    if problem:
        raise EventRefused(problem)
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
            billing.event_refusal(event, encounter.status)
            or "Someone changed this appointment a moment ago. Reload the page."
        )
    db.session.refresh(encounter)
    org = db.session.get(Organization, encounter.organization_id)
    preauth_service.sync_encounters(org, [encounter], actor=actor)
    audit.record(
        organization_id=encounter.organization_id,
        user_id=actor.id,
        action=f"encounter.{'finalized' if status == billing.FINALIZED_STATUS else 'cancelled'}",
        row=encounter,
        before=before,
        after=audit.snapshot(encounter),
    )
    run = automations.record_event(encounter, event, actor=actor)
    db.session.commit()
    automations.enqueue(run)
    return run
