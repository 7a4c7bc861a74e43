"""Placing the hold (the RQ job's work), the sweeper, and the gateway's webhook events.

`place_hold` is safe to run twice, or after a crash:
1. claim the row: scheduled → processing, by compare-and-set on (id, attempt);
   a second run, or a run for an older attempt, claims nothing and stops;
2. compute the amount from the services as they are now ($0 → not_needed);
3. find the client's default card (none → failed "no card on file");
4. ask the gateway for the hold with the idempotency key of (id, attempt), so a
   replay after a crash returns the same hold instead of placing a second one;
5. write held (reference, amount, card, lapse time) or failed (reason).
A transient gateway error puts the row back to scheduled and raises, so RQ retries
with backoff; the last retry writes failed. Anything unexpected leaves the row in
processing for the sweeper, which asks the gateway whether our hold exists.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app, has_request_context, url_for
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from webapp.domain import preauth as rules
from webapp.domain.money import format_cents
from webapp.domain.preauth import HELD, PROCESSING, SCHEDULED
from webapp.domain.windows import local_date
from webapp.extensions import db
from webapp.models import GatewayEvent, Organization, PreAuthorization, User
from webapp.models.base import utcnow
from webapp.models.organization import ADMIN, BILLER
from webapp.payments.gateway import (
    GatewayError,
    Hold,
    PermanentGatewayError,
    TransientGatewayError,
    idempotency_key,
)
from webapp.services import preauth as schedule
from webapp.services.cards import card_label
from webapp.services.notifications import notify
from webapp.services.queue import job_will_run

log = logging.getLogger(__name__)

DEFAULT_STUCK_MINUTES = 10  # config PREAUTH_STUCK_MINUTES; well past the job's timeout
SWEEP_BATCH = 1000


def _gateway():
    from webapp.payments import gateway

    return gateway()


def _billers(organization_id: int) -> list[User]:
    return list(
        db.session.scalars(
            select(User).where(
                User.organization_id == organization_id,
                User.role.in_((BILLER, ADMIN)),
                User.is_active_user.is_(True),
            )
        )
    )


def _encounter_link(row: PreAuthorization) -> str:
    """The encounter page's path, also from a job (no request, no SERVER_NAME)."""
    if has_request_context():
        return url_for("encounters.show", encounter_id=row.encounter_id)
    with current_app.test_request_context("/"):
        return url_for("encounters.show", encounter_id=row.encounter_id)


def _fail(row_id: int, attempt: int, code: str, reason: str, *, card=None, amount=None) -> str:
    """processing → failed, with the reason shown in red on the encounter; billers notified."""
    won = schedule.transition(
        row_id,
        "fail",
        if_attempt=attempt,
        failure_code=code[:60],
        failure_reason=reason[:500],
        card_id=card.id if card else None,
        card_label=card_label(card) if card else None,
        amount_cents=amount,
        finished_at=utcnow(),
    )
    if not won:
        db.session.rollback()
        return "lost the row"
    row = db.session.get(PreAuthorization, row_id)
    schedule._record(row, "failed", None, reason=reason)
    encounter = row.encounter
    notify(
        _billers(row.organization_id),
        kind="preauth.failed",
        title=f"Pre-authorization failed for {encounter.client.full_name}",
        body=reason,
        link=_encounter_link(row),
    )
    db.session.commit()
    return f"failed: {code}"


def _record_held(row_id: int, attempt: int, hold: Hold, card, now: datetime) -> str:
    won = schedule.transition(
        row_id,
        "hold",
        if_attempt=attempt,
        amount_cents=hold.amount_cents,
        card_id=card.id if card else None,
        card_label=card_label(card) if card else None,
        gateway_reference=hold.reference,
        held_at=now,
        lapses_at=hold.lapses_at or rules.hold_lapses_at(now, card.brand if card else None),
        finished_at=None,
    )
    if not won:
        db.session.rollback()
        return "lost the row"
    schedule._record(row_id, "held", None)
    db.session.commit()
    return "held"


def _card_problem(card, client, organization_id: int, now: datetime) -> tuple[str, str] | None:
    if card is None or not client.gateway_customer_id:
        return rules.NO_CARD, "No card on file for the client."
    org = db.session.get(Organization, organization_id)
    if rules.card_expired(card.exp_month, card.exp_year, local_date(now, org.timezone)):
        expiry = f"{card.exp_month:02d}/{card.exp_year}"
        return rules.CARD_EXPIRED, f"The default card ({card_label(card)}) expired {expiry}."
    return None


def _fix_amount_and_card(preauth_id: int, attempt: int, amount: int, card) -> None:
    db.session.execute(
        update(PreAuthorization)
        .where(
            PreAuthorization.id == preauth_id,
            PreAuthorization.state == PROCESSING,
            PreAuthorization.attempt == attempt,
        )
        .values(amount_cents=amount, card_id=card.id, card_label=card_label(card))
    )
    db.session.commit()


def _withdraw(preauth_id: int, attempt: int, now: datetime) -> str:
    """The appointment was cancelled after the hold was scheduled: place nothing."""
    reason = "The appointment was cancelled before the hold ran."
    values = dict(failure_code=schedule.ENCOUNTER_CANCELLED, failure_reason=reason)
    schedule.transition(preauth_id, "withdraw", if_attempt=attempt, finished_at=now, **values)
    schedule._record(preauth_id, "cancelled", None, reason=reason)
    db.session.commit()
    return "cancelled"


def _no_hold_needed(preauth_id: int, attempt: int, now: datetime) -> str:
    """$0 to hold (a $0 copay, free services): finished as not_needed, which is recorded."""
    schedule.transition(preauth_id, "skip", if_attempt=attempt, amount_cents=0, finished_at=now)
    schedule._record(preauth_id, "not_needed", None, reason="The amount to hold is $0.00.")
    db.session.commit()
    return "not needed"


def place_hold(preauth_id: int, attempt: int, *, can_retry: bool = False, now=None) -> str:
    """The job's work (see the module's steps). Returns a word for RQ's result."""
    now = now or utcnow()
    # 1. Claim.
    claimed = schedule.transition(
        preauth_id, "claim", if_attempt=attempt, processing_started_at=now
    )
    db.session.commit()
    if not claimed:
        return "not scheduled"
    row = db.session.get(PreAuthorization, preauth_id)
    encounter = row.encounter
    if encounter.status in schedule.CANCELLING_STATUSES:
        return _withdraw(preauth_id, attempt, now)
    # 2–3. Amount and card: fixed on the row before the gateway is called, so a rerun
    # of this attempt (after a crash or a transient error) asks for the very same hold.
    client = encounter.client
    if row.amount_cents is not None and row.card is not None:
        amount, card = row.amount_cents, row.card
    else:
        amount = schedule.current_amount(encounter)
        if amount == 0:
            return _no_hold_needed(preauth_id, attempt, now)
        card = schedule.default_card(client.id)
        problem = _card_problem(card, client, row.organization_id, now)
        if problem:
            code, reason = problem
            return _fail(preauth_id, attempt, code, reason, card=card, amount=amount)
        _fix_amount_and_card(preauth_id, attempt, amount, card)
    # 4. Gateway.
    try:
        hold = _gateway().place_hold(
            customer_id=client.gateway_customer_id,
            payment_method_id=card.gateway_payment_method_id,
            amount_cents=amount,
            reference=schedule.job_id(preauth_id, attempt),
            idempotency_key=idempotency_key("preauth", preauth_id, attempt, "hold"),
        )
    except PermanentGatewayError as error:
        return _fail(preauth_id, attempt, error.code, error.message, card=card, amount=amount)
    except TransientGatewayError as error:
        if can_retry:
            schedule.transition(
                preauth_id, "unclaim", if_attempt=attempt, processing_started_at=None
            )
            db.session.commit()
            raise
        reason = (
            f"The card processor could not be reached ({error.message}). Retry once it is back."
        )
        code = rules.GATEWAY_UNAVAILABLE
        return _fail(preauth_id, attempt, code, reason, card=card, amount=amount)
    # 5. Outcome.
    if hold.status != "requires_capture":
        reason = f"The card processor answered with status {hold.status!r} instead of a hold."
        return _fail(preauth_id, attempt, "unexpected_status", reason, card=card, amount=amount)
    return _record_held(preauth_id, attempt, hold, card, now)


# --- the sweeper ------------------------------------------------------------------------


@dataclass
class SweepReport:
    enqueued: list[int] = field(default_factory=list)  # scheduled rows whose job was missing
    settled_held: list[int] = field(default_factory=list)
    settled_failed: list[int] = field(default_factory=list)
    requeued: list[int] = field(default_factory=list)  # processing, no hold found → scheduled
    unreachable: list[int] = field(default_factory=list)  # gateway down: try next minute


def sweep(now: datetime | None = None) -> SweepReport:
    now = now or utcnow()
    report = SweepReport()
    _enqueue_missing_jobs(report, now)
    _settle_stuck(report, now)
    return report


def _enqueue_missing_jobs(report: SweepReport, now: datetime) -> None:
    """Scheduled rows whose RQ job is gone (Redis flushed or lost) get it back."""
    from rq.job import Job

    connection = schedule.queue().connection
    last_id = 0
    while True:
        rows = db.session.execute(
            select(PreAuthorization.id, PreAuthorization.attempt, PreAuthorization.run_at)
            .where(PreAuthorization.state == SCHEDULED, PreAuthorization.id > last_id)
            .order_by(PreAuthorization.id)
            .limit(SWEEP_BATCH)
        ).all()
        db.session.commit()  # end the read transaction: nothing is held open across Redis
        if not rows:
            return
        last_id = rows[-1].id
        jobs = Job.fetch_many([schedule.job_id(r.id, r.attempt) for r in rows], connection)
        for row, job in zip(rows, jobs, strict=True):
            if job_will_run(job, now):
                continue
            if job is not None:
                job.delete()
            schedule.enqueue(row.id, row.attempt, row.run_at, now)
            report.enqueued.append(row.id)


def _settle_stuck(report: SweepReport, now: datetime) -> None:
    """Rows left in processing (a killed worker): ask the gateway for our reference."""
    minutes = current_app.config.get("PREAUTH_STUCK_MINUTES", DEFAULT_STUCK_MINUTES)
    stuck = db.session.scalars(
        select(PreAuthorization)
        .where(
            PreAuthorization.state == PROCESSING,
            PreAuthorization.processing_started_at < now - timedelta(minutes=minutes),
        )
        .order_by(PreAuthorization.id)
        .limit(SWEEP_BATCH)
    ).all()
    for row in stuck:
        row_id, attempt, run_at = row.id, row.attempt, row.run_at
        try:
            hold = _gateway().find_hold(schedule.job_id(row_id, attempt))
        except GatewayError:
            log.warning("gateway unreachable while settling pre-authorization %s", row_id)
            report.unreachable.append(row_id)
            continue
        if hold is None:
            # Never placed: run it again. The same attempt means the same idempotency
            # key, so if the gateway did place it after all, it answers with that hold.
            if schedule.transition(
                row_id, "unclaim", if_attempt=attempt, processing_started_at=None
            ):
                schedule._record(row_id, "requeued", None, reason="No hold found at the gateway.")
                db.session.commit()
                schedule.drop_job(row_id, attempt)  # the dead worker's job, from every registry
                schedule.enqueue(row_id, attempt, run_at, now)
                report.requeued.append(row_id)
        elif hold.status == "requires_capture":
            card = row.card or schedule.default_card(row.encounter.client_id)
            if _record_held(row_id, attempt, hold, card, now) == "held":
                report.settled_held.append(row_id)
        else:
            reason = f"The card processor reports the hold as {hold.status!r}."
            if _fail(row_id, attempt, "unexpected_status", reason).startswith("failed"):
                report.settled_failed.append(row_id)
        db.session.rollback()


# --- webhook events ---------------------------------------------------------------------


def handle_gateway_event(event_id: str, event_type: str, payload: dict) -> str:
    """Apply a verified gateway event once; a redelivery changes nothing.

    `payment_intent.canceled` on a held pre-authorization means the hold is gone
    (lapsed, or cancelled at the gateway): held → expired, billers notified, with
    Reschedule offered on the encounter. Other events are recorded and ignored.
    """
    db.session.add(GatewayEvent(event_id=event_id[:100], event_type=event_type[:100]))
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        return "duplicate"
    outcome = "ignored"
    if event_type == "payment_intent.canceled":
        outcome = _hold_lapsed(payload)
    db.session.commit()
    return outcome


def _hold_lapsed(intent: dict) -> str:
    reference = intent.get("id")
    row = db.session.scalar(
        select(PreAuthorization).where(PreAuthorization.gateway_reference == reference)
    )
    if row is None or not reference:
        return "ignored"
    if row.state != HELD:
        return "ignored"  # released or charged by us: nothing lapsed
    cause = intent.get("cancellation_reason") or "unknown"
    reason = (
        f"The hold of {format_cents(row.amount_cents or 0)} lapsed at the card processor "
        f"before it was charged (reason: {cause}). Reschedule to place a new hold."
    )
    lapsed = schedule.transition(
        row.id,
        "expire",
        if_attempt=row.attempt,
        failure_code="hold_lapsed",
        failure_reason=reason,
        finished_at=utcnow(),
    )
    if not lapsed:
        return "ignored"
    schedule._record(row.id, "expired", None, reason=reason)
    notify(
        _billers(row.organization_id),
        kind="preauth.expired",
        title=f"Hold expired for {row.encounter.client.full_name}",
        body=reason,
        link=_encounter_link(row),
    )
    return "expired"
