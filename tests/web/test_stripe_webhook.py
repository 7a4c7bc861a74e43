"""POST /webhooks/stripe: signed events only; a lapsed hold becomes expired, once, and only
when the gateway itself says so (issue 13 part 5: trust the gateway, not the message)."""

import hashlib
import hmac
import json
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.preauth_support import add_card, book, practice, preauth_of, work
from webapp.extensions import db
from webapp.models import GatewayEvent, Notification

SECRET = "whsec_covered_localstripe"


@pytest.fixture
def held(world, app, strict_gateway):
    app.config["STRIPE_WEBHOOK_SECRET"] = SECRET
    p = practice(world, hours=24)
    add_card(strict_gateway, p.client)
    encounter = book(p, world.biller, starts_in=timedelta(hours=3))
    work()
    return encounter


def _post(client, event: dict, secret: str = SECRET):
    payload = json.dumps(event)
    stamp = int(time.time())
    signature = hmac.new(secret.encode(), f"{stamp}.{payload}".encode(), hashlib.sha256)
    return client.post(
        "/webhooks/stripe",
        data=payload,
        content_type="application/json",
        headers={"Stripe-Signature": f"t={stamp},v1={signature.hexdigest()}"},
    )


def _canceled(reference: str, event_id: str = "evt_1", created: int | None = None) -> dict:
    return {
        "id": event_id,
        "object": "event",
        "created": int(time.time()) if created is None else created,
        "type": "payment_intent.canceled",
        "data": {
            "object": {
                "id": reference,
                "object": "payment_intent",
                "status": "canceled",
                "cancellation_reason": "automatic",
            }
        },
    }


def _notifications() -> int:
    return db.session.scalar(select(func.count(Notification.id)))


def test_a_lapsed_hold_becomes_expired_and_billers_are_told(client, world, held, strict_gateway):
    row = preauth_of(held)
    strict_gateway.lapse(row.gateway_reference)

    response = _post(client, _canceled(row.gateway_reference))

    assert response.status_code == 200 and response.json["outcome"] == "expired"
    row = preauth_of(held)
    assert (row.state, row.failure_code) == ("expired", "hold_lapsed")
    assert "lapsed at the card processor" in row.failure_reason
    titles = db.session.scalars(select(Notification.title)).all()
    assert titles == ["Hold expired for Ada Lovelace"] * 2  # the admin and the biller
    link = db.session.scalars(select(Notification.link)).first()
    assert link == f"/encounters/{held.id}"


def test_the_expired_hold_offers_reschedule(client, auth, world, held, strict_gateway):
    strict_gateway.lapse(preauth_of(held).gateway_reference)
    _post(client, _canceled(preauth_of(held).gateway_reference))
    auth.login(world.biller)
    page = client.get(f"/encounters/{held.id}").get_data(as_text=True)
    assert "The hold expired before it was charged." in page and "Reschedule</button>" in page
    url = f"/encounters/{held.id}/preauth/reschedule"
    response = client.post(url, data={"hours_before": "2"})
    assert response.status_code == 200
    assert (preauth_of(held).state, preauth_of(held).attempt) == ("scheduled", 2)


def test_a_redelivered_event_changes_nothing(client, held, strict_gateway):
    strict_gateway.lapse(preauth_of(held).gateway_reference)
    event = _canceled(preauth_of(held).gateway_reference)
    _post(client, event)
    notes = _notifications()
    again = _post(client, event)
    assert again.status_code == 200 and again.json["outcome"] == "duplicate"
    assert _notifications() == notes
    assert db.session.scalar(select(func.count(GatewayEvent.id))) == 1


def test_a_bad_signature_is_refused_and_changes_nothing(client, held):
    response = _post(client, _canceled(preauth_of(held).gateway_reference), secret="whsec_wrong")
    assert response.status_code == 400
    assert preauth_of(held).state == "held"
    assert db.session.scalar(select(func.count(GatewayEvent.id))) == 0
    unsigned = client.post("/webhooks/stripe", data="{}", content_type="application/json")
    assert unsigned.status_code == 400


def test_an_unknown_reference_is_acknowledged_and_ignored(client, held):
    response = _post(client, _canceled("pi_not_ours", event_id="evt_2"))
    assert response.status_code == 200 and response.json["outcome"] == "ignored"
    assert preauth_of(held).state == "held"


def test_other_event_types_are_acknowledged_and_ignored(client, held):
    event = _canceled(preauth_of(held).gateway_reference, event_id="evt_3")
    event["type"] = "payment_intent.created"
    assert _post(client, event).json["outcome"] == "ignored"
    assert preauth_of(held).state == "held"


def test_it_needs_no_csrf_token_only_the_signature(app, client, held, strict_gateway):
    app.config["WTF_CSRF_ENABLED"] = True
    strict_gateway.lapse(preauth_of(held).gateway_reference)
    response = _post(client, _canceled(preauth_of(held).gateway_reference))
    assert response.status_code == 200 and response.json["outcome"] == "expired"


def test_a_signed_event_the_gateway_contradicts_changes_nothing(client, held, strict_gateway):
    """The message says canceled; the gateway still holds the money: the hold stays."""
    reference = preauth_of(held).gateway_reference
    response = _post(client, _canceled(reference, event_id="evt_lie"))
    assert response.status_code == 200 and response.json["outcome"] == "ignored"
    assert preauth_of(held).state == "held"
    assert strict_gateway.calls["get_hold"] == 1  # it asked the gateway
    assert _notifications() == 0


def test_an_event_dated_in_the_future_is_refused(client, held, strict_gateway):
    strict_gateway.lapse(preauth_of(held).gateway_reference)
    future = int(time.time()) + 3600
    response = _post(client, _canceled(preauth_of(held).gateway_reference, created=future))
    assert response.status_code == 400 and "future" in response.json["error"]
    assert preauth_of(held).state == "held"
    assert db.session.scalar(select(func.count(GatewayEvent.id))) == 0
    # A few seconds of clock skew is not the future.
    skewed = _canceled(preauth_of(held).gateway_reference, "evt_skew", int(time.time()) + 60)
    assert _post(client, skewed).json["outcome"] == "expired"


@pytest.mark.parametrize(
    "event",
    [
        {"id": "evt_x", "type": "payment_intent.canceled", "created": 1},  # no data
        {"id": "evt_x", "type": "payment_intent.canceled", "created": "soon", "data": {}},
        {"id": "evt_x", "type": "payment_intent.canceled", "data": {"object": {"id": "pi"}}},
        {"id": 5, "type": "payment_intent.canceled", "created": 1, "data": {"object": {}}},
    ],
)
def test_a_malformed_signed_event_is_refused_not_a_crash(client, held, event):
    response = _post(client, event)
    assert response.status_code == 400
    assert preauth_of(held).state == "held"


def test_an_event_for_another_organizations_hold_changes_nothing(
    client, world, held, strict_gateway
):
    """The gateway names the organization a hold was placed for; the row must match."""
    row = preauth_of(held)
    strict_gateway.intents[row.gateway_reference].organization_id = world.outsider_org.id
    strict_gateway.lapse(row.gateway_reference)
    response = _post(client, _canceled(row.gateway_reference, event_id="evt_other"))
    assert response.json["outcome"] == "ignored"
    assert preauth_of(held).state == "held"


def test_a_gateway_that_cannot_be_asked_gets_the_event_again_later(client, held, strict_gateway):
    strict_gateway.lapse(preauth_of(held).gateway_reference)
    strict_gateway.go_down(1)
    event = _canceled(preauth_of(held).gateway_reference, event_id="evt_later")
    response = _post(client, event)
    assert response.status_code == 503 and response.headers["Retry-After"] == "60"
    assert db.session.scalar(select(func.count(GatewayEvent.id))) == 0  # not marked seen
    assert _post(client, event).json["outcome"] == "expired"  # Stripe's redelivery
