"""StripeGateway against a real localstripe: customers, cards, holds, captures, refunds, errors."""

from datetime import UTC, datetime, timedelta

import pytest
import stripe

from tests.servers import free_port
from webapp.payments.gateway import PermanentGatewayError, TransientGatewayError, idempotency_key
from webapp.payments.stripe_gateway import StripeGateway, classified_errors


@pytest.fixture
def customer(stripe_gateway):
    return stripe_gateway.create_customer(
        name="Ann Lee", email="ann@example.com", reference="client-1"
    )


def new_card(gateway: StripeGateway, number: str = "4242424242424242") -> str:
    """A card as Stripe.js creates it in the browser (a PaymentMethod, not yet attached)."""
    card = {"number": number, "exp_month": 11, "exp_year": 2031, "cvc": "123"}
    return gateway.v1.payment_methods.create({"type": "card", "card": card}).id


@pytest.fixture
def card(stripe_gateway, customer):
    return stripe_gateway.attach_card(
        customer_id=customer, payment_method_id=new_card(stripe_gateway)
    )


def place(gateway, customer, card, *, amount=2500, row=1, attempt=1):
    return gateway.place_hold(
        customer_id=customer,
        payment_method_id=card.payment_method_id,
        amount_cents=amount,
        reference=f"preauth-{row}-{attempt}",
        idempotency_key=idempotency_key("preauth", row, attempt, "hold"),
    )


def test_it_creates_a_customer_with_our_reference(stripe_gateway, customer):
    saved = stripe_gateway.v1.customers.retrieve(customer)
    assert customer.startswith("cus_")
    assert (saved.name, saved.email) == ("Ann Lee", "ann@example.com")
    assert saved.metadata["covered_reference"] == "client-1"


def test_it_saves_a_card_through_a_setup_intent(stripe_gateway, customer):
    setup = stripe_gateway.create_setup_intent(customer_id=customer)
    assert setup.client_secret.startswith(f"{setup.id}_secret_")
    with pytest.raises(PermanentGatewayError) as early:
        stripe_gateway.setup_intent_card(setup_intent_id=setup.id, customer_id=customer)
    assert early.value.code == "setup_incomplete"

    # What Stripe.js does in the browser with the client secret and the card form:
    card = {"number": "4242424242424242", "exp_month": 4, "exp_year": 2032, "cvc": "123"}
    stripe_gateway.v1.setup_intents.confirm(
        setup.id, {"payment_method_data": {"type": "card", "card": card}}
    )

    payment_method = stripe_gateway.setup_intent_card(
        setup_intent_id=setup.id, customer_id=customer
    )
    details = stripe_gateway.attach_card(customer_id=customer, payment_method_id=payment_method)
    assert (details.brand, details.last4, details.exp_month, details.exp_year) == (
        "visa",
        "4242",
        4,
        2032,
    )
    assert stripe_gateway.card_details(payment_method) == details
    again = stripe_gateway.attach_card(customer_id=customer, payment_method_id=payment_method)
    assert again == details, "attaching to the same customer twice is harmless"


def test_it_refuses_a_setup_intent_of_another_customer(stripe_gateway, customer):
    other = stripe_gateway.create_customer(name="Bo", email=None, reference="client-2")
    setup = stripe_gateway.create_setup_intent(customer_id=other)
    with pytest.raises(PermanentGatewayError) as caught:
        stripe_gateway.setup_intent_card(setup_intent_id=setup.id, customer_id=customer)
    assert caught.value.code == "wrong_customer"


def test_it_refuses_a_card_attached_to_another_customer(stripe_gateway, customer, card):
    other = stripe_gateway.create_customer(name="Bo", email=None, reference="client-2")
    with pytest.raises(PermanentGatewayError) as caught:
        stripe_gateway.attach_card(customer_id=other, payment_method_id=card.payment_method_id)
    assert caught.value.code == "wrong_customer"


def test_it_reports_a_card_declined_when_saving_it(stripe_gateway, customer):
    declined = new_card(stripe_gateway, "4000000000000002")
    with pytest.raises(PermanentGatewayError) as caught:
        stripe_gateway.attach_card(customer_id=customer, payment_method_id=declined)
    assert caught.value.code == "card_declined"
    assert caught.value.message == "Your card was declined."


def test_it_places_a_hold_and_finds_it_by_our_reference(stripe_gateway, customer, card):
    hold = place(stripe_gateway, customer, card, amount=2500)
    assert hold.reference.startswith("pi_")
    assert (hold.amount_cents, hold.status) == (2500, "requires_capture")
    intent = stripe_gateway.v1.payment_intents.retrieve(hold.reference)
    assert intent.capture_method == "manual"
    assert intent.metadata["covered_reference"] == "preauth-1-1"
    created = stripe_gateway.v1.charges.retrieve(intent.latest_charge.id).created
    assert hold.lapses_at - created_at(created) == timedelta(days=4, hours=18), "Visa off-session"

    assert stripe_gateway.find_hold("preauth-1-1") == hold
    assert stripe_gateway.find_hold("preauth-1-2") is None


def created_at(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC).replace(tzinfo=None)


def test_it_finds_a_hold_among_many_pages(stripe_gateway, customer, card):
    for row in range(1, 206):
        place(stripe_gateway, customer, card, amount=100 + row, row=row)
    found = stripe_gateway.find_hold("preauth-205-1")
    assert found is not None and found.amount_cents == 305


def test_it_captures_part_of_a_hold_and_refunds_part_of_the_capture(stripe_gateway, customer, card):
    hold = place(stripe_gateway, customer, card, amount=2500)
    captured = stripe_gateway.capture(
        hold_reference=hold.reference,
        amount_cents=2000,
        idempotency_key=idempotency_key("preauth", 1, 1, "capture"),
    )
    assert (captured.status, captured.amount_cents) == ("succeeded", 2000)
    assert stripe_gateway.find_hold("preauth-1-1").status == "succeeded"

    refund = stripe_gateway.refund(
        charge_reference=hold.reference, amount_cents=500, idempotency_key="covered-refund-1"
    )
    assert refund.reference.startswith("re_") and refund.amount_cents == 500


def test_it_refuses_a_second_capture(stripe_gateway, customer, card):
    hold = place(stripe_gateway, customer, card)
    stripe_gateway.capture(hold_reference=hold.reference, amount_cents=2500, idempotency_key="c1")
    with pytest.raises(PermanentGatewayError):
        stripe_gateway.capture(
            hold_reference=hold.reference, amount_cents=2500, idempotency_key="c2"
        )


def test_it_releases_a_hold_once(stripe_gateway, customer, card):
    hold = place(stripe_gateway, customer, card)
    released = stripe_gateway.release(hold_reference=hold.reference, idempotency_key="r1")
    assert (released.status, released.amount_cents) == ("canceled", 2500)
    assert stripe_gateway.find_hold("preauth-1-1").status == "canceled"
    with pytest.raises(PermanentGatewayError):
        stripe_gateway.release(hold_reference=hold.reference, idempotency_key="r2")


def test_it_charges_a_saved_card_and_refunds_it(stripe_gateway, customer, card):
    charge = stripe_gateway.charge(
        customer_id=customer,
        payment_method_id=card.payment_method_id,
        amount_cents=7500,
        reference="invoice-3",
        idempotency_key="covered-invoice-3-1-charge",
    )
    assert charge.reference.startswith("pi_") and charge.amount_cents == 7500
    intent = stripe_gateway.v1.payment_intents.retrieve(charge.reference)
    assert intent.status == "succeeded"
    refund = stripe_gateway.refund(
        charge_reference=charge.reference, amount_cents=7500, idempotency_key="f1"
    )
    assert refund.amount_cents == 7500


def test_it_reports_a_card_declined_at_the_hold_as_permanent(stripe_gateway, customer):
    # 4000000000000341 attaches fine and is declined when charged.
    card = stripe_gateway.attach_card(
        customer_id=customer, payment_method_id=new_card(stripe_gateway, "4000000000000341")
    )
    with pytest.raises(PermanentGatewayError) as caught:
        place(stripe_gateway, customer, card)
    assert caught.value.code == "card_declined"
    assert caught.value.permanent


def test_it_reports_authentication_required_off_session_as_permanent(stripe_gateway, customer):
    card = stripe_gateway.attach_card(
        customer_id=customer, payment_method_id=new_card(stripe_gateway, "4000002500003155")
    )
    with pytest.raises(PermanentGatewayError) as caught:
        place(stripe_gateway, customer, card)
    assert caught.value.code == "authentication_required"


def test_it_reports_an_unknown_hold_as_permanent(stripe_gateway):
    with pytest.raises(PermanentGatewayError):
        stripe_gateway.capture(hold_reference="pi_missing", amount_cents=100, idempotency_key="c")


def test_it_refuses_a_zero_amount_without_calling_the_gateway(stripe_gateway, customer, card):
    with pytest.raises(PermanentGatewayError) as caught:
        place(stripe_gateway, customer, card, amount=0)
    assert caught.value.code == "invalid_amount"


def test_it_detaches_a_card_and_forgives_a_second_detach(stripe_gateway, customer, card):
    stripe_gateway.detach_card(card.payment_method_id)
    assert stripe_gateway.v1.payment_methods.retrieve(card.payment_method_id).customer is None
    stripe_gateway.detach_card(card.payment_method_id)
    stripe_gateway.detach_card("pm_does_not_exist")


def test_it_reports_an_unreachable_server_as_transient():
    gateway = StripeGateway(
        api_key="sk_test_covered",
        api_base=f"http://127.0.0.1:{free_port()}",
        publishable_key="pk_test_covered",
        js_url="unused",
        max_network_retries=0,
    )
    with pytest.raises(TransientGatewayError) as caught:
        gateway.place_hold(
            customer_id="cus_x",
            payment_method_id="pm_x",
            amount_cents=2500,
            reference="preauth-1-1",
            idempotency_key="k",
        )
    assert not caught.value.permanent
    with pytest.raises(TransientGatewayError):
        gateway.find_hold("preauth-1-1")


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (stripe.APIError("boom", http_status=500), True),
        (stripe.APIError("bad gateway", http_status=502), True),
        (stripe.RateLimitError("slow down", http_status=429), True),
        (stripe.APIConnectionError("reset"), True),
        (stripe.InvalidRequestError("in use", None, http_status=409, code="lock_timeout"), True),
        (stripe.CardError("declined", None, "card_declined", http_status=402), False),
        (stripe.InvalidRequestError("no such", None, http_status=404), False),
        (stripe.IdempotencyError("other params", http_status=400), False),
        (stripe.AuthenticationError("bad key", http_status=401), False),
    ],
)
def test_it_classifies_stripe_errors(error, transient):
    expected = TransientGatewayError if transient else PermanentGatewayError
    with pytest.raises(expected), classified_errors():
        raise error
