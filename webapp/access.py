"""Access control: one role decorator, one organization-scoped loader per resource.

Views never query rows by id themselves: they call `get_<resource>_or_404`, which
answers 404 for a row of another organization, so nobody can probe for it.
"""

from functools import wraps

from flask import abort
from flask_login import current_user, login_required
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import (
    Authorization,
    Automation,
    Client,
    ClientInsurance,
    Encounter,
    Invoice,
    LegacyImport,
    Payer,
    Payment,
    PaymentCard,
    ServiceType,
    User,
)
from webapp.models.organization import ADMIN, BILLER, CLINICIAN
from webapp.services.mail import read_outbox_message

ALL_ROLES = (ADMIN, BILLER, CLINICIAN)
BILLING_ROLES = (ADMIN, BILLER)


def role_required(*roles: str):
    """Signed in (else redirect to login) and holding one of `roles` (else 403)."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if not current_user.has_role(*roles):
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def _scoped_or_404(model, row_id: int):
    row = db.session.get(model, row_id)
    if row is None or row.organization_id != current_user.organization_id:
        abort(404)
    return row


def visible_clients():
    """The clients the signed-in user may see: a clinician only their own."""
    query = select(Client).where(Client.organization_id == current_user.organization_id)
    if current_user.is_clinician:
        query = query.where(Client.primary_clinician_id == current_user.id)
    return query


def get_client_or_404(client_id: int) -> Client:
    client = _scoped_or_404(Client, client_id)
    if current_user.is_clinician and client.primary_clinician_id != current_user.id:
        abort(404)
    return client


def get_insurance_or_404(insurance_id: int) -> ClientInsurance:
    return _scoped_or_404(ClientInsurance, insurance_id)


def get_payer_or_404(payer_id: int) -> Payer:
    return _scoped_or_404(Payer, payer_id)


def get_service_type_or_404(service_type_id: int) -> ServiceType:
    return _scoped_or_404(ServiceType, service_type_id)


def get_user_or_404(user_id: int) -> User:
    return _scoped_or_404(User, user_id)


def get_authorization_or_404(auth_id: int) -> Authorization:
    auth = _scoped_or_404(Authorization, auth_id)
    get_client_or_404(auth.client_insurance.client_id)  # a clinician: own clients only
    return auth


def get_encounter_or_404(encounter_id: int) -> Encounter:
    encounter = _scoped_or_404(Encounter, encounter_id)
    if current_user.is_clinician and encounter.clinician_id != current_user.id:
        get_client_or_404(encounter.client_id)
    return encounter


def get_card_or_404(card_id: int) -> PaymentCard:
    """A card on file; a clinician may only see cards of their own clients."""
    card = _scoped_or_404(PaymentCard, card_id)
    get_client_or_404(card.client_id)
    return card


def get_invoice_or_404(invoice_id: int) -> Invoice:
    invoice = _scoped_or_404(Invoice, invoice_id)
    get_client_or_404(invoice.client_id)  # a clinician: own clients only
    return invoice


def get_payment_or_404(payment_id: int) -> Payment:
    """A payment of the organization, on an invoice of a client the user may see."""
    payment = _scoped_or_404(Payment, payment_id)
    if payment.invoice_id is None:
        abort(404)
    get_invoice_or_404(payment.invoice_id)
    return payment


def get_automation_or_404(automation_id: int) -> Automation:
    return _scoped_or_404(Automation, automation_id)


def get_legacy_import_or_404(import_id: int) -> LegacyImport:
    return _scoped_or_404(LegacyImport, import_id)


def get_outbox_message_or_404(name: str):
    """One message of the organization's outbox (files, not rows; same rule)."""
    message = read_outbox_message(current_user.organization_id, name)
    if message is None:
        abort(404)
    return message


def organization_payers() -> list[Payer]:
    """The signed-in user's organization's payers, by name."""
    return db.session.scalars(
        select(Payer)
        .where(Payer.organization_id == current_user.organization_id)
        .order_by(Payer.name)
    ).all()


def organization_service_types() -> list[ServiceType]:
    """The organization's service types, by CPT code."""
    return db.session.scalars(
        select(ServiceType)
        .where(ServiceType.organization_id == current_user.organization_id)
        .order_by(ServiceType.cpt_code)
    ).all()


def organization_clinicians() -> list[User]:
    """The organization's clinicians, by name."""
    return db.session.scalars(
        select(User)
        .where(User.organization_id == current_user.organization_id, User.role == CLINICIAN)
        .order_by(User.name)
    ).all()
