"""Charge, Release Hold and the cancellation fee: each moves money exactly once.

How exactly once holds, whoever acts (a person, a double click, an automation)
and whatever crashes:

1. **Claim** (one transaction): a compare-and-set on the pre-authorization,
   `UPDATE pre_authorizations SET state='charged' WHERE id=? AND state='held'
   AND attempt=?` (or `'released'`), plus the invoice, one *pending* Payment row
   per gateway action carrying its idempotency key
   (`covered-preauth-<id>-<attempt>-capture|release|extra`; unique in the table),
   and the audit record naming who acted. Of two racing claims only one updates
   the row; the other is told who got there first, and when.
2. **Act**: the winner calls the gateway with those keys, then marks each row
   succeeded (with the gateway's reference) or failed, and commits.
3. **Crash between 1 and 2**: the rows stay pending. `settlement.settle_encounter` (the
   retried automation job, the settle job enqueued after a timeout, or the
   every-minute sweep) takes over pending rows older than STALE_AFTER by a
   compare-and-set on `attempted_at`, and replays them with the *same* keys:
   Stripe (and the strict test gateway) answer a replayed key with the first
   result. A capture or release that the gateway refuses as already done is
   checked against the hold's status (`find_hold`) before anything is written,
   so a gateway that ignores keys (localstripe) still captures once.
A permanent failure of the capture (the hold lapsed) undoes the claim: the
pending rows go, the row returns to held (or expired), nothing was charged.
"""

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from webapp.domain import billing_rules, preauth_rules
from webapp.domain.card_rules import card_expired
from webapp.domain.windows import local_date, to_local
from webapp.extensions import db
from webapp.models import (
    AuditEvent,
    Encounter,
    Invoice,
    Organization,
    Payment,
    PreAuthorization,
    User,
)
from webapp.models.base import utcnow
from webapp.payments.gateway import idempotency_key
from webapp.services import audit, hold_checks, invoices, preauth_state, settlement
from webapp.services.errors import Refused
from webapp.services.settlement import InProgress, Outcome  # noqa: F401 (callers use them)

CHARGE, RELEASE, FEE = "charge", "release", "fee"
BALANCE_KEY_KIND = "invoice"
MONEY_AUDIT_ACTIONS = ("preauth.charged", "preauth.released", "preauth.fee_charged")
FEE_KEY_KIND = "encounter"


class ChargeRefused(Refused):
    """The action does not apply (no hold, already charged, …); nothing was changed."""


@dataclass
class Preview:
    """What a confirmation dialog shows before anyone presses the button."""

    action: str
    refusal: str | None
    plan: billing_rules.MoneyPlan | None = None
    lines: list[billing_rules.Line] = field(default_factory=list)
    card_label: str | None = None

    @property
    def steps(self) -> list[str]:
        return self.plan.describe(self.card_label) if self.plan else []


def _tz(encounter: Encounter) -> str:
    return db.session.get(Organization, encounter.organization_id).timezone


# --- reading ---------------------------------------------------------------------------


def _fee_key(encounter: Encounter) -> str:
    return idempotency_key(FEE_KEY_KIND, encounter.id, 1, "cancellation-fee")


def _who_and_when(row: PreAuthorization, tz: str) -> str:
    """' by Bea Biller at Mar 2, 3:04 PM', from the claim's audit record."""
    event = db.session.scalar(
        select(AuditEvent)
        .where(
            AuditEvent.entity_type == "pre_authorizations",
            AuditEvent.entity_id == row.id,
            AuditEvent.action.in_(MONEY_AUDIT_ACTIONS),
        )
        .order_by(AuditEvent.id.desc())
        .limit(1)
    )
    if event is None:
        return ""
    who = event.user.name if event.user else f"the automation ({event.reason or 'a rule'})"
    when = to_local(event.created_at, tz).strftime("%b %-d at %-I:%M %p")
    return f" by {who} on {when}"


def refusal(action: str, row: PreAuthorization | None, tz: str) -> str | None:
    """Why Charge / Release Hold cannot act on this pre-authorization, or None.

    Also the message for the loser of a race, read from the row as it is now.
    """
    verb = "release" if action == RELEASE else "charge"
    if row is None:
        return f"There is no hold on this appointment to {verb}. Create an invoice instead."
    state = row.state
    if state == preauth_rules.HELD:
        return None
    if state == preauth_rules.CHARGED:
        tail = " It can no longer be released." if action == RELEASE else ""
        return f"This hold was already charged{_who_and_when(row, tz)}.{tail}"
    if state == preauth_rules.RELEASED:
        return (
            f"This hold was already released{_who_and_when(row, tz)}; no money is held. "
            "Create an invoice or reschedule the pre-authorization."
        )
    if state == preauth_rules.PROCESSING:
        return "The hold is being placed right now. Wait for the result, then try again."
    if state == preauth_rules.SCHEDULED:
        return f"The hold has not been placed yet, so there is nothing to {verb}."
    label = preauth_rules.STATE_LABELS.get(state, state).lower()
    return f"No money is held for this appointment (the pre-authorization is {label})."


def preview(encounter: Encounter, action: str) -> Preview:
    tz = _tz(encounter)
    row = preauth_state.for_encounter(encounter.id)
    card = settlement.card_for(encounter, row)
    card_label = card.label if card else None
    if action == FEE:
        lines = invoices.fee_lines(encounter)
        problem = _fee_refusal(encounter, row, tz)
        held = row.amount_cents if row is not None and row.state == preauth_rules.HELD else None
        plan = (
            None
            if problem
            else billing_rules.cancellation_fee_plan(held, billing_rules.total(lines))
        )
        return Preview(action, problem, plan, lines, card_label)
    problem = refusal(action, row, tz)
    if problem:
        return Preview(action, problem, card_label=card_label)
    if action == RELEASE:
        return Preview(action, None, billing_rules.release_plan(row.amount_cents), [], card_label)
    lines = invoices.cost_lines(encounter)
    plan = billing_rules.charge_plan(row.amount_cents, billing_rules.total(lines))
    return Preview(action, None, plan, lines, card_label)


def _fee_refusal(encounter: Encounter, row: PreAuthorization | None, tz: str) -> str | None:
    if encounter.status not in billing_rules.STATUS_FOR_DISPOSITION.values():
        return "A cancellation fee applies only to a cancelled appointment. Cancel it first."
    if row is not None and row.state in (
        preauth_rules.CHARGED,
        preauth_rules.RELEASED,
        preauth_rules.PROCESSING,
    ):
        return refusal(FEE, row, tz)
    key = _fee_key(encounter)
    if db.session.scalar(select(Payment.id).where(Payment.idempotency_key == key)):
        return "The cancellation fee of this appointment was already charged."
    return None


# --- the claim -------------------------------------------------------------------------


def _claim_hold(row: PreAuthorization, target: str, now: datetime) -> bool:
    """held → charged | released, for the attempt we read. True if we won."""
    result = db.session.execute(
        update(PreAuthorization)
        .where(
            PreAuthorization.id == row.id,
            PreAuthorization.state == preauth_rules.HELD,
            PreAuthorization.attempt == row.attempt,
        )
        .values(state=target, finished_at=now, updated_at=now),
        execution_options={"synchronize_session": False},
    )
    return result.rowcount == 1


@dataclass
class Claim:
    """Who acts (a person, or None with `source` naming the rule), when, and as which
    job (`owner`): what every pending row and audit record of one claim shares."""

    encounter: Encounter
    row: PreAuthorization | None
    actor: User | None
    source: str | None
    now: datetime
    owner: str | None
    invoice: Invoice | None = None

    def intent(self, kind: str, amount: int, key: str, *, from_hold: bool) -> Payment:
        hold = self.row if from_hold else None
        payment = Payment(
            organization_id=self.encounter.organization_id,
            client_id=self.encounter.client_id,
            encounter_id=self.encounter.id,
            invoice_id=self.invoice.id if self.invoice else None,
            pre_authorization_id=hold.id if hold else None,
            hold_attempt=hold.attempt if hold else None,
            kind=kind,
            amount_cents=amount,
            idempotency_key=key,
            from_hold=from_hold,
            gateway_reference=hold.gateway_reference if hold else None,
            status=invoices.PENDING,
            attempted_at=self.now,
            created_by_id=self.actor.id if self.actor else None,
            claimed_by=self.owner,
        )
        db.session.add(payment)
        return payment

    def hold_intents(self, plan: billing_rules.MoneyPlan, collect_kind: str, charge_kind: str):
        """Pending rows for a plan against the hold, in the order they are carried out."""
        steps = (
            (collect_kind, plan.capture_cents, "capture", True),
            (billing_rules.HOLD_RELEASE, plan.release_cents, "release", True),
            (charge_kind, plan.charge_cents, "extra", False),
        )
        row = self.row
        return [
            self.intent(kind, amount, idempotency_key("preauth", row.id, row.attempt, action),
                        from_hold=from_hold)
            for kind, amount, action, from_hold in steps
            if amount
        ]  # fmt: skip

    def record(self, row_or_encounter, action: str, plan: billing_rules.MoneyPlan) -> None:
        audit.record(
            organization_id=row_or_encounter.organization_id,
            user_id=self.actor.id if self.actor else None,
            action=action,
            row=row_or_encounter,
            after={"plan": plan.describe(), "invoice": self.invoice.id if self.invoice else None},
            reason=self.source,
        )

    def write_invoice(self, lines: list[billing_rules.Line], kind: str) -> None:
        """The encounter's invoice with these lines (see invoices.write_for_encounter).

        Raises:
            ChargeRefused: the invoice already has payments (nothing was charged).
        """
        try:
            self.invoice = invoices.write_for_encounter(self.encounter, lines, kind, self.actor)
        except invoices.InvoiceRefused as error:
            db.session.rollback()
            raise ChargeRefused(error.message) from None

    def carry_out(self, payments: list[Payment]) -> Outcome:
        """Commit the claim, then call the gateway for its pending payments.

        Raises:
            ChargeRefused: someone else claimed the encounter a moment ago.
        """
        _commit_claim()
        return settlement.carry_out(self.encounter, [p.id for p in payments], self.now)


def _commit_claim() -> None:
    try:
        db.session.commit()
    except IntegrityError:
        # Another claim wrote the same invoice or idempotency key first; ours is undone.
        db.session.rollback()
        raise ChargeRefused(
            "Someone charged this appointment a moment ago; nothing more was charged. "
            "Reload the page to see it."
        ) from None


def _lost(action: str, row: PreAuthorization, tz: str) -> ChargeRefused:
    db.session.rollback()
    db.session.refresh(row)
    return ChargeRefused(
        refusal(action, row, tz) or "Someone changed this hold a moment ago. Reload the page."
    )


def _start(encounter, actor, source, now, owner) -> tuple[Claim, str]:
    claim = Claim(encounter, preauth_state.for_encounter(encounter.id), actor, source,
                  now or utcnow(), owner)  # fmt: skip
    return claim, _tz(encounter)


def charge(
    encounter: Encounter, *, actor: User | None, source: str | None = None, now=None, owner=None
) -> Outcome:
    """Charge the held encounter for its current cost, on one invoice.

    `actor` is the person (None for an automation, named by `source`); `owner` is
    the job that acts, whose own retry may finish what it left pending.

    Raises:
        ChargeRefused: no hold to charge, already charged or released (by whom), or
            someone else acted a moment ago; nothing was changed.
    """
    claim, tz = _start(encounter, actor, source, now, owner)
    row = claim.row
    problem = refusal(CHARGE, row, tz)
    if problem:
        raise ChargeRefused(problem)
    lines = invoices.cost_lines(encounter)
    plan = billing_rules.charge_plan(row.amount_cents, billing_rules.total(lines))
    if not _claim_hold(row, preauth_rules.CHARGED, claim.now):
        raise _lost(CHARGE, row, tz)
    claim.write_invoice(lines, invoices.VISIT)
    payments = claim.hold_intents(plan, billing_rules.HOLD_CAPTURE, billing_rules.ADDITIONAL_CHARGE)
    claim.record(row, "preauth.charged", plan)
    return claim.carry_out(payments)


def release(
    encounter: Encounter, *, actor: User | None, source: str | None = None, now=None, owner=None
) -> Outcome:
    """Let the whole hold go; afterwards a manual invoice or a reschedule is possible.

    The gateway is asked first for every hold of the pre-authorization: holds of
    other attempts (a lost answer) are released with it.

    Raises:
        ChargeRefused: no hold to release, or it was already charged or released.
    """
    claim, tz = _start(encounter, actor, source, now, owner)
    row = claim.row
    problem = refusal(RELEASE, row, tz)
    if problem:
        raise ChargeRefused(problem)
    hold_checks.check_if_needed(row, found_by="Release Hold", wants_hold=True)
    db.session.refresh(row)
    problem = refusal(RELEASE, row, tz)
    if problem:
        raise ChargeRefused(problem)
    plan = billing_rules.release_plan(row.amount_cents)
    if not _claim_hold(row, preauth_rules.RELEASED, claim.now):
        raise _lost(RELEASE, row, tz)
    payments = claim.hold_intents(plan, billing_rules.HOLD_CAPTURE, billing_rules.ADDITIONAL_CHARGE)
    claim.record(row, "preauth.released", plan)
    return claim.carry_out(payments)


def charge_cancellation_fee(
    encounter: Encounter, *, actor: User | None, source: str | None = None, now=None, owner=None
) -> Outcome:
    """The sum of the services' cancellation fees: from the hold where it covers it
    (the rest released), else the hold plus a charge for the rest; no hold → the card.

    With no fee, a hold is released and nothing is charged.

    Raises:
        ChargeRefused: the appointment is not cancelled, the fee was already
            charged, the hold is in a state that refuses it, or someone else acted a
            moment ago; nothing was changed.
    """
    claim, tz = _start(encounter, actor, source, now, owner)
    row = claim.row
    problem = _fee_refusal(encounter, row, tz)
    if problem:
        raise ChargeRefused(problem)
    lines = invoices.fee_lines(encounter)
    fee = billing_rules.total(lines)
    held = row is not None and row.state == preauth_rules.HELD
    plan = billing_rules.cancellation_fee_plan(row.amount_cents if held else None, fee)
    if not plan.moves_money:
        return Outcome("No cancellation fee on these services; nothing was charged.", "info")
    if held:
        target = preauth_rules.CHARGED if fee else preauth_rules.RELEASED
        if not _claim_hold(row, target, claim.now):
            raise _lost(FEE, row, tz)
    if fee:
        claim.write_invoice(lines, invoices.CANCELLATION)
    if held:
        payments = claim.hold_intents(
            plan, billing_rules.CANCELLATION_FEE, billing_rules.CANCELLATION_FEE
        )
        claim.record(row, "preauth.fee_charged" if fee else "preauth.released", plan)
    else:
        payments = [claim.intent(billing_rules.CANCELLATION_FEE, fee, _fee_key(encounter),
                                 from_hold=False)]  # fmt: skip
        claim.record(encounter, "encounter.fee_charged", plan)
    return claim.carry_out(payments)


# --- the balance of an open invoice ------------------------------------------------------


@dataclass
class BalancePreview:
    """What the Charge balance dialog shows: the amount due, the card, or why not."""

    summary: invoices.InvoiceSummary
    refusal: str | None
    card_label: str | None


def balance_preview(invoice: Invoice, now: datetime | None = None) -> BalancePreview:
    """The balance an invoice still shows due (after a declined extra charge, a manual
    invoice, a fee the card did not cover), and the client's default card it would
    be charged to."""
    summary = invoices.summarize(invoice)
    encounter = invoice.encounter
    if encounter is None:  # the appointment was deleted; its payments went with it
        return BalancePreview(summary, "This invoice has no appointment any more.", None)
    card = settlement.card_to_charge(encounter, billing_rules.BALANCE_PAYMENT)
    today = local_date(now or utcnow(), _tz(encounter))
    expired = card is not None and card_expired(card.exp_month, card.exp_year, today)
    problem = billing_rules.balance_refusal(
        invoice.status,
        summary.due_cents,
        summary.pending_cents,
        card.label if card else None,
        expired,
    )
    return BalancePreview(summary, problem, card.label if card else None)


def charge_balance(invoice: Invoice, *, actor: User, now: datetime | None = None) -> Outcome:
    """Charge what is due on the invoice to the card on file, exactly once.

    The claim starts by updating the invoice row, which serializes claims on it:
    whatever is read after that is current, so a second click finds the first
    one's payment pending (or paid) and is refused. The pending Payment's key
    counts the invoice's earlier balance payments (`covered-invoice-<id>-<n>-
    balance`, unique), a second guard. A declined card leaves the payment failed
    and the balance due, for another try with another card.

    Raises:
        ChargeRefused: the invoice is void, nothing is due, a payment on it is
            still pending, or there is no usable card on file.
    """
    now = now or utcnow()
    db.session.execute(
        update(Invoice).where(Invoice.id == invoice.id).values(status=Invoice.status),
        execution_options={"synchronize_session": False},
    )
    db.session.expire(invoice)
    found = balance_preview(invoice, now)
    if found.refusal:
        db.session.rollback()
        raise ChargeRefused(found.refusal)
    earlier = db.session.scalar(
        select(func.count(Payment.id)).where(
            Payment.invoice_id == invoice.id, Payment.kind == billing_rules.BALANCE_PAYMENT
        )
    )
    key = idempotency_key(BALANCE_KEY_KIND, invoice.id, earlier + 1, "balance")
    claim = Claim(invoice.encounter, None, actor, None, now, None, invoice)
    payment = claim.intent(
        billing_rules.BALANCE_PAYMENT, found.summary.due_cents, key, from_hold=False
    )
    audit.record(
        organization_id=invoice.organization_id,
        user_id=actor.id,
        action="invoice.balance_charged",
        row=invoice,
        after={"amount_cents": found.summary.due_cents, "card": found.card_label, "key": key},
    )
    return claim.carry_out([payment])
