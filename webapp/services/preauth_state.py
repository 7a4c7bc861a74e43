"""The pre-authorization row's machinery: compare-and-set transitions, the audit
record, and the jobs sent after a commit. Every other pre-authorization service
builds on these (services.preauth, hold_checks, hold_moves, preauth_runs).

The row is the truth; the RQ job `preauth-<id>-<attempt>` is only its trigger,
enqueued *after* the commit that made it due (a rolled-back change enqueues
nothing). If Redis cannot be reached then, the sweeper enqueues it a minute later.
Every state change is a compare-and-set on (id, state, attempt), so two people (or
a person and a job) acting at once get one winner and one clear message.
"""

from datetime import datetime, timedelta

from flask import current_app, has_request_context, url_for
from sqlalchemy import event, select, update

from webapp.config import PREAUTH_JOB_TIMEOUT_SECONDS
from webapp.domain import authorization_rules, preauth_rules
from webapp.domain.preauth_rules import SCHEDULED
from webapp.extensions import db
from webapp.models import Encounter, PaymentCard, PreAuthorization, User
from webapp.models.base import utcnow
from webapp.models.organization import ADMIN, BILLER
from webapp.payments.gateway import hold_reference
from webapp.services import audit, pricing, queue
from webapp.services.errors import Refused

# Statuses that call off a scheduled hold (a Kept appointment keeps its hold).
CANCELLING_STATUSES = frozenset(
    {authorization_rules.CANCELLED, authorization_rules.LATE_CANCELLED, authorization_rules.NO_SHOW}
)
# failure_code of cancelled rows: who or what cancelled them.
ENCOUNTER_CANCELLED = "encounter_cancelled"
CANCELLED_BY_USER = "cancelled_by_user"
_PENDING = "covered_preauth_jobs"
# What every reschedule clears: the outcome of the attempt before.
FRESH_ATTEMPT = dict(
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
    renewal_started_at=None,
)


class ActionRefused(Refused):
    """A person's Cancel / Retry / Reschedule / Renew that cannot apply."""


def job_id(preauth_id: int, attempt: int) -> str:
    """The RQ job id of an attempt, which is also the hold's reference at the gateway."""
    return hold_reference(preauth_id, attempt)


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


def billers(organization_id: int) -> list[User]:
    """The active billers and admins of an organization: who hears about holds."""
    return list(
        db.session.scalars(
            select(User).where(
                User.organization_id == organization_id,
                User.role.in_((BILLER, ADMIN)),
                User.is_active_user.is_(True),
            )
        )
    )


def encounter_link(encounter_id: int) -> str:
    """The encounter page's path, also from a job (no request, no SERVER_NAME)."""
    if has_request_context():
        return url_for("encounters.show", encounter_id=encounter_id)
    with current_app.test_request_context("/"):
        return url_for("encounters.show", encounter_id=encounter_id)


def current_amount(encounter: Encounter) -> int:
    """What a hold would be for if it ran now (cents), from the encounter's services."""
    return pricing.hold_amount(encounter)


# --- jobs, sent after commit ----------------------------------------------------------


def after_commit(action: str, preauth_id: int, attempt: int, run_at: datetime | None = None):
    """Send a job once the session commits: "enqueue" (the attempt's hold job), "drop"
    (delete it), "settle" (finish the pending payments of encounter `preauth_id`),
    "check" (ask the gateway about pre-authorization `preauth_id`'s holds)."""
    db.session.info.setdefault(_PENDING, []).append((action, preauth_id, attempt, run_at))


@event.listens_for(db.session, "after_commit")
def _send_pending_jobs(session) -> None:
    # The rows are committed; a job Redis missed is picked up by the sweepers.
    for action, row_id, attempt, run_at in session.info.pop(_PENDING, []):
        if action == "enqueue":
            enqueue(row_id, attempt, run_at)
        elif action == "drop":
            queue.drop(job_id(row_id, attempt))
        elif action == "settle":
            enqueue_settle(row_id)
        elif action == "check":
            enqueue_check(row_id)


@event.listens_for(db.session, "after_rollback")
def _forget_pending_jobs(session) -> None:
    session.info.pop(_PENDING, None)


def starts_at(run_at: datetime) -> datetime:
    """When a hold due at `run_at` may be placed: PREAUTH_LEAD_SECONDS earlier (naive
    UTC), so holds due at one instant are all placed by then (services/hold_batches)."""
    return run_at - timedelta(seconds=current_app.config["PREAUTH_LEAD_SECONDS"])


def enqueue(preauth_id: int, attempt: int, run_at: datetime, now: datetime | None = None) -> bool:
    """Send the hold's job: now if it may be placed (`starts_at(run_at)` has come), else
    then, via RQ's scheduler. `run_at` is naive UTC. False when Redis is unreachable:
    the row stays scheduled for the sweeper."""
    return send_job(preauth_id, attempt, starts_at(run_at), now)


def send_job(preauth_id: int, attempt: int, at: datetime, now: datetime | None = None) -> bool:
    """The attempt's hold job, now if `at` (naive UTC) has come, else at `at`. False when
    Redis is unreachable."""
    return queue.enqueue(
        "jobs.preauth.run",
        preauth_id,
        attempt,
        job_id=job_id(preauth_id, attempt),
        at=None if at <= (now or utcnow()) else at,
        retry="PREAUTH_RETRY_INTERVALS",
        timeout=PREAUTH_JOB_TIMEOUT_SECONDS,
        description=f"Place the hold of pre-authorization {preauth_id} (attempt {attempt})",
    )


def drop_job(preauth_id: int, attempt: int) -> None:
    """Delete a queued or scheduled job that is no longer wanted (harmless if absent)."""
    queue.drop(job_id(preauth_id, attempt))


def enqueue_settle(encounter_id: int, at: datetime | None = None) -> bool:
    """Finish the encounter's pending payments, now or `at` (naive UTC). False when
    Redis is unreachable: the payments stay pending for the every-minute sweep."""
    return queue.enqueue(
        "jobs.charges.settle",
        encounter_id,
        job_id=settle_job_id(encounter_id),
        at=at,
        retry="SETTLE_RETRY_INTERVALS",
        description=f"Finish the pending payments of encounter {encounter_id}",
    )


def settle_job_id(encounter_id: int) -> str:
    return f"settle-payments-{encounter_id}"


def enqueue_check(preauth_id: int) -> bool:
    """Ask the gateway about this pre-authorization's holds soon (the page could not).
    False when Redis is unreachable: the row keeps `gateway_check_due`."""
    return queue.enqueue(
        "jobs.hold_checks.check",
        preauth_id,
        job_id=f"hold-check-{preauth_id}",
        retry="HOLD_CHECK_RETRY_INTERVALS",
        description=f"Check the gateway for holds of pre-authorization {preauth_id}",
    )


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
    starts, leads_to = preauth_rules.TRANSITIONS[action]
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


def set_check_due(row_id: int, due: bool) -> None:
    """Mark (or clear) that the gateway must be asked about this row's holds."""
    db.session.execute(
        update(PreAuthorization).where(PreAuthorization.id == row_id).values(gateway_check_due=due),
        execution_options={"synchronize_session": False},
    )
    row = db.session.identity_map.get(db.session.identity_key(PreAuthorization, row_id))
    if row is not None:
        db.session.expire(row)


def record(row_or_id, action: str, actor: User | None, *, before=None, reason=None) -> None:
    """The audit record of a pre-authorization change (the caller commits)."""
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


# --- the writes every path shares ------------------------------------------------------


def create(org, encounter, hours: int, actor: User | None) -> PreAuthorization:
    """A scheduled pre-authorization at start − `hours` (the caller commits)."""
    row = PreAuthorization(
        organization_id=org.id,
        encounter_id=encounter.id,
        state=SCHEDULED,
        hours_before=hours,
        run_at=preauth_rules.run_at(encounter.starts_at, hours),
        attempt=1,
    )
    db.session.add(row)
    db.session.flush()
    record(row, "scheduled", actor)
    after_commit("enqueue", row.id, row.attempt, row.run_at)
    return row


def reschedule(row, encounter, hours: int, actor: User | None, action: str) -> bool:
    """A new attempt at start − `hours`: the old attempt's job is dropped, the new one
    enqueued after commit. True if this caller won the compare-and-set."""
    before, state, attempt = audit.snapshot(row), row.state, row.attempt
    run_at = preauth_rules.run_at(encounter.starts_at, hours)
    won = transition(
        row.id,
        "reschedule",
        if_state=state,
        if_attempt=attempt,
        **{**FRESH_ATTEMPT, "attempt": attempt + 1, "hours_before": hours, "run_at": run_at},
    )
    if won:
        record(row, action, actor, before=before)
        if state == SCHEDULED:
            after_commit("drop", row.id, attempt)
        after_commit("enqueue", row.id, attempt + 1, run_at)
    return won


def cancel(row, actor: User | None, code: str, reason: str) -> bool:
    """scheduled → cancelled, its job dropped after commit. True if this caller won."""
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
        record(row, "cancelled", actor, before=before, reason=reason)
        after_commit("drop", row.id, attempt)
    return won
