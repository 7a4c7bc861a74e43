"""What the encounter page's Billing panel shows and offers, read in one place."""

from dataclasses import dataclass

from sqlalchemy import select

from webapp.domain import billing_rules, preauth_rules
from webapp.domain.authorization_rules import UPCOMING
from webapp.domain.hold_rules import HoldMoney
from webapp.extensions import db
from webapp.models import AutomationRun, Encounter, Payment, PreAuthorization
from webapp.services import automations, invoices, preauth, pricing
from webapp.services.preauth_notice import hold_money

CANCELLED_STATUSES = frozenset(billing_rules.STATUS_FOR_DISPOSITION.values())
SETTLED = (preauth_rules.CHARGED, preauth_rules.RELEASED)


@dataclass
class BillingPanel:
    encounter: Encounter
    preauth: PreAuthorization | None
    invoice: invoices.InvoiceSummary | None
    run: AutomationRun | None
    pending_payments: int
    cost_cents: int
    fee_cents: int
    invoice_refusal: str | None
    money: HoldMoney | None = None  # a charged or released hold: what became of it
    pending_release_cents: int = 0  # only releases under way (a moved or renewed hold)
    per_unit: bool = False  # a timed service priced per unit is on the visit

    @property
    def state(self) -> str | None:
        return self.preauth.state if self.preauth else None

    @property
    def held(self) -> bool:
        return self.state == preauth_rules.HELD

    @property
    def can_close(self) -> bool:
        return self.encounter.status == UPCOMING

    @property
    def invoice_blocked_by_hold(self) -> bool:
        """The pre-authorization notification already shows Create invoice disabled."""
        amount = (
            pricing.hold_amount(self.encounter) if self.state == preauth_rules.SCHEDULED else None
        )
        return preauth_rules.invoice_refusal(self.state, amount) is not None

    @property
    def can_create_invoice(self) -> bool:
        return self.invoice is None and self.invoice_refusal is None

    @property
    def can_charge_fee(self) -> bool:
        fee_taken = self.invoice is not None and self.invoice.invoice.kind == invoices.CANCELLATION
        return (
            self.encounter.status in CANCELLED_STATUSES
            and self.fee_cents > 0
            and not fee_taken
            and (self.held or self.invoice is None)
        )

    @property
    def run_heading(self) -> str:
        """'Encounter Cancelled · Late cancellation'"""
        text = billing_rules.EVENT_LABELS.get(self.run.event, self.run.event)
        if self.run.disposition:
            text += f" · {billing_rules.DISPOSITION_LABELS.get(self.run.disposition, '')}"
        return text

    @property
    def run_status_label(self) -> str:
        return automations.RUN_STATUS_LABELS.get(self.run.status, self.run.status)

    @property
    def working(self) -> bool:
        """Something is still happening: the page polls the panel."""
        unfinished = self.run is not None and self.run.status in automations.UNFINISHED
        return unfinished or self.pending_payments > 0


def panel(encounter: Encounter) -> BillingPanel:
    invoice = invoices.for_encounter(encounter.id)
    row = preauth.for_encounter(encounter.id)
    pending = db.session.scalars(
        select(Payment).where(
            Payment.encounter_id == encounter.id, Payment.status == invoices.PENDING
        )
    ).all()
    return BillingPanel(
        encounter=encounter,
        preauth=row,
        invoice=invoices.summarize(invoice) if invoice else None,
        run=automations.latest_run(encounter.id),
        pending_payments=len(pending),
        pending_release_cents=(
            sum(p.amount_cents for p in pending)
            if pending and all(p.kind == billing_rules.HOLD_RELEASE for p in pending)
            else 0
        ),
        cost_cents=pricing.cost_total(encounter),
        fee_cents=pricing.fee_total(encounter),
        invoice_refusal=invoices.manual_invoice_refusal(encounter),
        money=hold_money(row) if row is not None and row.state in SETTLED else None,
        per_unit=any(line.service_type.unit_minutes for line in encounter.lines),
    )
