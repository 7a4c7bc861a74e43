"""The real flow: holds placed by a real worker through StripeGateway on localstripe.

localstripe lives for the whole test session while row ids start again in every
test, so each row gets a random attempt number: its reference ("preauth-<id>-<attempt>")
is then unique in localstripe, as it is in a real Stripe account.
"""

import random
from datetime import timedelta

import pytest
from sqlalchemy import update

from tests import factories
from tests.preauth_support import book, practice, preauth_of, work
from webapp.config import PREAUTH_STUCK_MINUTES
from webapp.extensions import db
from webapp.models import Client, PaymentCard, PreAuthorization
from webapp.models.base import utcnow
from webapp.services import preauth as service
from webapp.services import preauth_runs

VISA, DECLINED_AT_HOLD = "4242424242424242", "4000000000000341"


class WorkerKilled(BaseException):
    pass


@pytest.fixture
def p(world, app, app_stripe_gateway):
    app.config["PREAUTH_RETRY_INTERVALS"] = [0, 0, 0]
    return practice(world, hours=24, copay=3500)


def _card_on_file(gateway, client: Client, number: str) -> PaymentCard:
    """A card created as Stripe.js would, attached to the client's customer, as default."""
    customer = gateway.create_customer(
        name=client.full_name, email=client.email, reference=f"client-{random.random()}"
    )
    method = gateway.v1.payment_methods.create(
        {
            "type": "card",
            "card": {"number": number, "exp_month": 11, "exp_year": 2031, "cvc": "123"},
        }
    )
    details = gateway.attach_card(customer_id=customer, payment_method_id=method.id)
    client.gateway_customer_id = customer
    card = factories.card_from_gateway(client, details)
    db.session.commit()
    return card


def _due_now_with_a_unique_reference(encounter) -> tuple[int, int]:
    """Make the encounter's scheduled hold due now, under an attempt no other test used."""
    row = preauth_of(encounter)
    attempt = random.randrange(10**6, 10**9)
    db.session.execute(
        update(PreAuthorization)
        .where(PreAuthorization.id == row.id)
        .values(attempt=attempt, run_at=utcnow())
    )
    db.session.commit()
    return row.id, attempt


def test_the_worker_places_a_hold_on_localstripe(world, p, app_stripe_gateway):
    _card_on_file(app_stripe_gateway, p.client, VISA)
    encounter = book(p, world.biller)
    row_id, attempt = _due_now_with_a_unique_reference(encounter)
    service.enqueue(row_id, attempt, utcnow())

    work()

    row = preauth_of(encounter)
    assert (row.state, row.amount_cents, row.card_label) == ("held", 3500, "Visa •••• 4242")
    assert row.gateway_reference.startswith("pi_")
    found = app_stripe_gateway.find_hold(f"preauth-{row_id}-{attempt}")
    assert (found.reference, found.amount_cents, found.status) == (
        row.gateway_reference,
        3500,
        "requires_capture",
    )
    lifetime = row.lapses_at - row.held_at  # Visa, off-session: 4 days 18 hours
    assert abs(lifetime - timedelta(days=4, hours=18)) < timedelta(minutes=1)


def test_a_killed_worker_is_settled_from_localstripe_with_the_same_hold(
    world, p, app_stripe_gateway, monkeypatch
):
    _card_on_file(app_stripe_gateway, p.client, VISA)
    encounter = book(p, world.biller)
    row_id, attempt = _due_now_with_a_unique_reference(encounter)

    def die(*_args, **_kwargs):
        raise WorkerKilled

    monkeypatch.setattr(preauth_runs, "_record_held", die)
    with pytest.raises(WorkerKilled):
        preauth_runs.place_hold(row_id, attempt)
    monkeypatch.undo()
    placed = app_stripe_gateway.find_hold(f"preauth-{row_id}-{attempt}")
    assert preauth_of(encounter).state == "processing"

    later = utcnow() + timedelta(minutes=PREAUTH_STUCK_MINUTES + 1)
    report = preauth_runs.sweep(now=later)

    assert report.settled_held == [row_id]
    row = preauth_of(encounter)
    assert (row.state, row.gateway_reference) == ("held", placed.reference)


def test_a_card_declined_at_the_hold_fails_at_once(world, p, app_stripe_gateway):
    _card_on_file(app_stripe_gateway, p.client, DECLINED_AT_HOLD)
    encounter = book(p, world.biller)
    row_id, attempt = _due_now_with_a_unique_reference(encounter)
    service.enqueue(row_id, attempt, utcnow())

    work()

    row = preauth_of(encounter)
    assert (row.state, row.failure_code) == ("failed", "card_declined")
    assert row.failure_reason == "The card was declined."  # staff wording
