"""Add, edit and remove authorizations; each change rewrites the client's allocations."""

from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Authorization, Client, ServiceType, User
from webapp.services import audit
from webapp.services.allocation import reallocate_client


def _snapshot(auth: Authorization) -> dict:
    values = audit.snapshot(auth)
    values["service_type_ids"] = sorted(s.id for s in auth.service_types)
    return values


def save_authorization(
    auth: Authorization | None,
    client: Client,
    values: dict,
    service_type_ids: list[int],
    *,
    actor: User,
) -> Authorization:
    """Create or update, keep an audit event, reallocate the client's encounters, commit.

    The caller has validated the form; service types are looked up again here
    scoped to the actor's organization, so a forged id of another practice is dropped.
    """
    is_new = auth is None
    auth = auth or Authorization(organization_id=actor.organization_id)
    before = None if is_new else _snapshot(auth)
    for key, value in values.items():
        setattr(auth, key, value)
    auth.service_types = list(
        db.session.scalars(
            select(ServiceType).where(
                ServiceType.organization_id == actor.organization_id,
                ServiceType.id.in_(service_type_ids),
            )
        )
    )
    db.session.add(auth)
    db.session.flush()
    audit.record(
        organization_id=actor.organization_id,
        user_id=actor.id,
        action="authorization.created" if is_new else "authorization.updated",
        row=auth,
        before=before,
        after=_snapshot(auth),
    )
    reallocate_client(actor.organization, client.id)
    db.session.commit()
    return auth


def remove_authorization(auth: Authorization, *, actor: User) -> None:
    """Delete with an audit record of what it was; its allocations go with it."""
    audit.record(
        organization_id=actor.organization_id,
        user_id=actor.id,
        action="authorization.removed",
        row=auth,
        before=_snapshot(auth),
    )
    client_id = auth.client_insurance.client_id
    db.session.delete(auth)
    db.session.flush()
    reallocate_client(actor.organization, client_id)
    db.session.commit()


def number_taken(client_insurance_id: int, number: str | None, exclude_id: int | None) -> bool:
    if not number:
        return False
    query = select(Authorization.id).where(
        Authorization.client_insurance_id == client_insurance_id, Authorization.number == number
    )
    if exclude_id:
        query = query.where(Authorization.id != exclude_id)
    return db.session.scalar(query) is not None
