"""The demo's test cards and holds: added by a real worker against localstripe, once."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.preauth_support import work
from tests.servers import free_port
from webapp.extensions import db
from webapp.models import Client, Encounter, PaymentCard, PreAuthorization
from webapp.models.base import utcnow
from webapp.payments.gateway import TransientGatewayError
from webapp.payments.stripe_gateway import StripeGateway
from webapp.services import demo
from webapp.services.demo_payments import DEMO_TEST_CARDS, add_demo_cards, enqueue_if_demo


def _cards_by_client() -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for client_id, last4 in db.session.execute(
        select(PaymentCard.client_id, PaymentCard.last4).order_by(PaymentCard.id)
    ):
        found.setdefault(client_id, []).append(last4)
    return found


def _holds() -> dict[int, PreAuthorization]:
    return {row.encounter_id: row for row in db.session.scalars(select(PreAuthorization))}


def test_the_worker_gives_the_first_demo_clients_a_card_and_holds(app, app_stripe_gateway):
    org, _ = demo.seed_demo()
    assert (org.preauth_active, org.preauth_hours_before) == (True, 72)
    assert enqueue_if_demo() is True

    work()

    clients = db.session.scalars(select(Client).order_by(Client.id)).all()
    carded = clients[: len(DEMO_TEST_CARDS)]
    declining = carded[DEMO_TEST_CARDS.index("pm_card_chargeCustomerFail")]
    expected = {c.id: ["0341" if c is declining else "4242"] for c in carded}
    assert _cards_by_client() == expected
    assert all(c.gateway_customer_id.startswith("cus_") for c in carded)
    assert all(c.gateway_customer_id is None for c in clients[len(DEMO_TEST_CARDS) :])

    # Every upcoming visit of a carded client has a hold; those due within 72 hours ran.
    holds = _holds()
    now = utcnow()
    upcoming = db.session.scalars(
        select(Encounter).where(
            Encounter.client_id.in_([c.id for c in carded]),
            Encounter.status == "upcoming",
            Encounter.starts_at > now,
        )
    ).all()
    assert upcoming and {e.id for e in upcoming} == set(holds)
    for encounter in upcoming:
        row = holds[encounter.id]
        due = encounter.starts_at - timedelta(hours=72) <= now
        copay = encounter.client_insurance.copay_cents
        if not due:
            assert row.state == "scheduled"
        elif copay == 0:
            assert row.state == "not_needed"
        elif encounter.client_id == declining.id:
            assert (row.state, row.failure_code) == ("failed", "card_declined")
        else:
            assert (row.state, row.amount_cents) == ("held", copay)
    ran = [row.state for row in holds.values() if row.state != "scheduled"]
    assert "held" in ran and "failed" in ran  # the demo shows both


def test_a_second_run_adds_nothing_and_a_client_with_a_card_is_left_alone(app, app_stripe_gateway):
    demo.seed_demo()
    first = db.session.scalars(select(Client).order_by(Client.id)).first()
    first.gateway_customer_id = "cus_added_by_a_person"
    db.session.commit()

    assert add_demo_cards(live_payments=False) == (
        f"test cards added for {len(DEMO_TEST_CARDS) - 1} demo clients"
    )
    cards_after_first, holds_after_first = _cards_by_client(), set(_holds())
    assert first.id not in cards_after_first

    assert add_demo_cards(live_payments=False) == "test cards added for 0 demo clients"
    assert _cards_by_client() == cards_after_first
    assert set(_holds()) == holds_after_first


def test_a_payments_server_that_is_not_up_yet_writes_nothing_and_the_retry_finishes(
    app, app_stripe_gateway
):
    demo.seed_demo()
    app.extensions["payment_gateway"] = StripeGateway(
        api_key="sk_test_covered",
        api_base=f"http://127.0.0.1:{free_port()}",
        publishable_key="pk_test_covered",
        js_url="http://127.0.0.1:9/js",
        max_network_retries=0,
    )
    with pytest.raises(TransientGatewayError):
        add_demo_cards(live_payments=False)
    db.session.rollback()
    assert db.session.scalar(select(func.count(PaymentCard.id))) == 0
    assert (
        db.session.scalar(
            select(func.count(Client.id)).where(Client.gateway_customer_id.is_not(None))
        )
        == 0
    )
    assert db.session.scalar(select(func.count(PreAuthorization.id))) == 0

    app.extensions["payment_gateway"] = app_stripe_gateway  # the server is up now
    assert add_demo_cards(live_payments=False) == (
        f"test cards added for {len(DEMO_TEST_CARDS)} demo clients"
    )


def test_live_payments_and_databases_without_the_demo_get_nothing(app, app_stripe_gateway, world):
    assert enqueue_if_demo() is False
    assert add_demo_cards(live_payments=False) == "no demo practice"
    demo.seed_demo()
    assert add_demo_cards(live_payments=True) == "live payments: the demo gets no test cards"
    assert db.session.scalar(select(func.count(PaymentCard.id))) == 0
