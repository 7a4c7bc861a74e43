"""Placing the hold (the RQ job's work), the sweeper, and the gateway's webhook events.

`place_hold` is safe to run twice, or after a crash:
1. claim the row: scheduled → processing, by compare-and-set on (id, attempt);
   a second run, or a run for an older attempt, claims nothing and stops;
2. before a new attempt (Retry, a move) of a row marked for a check (an earlier
   attempt's answer was lost), ask the gateway (`hold_checks`): earlier attempts'
   holds are released. A rerun of the *same* attempt (RQ's retry after a transient
   error, amount already fixed) asks with the same idempotency key instead, which
   answers with the hold the lost answer was about, on a gateway that replays keys
   (Stripe); on one that does not (localstripe) it asks the gateway first, too;
3. compute the amount from the services as they are now ($0 → not_needed);
4. find the client's default card (none → failed "no card on file");
5. ask the gateway for the hold with the idempotency key of (id, attempt), so a
   replay after a crash returns the same hold instead of placing a second one;
6. write held (reference, amount, card, lapse time) or failed (reason, in staff's
   words).
A transient gateway error puts the row back to scheduled, marks it for a check and
raises, so RQ retries with backoff; the last retry asks the gateway before writing
failed (a hold whose answer was lost is adopted instead). Anything unexpected leaves
the row in processing for the sweeper, which asks the gateway the same way.
"""

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from flask import current_app
from rq.job import Job
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from webapp.domain import hold_rules, preauth_rules
from webapp.domain.preauth_rules import HELD, PROCESSING, SCHEDULED
from webapp.domain.windows import local_date
from webapp.extensions import db
from webapp.models import GatewayEvent, Organization, PreAuthorization
from webapp.models.base import utcnow
from webapp.payments import current_gateway
from webapp.payments.gateway import (
    GatewayError,
    Hold,
    PermanentGatewayError,
    TransientGatewayError,
    idempotency_key,
)
from webapp.services import hold_checks, preauth_state
from webapp.services.cards import card_label
from webapp.services.errors import Refused
from webapp.services.notifications import notify
from webapp.services.queue import job_will_run, redis_connection

log = logging.getLogger(__name__)

SWEEP_BATCH = 1000


class HoldRun(StrEnum):
    """What one run of the hold job did (`place_hold`)."""

    HELD = "held"
    ADOPTED = "adopted"  # a hold an earlier, unanswered call placed is now the row's
    FAILED = "failed"  # the row says why (failure_code, failure_reason)
    NOT_NEEDED = "not needed"  # $0 to hold
    CANCELLED = "cancelled"  # the appointment was cancelled before the hold ran
    NOT_SCHEDULED = "not scheduled"  # another run, or a newer attempt, has the row
    LOST_ROW = "lost the row"  # someone changed the row while this run was at the gateway


# The webhook refuses events dated further in the future than this (clock skew).
EVENT_CLOCK_TOLERANCE = timedelta(minutes=5)


def _billers(organization_id: int):
    return preauth_state.billers(organization_id)


def _encounter_link(row: PreAuthorization) -> str:
    return preauth_state.encounter_link(row.encounter_id)


def _fail(row_id: int, attempt: int, code: str, reason: str, *, card=None, amount=None) -> HoldRun:
    """processing → failed, with the reason shown in red on the encounter; billers notified."""
    won = preauth_state.transition(
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
        return HoldRun.LOST_ROW
    row = db.session.get(PreAuthorization, row_id)
    preauth_state.record(row, "failed", None, reason=reason)
    encounter = row.encounter
    notify(
        _billers(row.organization_id),
        kind="preauth.failed",
        title=f"Pre-authorization failed for {encounter.client.full_name}",
        body=reason,
        link=_encounter_link(row),
    )
    db.session.commit()
    return HoldRun.FAILED


def _record_held(row_id: int, attempt: int, hold: Hold, card, now: datetime) -> HoldRun:
    won = preauth_state.transition(
        row_id,
        "hold",
        if_attempt=attempt,
        amount_cents=hold.amount_cents,
        card_id=card.id if card else None,
        card_label=card_label(card) if card else None,
        gateway_reference=hold.reference,
        held_at=now,
        lapses_at=hold.lapses_at or preauth_rules.hold_lapses_at(now, card.brand if card else None),
        finished_at=None,
    )
    if not won:
        db.session.rollback()
        return HoldRun.LOST_ROW
    preauth_state.record(row_id, "held", None)
    db.session.commit()
    return HoldRun.HELD


def _card_refusal(card, client, organization_id: int, now: datetime) -> tuple[str, str] | None:
    if card is None or not client.gateway_customer_id:
        return preauth_rules.NO_CARD, "No card on file for the client."
    org = db.session.get(Organization, organization_id)
    if preauth_rules.card_expired(card.exp_month, card.exp_year, local_date(now, org.timezone)):
        expiry = f"{card.exp_month:02d}/{card.exp_year}"
        return (
            preauth_rules.CARD_EXPIRED,
            f"The default card ({card_label(card)}) expired {expiry}.",
        )
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


def _withdraw(preauth_id: int, attempt: int, now: datetime) -> HoldRun:
    """The appointment was cancelled after the hold was scheduled: place nothing."""
    reason = "The appointment was cancelled before the hold ran."
    values = dict(failure_code=preauth_state.ENCOUNTER_CANCELLED, failure_reason=reason)
    preauth_state.transition(preauth_id, "withdraw", if_attempt=attempt, finished_at=now, **values)
    preauth_state.record(preauth_id, "cancelled", None, reason=reason)
    db.session.commit()
    return HoldRun.CANCELLED


def _no_hold_needed(preauth_id: int, attempt: int, now: datetime) -> HoldRun:
    """$0 to hold (a $0 copay, free services): finished as not_needed, which is recorded."""
    preauth_state.transition(
        preauth_id, "skip", if_attempt=attempt, amount_cents=0, finished_at=now
    )
    preauth_state.record(preauth_id, "not_needed", None, reason="The amount to hold is $0.00.")
    db.session.commit()
    return HoldRun.NOT_NEEDED


def place_hold(preauth_id: int, attempt: int, *, can_retry: bool = False, now=None) -> HoldRun:
    """The job's work (see the module's steps): what this run did (its text is the RQ
    job's result).

    Raises:
        TransientGatewayError: the gateway did not answer and RQ may retry (`can_retry`);
            the row is back to scheduled and marked for a check.
    """
    now = now or utcnow()
    # 1. Claim.
    claimed = preauth_state.transition(
        preauth_id, "claim", if_attempt=attempt, processing_started_at=now
    )
    db.session.commit()
    if not claimed:
        return HoldRun.NOT_SCHEDULED
    row = db.session.get(PreAuthorization, preauth_id)
    encounter = row.encounter
    if encounter.status in preauth_state.CANCELLING_STATUSES:
        return _withdraw(preauth_id, attempt, now)
    # 2. Holds this attempt may already have (a lost answer) or earlier ones left.
    rerun = row.amount_cents is not None  # this attempt reached the gateway before
    if hold_checks.may_have_holds(row) and (
        not rerun or not current_gateway().replays_idempotency_keys
    ):
        found = hold_checks.check(
            preauth_id, found_by="a new attempt", wants_hold=True, now=now, owns_processing=True
        )
        if found.adopted is not None:
            return HoldRun.ADOPTED
        db.session.refresh(row)
    # 3–4. Amount and card: fixed on the row before the gateway is called, so a rerun
    # of this attempt (after a crash or a transient error) asks for the very same hold.
    client = encounter.client
    if row.amount_cents is not None and row.card is not None:
        amount, card = row.amount_cents, row.card
    else:
        amount = preauth_state.current_amount(encounter)
        if amount == 0:
            return _no_hold_needed(preauth_id, attempt, now)
        card = preauth_state.default_card(client.id)
        problem = _card_refusal(card, client, row.organization_id, now)
        if problem:
            code, reason = problem
            return _fail(preauth_id, attempt, code, reason, card=card, amount=amount)
        _fix_amount_and_card(preauth_id, attempt, amount, card)
    return _ask_gateway(row, attempt, client, card, amount, can_retry=can_retry, now=now)


def _ask_gateway(
    row: PreAuthorization, attempt: int, client, card, amount: int, *, can_retry: bool, now
) -> HoldRun:
    """Steps 5–6: the hold at the gateway with the attempt's idempotency key, and its
    outcome written on the row."""
    preauth_id = row.id
    try:
        hold = current_gateway().place_hold(
            customer_id=client.gateway_customer_id,
            payment_method_id=card.gateway_payment_method_id,
            amount_cents=amount,
            reference=preauth_state.job_id(preauth_id, attempt),
            idempotency_key=idempotency_key("preauth", preauth_id, attempt, "hold"),
            organization_id=row.organization_id,
        )
    except PermanentGatewayError as error:
        reason = hold_rules.staff_message(error.code, error.message)
        return _fail(preauth_id, attempt, error.code, reason, card=card, amount=amount)
    except TransientGatewayError as error:
        return _after_transient(preauth_id, attempt, error, card, amount, can_retry, now)
    if hold.status != "requires_capture":
        reason = f"The card processor answered with status {hold.status!r} instead of a hold."
        return _fail(preauth_id, attempt, "unexpected_status", reason, card=card, amount=amount)
    return _record_held(preauth_id, attempt, hold, card, now)


def _after_transient(preauth_id, attempt, error, card, amount, can_retry: bool, now) -> HoldRun:
    """The hold call got no answer: the hold may exist. Retry later (marked for a
    check), or on the last try ask the gateway before writing failed."""
    if can_retry:
        preauth_state.transition(
            preauth_id,
            "unclaim",
            if_attempt=attempt,
            processing_started_at=None,
            gateway_check_due=True,
        )
        db.session.commit()
        raise error
    found = hold_checks.check(
        preauth_id, found_by="writing failed", wants_hold=True, now=now, owns_processing=True
    )
    if found.adopted is not None:
        return HoldRun.ADOPTED
    reason = f"The card processor could not be reached ({error.message}). Retry once it is back."
    return _fail(
        preauth_id, attempt, preauth_rules.GATEWAY_UNAVAILABLE, reason, card=card, amount=amount
    )


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
    connection = redis_connection()
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
        jobs = Job.fetch_many([preauth_state.job_id(r.id, r.attempt) for r in rows], connection)
        for row, job in zip(rows, jobs, strict=True):
            if job_will_run(job, now):
                continue
            if job is not None:
                job.delete()
            if preauth_state.enqueue(row.id, row.attempt, row.run_at, now):
                report.enqueued.append(row.id)  # Redis away: the next sweep tries again


def _settle_stuck(report: SweepReport, now: datetime) -> None:
    """Rows left in processing (a killed worker): ask the gateway (hold_checks) for
    every hold of the row; this attempt's live hold is adopted, others released."""
    minutes = current_app.config["PREAUTH_STUCK_MINUTES"]
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
        found = hold_checks.check(
            row_id, found_by="the sweeper", wants_hold=True, now=now, owns_processing=True
        )
        if not found.reached:
            log.warning("gateway unreachable while settling pre-authorization %s", row_id)
            report.unreachable.append(row_id)
        elif found.adopted is not None:
            report.settled_held.append(row_id)
        elif attempt in found.seen:
            status = found.seen[attempt]
            reason = f"The card processor reports the hold as {status!r}."
            if _fail(row_id, attempt, "unexpected_status", reason) == HoldRun.FAILED:
                report.settled_failed.append(row_id)
        elif preauth_state.transition(
            row_id, "unclaim", if_attempt=attempt, processing_started_at=None
        ):
            # Never placed: run it again. The same attempt means the same idempotency
            # key, so if the gateway did place it after all, it answers with that hold.
            preauth_state.record(row_id, "requeued", None, reason="No hold found at the gateway.")
            db.session.commit()
            preauth_state.drop_job(row_id, attempt)  # the dead worker's job, from every registry
            preauth_state.enqueue(row_id, attempt, run_at, now)
            report.requeued.append(row_id)
        db.session.rollback()


# --- webhook events ---------------------------------------------------------------------


class WebhookRefused(Refused):
    """A signed gateway event we will not act on (malformed, or dated in the future)."""

    status = 400


class GatewayUnavailable(Exception):
    """The gateway could not be asked about the event's object: answer so that the
    sender delivers it again later (nothing was recorded)."""


# 9999-12-31T23:59:59Z: a later `created` cannot be a date at all.
LATEST_EVENT_TIMESTAMP = 253_402_300_799


def _event_fields(event) -> tuple[str, str, int, dict]:
    """(id, type, created, data.object) of a verified event, or WebhookRefused."""
    try:
        event_id, event_type, created = event["id"], event["type"], event["created"]
        obj = event["data"]["object"]
    except (KeyError, TypeError) as error:
        raise WebhookRefused(f"The event lacks {error}.") from None
    obj = obj.to_dict() if hasattr(obj, "to_dict") else obj
    if not isinstance(event_id, str) or not isinstance(event_type, str):
        raise WebhookRefused("The event's id and type must be text.")
    if not isinstance(created, int) or isinstance(created, bool) or not isinstance(obj, dict):
        raise WebhookRefused("The event's date or object is malformed.")
    if not 0 <= created <= LATEST_EVENT_TIMESTAMP:
        raise WebhookRefused("The event's date is out of range.")
    return event_id, event_type, created, obj


def handle_gateway_event(event, now: datetime | None = None) -> str:
    """Apply a verified gateway event once; a redelivery changes nothing.

    The message is a hint, never the truth:
    1. an event dated more than EVENT_CLOCK_TOLERANCE in the future is refused
       (WebhookRefused), as is a malformed one;
    2. `payment_intent.canceled`: the intent is read again from the gateway; only
       when the gateway says it is canceled, and it belongs to the pre-authorization
       that tracks it in the organization and for the customer the gateway names,
       does a held row become expired (billers notified, Reschedule offered);
    3. other events are recorded and ignored.

    Raises:
        WebhookRefused: a malformed event, or one dated in the future.
        GatewayUnavailable: the gateway cannot be asked (nothing recorded).
    """
    now = now or utcnow()
    event_id, event_type, created, obj = _event_fields(event)
    if datetime.fromtimestamp(created, UTC).replace(tzinfo=None) > now + EVENT_CLOCK_TOLERANCE:
        raise WebhookRefused("The event is dated in the future.")
    db.session.add(GatewayEvent(event_id=event_id[:100], event_type=event_type[:100]))
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        return "duplicate"
    outcome = "ignored"
    if event_type == "payment_intent.canceled":
        outcome = _hold_lapsed(obj, now)
    db.session.commit()
    return outcome


def _hold_lapsed(intent: dict, now: datetime) -> str:
    reference = intent.get("id")
    if not isinstance(reference, str) or not reference:
        return "ignored"
    try:
        hold = current_gateway().get_hold(reference)
    except GatewayError as error:
        db.session.rollback()
        raise GatewayUnavailable(error.message) from error
    if hold is None or hold.status != "canceled":
        return "ignored"  # the gateway does not know it, or still holds the money
    row = db.session.scalar(
        select(PreAuthorization).where(PreAuthorization.gateway_reference == hold.reference)
    )
    if row is None or row.state != HELD:
        return "ignored"  # not ours, or released or charged by us: nothing lapsed
    if hold.organization_id not in (None, row.organization_id) or (
        hold.customer_id not in (None, row.encounter.client.gateway_customer_id)
    ):
        log.warning("event for %s names another organization or customer", reference)
        return "ignored"
    return "expired" if hold_checks.expire(row, "the gateway let it go", now) else "ignored"
