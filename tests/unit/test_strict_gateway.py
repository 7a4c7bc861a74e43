"""The strict test gateway enforces Stripe's rules, so duplicate-protection tests mean something."""

from datetime import timedelta

import pytest

from tests.gateways import StrictGateway
from webapp.payments.gateway import PermanentGatewayError, TransientGatewayError


@pytest.fixture
def gateway():
    return StrictGateway()


@pytest.fixture
def customer(gateway):
    return gateway.create_customer(name="Ann Lee", email="ann@example.com", reference="client-1")


@pytest.fixture
def card(gateway, customer):
    return gateway.add_card(customer)


def hold(gateway, customer, card, *, amount=2500, reference="preauth-1-1", key="k-hold"):
    return gateway.place_hold(
        customer_id=customer,
        payment_method_id=card.payment_method_id,
        amount_cents=amount,
        reference=reference,
        idempotency_key=key,
    )


def test_it_replays_a_hold_with_the_same_key_and_parameters(gateway, customer, card):
    first = hold(gateway, customer, card)
    again = hold(gateway, customer, card)
    assert again == first
    assert gateway.calls["place_hold"] == 2
    assert len(gateway.holds("preauth-1-1")) == 1


def test_it_refuses_a_key_reused_with_other_parameters(gateway, customer, card):
    hold(gateway, customer, card, amount=2500)
    with pytest.raises(PermanentGatewayError) as caught:
        hold(gateway, customer, card, amount=3000)
    assert caught.value.code == "idempotency"
    assert len(gateway.holds()) == 1


def test_it_replays_a_decline_too(gateway, customer):
    declining = gateway.add_card(customer, declines=True)
    for _ in range(2):
        with pytest.raises(PermanentGatewayError) as caught:
            hold(gateway, customer, declining)
        assert caught.value.code == "card_declined"
    assert gateway.holds() == []
    assert len(gateway.intents) == 1


def test_it_asks_for_authentication_off_session(gateway, customer):
    card = gateway.add_card(customer, needs_authentication=True)
    with pytest.raises(PermanentGatewayError) as caught:
        hold(gateway, customer, card)
    assert caught.value.code == "authentication_required"


def test_it_refuses_a_card_of_another_customer(gateway, customer):
    other = gateway.create_customer(name="Bo", email=None, reference="client-2")
    card = gateway.add_card(other)
    with pytest.raises(PermanentGatewayError) as caught:
        hold(gateway, customer, card)
    assert caught.value.code == "payment_method_not_attached"
    with pytest.raises(PermanentGatewayError, match="another customer"):
        gateway.attach_card(customer_id=customer, payment_method_id=card.payment_method_id)


def test_it_captures_once_and_at_most_the_amount_held(gateway, customer, card):
    held = hold(gateway, customer, card, amount=2500)
    with pytest.raises(PermanentGatewayError) as too_much:
        gateway.capture(hold_reference=held.reference, amount_cents=2501, idempotency_key="c1")
    assert too_much.value.code == "amount_too_large"
    captured = gateway.capture(
        hold_reference=held.reference, amount_cents=2000, idempotency_key="c2"
    )
    assert (captured.status, captured.amount_cents) == ("succeeded", 2000)
    assert (
        gateway.capture(hold_reference=held.reference, amount_cents=2000, idempotency_key="c2")
        == captured
    ), "a replay of the same capture answers the same"
    with pytest.raises(PermanentGatewayError) as twice:
        gateway.capture(hold_reference=held.reference, amount_cents=2000, idempotency_key="c3")
    assert twice.value.code == "payment_intent_unexpected_state"


def test_it_refuses_a_capture_after_a_release_and_a_second_release(gateway, customer, card):
    held = hold(gateway, customer, card)
    released = gateway.release(hold_reference=held.reference, idempotency_key="r1")
    assert released.status == "canceled"
    with pytest.raises(PermanentGatewayError, match="status of canceled"):
        gateway.capture(hold_reference=held.reference, amount_cents=100, idempotency_key="c1")
    with pytest.raises(PermanentGatewayError, match="status of canceled"):
        gateway.release(hold_reference=held.reference, idempotency_key="r2")
    assert gateway.release(hold_reference=held.reference, idempotency_key="r1") == released


def test_it_refuses_a_capture_after_the_hold_lapsed(gateway, customer, card):
    held = hold(gateway, customer, card)
    assert gateway.lapse(held.reference).status == "canceled"
    with pytest.raises(PermanentGatewayError, match="status of canceled"):
        gateway.capture(hold_reference=held.reference, amount_cents=100, idempotency_key="c1")


def test_it_refunds_no_more_than_was_captured(gateway, customer, card):
    charged = gateway.charge(
        customer_id=customer,
        payment_method_id=card.payment_method_id,
        amount_cents=5000,
        reference="invoice-1",
        idempotency_key="ch1",
    )
    gateway.refund(charge_reference=charged.reference, amount_cents=3000, idempotency_key="f1")
    with pytest.raises(PermanentGatewayError) as caught:
        gateway.refund(charge_reference=charged.reference, amount_cents=2001, idempotency_key="f2")
    assert caught.value.code == "amount_too_large"
    gateway.refund(charge_reference=charged.reference, amount_cents=2000, idempotency_key="f3")


def test_it_refunds_only_the_captured_part_of_a_hold(gateway, customer, card):
    held = hold(gateway, customer, card, amount=2500)
    with pytest.raises(PermanentGatewayError, match="status of requires_capture"):
        gateway.refund(charge_reference=held.reference, amount_cents=100, idempotency_key="f0")
    gateway.capture(hold_reference=held.reference, amount_cents=1000, idempotency_key="c1")
    with pytest.raises(PermanentGatewayError, match="greater than unrefunded amount"):
        gateway.refund(charge_reference=held.reference, amount_cents=1001, idempotency_key="f1")


def test_it_is_down_for_some_calls_and_does_nothing_meanwhile(gateway, customer, card):
    gateway.go_down(calls=2)
    for _ in range(2):
        with pytest.raises(TransientGatewayError):
            hold(gateway, customer, card)
    assert gateway.holds() == []
    hold(gateway, customer, card)
    assert len(gateway.holds()) == 1
    assert gateway.calls["place_hold"] == 3


def test_it_can_lose_the_answer_after_placing_the_hold(gateway, customer, card):
    gateway.lose_answers(calls=1)
    with pytest.raises(TransientGatewayError):
        hold(gateway, customer, card)
    found = gateway.find_hold("preauth-1-1")
    assert found is not None and found.status == "requires_capture"
    assert hold(gateway, customer, card) == found, "the retry replays, no second hold"
    assert len(gateway.holds()) == 1


def test_it_dates_a_visa_hold_4_days_18_hours_and_others_7_days(gateway, customer):
    visa = hold(gateway, customer, gateway.add_card(customer), key="k1", reference="r1")
    amex = hold(
        gateway, customer, gateway.add_card(customer, brand="amex"), key="k2", reference="r2"
    )
    created = {i.id: i.created_at for i in gateway.intents.values()}
    assert visa.lapses_at - created[visa.reference] == timedelta(days=4, hours=18)
    assert amex.lapses_at - created[amex.reference] == timedelta(days=7)


def test_it_finds_nothing_for_an_unknown_reference(gateway):
    assert gateway.find_hold("preauth-404-1") is None


def test_it_saves_a_card_through_a_setup_intent(gateway, customer):
    setup = gateway.create_setup_intent(customer_id=customer)
    with pytest.raises(PermanentGatewayError, match="not confirmed"):
        gateway.setup_intent_card(setup_intent_id=setup.id, customer_id=customer)
    payment_method = gateway.confirm_setup(setup.id, last4="1881", brand="mastercard")
    assert gateway.setup_intent_card(setup_intent_id=setup.id, customer_id=customer) == (
        payment_method
    )
    other = gateway.create_customer(name="Bo", email=None, reference="client-2")
    with pytest.raises(PermanentGatewayError, match="someone else"):
        gateway.setup_intent_card(setup_intent_id=setup.id, customer_id=other)
    details = gateway.attach_card(customer_id=customer, payment_method_id=payment_method)
    assert (details.brand, details.last4) == ("mastercard", "1881")
    gateway.detach_card(payment_method)
    gateway.detach_card(payment_method)
    assert gateway.cards[payment_method].customer_id is None


def test_it_creates_one_customer_per_reference(gateway):
    first = gateway.create_customer(name="Ann", email=None, reference="client-9")
    assert gateway.create_customer(name="Ann", email=None, reference="client-9") == first
    assert len(gateway.customers) == 1
