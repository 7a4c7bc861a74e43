"""Bad input gets a clear 4xx with its message, the same on SQLite and PostgreSQL.

The kinds, each with several cases: money past the limit, ids past int4 in paths
and forms, control characters, bodies past MAX_CONTENT_LENGTH, and signed
webhooks whose event is not one. Nothing is written on any of them.
"""

import hashlib
import hmac
import json
import time

import pytest
from sqlalchemy import func, select

from tests import factories
from webapp.extensions import db
from webapp.models import Client, ClientInsurance, GatewayEvent, ServiceType

SECRET = "whsec_covered_localstripe"


@pytest.fixture
def practice(world):
    client = factories.client(world.org, primary_clinician_id=world.clinician.id)
    payer = factories.payer(world.org)
    db.session.commit()
    return {"client": client, "payer": payer}


def _count(model) -> int:
    return db.session.scalar(select(func.count(model.id)))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("21474836.48", "Enter at most $10,000.00."),
        ("21,474,836.47", "Enter at most $10,000.00."),
        ("10000.01", "Enter at most $10,000.00."),
        ("9" * 13, "That amount is too large."),
        ("9" * 5000, "That amount is too large."),
        ("$99999999999999999999.99", "That amount is too large."),
        ("-1", "The amount cannot be negative."),
        ("1e3", "is not an amount of money."),
    ],
)
def test_money_past_the_limit_gets_its_message_under_the_field(
    client, auth, world, practice, value, message
):
    auth.login(world.admin)
    insurance = client.post(
        f"/clients/{practice['client'].id}/insurances/new",
        data={"payer_id": practice["payer"].id, "member_id": "M1", "copay": value},
    )
    assert insurance.status_code == 200 and message in insurance.get_data(as_text=True)
    service = client.post(
        "/admin/service-types/new",
        data={"cpt_code": "90837", "name": "Therapy", "price": value, "cancellation_fee": value},
    )
    assert service.status_code == 422 and message in service.get_data(as_text=True)
    assert _count(ClientInsurance) == 0 and _count(ServiceType) == 0


def test_the_largest_amount_is_accepted(client, auth, world):
    auth.login(world.admin)
    response = client.post(
        "/admin/service-types/new",
        data={"cpt_code": "90837", "name": "Therapy", "price": "10,000.00",
              "cancellation_fee": "$10000", "unit_minutes": "1"},
    )  # fmt: skip
    assert response.status_code == 302
    assert db.session.scalar(select(ServiceType.price_cents)) == 1_000_000


@pytest.mark.parametrize("row_id", ["2147483648", "9223372036854775808", "9" * 40, "0"])
def test_an_id_past_int4_in_a_path_is_not_found(client, auth, world, row_id):
    auth.login(world.admin)
    for url in (f"/clients/{row_id}/insurance", f"/encounters/{row_id}", f"/invoices/{row_id}"):
        assert client.get(url).status_code == 404, url
    assert client.post(f"/authorizations/{row_id}/delete").status_code == 404


@pytest.mark.parametrize("row_id", ["2147483648", "9223372036854775808", "-1", "1.5"])
def test_an_id_past_int4_in_a_form_or_query_is_a_message(client, auth, world, practice, row_id):
    auth.login(world.admin)
    insurance = client.post(
        f"/clients/{practice['client'].id}/insurances/new",
        data={"payer_id": row_id, "member_id": "M1", "copay": "10"},
    )
    assert insurance.status_code == 200 and 'class="field-error"' in insurance.get_data(
        as_text=True
    )
    assert _count(ClientInsurance) == 0
    assert client.get(f"/schedule?clinician={row_id}").status_code == 200
    assert client.get(f"/notifications?page={row_id}").status_code == 200
    marked = client.post("/notifications/read", data={"id": row_id})
    assert marked.status_code == 422
    report = client.get(f"/reports/authorizations?payer={row_id}&page={row_id}")
    assert report.status_code == 422 and "Unknown payer" in report.get_data(as_text=True)


@pytest.mark.parametrize("text", ["Ada\x00", "\x01Ada", "Ada\x1b[31m", "Ada\x7f"])
def test_a_control_character_is_refused_before_any_view(client, auth, world, text):
    auth.login(world.admin)
    response = client.post("/clients/new", data={"first_name": text, "last_name": "Lovelace"})
    assert response.status_code == 400
    assert "control character" in response.get_data(as_text=True)
    assert client.get("/clients", query_string={"q": text}).status_code == 400
    assert _count(Client) == 0


def test_tabs_and_newlines_are_ordinary_text(client, auth, world):
    auth.login(world.admin)
    response = client.get("/clients", query_string={"q": "a\tb\r\nc"})
    assert response.status_code == 200


def test_a_body_past_the_limit_is_refused_with_a_message(client, auth, world):
    auth.login(world.admin)
    response = client.post(
        "/clients/new",
        data=b"first_name=" + b"x" * (7 * 1024 * 1024),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 413
    assert "too large" in response.get_data(as_text=True)
    assert _count(Client) == 0


def test_a_search_of_any_length_answers(client, auth, world):
    auth.login(world.clinician)
    assert client.get("/clients", query_string={"q": "x" * 100_000}).status_code == 200


# --- signed webhooks that carry no event ------------------------------------------------------


def _signed(client, app, payload: str):
    app.config["STRIPE_WEBHOOK_SECRET"] = SECRET
    stamp = int(time.time())
    signature = hmac.new(SECRET.encode(), f"{stamp}.{payload}".encode(), hashlib.sha256)
    return client.post(
        "/webhooks/stripe",
        data=payload,
        content_type="application/json",
        headers={"Stripe-Signature": f"t={stamp},v1={signature.hexdigest()}"},
    )


EVENT = {"id": "evt_1", "object": "event", "type": "payment_intent.canceled"}


@pytest.mark.parametrize(
    "payload",
    [
        json.dumps(EVENT),  # no data
        json.dumps({**EVENT, "data": None}),
        json.dumps({**EVENT, "data": "x"}),
        json.dumps({**EVENT, "data": {}}),
        json.dumps({**EVENT, "data": {"object": "pi_1"}}),
        json.dumps({**EVENT, "data": {"object": [1, 2]}}),
        json.dumps({"object": "event", "data": {"object": {"id": "pi_1"}}}),  # no id or type
        json.dumps([EVENT]),
        json.dumps("event"),
        "not json",
    ],
)
def test_a_signed_webhook_without_a_usable_event_is_a_400(app, client, payload):
    response = _signed(client, app, payload)
    assert response.status_code == 400
    assert _count(GatewayEvent) == 0
