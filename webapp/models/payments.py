"""Cards on file, pre-authorizations (card holds), invoices, payments, automations.

State changes on these rows are compare-and-set updates in the services
(`UPDATE … WHERE id = ? AND state = ?`); the models only hold the data.
"""

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.base import org_fk, utcnow
from webapp.models.clients import Client, ServiceType
from webapp.models.encounters import Encounter
from webapp.models.organization import User


class PaymentCard(db.Model):
    """A card saved with the gateway (Stripe `pm_…`) for a client."""

    __tablename__ = "payment_cards"
    __table_args__ = (UniqueConstraint("gateway_payment_method_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = org_fk()
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    gateway_payment_method_id: Mapped[str] = mapped_column(String(100))
    brand: Mapped[str] = mapped_column(String(40))
    last4: Mapped[str] = mapped_column(String(4))
    exp_month: Mapped[int]
    exp_year: Mapped[int]
    is_default: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    client: Mapped[Client] = relationship()

    @property
    def label(self) -> str:
        return f"{self.brand.title()} •••• {self.last4}"


class PreAuthorization(db.Model):
    """The card hold of one encounter: scheduled → processing → held → charged | released.

    Also failed, cancelled and expired. The row is the truth; the RQ job named by
    `job_id` is only its trigger. `attempt` grows with every Retry or Reschedule,
    and the gateway idempotency key is derived from (id, attempt).
    """

    __tablename__ = "pre_authorizations"
    __table_args__ = (
        UniqueConstraint("encounter_id"),
        Index("ix_pre_authorizations_state_run_at", "state", "run_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = org_fk()
    encounter_id: Mapped[int] = mapped_column(ForeignKey("encounters.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(20), default="scheduled")
    hours_before: Mapped[int]
    run_at: Mapped[datetime]  # naive UTC
    attempt: Mapped[int] = mapped_column(default=1)
    amount_cents: Mapped[int | None]  # computed when the hold runs
    card_id: Mapped[int | None] = mapped_column(
        ForeignKey("payment_cards.id", ondelete="SET NULL"), index=True
    )
    card_label: Mapped[str | None] = mapped_column(String(60))  # kept if the card is removed
    gateway_reference: Mapped[str | None] = mapped_column(String(100))  # Stripe `pi_…`
    failure_code: Mapped[str | None] = mapped_column(String(60))
    failure_reason: Mapped[str | None] = mapped_column(String(500))
    processing_started_at: Mapped[datetime | None]
    held_at: Mapped[datetime | None]
    lapses_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    # A hold call's answer was not heard (or a check could not reach the gateway): a
    # hold of this pre-authorization may exist that the row does not know about, so the
    # gateway is asked before anything else happens (services.hold_checks).
    gateway_check_due: Mapped[bool] = mapped_column(default=False, server_default=sa_false())
    # Set while the lapse watcher places the replacement hold (a claim, see hold_renewal).
    renewal_started_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    encounter: Mapped[Encounter] = relationship()
    card: Mapped[PaymentCard | None] = relationship()

    @property
    def job_id(self) -> str:
        return f"preauth-{self.id}-{self.attempt}"


class GatewayEvent(db.Model):
    """A webhook event already handled, so a redelivery changes nothing."""

    __tablename__ = "gateway_events"
    __table_args__ = (UniqueConstraint("event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(100))
    event_type: Mapped[str] = mapped_column(String(100))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class Invoice(db.Model):
    """What an encounter cost; its payments always add up to its total when paid."""

    __tablename__ = "invoices"
    # One invoice per encounter: a second Create invoice, or a charge racing it, loses.
    __table_args__ = (UniqueConstraint("encounter_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = org_fk()
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    encounter_id: Mapped[int | None] = mapped_column(
        ForeignKey("encounters.id", ondelete="SET NULL")
    )
    total_cents: Mapped[int]
    status: Mapped[str] = mapped_column(String(20), default="open")  # open | paid | void
    # visit (the encounter's cost) | cancellation_fee
    kind: Mapped[str] = mapped_column(String(20), default="visit", server_default="visit")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    void_reason: Mapped[str | None] = mapped_column(String(300))
    voided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    voided_at: Mapped[datetime | None]

    client: Mapped[Client] = relationship()
    encounter: Mapped[Encounter | None] = relationship()
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    voided_by: Mapped[User | None] = relationship(foreign_keys=[voided_by_id])
    lines: Mapped[list["InvoiceLine"]] = relationship(
        back_populates="invoice", cascade="all, delete-orphan", order_by="InvoiceLine.id"
    )
    payments: Mapped[list["Payment"]] = relationship(
        back_populates="invoice", order_by="Payment.id"
    )

    @property
    def number(self) -> str:
        return f"INV-{self.id:06d}"


class InvoiceLine(db.Model):
    """One line: `quantity` × `unit_price_cents` = `amount_cents` (units of a timed
    service, or 1 for a visit, a copay or a fee)."""

    __tablename__ = "invoice_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(
        ForeignKey("invoices.id", ondelete="CASCADE"), index=True
    )
    service_type_id: Mapped[int | None] = mapped_column(
        ForeignKey("service_types.id", ondelete="SET NULL")
    )
    description: Mapped[str] = mapped_column(String(300))
    quantity: Mapped[int] = mapped_column(default=1, server_default="1")
    unit_price_cents: Mapped[int | None]
    amount_cents: Mapped[int]

    invoice: Mapped[Invoice] = relationship(back_populates="lines")
    service_type: Mapped[ServiceType | None] = relationship()


class Payment(db.Model):
    """Money that moved (or a hold that was let go), one row per gateway action.

    kind: hold_capture | additional_charge | cancellation_fee | hold_release |
    balance_payment | refund.
    For every pre-authorization: held = captured + released. A refund names the
    payment it gives money back from (`refund_of_id`) and why (`reason`).
    """

    __tablename__ = "payments"
    __table_args__ = (UniqueConstraint("idempotency_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = org_fk()
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    encounter_id: Mapped[int | None] = mapped_column(
        ForeignKey("encounters.id", ondelete="SET NULL"), index=True
    )
    invoice_id: Mapped[int | None] = mapped_column(
        ForeignKey("invoices.id", ondelete="SET NULL"), index=True
    )
    pre_authorization_id: Mapped[int | None] = mapped_column(
        ForeignKey("pre_authorizations.id", ondelete="SET NULL"), index=True
    )
    kind: Mapped[str] = mapped_column(String(30))
    amount_cents: Mapped[int]
    gateway_reference: Mapped[str | None] = mapped_column(String(100))
    idempotency_key: Mapped[str] = mapped_column(String(150))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # pending (written with the claim, before the gateway call) | succeeded | failed.
    # A pending row is the intent: whoever settles it replays the same idempotency key.
    status: Mapped[str] = mapped_column(String(20), default="pending", server_default="pending")
    # Taken from (or released back to) the hold of `pre_authorization_id` at `hold_attempt`,
    # rather than charged to the card anew.
    from_hold: Mapped[bool] = mapped_column(default=False, server_default=sa_false())
    hold_attempt: Mapped[int | None]
    failure_reason: Mapped[str | None] = mapped_column(String(500))
    attempted_at: Mapped[datetime | None]  # last time a process called the gateway for it
    # The job that wrote the intent ("automation-…"); its own retry may settle the row at
    # once (RQ never runs two attempts of one job at the same time). None for people.
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    settled_at: Mapped[datetime | None]
    # What the gateway kept of this payment (Stripe's balance transaction fee); None
    # when it did not say.
    fee_cents: Mapped[int | None]
    refund_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("payments.id", ondelete="SET NULL"), index=True
    )
    reason: Mapped[str | None] = mapped_column(String(300))

    invoice: Mapped[Invoice | None] = relationship(back_populates="payments")
    pre_authorization: Mapped[PreAuthorization | None] = relationship()
    created_by: Mapped[User | None] = relationship()
    refund_of: Mapped["Payment | None"] = relationship(remote_side=[id])


class Automation(db.Model):
    """An admin's rule: on *event* (optionally only for one disposition) do *action*.

    Rules are tried in `position` order; the first that matches wins.
    """

    __tablename__ = "automations"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = org_fk()
    # event: encounter_finalized | encounter_cancelled
    # action: charge_preauth | charge_cancellation_fee | release_preauth
    event: Mapped[str] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(40))
    disposition: Mapped[str | None] = mapped_column(String(40))
    position: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AutomationRun(db.Model):
    """One event of one encounter and the rule chosen for it (or none), with its outcome.

    The rule is chosen when the event happens, so the page can say at once which
    rule runs and which others matched; the RQ job then records what it did.
    status: queued | running | done | skipped | failed | no_rule.
    """

    __tablename__ = "automation_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = org_fk()
    encounter_id: Mapped[int] = mapped_column(
        ForeignKey("encounters.id", ondelete="CASCADE"), index=True
    )
    event: Mapped[str] = mapped_column(String(40))
    disposition: Mapped[str | None] = mapped_column(String(40))
    automation_id: Mapped[int | None] = mapped_column(
        ForeignKey("automations.id", ondelete="SET NULL")
    )
    action: Mapped[str | None] = mapped_column(String(40))
    rule_number: Mapped[int | None]
    rule_label: Mapped[str | None] = mapped_column(String(200))  # kept if the rule goes
    explanation: Mapped[str] = mapped_column(String(300))
    also_matched: Mapped[list | None] = mapped_column(JSON)  # [rule numbers]
    status: Mapped[str] = mapped_column(String(20), default="queued")
    outcome: Mapped[str | None] = mapped_column(String(500))
    attempts: Mapped[int] = mapped_column(default=0)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]

    created_by: Mapped[User | None] = relationship()

    @property
    def job_id(self) -> str:
        return f"automation-{self.encounter_id}-{self.event}-{self.id}"


class HoldFinding(db.Model):
    """A difference between the gateway's holds and the rows, and what Covered did.

    Written by the checks before every hold action and by the periodic
    reconciliation (services.hold_checks); the admin System page lists them.
    outcome: adopted | released | expired | reported.
    """

    __tablename__ = "hold_findings"

    id: Mapped[int] = mapped_column(primary_key=True)
    # None when the hold names no organization we know (shown to nobody; logged).
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    pre_authorization_id: Mapped[int | None] = mapped_column(
        ForeignKey("pre_authorizations.id", ondelete="SET NULL"), index=True
    )
    gateway_reference: Mapped[str] = mapped_column(String(100))
    our_reference: Mapped[str | None] = mapped_column(String(100))
    amount_cents: Mapped[int | None]
    gateway_status: Mapped[str | None] = mapped_column(String(40))
    outcome: Mapped[str] = mapped_column(String(20))
    found_by: Mapped[str] = mapped_column(String(60))
    message: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    pre_authorization: Mapped[PreAuthorization | None] = relationship()
