"""Refunds and fees on localstripe, through StripeGateway: the refund is made once at the
payments server (read back from it), carries our key in its metadata so a replay after a
lost answer finds it, and the fee comes from the charge's balance transaction (localstripe
keeps balance transactions with a fee of 0; Stripe reports its real fee the same way)."""

import uuid
from datetime import timedelta

from tests.billing_support import add_service, invoices_of, place_hold, visit
from webapp.models.base import utcnow
from webapp.payments.gateway import TransientGatewayError
from webapp.services import charges, refunds, settlement


def _refunded(gateway, reference: str) -> int:
    charge = gateway.v1.payment_intents.retrieve(reference, {"expand": ["latest_charge"]})
    return charge.latest_charge.amount_refunded


def test_a_refund_of_a_captured_hold_reaches_localstripe_once(world, app_stripe_gateway):
    v = visit(world, app_stripe_gateway)
    place_hold(app_stripe_gateway, v)
    add_service(v.encounter, v.testing)
    charges.charge(v.encounter, actor=world.biller)
    (invoice,) = invoices_of(v.encounter.id)
    capture, extra = invoice.payments
    assert (capture.fee_cents, extra.fee_cents) == (0, 0)  # the balance transactions' fee

    outcome = refunds.refund(extra, 4000, "duplicate", None, uuid.uuid4().hex, actor=world.biller)

    assert outcome.message == "Refunded $40.00 to the card."
    assert _refunded(app_stripe_gateway, extra.gateway_reference) == 4000
    found = app_stripe_gateway.find_refund(
        charge_reference=extra.gateway_reference, reference=invoice.payments[-1].idempotency_key
    )
    assert found is not None and found.amount_cents == 4000


def test_a_replay_after_a_lost_answer_does_not_refund_twice(world, app_stripe_gateway, monkeypatch):
    v = visit(world, app_stripe_gateway)
    row = place_hold(app_stripe_gateway, v)
    charges.charge(v.encounter, actor=world.biller)
    (invoice,) = invoices_of(v.encounter.id)
    (capture,) = invoice.payments
    real = app_stripe_gateway.refund

    def made_but_unanswered(**kwargs):
        monkeypatch.setattr(app_stripe_gateway, "refund", real)
        real(**kwargs)
        raise TransientGatewayError("The connection was reset.", "unreachable")

    monkeypatch.setattr(app_stripe_gateway, "refund", made_but_unanswered)
    assert refunds.refund(
        capture, 5000, "other", None, uuid.uuid4().hex, actor=world.biller
    ).pending

    later = utcnow() + settlement.STALE_AFTER + timedelta(seconds=1)
    settlement.settle_encounter(v.encounter.id, now=later)

    # localstripe ignores the key: only the look-up by metadata kept it from refunding again.
    assert _refunded(app_stripe_gateway, row.gateway_reference) == 5000
    assert [p.status for p in invoices_of(v.encounter.id)[0].payments] == ["succeeded"] * 2
