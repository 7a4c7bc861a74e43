"""The real flow on localstripe: finding every hold of a pre-authorization, lost answers,
the reconciliation, renewals and the webhook's re-read, through StripeGateway and a
real RQ worker.

localstripe has no search and no customer filter on its payment-intent list, so
StripeGateway lists every intent and matches customer and metadata itself; it
ignores idempotency keys, so a rerun after a lost answer looks before it asks.
A lost answer is made by letting the real call through and then raising, as a
network timeout would.
"""

import hashlib
import hmac
import json
import time
from datetime import timedelta

import pytest

from tests.billing_support import save_card
from tests.preauth_support import book, practice, preauth_of, work
from webapp.extensions import db
from webapp.models.base import utcnow
from webapp.payments.gateway import TransientGatewayError
from webapp.services import encounter_events, hold_reconciliation, hold_renewal
from webapp.services import preauth as service
from webapp.services.preauth_runs import place_hold
from webapp.services.queue import queue

SOON = timedelta(hours=3)


@pytest.fixture
def p(world, app, app_stripe_gateway):
    app.config["PREAUTH_RETRY_INTERVALS"] = [0]
    return practice(world, hours=24, copay=3500)


def _lose_next_answer(monkeypatch, gateway) -> None:
    real = gateway.place_hold

    def placed_but_unanswered(**kwargs):
        monkeypatch.setattr(gateway, "place_hold", real)  # once
        real(**kwargs)
        raise TransientGatewayError("The connection was reset.", "unreachable")

    monkeypatch.setattr(gateway, "place_hold", placed_but_unanswered)


def _statuses(gateway, row) -> list[str]:
    customer = row.encounter.client.gateway_customer_id
    found = gateway.holds_for(customer_id=customer, reference_prefix=f"preauth-{row.id}-")
    return sorted(hold.status for hold in found)


def _lost(world, p, gateway, monkeypatch):
    save_card(gateway, p.client)
    encounter = book(p, world.biller, starts_in=SOON)
    queue().empty()
    _lose_next_answer(monkeypatch, gateway)
    with pytest.raises(TransientGatewayError):
        place_hold(preauth_of(encounter).id, 1, can_retry=True)
    row = preauth_of(encounter)
    assert (row.state, row.gateway_check_due) == ("scheduled", True)
    assert _statuses(gateway, row) == ["requires_capture"]
    return encounter


def test_the_gateway_lists_every_attempt_of_one_pre_authorization(world, p, app_stripe_gateway):
    gateway = app_stripe_gateway
    card = save_card(gateway, p.client)
    customer = p.client.gateway_customer_id

    def hold(reference: str):
        return gateway.place_hold(
            customer_id=customer,
            payment_method_id=card.gateway_payment_method_id,
            amount_cents=1200,
            reference=reference,
            idempotency_key=f"key-{reference}",
            organization_id=p.org.id,
        )

    first, second, other = hold("preauth-7-1"), hold("preauth-7-2"), hold("preauth-70-1")
    gateway.release(hold_reference=first.reference, idempotency_key="key-release")

    found = gateway.holds_for(customer_id=customer, reference_prefix="preauth-7-")
    assert {(h.reference, h.our_reference, h.status) for h in found} == {
        (first.reference, "preauth-7-1", "canceled"),
        (second.reference, "preauth-7-2", "requires_capture"),
    }
    assert all(h.organization_id == p.org.id and h.customer_id == customer for h in found)
    live = {h.reference for h in gateway.live_holds()}
    assert live == {second.reference, other.reference}
    assert gateway.get_hold(second.reference).lapses_at is not None
    assert gateway.get_hold("pi_not_there") is None


def test_a_cancelled_visit_releases_the_hold_whose_answer_was_lost(
    world, p, app_stripe_gateway, monkeypatch
):
    encounter = _lost(world, p, app_stripe_gateway, monkeypatch)
    encounter_events.cancel(encounter, "cancelled_by_client", actor=world.biller)
    row = preauth_of(encounter)
    assert row.state == "cancelled"
    assert _statuses(app_stripe_gateway, row) == ["canceled"]


def test_the_rerun_on_a_gateway_that_ignores_keys_adopts_the_lost_hold(
    world, p, app_stripe_gateway, monkeypatch
):
    encounter = _lost(world, p, app_stripe_gateway, monkeypatch)
    row = preauth_of(encounter)
    service.enqueue(row.id, row.attempt, utcnow())
    work()  # a real worker, RQ's retry of the attempt
    row = preauth_of(encounter)
    assert row.state == "held"
    assert _statuses(app_stripe_gateway, row) == ["requires_capture"]  # not two


def test_the_reconciliation_releases_what_a_cancel_could_not(
    world, p, app_stripe_gateway, monkeypatch
):
    encounter = _lost(world, p, app_stripe_gateway, monkeypatch)

    def down(**_query):
        raise TransientGatewayError("down", "unreachable")

    monkeypatch.setattr(app_stripe_gateway, "holds_for", down)
    service.cancel(encounter, actor=world.biller)
    monkeypatch.undo()
    row = preauth_of(encounter)
    assert (row.state, row.gateway_check_due) == ("cancelled", True)

    report = hold_reconciliation.reconcile(now=utcnow() + timedelta(minutes=11))

    assert (report.live, report.released) == (1, 1)
    assert _statuses(app_stripe_gateway, preauth_of(encounter)) == ["canceled"]


def test_a_hold_lapsing_before_its_visit_is_renewed_on_localstripe(world, p, app_stripe_gateway):
    p.org.preauth_hours_before = 168
    db.session.commit()
    save_card(app_stripe_gateway, p.client)
    encounter = book(p, world.biller, starts_in=timedelta(days=6))
    work()
    row = preauth_of(encounter)
    old, lapses = row.gateway_reference, row.lapses_at
    assert row.state == "held" and lapses < encounter.starts_at

    assert hold_renewal.renew_lapsing(now=lapses - timedelta(hours=11)).renewed == [row.id]

    row = preauth_of(encounter)
    assert row.gateway_reference != old
    assert app_stripe_gateway.get_hold(old).status == "canceled"
    assert app_stripe_gateway.get_hold(row.gateway_reference).status == "requires_capture"
    assert _statuses(app_stripe_gateway, row) == ["canceled", "requires_capture"]


def test_the_webhook_reads_the_intent_back_from_localstripe(
    client, app, world, p, app_stripe_gateway
):
    secret = app.config["STRIPE_WEBHOOK_SECRET"]
    save_card(app_stripe_gateway, p.client)
    encounter = book(p, world.biller, starts_in=SOON)
    work()
    reference = preauth_of(encounter).gateway_reference

    def post(event_id: str):
        payload = json.dumps({
            "id": event_id, "object": "event", "created": int(time.time()),
            "type": "payment_intent.canceled",
            "data": {"object": {"id": reference, "object": "payment_intent"}},
        })  # fmt: skip
        stamp = int(time.time())
        signature = hmac.new(secret.encode(), f"{stamp}.{payload}".encode(), hashlib.sha256)
        return client.post(
            "/webhooks/stripe",
            data=payload,
            content_type="application/json",
            headers={"Stripe-Signature": f"t={stamp},v1={signature.hexdigest()}"},
        )

    assert post("evt_early").json["outcome"] == "ignored"  # localstripe still holds it
    assert preauth_of(encounter).state == "held"
    app_stripe_gateway.v1.payment_intents.cancel(reference)
    assert post("evt_late").json["outcome"] == "expired"
    assert preauth_of(encounter).state == "expired"
