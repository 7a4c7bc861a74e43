"""The real flow against localstripe: a hold, then Charge (with a service added),
a partial capture for a cancellation fee, and Release Hold, read back from the
payments server itself."""

import pytest

from tests.billing_support import (
    add_service,
    assert_ledger_adds_up,
    invoices_of,
    kinds,
    mark_cancelled,
    place_hold,
    utc,
    visit,
)
from webapp.extensions import db
from webapp.services import charges, settlement


def intent(gateway, reference: str):
    return gateway.v1.payment_intents.retrieve(reference, {"expand": ["latest_charge"]})


def kept(gateway, reference: str) -> int:
    """What the payment intent took and kept (localstripe shows the released part of a
    partial capture as refunded)."""
    charge = intent(gateway, reference).latest_charge
    return charge.amount - charge.amount_refunded if charge.captured else 0


def test_charge_captures_the_hold_and_charges_the_added_service(world, app_stripe_gateway):
    v = visit(world, app_stripe_gateway)
    row = place_hold(app_stripe_gateway, v)
    assert intent(app_stripe_gateway, row.gateway_reference).status == "requires_capture"
    add_service(v.encounter, v.testing)

    outcome = charges.charge(v.encounter, actor=world.biller)

    assert outcome.message == "Captured $150.00 from the hold; charged $40.00 to the card."
    assert intent(app_stripe_gateway, row.gateway_reference).status == "succeeded"
    assert kept(app_stripe_gateway, row.gateway_reference) == 15000
    capture, extra = [p for p in invoices_of(v.encounter.id)[0].payments]
    assert capture.gateway_reference == row.gateway_reference
    extra_intent = intent(app_stripe_gateway, extra.gateway_reference)
    assert (extra_intent.status, extra_intent.amount) == ("succeeded", 4000)
    assert extra_intent.metadata["covered_reference"] == extra.idempotency_key
    assert_ledger_adds_up(v.encounter.id)


def test_a_cancellation_fee_is_captured_from_the_hold_and_the_rest_released(
    world, app_stripe_gateway
):
    v = visit(world, app_stripe_gateway)
    row = place_hold(app_stripe_gateway, v)
    mark_cancelled(v.encounter)

    charges.charge_cancellation_fee(v.encounter, actor=None, source="Rule 1")

    assert intent(app_stripe_gateway, row.gateway_reference).status == "succeeded"
    assert kept(app_stripe_gateway, row.gateway_reference) == 5000
    assert kinds(v.encounter.id) == [
        ("cancellation_fee", 5000, "succeeded"),
        ("hold_release", 10000, "succeeded"),
    ]
    assert_ledger_adds_up(v.encounter.id)


def test_release_hold_cancels_the_payment_intent(world, app_stripe_gateway):
    v = visit(world, app_stripe_gateway)
    row = place_hold(app_stripe_gateway, v)

    charges.release(v.encounter, actor=world.biller)

    assert intent(app_stripe_gateway, row.gateway_reference).status == "canceled"
    assert kinds(v.encounter.id) == [("hold_release", 15000, "succeeded")]
    assert_ledger_adds_up(v.encounter.id)


def test_a_replayed_charge_asks_localstripe_first_and_does_not_charge_twice(
    world, app_stripe_gateway, monkeypatch
):
    """localstripe ignores idempotency keys: the settler must look before it acts."""
    v = visit(world, app_stripe_gateway)
    row = place_hold(app_stripe_gateway, v)
    add_service(v.encounter, v.testing)
    real, calls = settlement._succeed, []

    def crash_on_the_first_write(*args, **kwargs):
        calls.append(True)
        if len(calls) == 1:
            raise RuntimeError("killed after the capture")
        return real(*args, **kwargs)

    monkeypatch.setattr(settlement, "_succeed", crash_on_the_first_write)
    with pytest.raises(RuntimeError):
        charges.charge(v.encounter, actor=world.biller)
    db.session.rollback()

    outcome = settlement.settle_encounter(v.encounter.id, now=utc(minutes=3))

    assert outcome.message == "Captured $150.00 from the hold; charged $40.00 to the card."
    assert intent(app_stripe_gateway, row.gateway_reference).status == "succeeded"
    assert kept(app_stripe_gateway, row.gateway_reference) == 15000
    customer = v.encounter.client.gateway_customer_id
    taken = [
        i
        for i in app_stripe_gateway.v1.payment_intents.list({"limit": 100}).auto_paging_iter()
        if i.customer == customer and i.status == "succeeded"
    ]
    assert sorted(kept(app_stripe_gateway, i.id) for i in taken) == [4000, 15000]
    assert_ledger_adds_up(v.encounter.id)
