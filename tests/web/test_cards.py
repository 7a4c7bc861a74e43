"""Cards on file on the Bill To & Insurance tab: add through a SetupIntent, default, remove.

The strict in-memory gateway stands in for Stripe here (the browser's part, Stripe.js
confirming the SetupIntent, is `strict_gateway.confirm_setup`); one test runs the same
flow against localstripe.
"""

import pytest
from sqlalchemy import select

from tests import factories
from webapp.extensions import db
from webapp.models import AuditEvent, Client, PaymentCard

HX = {"HX-Request": "true"}


@pytest.fixture
def patient(world):
    row = factories.client(world.org, first_name="Ana", last_name="Rivera", email="ana@example.com")
    db.session.commit()
    return row


def open_card_form(client, patient):
    return client.post(f"/clients/{patient.id}/cards/setup", headers=HX)


def setup_intent_id(page: str) -> str:
    return page.split('data-setup-intent="', 1)[1].split('"', 1)[0]


def add_card(client, gateway, patient, **card) -> str:
    """Open the form, let "Stripe.js" confirm the card, post the SetupIntent: the panel."""
    opened = open_card_form(client, patient)
    assert opened.status_code == 200, opened.text
    setup_id = setup_intent_id(opened.text)
    gateway.confirm_setup(setup_id, **card)
    saved = client.post(
        f"/clients/{patient.id}/cards", data={"setup_intent_id": setup_id}, headers=HX
    )
    assert saved.status_code == 200, saved.text
    return saved.text


def cards_of(patient) -> list[PaymentCard]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(PaymentCard).where(PaymentCard.client_id == patient.id).order_by(PaymentCard.id)
        )
    )


def audit_actions() -> list[str]:
    return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_it_opens_the_card_form_on_a_setup_intent_with_the_configured_stripe_js(
    client, auth, world, patient, strict_gateway
):
    auth.login(world.biller)
    page = open_card_form(client, patient).text
    assert 'id="card-form"' in page
    assert f'data-js-url="{strict_gateway.js_url}"' in page
    assert f'data-publishable-key="{strict_gateway.publishable_key}"' in page
    setup = strict_gateway.setups[setup_intent_id(page)]
    assert f'data-client-secret="{setup.client_secret}"' in page
    assert "js.stripe.com/v3/" not in page.replace(strict_gateway.js_url, "")
    db.session.refresh(patient)
    assert patient.gateway_customer_id == setup.customer_id
    assert strict_gateway.customers[setup.customer_id] == {
        "name": "Ana Rivera",
        "email": "ana@example.com",
        "reference": f"client-{patient.id}",
    }


def test_it_creates_the_gateway_customer_once(client, auth, world, patient, strict_gateway):
    auth.login(world.biller)
    open_card_form(client, patient)
    open_card_form(client, patient)
    assert strict_gateway.calls["create_customer"] == 1
    assert len(strict_gateway.setups) == 2


def test_it_saves_the_first_card_as_default_and_the_next_not(
    client, auth, world, patient, strict_gateway
):
    auth.login(world.biller)
    panel = add_card(client, strict_gateway, patient, last4="4242")
    assert "Visa •••• 4242 saved. It is the default card." in panel
    assert 'hx-swap-oob="true"' in panel, "the dialog closes"
    panel = add_card(client, strict_gateway, patient, brand="amex", last4="0005", exp_year=2031)
    assert "American Express •••• 0005 saved." in panel
    first, second = cards_of(patient)
    assert (first.brand, first.last4, first.is_default) == ("visa", "4242", True)
    assert (second.brand, second.last4, second.exp_year, second.is_default) == (
        "amex",
        "0005",
        2031,
        False,
    )
    assert strict_gateway.cards[second.gateway_payment_method_id].customer_id == (
        patient.gateway_customer_id
    )
    assert audit_actions() == ["payment_card.added", "payment_card.added"]


def test_it_saves_a_setup_posted_twice_once(client, auth, world, patient, strict_gateway):
    auth.login(world.biller)
    setup_id = setup_intent_id(open_card_form(client, patient).text)
    strict_gateway.confirm_setup(setup_id)
    for _ in range(2):
        response = client.post(
            f"/clients/{patient.id}/cards", data={"setup_intent_id": setup_id}, headers=HX
        )
        assert response.status_code == 200
    assert len(cards_of(patient)) == 1


@pytest.mark.parametrize(
    "posted", ["", "pm_card_visa", "seti_x/../../v1/customers", "seti_" + "a" * 95]
)
def test_it_refuses_a_missing_or_malformed_setup(client, auth, world, patient, posted):
    auth.login(world.biller)
    response = client.post(
        f"/clients/{patient.id}/cards", data={"setup_intent_id": posted}, headers=HX
    )
    assert response.status_code == 422
    assert response.headers["HX-Retarget"] == "#card-error"
    assert "Enter the card details" in response.text
    assert cards_of(patient) == []


def test_it_refuses_a_setup_that_was_not_confirmed(client, auth, world, patient, strict_gateway):
    auth.login(world.biller)
    setup_id = setup_intent_id(open_card_form(client, patient).text)
    response = client.post(
        f"/clients/{patient.id}/cards", data={"setup_intent_id": setup_id}, headers=HX
    )
    assert response.status_code == 422
    assert "The card was not confirmed" in response.text
    assert cards_of(patient) == []


def test_it_refuses_the_setup_of_another_client(client, auth, world, patient, strict_gateway):
    other = factories.client(world.org, first_name="Bo")
    db.session.commit()
    auth.login(world.biller)
    open_card_form(client, patient)
    others_setup = setup_intent_id(open_card_form(client, other).text)
    strict_gateway.confirm_setup(others_setup)
    response = client.post(
        f"/clients/{patient.id}/cards", data={"setup_intent_id": others_setup}, headers=HX
    )
    assert response.status_code == 422
    assert "someone else" in response.text
    assert cards_of(patient) == [] and cards_of(other) == []


def test_it_shows_a_gateway_outage_in_the_dialog_and_writes_nothing(
    client, auth, world, patient, strict_gateway
):
    auth.login(world.biller)
    strict_gateway.go_down(calls=1)
    response = open_card_form(client, patient)
    assert response.status_code == 422
    assert "could not be opened: The payment service could not be reached." in response.text
    db.session.refresh(patient)
    assert patient.gateway_customer_id is None


def test_it_shows_a_gateway_outage_when_saving_next_to_the_form(
    client, auth, world, patient, strict_gateway
):
    auth.login(world.biller)
    setup_id = setup_intent_id(open_card_form(client, patient).text)
    strict_gateway.confirm_setup(setup_id)
    strict_gateway.go_down(calls=1)
    response = client.post(
        f"/clients/{patient.id}/cards", data={"setup_intent_id": setup_id}, headers=HX
    )
    assert response.status_code == 422
    assert 'id="card-error"' in response.text and "could not be reached" in response.text
    assert cards_of(patient) == []
    saved = client.post(
        f"/clients/{patient.id}/cards", data={"setup_intent_id": setup_id}, headers=HX
    )
    assert saved.status_code == 200, "the same setup saves once the gateway is back"
    assert len(cards_of(patient)) == 1


def test_it_lists_cards_with_expiry_default_and_expired_badges(client, auth, world, patient):
    factories.payment_card(world.org, patient, last4="4242", exp_month=3, exp_year=2031)
    factories.payment_card(
        world.org, patient, brand="mastercard", last4="4444", exp_month=1, exp_year=2020,
        is_default=False,
    )  # fmt: skip
    db.session.commit()
    auth.login(world.biller)
    page = client.get(f"/clients/{patient.id}/insurance").text
    assert "Cards on file" in page
    assert "•••• 4242" in page and "03/2031" in page
    assert "Mastercard" in page and "01/2020" in page
    assert page.count('class="badge badge-info">Default') == 1
    assert page.count('class="badge badge-expired">Expired') == 1
    assert page.count(">Make default<") == 0, "an expired card cannot become the default"
    assert page.count(">Remove<") == 2


def test_a_clinician_sees_the_cards_but_cannot_manage_them(client, auth, world):
    mine = factories.client(world.org, primary_clinician_id=world.clinician.id)
    factories.payment_card(world.org, mine)
    db.session.commit()
    auth.login(world.clinician)
    page = client.get(f"/clients/{mine.id}/insurance").text
    assert "•••• 4242" in page
    assert "Add card" not in page and ">Remove<" not in page
    assert "Billers and admins manage cards." in page


def test_it_warns_when_the_default_card_has_expired(client, auth, world, patient):
    factories.payment_card(world.org, patient, exp_month=1, exp_year=2020)
    db.session.commit()
    auth.login(world.biller)
    page = client.get(f"/clients/{patient.id}/insurance").text
    assert "The default card has expired" in page


def test_it_makes_another_card_the_default(client, auth, world, patient):
    first = factories.payment_card(world.org, patient, last4="4242")
    second = factories.payment_card(world.org, patient, last4="1881", is_default=False)
    db.session.commit()
    auth.login(world.biller)
    response = client.post(f"/cards/{second.id}/default", headers=HX)
    assert response.status_code == 200
    assert "Visa •••• 1881 is now the default card." in response.text
    assert [(c.id, c.is_default) for c in cards_of(patient)] == [
        (first.id, False),
        (second.id, True),
    ]
    assert audit_actions() == ["payment_card.made_default"]


def test_it_refuses_an_expired_card_as_default(client, auth, world, patient):
    factories.payment_card(world.org, patient)
    expired = factories.payment_card(world.org, patient, exp_year=2020, is_default=False)
    db.session.commit()
    auth.login(world.biller)
    response = client.post(f"/cards/{expired.id}/default", headers=HX)
    assert response.status_code == 422
    assert "has expired; it cannot be the default card" in response.text
    assert [c.is_default for c in cards_of(patient)] == [True, False]
    assert audit_actions() == []


def test_it_removes_a_card_detaching_it_and_passes_default_to_the_newest_good_card(
    client, auth, world, patient, strict_gateway
):
    auth.login(world.biller)
    add_card(client, strict_gateway, patient, last4="4242")
    add_card(client, strict_gateway, patient, last4="1111")
    add_card(client, strict_gateway, patient, last4="0341", exp_year=2020)
    default, good, expired = cards_of(patient)
    response = client.post(f"/cards/{default.id}/delete", headers=HX)
    assert response.status_code == 200
    assert "Visa •••• 4242 removed. Visa •••• 1111 is now the default card." in response.text
    assert strict_gateway.cards[default.gateway_payment_method_id].customer_id is None
    assert [(c.id, c.is_default) for c in cards_of(patient)] == [
        (good.id, True),
        (expired.id, False),
    ]
    assert audit_actions()[-1] == "payment_card.removed"
    removed = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert removed.before["last4"] == "4242" and removed.user_id == world.biller.id


def test_it_keeps_the_card_when_the_gateway_cannot_detach_it(
    client, auth, world, patient, strict_gateway
):
    auth.login(world.biller)
    add_card(client, strict_gateway, patient)
    (card,) = cards_of(patient)
    strict_gateway.go_down(calls=1)
    response = client.post(f"/cards/{card.id}/delete", headers=HX)
    assert response.status_code == 422
    assert "Visa •••• 4242 was not removed: The payment service could not be reached." in (
        response.text
    )
    assert cards_of(patient) == [card]
    assert strict_gateway.cards[card.gateway_payment_method_id].customer_id is not None


def test_a_plain_post_without_htmx_goes_back_to_the_tab(client, auth, world, patient):
    card = factories.payment_card(world.org, patient, is_default=False)
    db.session.commit()
    auth.login(world.admin)
    response = client.post(f"/cards/{card.id}/default")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/clients/{patient.id}/insurance")


def test_it_saves_a_card_confirmed_on_localstripe(client, auth, world, patient, app_stripe_gateway):
    auth.login(world.biller)
    page = open_card_form(client, patient).text
    assert f'data-js-url="{app_stripe_gateway.js_url}"' in page
    setup_id = setup_intent_id(page)
    # Stripe.js's part, as the localstripe test Stripe.js sends it:
    card = {"number": "4242424242424242", "exp_month": 8, "exp_year": 2032, "cvc": "123"}
    app_stripe_gateway.v1.setup_intents.confirm(
        setup_id, {"payment_method_data": {"type": "card", "card": card}}
    )
    response = client.post(
        f"/clients/{patient.id}/cards", data={"setup_intent_id": setup_id}, headers=HX
    )
    assert response.status_code == 200, response.text
    (saved,) = cards_of(patient)
    assert (saved.brand, saved.last4, saved.exp_month, saved.exp_year, saved.is_default) == (
        "visa",
        "4242",
        8,
        2032,
        True,
    )
    customer = db.session.get(Client, patient.id).gateway_customer_id
    method = app_stripe_gateway.v1.payment_methods.retrieve(saved.gateway_payment_method_id)
    assert method.customer == customer

    removed = client.post(f"/cards/{saved.id}/delete", headers=HX)
    assert removed.status_code == 200
    method = app_stripe_gateway.v1.payment_methods.retrieve(saved.gateway_payment_method_id)
    assert method.customer is None
