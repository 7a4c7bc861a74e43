"""Cards on file, on the client's Bill To & Insurance tab.

Billers and admins add (Stripe.js card form on a SetupIntent), choose the default
and remove cards; clinicians see the list only. Every action answers with the
panel (HTMX) or a message next to the form.
"""

import re

from flask import Blueprint, flash, redirect, request, url_for
from flask_login import current_user

from webapp.access import BILLING_ROLES, get_card_or_404, get_client_or_404, role_required
from webapp.domain.card_rules import brand_label, card_expired
from webapp.extensions import htmx
from webapp.payments import current_gateway
from webapp.payments.gateway import GatewayError
from webapp.services import cards
from webapp.services.coverage import organization_today
from webapp.views.rendering import answer_refused, render_page

bp = Blueprint("cards", __name__)

SETUP_INTENT_ID = re.compile(r"^seti_[A-Za-z0-9_]{1,90}$")


def cards_panel(client) -> dict:
    """What the "Cards on file" panel shows (also used by the insurance tab's include)."""
    today = organization_today(current_user.organization)
    on_file = cards.client_cards(client.id)
    return {
        "client": client,
        "cards": on_file,
        "expired_ids": {c.id for c in on_file if card_expired(c.exp_month, c.exp_year, today)},
    }


@bp.app_context_processor
def _panel_helper():
    return {"cards_panel": cards_panel}


bp.add_app_template_filter(brand_label, "card_brand")


def _panel(client, *, message=None, error=None, close_dialog=False, status=200):
    if not htmx:  # a plain form post (no JavaScript): back to the page with a message
        flash(error or message, "danger" if error else "success")
        return redirect(url_for("clients.insurance", client_id=client.id))
    return render_page(
        "payments/_cards.html",
        "cards_panel",
        http_status=status,
        panel=cards_panel(client),
        message=message,
        error=error,
        close_dialog=close_dialog,
    )


def _dialog(client, setup=None, *, error=None, status=200):
    return render_page(
        "payments/_card_dialog.html",
        "dialog",
        http_status=status,
        client=client,
        setup=setup,
        error=error,
        gateway=current_gateway(),
    )


@bp.post("/clients/<int:client_id>/cards/setup")
@role_required(*BILLING_ROLES)
def setup(client_id: int):
    """Open the Add card dialog on a fresh SetupIntent (creates the gateway customer once)."""
    client = get_client_or_404(client_id)
    try:
        intent = cards.start_card_setup(client)
    except GatewayError as error:
        return _dialog(client, error=error.message, status=422)
    return _dialog(client, intent)


@bp.post("/clients/<int:client_id>/cards")
@role_required(*BILLING_ROLES)
def create(client_id: int):
    """Record the card Stripe.js confirmed on the SetupIntent posted here."""
    client = get_client_or_404(client_id)
    setup_intent_id = (request.form.get("setup_intent_id") or "").strip()
    if not SETUP_INTENT_ID.match(setup_intent_id):
        return _card_error(client, "Enter the card details and press Save card.")
    try:
        card = cards.save_card(client, setup_intent_id, actor=current_user)
    except (GatewayError, cards.CardRefused) as error:
        return _card_error(client, error.message)
    message = f"{cards.card_label(card)} saved."
    if card.is_default:
        message += " It is the default card."
    return _panel(client, message=message, close_dialog=True)


def _card_error(client, message: str):
    """A 422 whose message replaces the one under the card form; nothing was saved."""
    if not htmx:
        flash(message, "danger")
        return redirect(url_for("clients.insurance", client_id=client.id))
    response = render_page(
        "payments/_card_dialog.html", "card_error", http_status=422, error=message
    )
    response.headers["HX-Retarget"] = "#card-error"
    response.headers["HX-Reswap"] = "outerHTML"
    return response


@bp.post("/cards/<int:card_id>/default")
@role_required(*BILLING_ROLES)
def make_default(card_id: int):
    card = get_card_or_404(card_id)
    client = card.client
    today = organization_today(current_user.organization)
    try:
        cards.set_default(card, today=today, actor=current_user)
    except cards.CardRefused as refused:
        error, status = answer_refused(refused)
        return _panel(client, error=error, status=status)
    return _panel(client, message=f"{cards.card_label(card)} is now the default card.")


@bp.post("/cards/<int:card_id>/delete")
@role_required(*BILLING_ROLES)
def delete(card_id: int):
    card = get_card_or_404(card_id)
    client, label = card.client, cards.card_label(card)
    today = organization_today(current_user.organization)
    try:
        new_default = cards.remove_card(card, today=today, actor=current_user)
    except GatewayError as error:
        return _panel(client, error=f"{label} was not removed: {error.message}", status=422)
    message = f"{label} removed."
    if new_default is not None:
        message += f" {cards.card_label(new_default)} is now the default card."
    return _panel(client, message=message)
