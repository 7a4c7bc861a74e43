"""Cards on file: the client's gateway customer, saving a card, the default card, removal.

The card number never reaches us: the browser confirms a SetupIntent with Stripe.js,
and we read the resulting card back from the gateway. A gateway error leaves the
database untouched (the gateway is called before anything is written).
"""

from datetime import date

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from webapp.domain.card_rules import brand_label, card_expired
from webapp.extensions import db
from webapp.models import Client, PaymentCard, User
from webapp.payments import current_gateway
from webapp.payments.gateway import CardDetails, SetupIntent
from webapp.services import audit
from webapp.services.errors import Refused


class CardRefused(Refused):
    """A card action refused by our own rules (the gateway's own refusals are GatewayErrors)."""

    status = 422


def card_row(client: Client, details: CardDetails, *, is_default: bool) -> PaymentCard:
    """The (unsaved) PaymentCard row for a card the gateway holds for `client`."""
    return PaymentCard(
        organization_id=client.organization_id,
        client_id=client.id,
        gateway_payment_method_id=details.payment_method_id,
        brand=details.brand,
        last4=details.last4,
        exp_month=details.exp_month,
        exp_year=details.exp_year,
        is_default=is_default,
    )


def card_label(card: PaymentCard) -> str:
    return f"{brand_label(card.brand)} •••• {card.last4}"


def client_cards(client_id: int) -> list[PaymentCard]:
    """The default card first, then the newest."""
    return list(
        db.session.scalars(
            select(PaymentCard)
            .where(PaymentCard.client_id == client_id)
            .order_by(PaymentCard.is_default.desc(), PaymentCard.id.desc())
        )
    )


def ensure_customer(client: Client) -> str:
    """The client's gateway customer, created the first time a card is added.

    Two requests racing here both ask the gateway (its idempotency key, derived
    from the client, makes Stripe answer both with one customer) and only the
    first one's id is written.
    """
    if client.gateway_customer_id:
        return client.gateway_customer_id
    customer_id = current_gateway().create_customer(
        name=client.full_name, email=client.email, reference=f"client-{client.id}"
    )
    db.session.execute(
        update(Client)
        .where(Client.id == client.id, Client.gateway_customer_id.is_(None))
        .values(gateway_customer_id=customer_id)
    )
    db.session.commit()
    db.session.refresh(client)
    return client.gateway_customer_id


def start_card_setup(client: Client) -> SetupIntent:
    """A SetupIntent for the browser's card form (Stripe.js confirms it)."""
    return current_gateway().create_setup_intent(customer_id=ensure_customer(client))


def save_card(client: Client, setup_intent_id: str, *, actor: User) -> PaymentCard:
    """Record the card the browser confirmed on `setup_intent_id`; the first becomes default.

    Saving the same setup twice (a double click) returns the card saved the first time.

    Raises:
        CardRefused: no card setup in progress for the client, or the card is on file
            for another client.
        GatewayError: the gateway refused or did not answer (nothing saved).
    """
    if not client.gateway_customer_id:
        raise CardRefused("Open Add card again: this client has no card setup in progress.")
    customer_id = client.gateway_customer_id
    payment_method_id = current_gateway().setup_intent_card(
        setup_intent_id=setup_intent_id, customer_id=customer_id
    )
    saved = _card_with(payment_method_id)
    if saved is not None:
        return _same_client(saved, client)
    details = current_gateway().attach_card(
        customer_id=customer_id, payment_method_id=payment_method_id
    )

    # Lock the client row (PostgreSQL) so two cards saved at once can't both become default.
    db.session.execute(select(Client.id).where(Client.id == client.id).with_for_update())
    has_default = db.session.scalar(
        select(PaymentCard.id).where(
            PaymentCard.client_id == client.id, PaymentCard.is_default.is_(True)
        )
    )
    card = card_row(client, details, is_default=has_default is None)
    db.session.add(card)
    try:
        db.session.flush()
    except IntegrityError:  # the same card saved by a concurrent request
        db.session.rollback()
        return _same_client(_card_with(payment_method_id), client)
    audit.record(
        organization_id=client.organization_id,
        user_id=actor.id,
        action="payment_card.added",
        row=card,
        after=audit.snapshot(card),
    )
    db.session.commit()
    return card


def set_default(card: PaymentCard, *, today: date, actor: User) -> None:
    """Make `card` the one pre-authorizations use.

    Raises:
        CardRefused: the card has expired.
    """
    if card.is_default:
        return
    if card_expired(card.exp_month, card.exp_year, today):
        raise CardRefused(f"{card_label(card)} has expired; it cannot be the default card.")
    before = audit.snapshot(card)
    db.session.execute(
        update(PaymentCard)
        .where(PaymentCard.client_id == card.client_id)
        .values(is_default=PaymentCard.id == card.id)
    )
    db.session.refresh(card)
    audit.record(
        organization_id=card.organization_id,
        user_id=actor.id,
        action="payment_card.made_default",
        row=card,
        before=before,
        after=audit.snapshot(card),
    )
    db.session.commit()


def remove_card(card: PaymentCard, *, today: date, actor: User) -> PaymentCard | None:
    """Detach the card at the gateway, then forget it; returns the new default, if any.

    When the default goes, the newest card that has not expired takes its place.
    Pre-authorizations keep the card's label (`card_label`) after it is removed.
    """
    current_gateway().detach_card(card.gateway_payment_method_id)
    was_default = card.is_default
    client_id = card.client_id
    audit.record(
        organization_id=card.organization_id,
        user_id=actor.id,
        action="payment_card.removed",
        row=card,
        before=audit.snapshot(card),
    )
    db.session.delete(card)
    db.session.flush()
    new_default = None
    if was_default:
        usable = [
            other
            for other in client_cards(client_id)
            if not card_expired(other.exp_month, other.exp_year, today)
        ]
        if usable:
            new_default = max(usable, key=lambda other: other.id)
            new_default.is_default = True
    db.session.commit()
    return new_default


def _card_with(payment_method_id: str) -> PaymentCard | None:
    return db.session.scalar(
        select(PaymentCard).where(PaymentCard.gateway_payment_method_id == payment_method_id)
    )


def _same_client(card: PaymentCard, client: Client) -> PaymentCard:
    if card.client_id != client.id:
        raise CardRefused("That card is on file for another client.")
    return card
