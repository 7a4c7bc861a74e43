"""Shared pieces of the billing tests: a client with a card on file, an encounter,
a hold placed through the gateway itself (so these tests do not depend on the
pre-authorization job), and the ledger checks every test ends with."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from tests import factories
from webapp.domain import billing_rules
from webapp.extensions import db
from webapp.models import (
    Encounter,
    EncounterService,
    Invoice,
    Payment,
    PaymentCard,
    PreAuthorization,
)
from webapp.models.base import utcnow
from webapp.payments.gateway import idempotency_key
from webapp.services import invoices


@dataclass
class Visit:
    encounter: Encounter
    therapy: object  # 90837: $150.00, fee $50.00
    testing: object  # 96130: $40.00, fee $25.00
    card: PaymentCard | None


def visit_day(encounter) -> str:
    """The visit's local date (ISO): what Finalize asks to confirm before it starts."""
    from webapp.domain.windows import local_date
    from webapp.models import Organization

    org = db.session.get(Organization, encounter.organization_id)
    return local_date(encounter.starts_at, org.timezone).isoformat()


def save_card(gateway, client, number: str = "4242424242424242") -> PaymentCard:
    """A default card for the client in `gateway` (strict or localstripe) and its row."""
    if not client.gateway_customer_id:
        client.gateway_customer_id = gateway.create_customer(
            name=client.full_name, email=client.email, reference=f"client-{client.id}"
        )
    if hasattr(gateway, "add_card"):  # the strict test gateway
        details = gateway.add_card(client.gateway_customer_id)
    else:  # a StripeGateway: what Stripe.js does in the browser, then attach
        card = {"number": number, "exp_month": 11, "exp_year": 2031, "cvc": "123"}
        method = gateway.v1.payment_methods.create({"type": "card", "card": card})
        details = gateway.attach_card(
            customer_id=client.gateway_customer_id, payment_method_id=method.id
        )
    row = factories.card_from_gateway(client, details)
    db.session.commit()
    return row


def visit(world, gateway=None, *, billing_type="self_pay", copay=2500, card=True) -> Visit:
    """An upcoming self-pay (or insurance) visit tomorrow for one 90837 service."""
    org = world.org
    client = factories.client(
        org, first_name="Ada", last_name="Lovelace", primary_clinician_id=world.clinician.id
    )
    therapy = factories.service_type(
        org, cpt_code="90837", price_cents=15000, cancellation_fee_cents=5000
    )
    testing = factories.service_type(
        org, cpt_code="96130", name="Testing", price_cents=4000, cancellation_fee_cents=2500
    )
    policy = None
    if billing_type == "insurance":
        payer = factories.payer(org, name="Blue Harbor")
        policy = factories.insurance(org, client, payer, copay_cents=copay)
    starts = (utcnow() + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    encounter = factories.encounter(
        org,
        client,
        world.clinician,
        policy,
        [therapy],
        starts_at=starts,
        billing_type=billing_type,
    )
    db.session.commit()
    saved = save_card(gateway, client) if card and gateway is not None else None
    return Visit(encounter, therapy, testing, saved)


def place_hold(gateway, v: Visit, amount: int | None = None, *, attempt: int = 1):
    """A held pre-authorization, placed the way the hold job does it."""
    encounter = v.encounter
    amount = amount if amount is not None else invoices.cost_total(encounter)
    row = PreAuthorization(
        organization_id=encounter.organization_id,
        encounter_id=encounter.id,
        state="processing",
        hours_before=24,
        run_at=utcnow(),
        attempt=attempt,
    )
    db.session.add(row)
    db.session.flush()
    hold = gateway.place_hold(
        customer_id=encounter.client.gateway_customer_id,
        payment_method_id=v.card.gateway_payment_method_id,
        amount_cents=amount,
        reference=f"preauth-{row.id}-{attempt}",
        idempotency_key=idempotency_key("preauth", row.id, attempt, "hold"),
    )
    row.state = "held"
    row.amount_cents = amount
    row.card_id = v.card.id
    row.card_label = v.card.label
    row.gateway_reference = hold.reference
    row.held_at = utcnow()
    row.lapses_at = hold.lapses_at
    db.session.commit()
    return row


def add_service(encounter: Encounter, service_type, minutes: int = 60) -> None:
    encounter.lines.append(EncounterService(service_type_id=service_type.id, minutes=minutes))
    db.session.commit()
    db.session.refresh(encounter)


def mark_cancelled(encounter: Encounter, disposition: str = "late_cancellation") -> None:
    """The encounter as Cancel leaves it (without firing the event)."""
    encounter.disposition = disposition
    encounter.status = billing_rules.STATUS_FOR_DISPOSITION[disposition]
    db.session.commit()


def payments_of(encounter_id: int) -> list[Payment]:
    db.session.expire_all()
    return db.session.scalars(
        select(Payment).where(Payment.encounter_id == encounter_id).order_by(Payment.id)
    ).all()


def kinds(encounter_id: int) -> list[tuple[str, int, str]]:
    return [(p.kind, p.amount_cents, p.status) for p in payments_of(encounter_id)]


def invoices_of(encounter_id: int) -> list[Invoice]:
    return db.session.scalars(select(Invoice).where(Invoice.encounter_id == encounter_id)).all()


def assert_ledger_adds_up(encounter_id: int) -> None:
    """held = captured + released for a settled hold; a paid invoice = its payments."""
    db.session.expire_all()
    row = db.session.scalar(
        select(PreAuthorization).where(PreAuthorization.encounter_id == encounter_id)
    )
    payments = payments_of(encounter_id)
    if row is not None and row.state in ("charged", "released"):
        # Per hold: a renewed or replaced hold's release belongs to its own attempt.
        of_hold = [
            p
            for p in payments
            if p.pre_authorization_id == row.id and p.hold_attempt == row.attempt
        ]
        assert all(p.status == "succeeded" for p in of_hold), of_hold
        problem = billing_rules.hold_mismatch(row.amount_cents, invoices.movements(of_hold))
        assert problem is None, problem
    for invoice in invoices_of(encounter_id):
        summary = invoices.summarize(invoice)
        assert summary.problem is None, summary.problem
        assert billing_rules.total(invoice.lines) == invoice.total_cents


def utc(days: int = 0, minutes: int = 0) -> datetime:
    return utcnow() + timedelta(days=days, minutes=minutes)
