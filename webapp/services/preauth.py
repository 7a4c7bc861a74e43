"""Pre-authorizations of encounters: scheduled when booked, moved with the start,
cancelled with the appointment; Reschedule, Cancel and Retry by billers.

The row is the truth; the RQ job `preauth-<id>-<attempt>` is only its trigger,
enqueued *after* the commit that made it due (a rolled-back booking enqueues
nothing). If Redis cannot be reached then, the sweeper enqueues it a minute later.
Every state change is a compare-and-set on (id, state, attempt), so two people (or
a person and a job) acting at once get one winner and one clear message.
Moving a scheduled hold bumps `attempt`: a job still queued for the old attempt
finds nothing to claim and does nothing.
"""

import contextlib
import logging
from datetime import UTC, date, datetime

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import event, select, update

from webapp.domain import authorizations as encounter_rules
from webapp.domain import preauth as rules
from webapp.domain.preauth import CANCELLED, FAILED, NOT_NEEDED, SCHEDULED
from webapp.domain.windows import local_date
from webapp.extensions import db
from webapp.models import Encounter, Organization, PaymentCard, PreAuthorization, User
from webapp.models.base import utcnow
from webapp.services import audit
from webapp.services.queue import queue

log = logging.getLogger(__name__)

# Statuses that call off a scheduled hold (a Kept appointment keeps its hold).
CANCELLING_STATUSES = frozenset(
    {encounter_rules.CANCELLED, encounter_rules.LATE_CANCELLED, encounter_rules.NO_SHOW}
)
# failure_code of cancelled rows: who or what cancelled them.
ENCOUNTER_CANCELLED = "encounter_cancelled"
CANCELLED_BY_USER = "cancelled_by_user"
# Seconds between RQ's retries after a transient gateway error (config PREAUTH_RETRY_INTERVALS).
DEFAULT_RETRY_INTERVALS = (15, 60, 300, 900)
JOB_TIMEOUT_SECONDS = 120
_PENDING = "covered_preauth_jobs"
# What every reschedule clears: the outcome of the attempt before.
_FRESH_ATTEMPT = dict(
    amount_cents=None,
    card_id=None,
    card_label=None,
    gateway_reference=None,
    failure_code=None,
    failure_reason=None,
    processing_started_at=None,
    held_at=None,
    lapses_at=None,
    finished_at=None,
)


class ActionRefused(Exception):
    """A person's Cancel / Retry / Reschedule that cannot apply; nothing was changed."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def job_id(preauth_id: int, attempt: int) -> str:
    return f"preauth-{preauth_id}-{attempt}"


def for_encounter(encounter_id: int) -> PreAuthorization | None:
    return db.session.scalar(
        select(PreAuthorization).where(PreAuthorization.encounter_id == encounter_id)
    )


def default_card(client_id: int) -> PaymentCard | None:
    return db.session.scalar(
        select(PaymentCard)
        .where(PaymentCard.client_id == client_id, PaymentCard.is_default.is_(True))
        .order_by(PaymentCard.id.desc())
        .limit(1)
    )


def current_amount(encounter: Encounter) -> int:
    """What a hold would be for if it ran now, from the encounter's services."""
    insurance = encounter.client_insurance if encounter.billing_type == "insurance" else None
    return rules.hold_amount(
        encounter.billing_type,
        insurance.copay_cents if insurance else None,
        [line.service_type.price_cents for line in encounter.lines],
    )


def retry_problem(row: PreAuthorization, today: date) -> str | None:
    """Why Retry would fail again right now (shown on the disabled button), or None."""
    card = default_card(row.encounter.client_id)
    return rules.retry_blocker(
        row.failure_code,
        row.card_id,
        card.id if card else None,
        bool(card) and rules.card_expired(card.exp_month, card.exp_year, today),
    )


# --- jobs, enqueued after commit ------------------------------------------------------


def _after_commit(action: str, preauth_id: int, attempt: int, run_at: datetime | None = None):
    db.session.info.setdefault(_PENDING, []).append((action, preauth_id, attempt, run_at))


@event.listens_for(db.session, "after_commit")
def _send_pending_jobs(session) -> None:
    for action, preauth_id, attempt, run_at in session.info.pop(_PENDING, []):
        try:
            if action == "enqueue":
                enqueue(preauth_id, attempt, run_at)
            else:
                drop_job(preauth_id, attempt)
        except RedisError:
            # The row is committed; the sweeper enqueues it once Redis answers again.
            log.exception("could not %s the job of pre-authorization %s", action, preauth_id)


@event.listens_for(db.session, "after_rollback")
def _forget_pending_jobs(session) -> None:
    session.info.pop(_PENDING, None)


def enqueue(preauth_id: int, attempt: int, run_at: datetime, now: datetime | None = None) -> str:
    """Enqueue the hold's job: now if due, else at `run_at` (naive UTC) via RQ's scheduler."""
    from rq import Retry

    from jobs import preauth as job

    intervals = list(current_app.config.get("PREAUTH_RETRY_INTERVALS", DEFAULT_RETRY_INTERVALS))
    options = dict(
        job_id=job_id(preauth_id, attempt),
        job_timeout=JOB_TIMEOUT_SECONDS,
        retry=Retry(max=len(intervals), interval=intervals) if intervals else None,
        description=f"Place the hold of pre-authorization {preauth_id} (attempt {attempt})",
    )
    if run_at <= (now or utcnow()):
        queue().enqueue(job.run, preauth_id, attempt, **options)
    else:
        queue().enqueue_at(run_at.replace(tzinfo=UTC), job.run, preauth_id, attempt, **options)
    return options["job_id"]


def drop_job(preauth_id: int, attempt: int) -> None:
    """Delete a queued or scheduled job that is no longer wanted (harmless if absent)."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    with contextlib.suppress(NoSuchJobError):
        Job.fetch(job_id(preauth_id, attempt), connection=queue().connection).delete()


# --- compare-and-set ------------------------------------------------------------------


def transition(
    row_id: int,
    action: str,
    *,
    if_attempt: int | None = None,
    if_state: str | None = None,
    **values,
) -> bool:
    """UPDATE … SET state = <target>, … WHERE id = ? AND state IN (…) [AND attempt = ?].

    `if_state` narrows the allowed starting states to the one the caller read;
    `if_attempt` makes a job of an older attempt (or a stale page) lose. Returns
    whether this caller won; the session's copy of the row is expired either way.
    """
    starts, leads_to = rules.TRANSITIONS[action]
    if if_state is not None and if_state not in starts:
        return False
    allowed = [if_state] if if_state else list(starts)
    statement = update(PreAuthorization).where(
        PreAuthorization.id == row_id, PreAuthorization.state.in_(allowed)
    )
    if if_attempt is not None:
        statement = statement.where(PreAuthorization.attempt == if_attempt)
    result = db.session.execute(
        statement.values(state=leads_to, updated_at=utcnow(), **values),
        execution_options={"synchronize_session": False},
    )
    row = db.session.identity_map.get(db.session.identity_key(PreAuthorization, row_id))
    if row is not None:
        db.session.expire(row)
    return result.rowcount == 1


def _record(row_or_id, action: str, actor: User | None, *, before=None, reason=None) -> None:
    row = db.session.get(PreAuthorization, row_or_id) if isinstance(row_or_id, int) else row_or_id
    audit.record(
        organization_id=row.organization_id,
        user_id=actor.id if actor else None,
        action=f"preauth.{action}",
        row=row,
        before=before,
        after=audit.snapshot(row),
        reason=reason,
    )


# --- following the encounter (inside the booking / edit / status transaction) -------


def sync_encounters(
    org: Organization, encounters: list[Encounter], *, actor: User | None, now=None
) -> None:
    """Bring each encounter's pre-authorization in line with it; the caller commits.

    - booked or changed, upcoming, in the future, none yet, Payments Settings active
      → scheduled at start − the setting's hours;
    - scheduled and the start moved → moved (same hours before the new start);
    - cancelled, late-cancelled or no-show → a scheduled one is cancelled;
    - back to upcoming after that, or a $0 hold that now has an amount → scheduled again.
    Held, failed and person-cancelled ones are left to people.
    """
    now = now or utcnow()
    db.session.flush()
    for encounter in encounters:
        _sync(org, encounter, actor, now)


def _sync(org: Organization, encounter: Encounter, actor: User | None, now: datetime) -> None:
    row = for_encounter(encounter.id)
    if encounter.status in CANCELLING_STATUSES:
        if row is not None and row.state == SCHEDULED:
            label = encounter_rules.ENCOUNTER_STATUS_LABELS[encounter.status].lower()
            _cancel(row, actor, ENCOUNTER_CANCELLED, f"The appointment was marked {label}.")
        return
    if encounter.status != encounter_rules.UPCOMING:
        return
    if row is not None and row.state == SCHEDULED:
        # Carried with the start, even into the past (then it runs now).
        if rules.run_at(encounter.starts_at, row.hours_before) != row.run_at:
            _reschedule(row, encounter, row.hours_before, actor, "moved")
        return
    if encounter.starts_at <= now:
        return
    if row is None:
        if org.preauth_active:
            _create(org, encounter, org.preauth_hours_before, actor)
        return
    revived = row.state == CANCELLED and row.failure_code == ENCOUNTER_CANCELLED
    if revived or (row.state == NOT_NEEDED and current_amount(encounter) > 0):
        _reschedule(row, encounter, row.hours_before, actor, "rescheduled")


def _create(org, encounter, hours: int, actor: User | None) -> PreAuthorization:
    row = PreAuthorization(
        organization_id=org.id,
        encounter_id=encounter.id,
        state=SCHEDULED,
        hours_before=hours,
        run_at=rules.run_at(encounter.starts_at, hours),
        attempt=1,
    )
    db.session.add(row)
    db.session.flush()
    _record(row, "scheduled", actor)
    _after_commit("enqueue", row.id, row.attempt, row.run_at)
    return row


def _reschedule(row, encounter, hours: int, actor: User | None, action: str) -> bool:
    before, state, attempt = audit.snapshot(row), row.state, row.attempt
    run_at = rules.run_at(encounter.starts_at, hours)
    won = transition(
        row.id,
        "reschedule",
        if_state=state,
        if_attempt=attempt,
        **{**_FRESH_ATTEMPT, "attempt": attempt + 1, "hours_before": hours, "run_at": run_at},
    )
    if won:
        _record(row, action, actor, before=before)
        if state == SCHEDULED:
            _after_commit("drop", row.id, attempt)
        _after_commit("enqueue", row.id, attempt + 1, run_at)
    return won


def _cancel(row, actor: User | None, code: str, reason: str) -> bool:
    before, attempt = audit.snapshot(row), row.attempt
    won = transition(
        row.id,
        "cancel",
        if_attempt=attempt,
        failure_code=code,
        failure_reason=reason,
        finished_at=utcnow(),
    )
    if won:
        _record(row, "cancelled", actor, before=before, reason=reason)
        _after_commit("drop", row.id, attempt)
    return won


# --- a person's actions ---------------------------------------------------------------


def _refuse_unless(action: str, row: PreAuthorization | None) -> None:
    message = rules.refusal(action, row.state if row else None)
    if message:
        raise ActionRefused(message)


def _lost(action: str, row: PreAuthorization) -> ActionRefused:
    """The loser's message: why the action no longer applies, from the row as it is now."""
    db.session.rollback()
    db.session.refresh(row)
    return ActionRefused(
        rules.refusal(action, row.state)
        or "Someone changed this pre-authorization a moment ago. Check it and try again."
    )


def hold_problem(encounter: Encounter, now: datetime) -> str | None:
    """Why no hold can be scheduled for this encounter at all."""
    if encounter.status in CANCELLING_STATUSES:
        label = encounter_rules.ENCOUNTER_STATUS_LABELS[encounter.status].lower()
        return f"The appointment is {label}; there is nothing to pre-authorize."
    if encounter.starts_at <= now:
        return "The appointment has already started; a hold is placed before it."
    return None


def preview_run_at(encounter: Encounter, hours_text: str | None) -> tuple[datetime | None, str]:
    """(when the hold would run, error message) for the Reschedule dialog's live preview."""
    try:
        hours = rules.parse_hours(hours_text)
    except ValueError as error:
        return None, str(error)
    return rules.run_at(encounter.starts_at, hours), ""


def reschedule(encounter: Encounter, hours_text: str | None, *, actor: User, now=None):
    """Schedule the hold `hours` before the start (creating it if there is none).

    Raises ValueError for bad hours (a field message) and ActionRefused when the
    state does not allow it; either way nothing changes.
    """
    now = now or utcnow()
    hours = rules.parse_hours(hours_text)
    problem = hold_problem(encounter, now)
    if problem:
        raise ActionRefused(problem)
    row = for_encounter(encounter.id)
    if row is None:
        org = db.session.get(Organization, encounter.organization_id)
        row = _create(org, encounter, hours, actor)
    else:
        _refuse_unless("reschedule", row)
        if not _reschedule(row, encounter, hours, actor, "rescheduled"):
            raise _lost("reschedule", row)
    db.session.commit()
    return row


def cancel(encounter: Encounter, *, actor: User) -> PreAuthorization:
    row = for_encounter(encounter.id)
    _refuse_unless("cancel", row)
    if not _cancel(row, actor, CANCELLED_BY_USER, f"Cancelled by {actor.name}."):
        raise _lost("cancel", row)
    db.session.commit()
    return row


def retry(encounter: Encounter, *, actor: User, now=None) -> PreAuthorization:
    """Run a failed hold again now, once its cause is resolved (e.g. a card was added)."""
    now = now or utcnow()
    row = for_encounter(encounter.id)
    _refuse_unless("retry", row)
    org = db.session.get(Organization, row.organization_id)
    blocker = retry_problem(row, local_date(now, org.timezone))
    if blocker:
        raise ActionRefused(blocker)
    before, attempt = audit.snapshot(row), row.attempt
    values = {**_FRESH_ATTEMPT, "attempt": attempt + 1, "run_at": now}
    if not transition(row.id, "retry", if_state=FAILED, if_attempt=attempt, **values):
        raise _lost("retry", row)
    _record(row, "retried", actor, before=before)
    _after_commit("enqueue", row.id, attempt + 1, now)
    db.session.commit()
    return row
