"""Invoices: what an encounter cost and the payments against it.

One invoice per encounter (a unique constraint backs the check, so two people
creating one at the same moment get one invoice and one clear message). A person
creates one by hand only when no pre-authorization is scheduled, processing or
held for the encounter; Charge and the cancellation-fee automation write theirs
through `write_for_encounter`.
"""

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from webapp.domain import billing_rules
from webapp.domain.hold_rules import HoldMoney
from webapp.domain.preauth_rules import invoice_refusal
from webapp.extensions import db
from webapp.models import (
    Encounter,
    Invoice,
    InvoiceLine,
    Payment,
    PreAuthorization,
    User,
)
from webapp.services import audit, pricing
from webapp.services.errors import Refused

VISIT, CANCELLATION = "visit", "cancellation_fee"
SUCCEEDED, PENDING, FAILED = "succeeded", "pending", "failed"


class InvoiceRefused(Refused):
    """A Create invoice that cannot happen; nothing was written. `invoice` is the
    encounter's invoice that stands in the way, when there is one."""

    def __init__(self, message: str, invoice: Invoice | None = None):
        super().__init__(message)
        self.invoice = invoice


# What an encounter costs lives in services.pricing; these names stay for callers.
service_charges = pricing.service_charges
cost_lines = pricing.cost_lines
cost_total = pricing.cost_total
fee_lines = pricing.fee_lines


def for_encounter(encounter_id: int) -> Invoice | None:
    return db.session.scalar(select(Invoice).where(Invoice.encounter_id == encounter_id))


def preauth_state(encounter_id: int) -> str | None:
    return db.session.scalar(
        select(PreAuthorization.state).where(PreAuthorization.encounter_id == encounter_id)
    )


def hold_block(encounter: Encounter) -> str | None:
    """Why the pre-authorization stops a manual invoice now (None: it does not)."""
    state = preauth_state(encounter.id)
    amount = pricing.hold_amount(encounter) if state == "scheduled" else None
    return invoice_refusal(state, amount)


def manual_invoice_refusal(encounter: Encounter) -> str | None:
    """Why Create invoice is refused for this encounter now, or None."""
    existing = for_encounter(encounter.id)
    if existing is not None:
        return f"This appointment already has invoice {existing.number}; open it instead."
    if not encounter.lines:
        return "The appointment has no services to invoice. Add a service first."
    return hold_block(encounter)


def create_manual(encounter: Encounter, *, actor: User) -> Invoice:
    """Create the encounter's invoice by hand (open, nothing paid).

    Raises:
        InvoiceRefused: `manual_invoice_refusal` says why, or the invoice was created
            a moment ago (`invoice` is that one).
    """
    refusal = manual_invoice_refusal(encounter)
    if refusal:
        raise InvoiceRefused(refusal, for_encounter(encounter.id))
    invoice = _new_invoice(encounter, cost_lines(encounter), VISIT, actor)
    audit.record(
        organization_id=encounter.organization_id,
        user_id=actor.id,
        action="invoice.created",
        row=invoice,
        after={**audit.snapshot(invoice), "lines": _line_snapshot(invoice)},
    )
    try:
        db.session.commit()
    except IntegrityError:
        # Someone created it (or a charge did) a moment ago: one invoice per encounter.
        db.session.rollback()
        existing = for_encounter(encounter.id)
        raise InvoiceRefused(
            f"This appointment already has invoice {existing.number if existing else ''}; "
            "it was created a moment ago.",
            existing,
        ) from None
    return invoice


def write_for_encounter(
    encounter: Encounter, lines: list[billing_rules.Line], kind: str, actor: User | None
) -> Invoice:
    """The encounter's invoice with these lines, for a charge (the caller commits).

    An invoice made by hand earlier (say after a release, before a new hold) is
    reused and its lines replaced, as long as nothing was paid on it.

    Raises:
        InvoiceRefused: the encounter's invoice already has money on it.
    """
    invoice = for_encounter(encounter.id)
    if invoice is None:
        return _new_invoice(encounter, lines, kind, actor)
    if any(
        p.status != FAILED and p.kind in billing_rules.COLLECTING_KINDS for p in invoice.payments
    ):
        raise InvoiceRefused(
            f"Invoice {invoice.number} of this appointment already has payments; "
            "nothing was charged.",
            invoice,
        )
    if invoice.status == billing_rules.INVOICE_VOID:
        audit.record(
            organization_id=invoice.organization_id,
            user_id=actor.id if actor else None,
            action="invoice.reopened",
            row=invoice,
            before=audit.snapshot(invoice),
            reason="A charge of the appointment reopened the voided invoice, nothing paid on it.",
        )
    invoice.lines.clear()
    db.session.flush()
    invoice.lines.extend(_rows(lines))
    invoice.total_cents = billing_rules.total(lines)
    invoice.kind = kind
    invoice.status = billing_rules.INVOICE_OPEN
    return invoice


def _new_invoice(encounter: Encounter, lines, kind: str, actor: User | None) -> Invoice:
    invoice = Invoice(
        organization_id=encounter.organization_id,
        client_id=encounter.client_id,
        encounter_id=encounter.id,
        total_cents=billing_rules.total(lines),
        status=billing_rules.INVOICE_PAID
        if billing_rules.total(lines) == 0
        else billing_rules.INVOICE_OPEN,
        kind=kind,
        created_by_id=actor.id if actor else None,
        lines=_rows(lines),
    )
    db.session.add(invoice)
    db.session.flush()
    return invoice


def _rows(lines: list[billing_rules.Line]) -> list[InvoiceLine]:
    return [
        InvoiceLine(
            service_type_id=line.service_type_id,
            description=line.description[:300],
            quantity=line.quantity,
            unit_price_cents=line.unit_price,
            amount_cents=line.amount_cents,
        )
        for line in lines
    ]


def _line_snapshot(invoice: Invoice) -> list[dict]:
    return [
        {
            "description": ln.description,
            "quantity": ln.quantity,
            "unit_price_cents": ln.unit_price_cents,
            "amount_cents": ln.amount_cents,
        }
        for ln in invoice.lines
    ]


def movements(payments) -> list[billing_rules.Movement]:
    """Settled payments as the ledger rules see them (pending and failed do not count)."""
    return [
        billing_rules.Movement(p.kind, p.amount_cents, p.from_hold)
        for p in payments
        if p.status == SUCCEEDED
    ]


def refresh_status(invoice: Invoice) -> None:
    if invoice.status != billing_rules.INVOICE_VOID:
        invoice.status = billing_rules.invoice_status(
            invoice.total_cents, movements(invoice.payments)
        )


# --- what the pages show -----------------------------------------------------------------


@dataclass
class InvoiceSummary:
    """What an invoice was paid (before refunds), given back, let go of from a hold,
    what is being charged, and what the gateway kept in fees. All cents."""

    invoice: Invoice
    paid_cents: int
    released_cents: int
    pending_cents: int
    problem: str | None
    refunded_cents: int = 0
    fee_cents: int = 0
    fees_unknown: bool = False  # a payment whose fee the gateway did not report

    @property
    def due_cents(self) -> int:
        if self.invoice.status == billing_rules.INVOICE_VOID:
            return 0
        return max(0, self.invoice.total_cents - self.paid_cents - self.pending_cents)

    @property
    def kept_cents(self) -> int:
        """Paid less refunded: what the client paid and did not get back."""
        return self.paid_cents - self.refunded_cents

    @property
    def net_cents(self) -> int:
        """What the practice receives: kept less the gateway's fees."""
        return self.kept_cents - self.fee_cents


def hold_money(invoice: Invoice):
    """What the invoice's payments took from a hold and let go of it (None: no hold)."""
    from_hold = [p for p in invoice.payments if p.from_hold and p.status == SUCCEEDED]
    if not from_hold:
        return None
    captured = sum(p.amount_cents for p in from_hold if p.kind in billing_rules.COLLECTING_KINDS)
    released = sum(p.amount_cents for p in from_hold if p.kind == billing_rules.HOLD_RELEASE)
    extra = sum(
        p.amount_cents
        for p in invoice.payments
        if not p.from_hold
        and p.status == SUCCEEDED
        and p.kind in (billing_rules.ADDITIONAL_CHARGE, billing_rules.CANCELLATION_FEE)
    )
    return HoldMoney(captured + released, captured, released, extra)


def summarize(invoice: Invoice) -> InvoiceSummary:
    settled = movements(invoice.payments)
    pending = sum(
        p.amount_cents
        for p in invoice.payments
        if p.status == PENDING and p.kind in billing_rules.COLLECTING_KINDS
    )
    charged = [
        p
        for p in invoice.payments
        if p.status == SUCCEEDED and p.kind in billing_rules.COLLECTING_KINDS
    ]
    return InvoiceSummary(
        invoice=invoice,
        paid_cents=billing_rules.gross_paid(settled),
        refunded_cents=billing_rules.refunded(settled),
        fee_cents=sum(p.fee_cents or 0 for p in charged),
        fees_unknown=any(p.fee_cents is None for p in charged),
        released_cents=sum(m.amount_cents for m in settled if m.kind == billing_rules.HOLD_RELEASE),
        pending_cents=pending,
        problem=billing_rules.invoice_mismatch(invoice.total_cents, invoice.status, settled),
    )


def client_invoices(client_id: int) -> list[InvoiceSummary]:
    invoices = db.session.scalars(
        select(Invoice)
        .where(Invoice.client_id == client_id)
        .options(
            selectinload(Invoice.payments),
            selectinload(Invoice.encounter).selectinload(Encounter.lines),
        )
        .order_by(Invoice.created_at.desc(), Invoice.id.desc())
    ).all()
    return [summarize(invoice) for invoice in invoices]


def client_releases(client_id: int) -> list[Payment]:
    """Holds let go without an invoice (Release Hold, or a release-only automation)."""
    return db.session.scalars(
        select(Payment)
        .where(
            Payment.client_id == client_id,
            Payment.invoice_id.is_(None),
            Payment.kind == billing_rules.HOLD_RELEASE,
        )
        .order_by(Payment.created_at.desc())
    ).all()
