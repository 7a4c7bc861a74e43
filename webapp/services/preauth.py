"""Pre-authorizations of encounters: scheduled when booked, moved with the start,
cancelled with the appointment; Reschedule, Cancel and Retry by billers.

The row machinery (compare-and-set, audit, jobs after commit) is in
`services.preauth_state`; what a move does to a placed hold in `services.hold_moves`;
the gateway checks that keep every hold tracked in `services.hold_checks`. Moving a
scheduled hold bumps `attempt`: a job still queued for the old attempt finds nothing
to claim and does nothing.
"""

from datetime import date, datetime

from webapp.domain import authorization_rules, hold_rules, preauth_rules
from webapp.domain.preauth_rules import CANCELLED, FAILED, HELD, NOT_NEEDED, SCHEDULED
from webapp.domain.windows import local_date
from webapp.extensions import db
from webapp.models import Encounter, Organization, PreAuthorization, User
from webapp.models.base import utcnow
from webapp.services import audit, hold_checks, hold_moves, preauth_state
from webapp.services.preauth_state import (  # noqa: F401 (names callers take from here)
    CANCELLED_BY_USER,
    CANCELLING_STATUSES,
    ENCOUNTER_CANCELLED,
    FRESH_ATTEMPT,
    ActionRefused,
    after_commit,
    current_amount,
    default_card,
    drop_job,
    enqueue,
    for_encounter,
    job_id,
    record,
    transition,
)


def retry_refusal(row: PreAuthorization, today: date) -> str | None:
    """Why Retry would fail again right now (shown on the disabled button), or None."""
    card = default_card(row.encounter.client_id)
    return preauth_rules.retry_refusal(
        row.failure_code,
        row.card_id,
        card.id if card else None,
        bool(card) and preauth_rules.card_expired(card.exp_month, card.exp_year, today),
    )


# --- following the encounter (inside the booking / edit / status transaction) -------


def sync_encounters(
    org: Organization,
    encounters: list[Encounter],
    *,
    actor: User | None,
    now=None,
    previous_starts: dict[int, datetime] | None = None,
) -> None:
    """Bring each encounter's pre-authorization in line with it; the caller commits.

    - booked or changed, upcoming, in the future, none yet, Payments Settings active
      → scheduled at start − the setting's hours;
    - the start moved (`previous_starts`: encounter id → its start before the
      change) → a scheduled hold moves to the new start − the hours in Payments
      Settings *now*; a placed hold stays if it still covers the new start inside
      the window, else it is released and a new one scheduled (`hold_moves`);
    - cancelled, late-cancelled or no-show → a scheduled one is cancelled;
    - back to upcoming after that, or a $0 hold that now has an amount → scheduled again.
    Failed and person-cancelled ones are left to people.
    """
    now = now or utcnow()
    db.session.flush()
    for encounter in encounters:
        moved_from = (previous_starts or {}).get(encounter.id)
        _sync(org, encounter, actor, now, moved_from)
        row = for_encounter(encounter.id)
        if row is not None and row.gateway_check_due:
            # Holds the gateway may have: asked after the commit (hold_checks), since
            # nothing here may wait on the gateway inside the booking's transaction.
            after_commit("check", row.id, 0)


def _moved(row: PreAuthorization, encounter: Encounter, moved_from: datetime | None) -> bool:
    if moved_from is not None:
        return moved_from != encounter.starts_at
    # Without the old start (a status change): a scheduled hold's time says it.
    return row.state == SCHEDULED and preauth_rules.run_at(
        encounter.starts_at, row.hours_before
    ) != (row.run_at)


def _sync(org, encounter: Encounter, actor: User | None, now: datetime, moved_from) -> None:
    row = for_encounter(encounter.id)
    if encounter.status in CANCELLING_STATUSES:
        if row is not None and row.state == SCHEDULED:
            label = authorization_rules.ENCOUNTER_STATUS_LABELS[encounter.status].lower()
            preauth_state.cancel(
                row, actor, ENCOUNTER_CANCELLED, f"The appointment was marked {label}."
            )
        return
    if encounter.status != authorization_rules.UPCOMING:
        return
    hours = org.preauth_hours_before
    if row is not None and row.state == SCHEDULED:
        # Carried with the start, even into the past (then it runs now).
        if _moved(row, encounter, moved_from):
            preauth_state.reschedule(row, encounter, hours, actor, "moved")
        return
    if row is not None and row.state == HELD:
        if _moved(row, encounter, moved_from) and encounter.starts_at > now:
            _follow_held(row, encounter, hours, actor, now)
        return
    if encounter.starts_at <= now:
        return
    if row is None:
        if org.preauth_active:
            preauth_state.create(org, encounter, hours, actor)
        return
    revived = row.state == CANCELLED and row.failure_code == ENCOUNTER_CANCELLED
    if revived or (row.state == NOT_NEEDED and current_amount(encounter) > 0):
        preauth_state.reschedule(row, encounter, hours, actor, "rescheduled")


def _follow_held(row, encounter: Encounter, hours: int, actor, now: datetime) -> None:
    """A held visit moved: keep the hold, or release it and schedule a new one."""
    decision = hold_rules.held_move(
        lapses_at=row.lapses_at, new_starts_at=encounter.starts_at, hours_before=hours, now=now
    )
    if decision == "replace":
        reason = "The appointment moved beyond what the hold covers; a new hold is scheduled."
        hold_moves.replace_held(row, encounter, hours, actor, reason, now)


# --- a person's actions ---------------------------------------------------------------


def _refuse_unless(action: str, row: PreAuthorization | None) -> None:
    message = preauth_rules.refusal(action, row.state if row else None)
    if message:
        raise ActionRefused(message)


def _lost(action: str, row: PreAuthorization) -> ActionRefused:
    """The loser's message: why the action no longer applies, from the row as it is now."""
    db.session.rollback()
    db.session.refresh(row)
    return ActionRefused(
        preauth_rules.refusal(action, row.state)
        or "Someone changed this pre-authorization a moment ago. Check it and try again."
    )


def hold_refusal(encounter: Encounter, now: datetime) -> str | None:
    """Why no hold can be scheduled for this encounter at all."""
    if encounter.status in CANCELLING_STATUSES:
        label = authorization_rules.ENCOUNTER_STATUS_LABELS[encounter.status].lower()
        return f"The appointment is {label}; there is nothing to pre-authorize."
    if encounter.starts_at <= now:
        return "The appointment has already started; a hold is placed before it."
    return None


def preview_run_at(encounter: Encounter, hours_text: str | None) -> tuple[datetime | None, str]:
    """(when the hold would run, error message) for the Reschedule dialog's live preview."""
    try:
        hours = preauth_rules.parse_hours(hours_text)
    except ValueError as error:
        return None, str(error)
    return preauth_rules.run_at(encounter.starts_at, hours), ""


def reschedule(encounter: Encounter, hours_text: str | None, *, actor: User, now=None):
    """Schedule the hold `hours` before the start (creating it if there is none).

    The gateway is asked first for holds this pre-authorization may have (every
    attempt's), and those are released: a reschedule starts a new attempt. A held
    visit's hold is released (after the commit) and a new one scheduled.

    Raises:
        ValueError: bad hours (a message for the field).
        ActionRefused: the state does not allow it, or someone changed it a moment ago.
        Either way nothing changes.
    """
    now = now or utcnow()
    hours = preauth_rules.parse_hours(hours_text)
    problem = hold_refusal(encounter, now)
    if problem:
        raise ActionRefused(problem)
    row = for_encounter(encounter.id)
    if row is None:
        org = db.session.get(Organization, encounter.organization_id)
        row = preauth_state.create(org, encounter, hours, actor)
        db.session.commit()
        return row
    _refuse_unless("reschedule", row)
    hold_checks.check_if_needed(row, found_by="Reschedule", wants_hold=False)
    db.session.refresh(row)
    _refuse_unless("reschedule", row)
    if row.state == HELD:
        reason = f"Rescheduled by {actor.name}: the hold is released and a new one scheduled."
        won = hold_moves.replace_held(row, encounter, hours, actor, reason, now)
    else:
        won = preauth_state.reschedule(row, encounter, hours, actor, "rescheduled")
    if not won:
        raise _lost("reschedule", row)
    db.session.commit()
    return row


def cancel(encounter: Encounter, *, actor: User) -> PreAuthorization:
    """Cancel a scheduled hold; any hold the gateway has for it is released first.

    Raises:
        ActionRefused: the state does not allow it (nothing changes).
    """
    row = for_encounter(encounter.id)
    _refuse_unless("cancel", row)
    hold_checks.check_if_needed(row, found_by="Cancel", wants_hold=False)
    db.session.refresh(row)
    _refuse_unless("cancel", row)
    if not preauth_state.cancel(row, actor, CANCELLED_BY_USER, f"Cancelled by {actor.name}."):
        raise _lost("cancel", row)
    db.session.commit()
    return row


def retry(encounter: Encounter, *, actor: User, now=None) -> hold_checks.Check:
    """Run a failed hold again now, once its cause is resolved (e.g. a card was added).

    The gateway is asked first: a hold of the failed attempt that was placed after all
    (its answer lost) is adopted instead of placing another. Returns the check, whose
    `adopted` says so.

    Raises:
        ActionRefused: Retry does not apply (nothing changes).
    """
    now = now or utcnow()
    row = for_encounter(encounter.id)
    _refuse_unless("retry", row)
    found = hold_checks.check_if_needed(row, found_by="Retry", wants_hold=True)
    db.session.refresh(row)
    if found.adopted is not None:
        return found
    _refuse_unless("retry", row)
    org = db.session.get(Organization, row.organization_id)
    blocker = retry_refusal(row, local_date(now, org.timezone))
    if blocker:
        raise ActionRefused(blocker)
    before, attempt = audit.snapshot(row), row.attempt
    values = {**FRESH_ATTEMPT, "attempt": attempt + 1, "run_at": now}
    if not transition(row.id, "retry", if_state=FAILED, if_attempt=attempt, **values):
        raise _lost("retry", row)
    record(row, "retried", actor, before=before)
    after_commit("enqueue", row.id, attempt + 1, now)
    db.session.commit()
    return found
