"""Refunds (whole or part, with a reason) and voids (an invoice with nothing paid).

A refund moves money exactly once, under double clicks, retries and crashes:
1. the claim (one transaction): the invoice row is updated first, which serializes
   every claim on the invoice, so what is read after it is current; the refund is
   checked (`ledger.refund_refusal`: what is left to refund counts refunds made and
   under way); a pending `refund` Payment is written with the idempotency key
   `covered-payment-<payment id>-refund-<token>`, where the token was issued with
   the dialog: a second click of the same dialog carries the same token and meets the
   unique key (nothing more is refunded), a new dialog is a new refund; and the audit
   record (who, how much, why);
2. the gateway is called with that key (`settlement.carry_out`); a lost answer
   leaves the row pending for the settle job, which asks the gateway for a refund
   carrying the key before it refunds (localstripe ignores keys);
3. the gateway's fees are not returned on a refund (Stripe keeps them): the invoice
   shows them apart.
A void is a compare-and-set on the invoice (open → void) that no payment made or
under way may race: charges of the balance update the same row first. Nothing moves
at the gateway for a void (no money was taken), so there is no gateway call.
"""

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from webapp.domain import billing_rules
from webapp.extensions import db
from webapp.models import Invoice, Payment, User
from webapp.models.base import utcnow
from webapp.services import audit, invoices, settlement
from webapp.services.errors import Refused
from webapp.services.settlement import Outcome

TOKEN = re.compile(r"^[0-9a-f]{32}$")


class RefundRefused(Refused):
    """The refund or void does not apply; nothing was changed."""


@dataclass
class RefundPreview:
    """What the Refund dialog shows: the payment, what is left to refund, the fee."""

    payment: Payment
    refunded_cents: int  # made or under way
    refusal: str | None

    @property
    def refundable_cents(self) -> int:
        return max(0, self.payment.amount_cents - self.refunded_cents)


def refunds_of(payment: Payment) -> list[Payment]:
    """The refunds of a payment that count: made, or under way."""
    return db.session.scalars(
        select(Payment)
        .where(
            Payment.refund_of_id == payment.id,
            Payment.kind == billing_rules.REFUND,
            Payment.status != invoices.FAILED,
        )
        .order_by(Payment.id)
    ).all()


def preview(payment: Payment) -> RefundPreview:
    refunded = sum(p.amount_cents for p in refunds_of(payment))
    left = payment.amount_cents - refunded
    refusal = billing_rules.refund_refusal(
        kind=payment.kind,
        status=payment.status,
        reference=payment.gateway_reference,
        amount_cents=left,
        refundable_cents=left,
        reason="(checked on saving)",
    )
    return RefundPreview(payment, refunded, refusal)


def _lock(invoice_id: int) -> None:
    """Update the invoice row first: every claim on the invoice waits for this one."""
    db.session.execute(
        update(Invoice).where(Invoice.id == invoice_id).values(status=Invoice.status),
        execution_options={"synchronize_session": False},
    )


def refund(
    payment: Payment,
    amount_cents: int | None,
    reason: str | None,
    note: str | None,
    token: str,
    *,
    actor: User,
    now: datetime | None = None,
) -> Outcome:
    """Refund `amount_cents` of `payment` to the card it came from (see the module).

    `reason` is a key of `ledger.REFUND_REASONS`, `note` free text (≤ 200 characters),
    `token` the dialog's.

    Raises:
        RefundRefused: the refund does not apply (with the form field at fault, if any).
    """
    now = now or utcnow()
    if not TOKEN.match(token or ""):
        raise RefundRefused("This form has expired. Close it and open Refund again.")
    if reason not in billing_rules.REFUND_REASONS:
        reason = None
    invoice = payment.invoice
    if invoice.encounter is None:
        raise RefundRefused(
            "This invoice's appointment was deleted; refund it at the card processor."
        )
    _lock(invoice.id)
    db.session.refresh(payment)
    found = preview(payment)
    problem = billing_rules.refund_refusal(
        kind=payment.kind,
        status=payment.status,
        reference=payment.gateway_reference,
        amount_cents=amount_cents,
        refundable_cents=found.refundable_cents,
        reason=reason,
    )
    if problem:
        db.session.rollback()
        raise RefundRefused(problem, _field_of(problem))
    row = _pending_refund(payment, amount_cents, reason, note, token, actor=actor, now=now)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise RefundRefused(
            "This refund was already made (the button was pressed twice)."
        ) from None
    return settlement.carry_out(invoice.encounter, [row.id], now)


def _pending_refund(
    payment: Payment, amount_cents: int, reason: str, note: str | None, token: str, *, actor, now
) -> Payment:
    """The pending refund row (its key from the payment and the dialog's token) and its
    audit record; the caller commits."""
    why = billing_rules.REFUND_REASONS[reason] + (
        f": {note.strip()}" if note and note.strip() else ""
    )
    row = Payment(
        organization_id=payment.organization_id,
        client_id=payment.client_id,
        encounter_id=payment.encounter_id,
        invoice_id=payment.invoice.id,
        kind=billing_rules.REFUND,
        amount_cents=amount_cents,
        idempotency_key=f"covered-payment-{payment.id}-refund-{token}",
        refund_of_id=payment.id,
        reason=why[:300],
        status=invoices.PENDING,
        attempted_at=now,
        created_by_id=actor.id,
    )
    db.session.add(row)
    audit.record(
        organization_id=payment.invoice.organization_id,
        user_id=actor.id,
        action="payment.refunded",
        row=payment.invoice,
        after={"payment": payment.id, "amount_cents": amount_cents, "key": row.idempotency_key},
        reason=why[:500],
    )
    return row


def _field_of(problem: str) -> str | None:
    if "amount" in problem.lower() or "at most" in problem.lower():
        return "amount"
    if "why" in problem.lower():
        return "reason"
    return None


def void_preview(invoice: Invoice) -> str | None:
    """Why the invoice cannot be voided now, or None."""
    summary = invoices.summarize(invoice)
    return billing_rules.void_refusal(invoice.status, summary.paid_cents, summary.pending_cents)


def void(invoice: Invoice, reason: str | None, *, actor: User, now: datetime | None = None):
    """Void an open invoice on which nothing was paid: compare-and-set open → void, with
    the reason and who.

    Raises:
        RefundRefused: no reason, money on the invoice, or someone changed it (nothing
            changed).
    """
    now = now or utcnow()
    reason = (reason or "").strip()
    if not reason:
        raise RefundRefused("Say why the invoice is void.", "reason")
    before = audit.snapshot(invoice)
    _lock(invoice.id)
    db.session.expire(invoice)
    problem = void_preview(invoice)
    if problem:
        db.session.rollback()
        raise RefundRefused(problem)
    won = db.session.execute(
        update(Invoice)
        .where(Invoice.id == invoice.id, Invoice.status == billing_rules.INVOICE_OPEN)
        .values(
            status=billing_rules.INVOICE_VOID,
            void_reason=reason[:300],
            voided_by_id=actor.id,
            voided_at=now,
        ),
        execution_options={"synchronize_session": False},
    ).rowcount
    if won != 1:
        db.session.rollback()
        raise RefundRefused("Someone changed this invoice a moment ago. Reload the page.")
    db.session.refresh(invoice)
    audit.record(
        organization_id=invoice.organization_id,
        user_id=actor.id,
        action="invoice.voided",
        row=invoice,
        before=before,
        after=audit.snapshot(invoice),
        reason=reason[:500],
    )
    db.session.commit()
