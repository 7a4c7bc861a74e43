"""Carrying out a claim's pending payments at the gateway, and settling what a
crash or a timeout left pending (see `services.charges` for the claim).

- Each pending Payment row carries its idempotency key; the gateway is called with
  it, and the row is marked succeeded (with the gateway's reference) or failed by
  a compare-and-set on `status = 'pending'`.
- A capture lets the rest of the hold go at the gateway, so a pending release of
  the same hold is settled by the same call.
- A transient error leaves the rest pending and enqueues the settle job.
- `settle_encounter` takes over rows untouched for STALE_AFTER (compare-and-set
  on `attempted_at`, so one settler at a time) and replays them with the same
  keys, asking the gateway for the hold's status first: a capture or release
  that already happened is recorded, not repeated, even on a gateway that
  ignores idempotency keys (localstripe).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update

from webapp.domain import billing_rules, hold_rules, preauth_rules
from webapp.domain.money import format_cents
from webapp.extensions import db
from webapp.models import Encounter, Payment, PaymentCard, PreAuthorization
from webapp.models.base import utcnow
from webapp.payments import current_gateway
from webapp.payments.gateway import PermanentGatewayError, TransientGatewayError
from webapp.services import audit, invoices, preauth_state

STALE_AFTER = timedelta(minutes=2)  # well past a gateway call's timeout (20 s, 2 retries)


class InProgress(TransientGatewayError):
    """Someone else is settling these payments right now; try again shortly."""

    def __init__(self, message: str = "A charge of this appointment is in progress."):
        super().__init__(message, "in_progress")


@dataclass
class Outcome:
    message: str
    level: str = "success"  # success | warning | danger (a flash category)
    invoice_id: int | None = None
    pending: bool = False  # left for the settle job (the gateway did not answer)


def card_for(encounter: Encounter, row: PreAuthorization | None) -> PaymentCard | None:
    """The hold's card if it is still on file, else the client's default card."""
    if row is not None and row.card is not None:
        return row.card
    return preauth_state.default_card(encounter.client_id)


def card_to_charge(encounter: Encounter, payment_kind: str) -> PaymentCard | None:
    """The card a charge goes to: a balance payment to the client's default card (the
    one a person chose after a decline); any other to the hold's card, as above."""
    if payment_kind == billing_rules.BALANCE_PAYMENT:
        return preauth_state.default_card(encounter.client_id)
    return card_for(encounter, preauth_state.for_encounter(encounter.id))


def _pending(encounter_id: int) -> list[Payment]:
    return db.session.scalars(
        select(Payment)
        .where(Payment.encounter_id == encounter_id, Payment.status == invoices.PENDING)
        .order_by(Payment.id)
    ).all()


# --- carrying out pending payments ----------------------------------------------------


def carry_out(
    encounter: Encounter, payment_ids: list[int], now: datetime, *, replay: bool = False
) -> Outcome:
    """Call the gateway for each pending row (ours by claim or take-over), write the
    results. `replay`: an earlier process may have reached the gateway already."""
    payments = [db.session.get(Payment, pid) for pid in payment_ids]
    done: list[Payment] = []
    try:
        for payment in payments:
            if payment.status == invoices.PENDING:
                _perform(encounter, payment, now, replay)
            done.append(payment)
    except TransientGatewayError as error:
        db.session.commit()  # keep what went through; the rest stays pending
        _enqueue_settle(encounter.id)
        return Outcome(
            f"The card processor did not answer ({error.message}). Covered will finish this "
            "in the background with the same request, so nothing is charged twice.",
            "warning",
            _invoice_id(payments),
            pending=True,
        )
    except _ClaimUndone as undone:
        db.session.commit()
        return Outcome(undone.message, "danger", undone.invoice_id)
    _refresh_invoices(payments)
    db.session.commit()
    return Outcome(_summary(payments), _level(payments), _invoice_id(payments))


class _ClaimUndone(Exception):
    def __init__(self, message: str, invoice_id: int | None):
        super().__init__(message)
        self.message = message
        self.invoice_id = invoice_id


def _invoice_id(payments) -> int | None:
    return next((p.invoice_id for p in payments if p.invoice_id), None)


def _perform(encounter: Encounter, payment: Payment, now: datetime, replay: bool) -> None:
    if payment.kind == billing_rules.REFUND:
        _refund(payment, now, replay)
    elif payment.from_hold and payment.kind in billing_rules.COLLECTING_KINDS:
        _capture(payment, now, replay)
    elif payment.from_hold:
        _release(payment, now, replay)
    else:
        _charge_card(encounter, payment, now, replay)


def _hold_of(payment: Payment) -> PreAuthorization:
    return db.session.get(PreAuthorization, payment.pre_authorization_id)


def _hold_reference(payment: Payment, row: PreAuthorization) -> str:
    """The hold a payment takes from (or lets go): written on the payment when it was
    claimed, since the row may have moved on to a new attempt (a move, a renewal)."""
    return payment.gateway_reference or row.gateway_reference


def _gateway_hold_status(reference: str) -> str | None:
    """The hold's status at the gateway, read by its id (`pi_…`): None if unknown."""
    found = current_gateway().get_hold(reference)
    return found.status if found else None


def _succeed(payment: Payment, reference: str | None, now: datetime, fee: int | None = None):
    db.session.execute(
        update(Payment)
        .where(Payment.id == payment.id, Payment.status == invoices.PENDING)
        .values(
            status=invoices.SUCCEEDED, gateway_reference=reference, settled_at=now, fee_cents=fee
        ),
        execution_options={"synchronize_session": False},
    )
    db.session.refresh(payment)


def _fail(payment: Payment, reason: str, now: datetime) -> None:
    db.session.execute(
        update(Payment)
        .where(Payment.id == payment.id, Payment.status == invoices.PENDING)
        .values(status=invoices.FAILED, failure_reason=reason[:500], settled_at=now),
        execution_options={"synchronize_session": False},
    )
    db.session.refresh(payment)


def _siblings(payment: Payment, kind: str) -> list[Payment]:
    return db.session.scalars(
        select(Payment).where(
            Payment.pre_authorization_id == payment.pre_authorization_id,
            Payment.hold_attempt == payment.hold_attempt,
            Payment.kind == kind,
            Payment.status == invoices.PENDING,
        )
    ).all()


def _capture(payment: Payment, now: datetime, replay: bool) -> None:
    """Capture from the hold; the gateway lets the rest go, so a pending release of
    the same hold is settled by the same call."""
    row = _hold_of(payment)
    reference = _hold_reference(payment, row)
    status = _gateway_hold_status(reference) if replay else "requires_capture"
    fee = None
    if status == "succeeded":
        pass  # captured before; the answer was lost
    elif status != "requires_capture":
        _undo_claim(row, "The hold is no longer there to capture.", status)
    else:
        reference, fee = _capture_call(row, payment, reference)
    _succeed(payment, reference, now, fee)
    for sibling in _siblings(payment, billing_rules.HOLD_RELEASE):
        _succeed(sibling, reference, now)


def _capture_call(row: PreAuthorization, payment: Payment, reference: str):
    try:
        result = current_gateway().capture(
            hold_reference=reference,
            amount_cents=payment.amount_cents,
            idempotency_key=payment.idempotency_key,
        )
    except PermanentGatewayError as error:
        status = _gateway_hold_status(reference)
        if status != "succeeded":  # not captured, and now it cannot be
            _undo_claim(row, hold_rules.staff_message(error.code, error.message), status)
        return reference, None  # captured before; our answer was lost
    return result.reference, result.fee_cents


def _release(payment: Payment, now: datetime, replay: bool) -> None:
    row = _hold_of(payment)
    reference = _hold_reference(payment, row)
    status = _gateway_hold_status(reference) if replay else "requires_capture"
    error_message = "The gateway says this hold was captured, not released."
    if status == "requires_capture":
        try:
            current_gateway().release(
                hold_reference=reference, idempotency_key=payment.idempotency_key
            )
            status = "canceled"
        except PermanentGatewayError as error:
            error_message = hold_rules.staff_message(error.code, error.message)
            status = _gateway_hold_status(reference)
            if status == "requires_capture":
                _undo_claim(row, error_message, status)
    if status == "succeeded":
        _fail(payment, error_message, now)
        return
    _succeed(payment, reference, now)  # canceled: the funds are back


def _charge_card(encounter: Encounter, payment: Payment, now: datetime, replay: bool) -> None:
    card = card_to_charge(encounter, payment.kind)
    customer = encounter.client.gateway_customer_id
    if card is None or not customer:
        _fail(payment, "No card on file for the client.", now)
        return
    gateway = current_gateway()
    if replay:
        # If a gateway that ignores keys already took it, do not ask it again.
        found = gateway.find_hold(payment.idempotency_key)
        if found is not None and found.status in ("succeeded", "processing"):
            _succeed(payment, found.reference, now, found.fee_cents)
            return
    try:
        result = gateway.charge(
            customer_id=customer,
            payment_method_id=card.gateway_payment_method_id,
            amount_cents=payment.amount_cents,
            reference=payment.idempotency_key,
            idempotency_key=payment.idempotency_key,
            organization_id=encounter.organization_id,
        )
    except PermanentGatewayError as error:
        message = hold_rules.staff_message(error.code, error.message)
        _fail(payment, f"{card.label}: {message}", now)
        return
    _succeed(payment, result.reference, now, result.fee_cents)


def _refund(payment: Payment, now: datetime, replay: bool) -> None:
    """Give back (part of) a payment: by the refunded payment's reference, with the
    refund's own key; on a replay, a refund the gateway already made is recorded."""
    original = db.session.get(Payment, payment.refund_of_id)
    gateway = current_gateway()
    if replay:
        found = gateway.find_refund(
            charge_reference=original.gateway_reference, reference=payment.idempotency_key
        )
        if found is not None:
            _succeed(payment, found.reference, now, 0)
            return
    try:
        result = gateway.refund(
            charge_reference=original.gateway_reference,
            amount_cents=payment.amount_cents,
            idempotency_key=payment.idempotency_key,
            reference=payment.idempotency_key,
        )
    except PermanentGatewayError as error:
        _fail(payment, hold_rules.staff_message(error.code, error.message), now)
        return
    _succeed(payment, result.reference, now, result.fee_cents)


def _undo_claim(row: PreAuthorization, reason: str, gateway_status: str | None) -> None:
    """The capture (or release) cannot happen: remove the claim's pending rows and put
    the pre-authorization back (expired when the gateway let the hold go)."""
    db.session.rollback()
    pending = db.session.scalars(
        select(Payment).where(
            Payment.pre_authorization_id == row.id,
            Payment.hold_attempt == row.attempt,
            Payment.status == invoices.PENDING,
        )
    ).all()
    invoice_id = _invoice_id(pending)
    for payment in pending:
        db.session.delete(payment)
    back_to = preauth_rules.EXPIRED if gateway_status == "canceled" else preauth_rules.HELD
    db.session.execute(
        update(PreAuthorization)
        .where(
            PreAuthorization.id == row.id,
            PreAuthorization.state.in_((preauth_rules.CHARGED, preauth_rules.RELEASED)),
            PreAuthorization.attempt == row.attempt,
        )
        .values(state=back_to, finished_at=None if back_to == preauth_rules.HELD else utcnow()),
        execution_options={"synchronize_session": False},
    )
    db.session.refresh(row)
    audit.record(
        organization_id=row.organization_id,
        user_id=None,
        action="preauth.charge_failed",
        row=row,
        after={"gateway_status": gateway_status},
        reason=reason[:500],
    )
    if back_to == preauth_rules.EXPIRED:
        message = (
            f"The card network no longer holds these funds ({reason}); nothing was charged. "
            "Reschedule the pre-authorization or collect the invoice another way."
        )
    else:
        message = f"The card processor refused: {reason} Nothing was charged; the hold is kept."
    raise _ClaimUndone(message, invoice_id)


def _refresh_invoices(payments: list[Payment]) -> None:
    for invoice_id in {p.invoice_id for p in payments if p.invoice_id}:
        invoice = db.session.get(invoices.Invoice, invoice_id)
        db.session.refresh(invoice)
        invoices.refresh_status(invoice)


def _summary(payments: list[Payment]) -> str:
    parts = []
    for p in payments:
        amount = format_cents(p.amount_cents)
        if p.status == invoices.FAILED:
            reason = (p.failure_reason or "").rstrip(".")
            parts.append(f"the {amount} {billing_rules.PAYMENT_KIND_LABELS[p.kind].lower()} "
                         f"failed ({reason})")  # fmt: skip
        elif p.kind == billing_rules.HOLD_RELEASE:
            parts.append(f"released {amount}")
        elif p.kind == billing_rules.REFUND:
            parts.append(f"refunded {amount} to the card")
        elif p.from_hold:
            parts.append(f"captured {amount} from the hold")
        else:
            parts.append(f"charged {amount} to the card")
    text = "; ".join(parts) or "nothing to do"
    return text[0].upper() + text[1:] + "."


def outcome_of_job(owner: str) -> Outcome | None:
    """What the payments written by job `owner` came to, once none is pending (a job
    that died after its claim, finished by the sweep, reports them when re-run)."""
    payments = db.session.scalars(
        select(Payment).where(Payment.claimed_by == owner).order_by(Payment.id)
    ).all()
    if not payments or any(p.status == invoices.PENDING for p in payments):
        return None
    return Outcome(_summary(payments), _level(payments), _invoice_id(payments))


def _level(payments: list[Payment]) -> str:
    return "warning" if any(p.status == invoices.FAILED for p in payments) else "success"


# --- settling what a crash or a timeout left ----------------------------------------


def settle_encounter(
    encounter_id: int, now: datetime | None = None, *, owner: str | None = None
) -> Outcome | None:
    """Finish the encounter's pending payments that nobody is working on.

    None when nothing is pending.

    Raises:
        InProgress: every pending row was touched less than STALE_AFTER ago (its
            owner may still be at the gateway), unless `owner` is the job that wrote
            them: its retry takes them at once.
    """
    now = now or utcnow()
    pending = _pending(encounter_id)
    if not pending:
        return None
    taken = [p.id for p in pending if _take_over(p, now, owner)]
    if not taken:
        raise InProgress()
    db.session.commit()
    encounter = db.session.get(Encounter, encounter_id)
    return carry_out(encounter, taken, now, replay=True)


def _take_over(payment: Payment, now: datetime, owner: str | None) -> bool:
    """Compare-and-set on attempted_at: only one settler takes a stale row (or the
    retry of the job that wrote it)."""
    seen = payment.attempted_at
    own = owner is not None and payment.claimed_by == owner
    if seen is not None and seen > now - STALE_AFTER and not own:
        return False
    result = db.session.execute(
        update(Payment)
        .where(
            Payment.id == payment.id,
            Payment.status == invoices.PENDING,
            Payment.attempted_at.is_(None) if seen is None else Payment.attempted_at == seen,
        )
        .values(attempted_at=now),
        execution_options={"synchronize_session": False},
    )
    return result.rowcount == 1


def stale_encounter_ids(now: datetime | None = None, limit: int = 500) -> list[int]:
    now = now or utcnow()
    return list(
        db.session.scalars(
            select(Payment.encounter_id)
            .where(
                Payment.status == invoices.PENDING,
                Payment.encounter_id.is_not(None),
                or_(Payment.attempted_at.is_(None), Payment.attempted_at <= now - STALE_AFTER),
            )
            .group_by(Payment.encounter_id)
            .limit(limit)
        )
    )


def _enqueue_settle(encounter_id: int) -> None:
    """The settle job, once the payments are stale; the every-minute sweep is the
    safety net (also when Redis is unreachable now)."""
    preauth_state.enqueue_settle(encounter_id, at=utcnow() + STALE_AFTER + timedelta(seconds=5))
