"""Add, edit and remove authorizations; each change rewrites the client's allocations.

A Kept visit stays on the authorization it was counted against while that
authorization covers it (webapp.domain.allocation_rules). An edit that narrows an
authorization (dates, services, insurance) or a removal can leave a Kept visit
uncovered there, so it moves: `kept_moves()` lists those visits before saving,
and the dialog asks for a confirmation naming them.
"""

from dataclasses import dataclass

from sqlalchemy import select

from webapp.domain import authorization_rules
from webapp.domain.windows import format_day, local_date
from webapp.extensions import db
from webapp.models import Allocation, Authorization, Client, Encounter, ServiceType, User
from webapp.models.authorizations import display_number
from webapp.models.organization import Organization
from webapp.services import audit
from webapp.services.allocation import client_terms, plan, reallocate_client

PREVIEW_ID = -1  # the id a new authorization has while its effect is previewed


@dataclass
class KeptMove:
    """A Kept visit that a change would move off the authorization it counted against."""

    encounter_id: int
    day_label: str
    services: str
    leaves: list[str]  # authorization numbers it leaves
    goes_to: list[str]  # authorization numbers it goes to; empty: nothing covers it

    @property
    def sentence(self) -> str:
        where = ", ".join(self.goes_to) if self.goes_to else "no authorization"
        return f"{self.day_label} ({self.services}): from {', '.join(self.leaves)} to {where}"


def _organization_services(org_id: int, service_type_ids: list[int]) -> list[ServiceType]:
    return list(
        db.session.scalars(
            select(ServiceType).where(
                ServiceType.organization_id == org_id, ServiceType.id.in_(service_type_ids)
            )
        )
    )


def _proposed_terms(
    org: Organization, auth: Authorization | None, values: dict, service_type_ids
) -> authorization_rules.AuthorizationTerms:
    """The terms the form would save (id PREVIEW_ID for a new authorization)."""
    services = _organization_services(org.id, list(service_type_ids))
    return authorization_rules.AuthorizationTerms(
        id=auth.id if auth else PREVIEW_ID,
        client_insurance_id=values["client_insurance_id"],
        kind=values["kind"],
        start=values["start_date"],
        end=values["end_date"],
        allowed=values["allowed"],
        frequency=values["frequency"],
        service_type_ids=frozenset(s.id for s in services),
        week_start=org.week_start,
    )


def _counted_on(encounter_ids: list[int]) -> dict[int, set[int]]:
    """{encounter id: the authorizations the stored ledger counts it against}."""
    found: dict[int, set[int]] = {}
    for encounter_id, auth_id in db.session.execute(
        select(Allocation.encounter_id, Allocation.authorization_id).where(
            Allocation.encounter_id.in_(encounter_ids)
        )
    ):
        found.setdefault(encounter_id, set()).add(auth_id)
    return found


def kept_moves(
    org: Organization,
    client: Client,
    auth: Authorization | None,
    values: dict | None,
    service_type_ids: list[int] = (),
) -> list[KeptMove]:
    """The Kept visits that saving this change would move, in date order.

    `values` None previews removing `auth`. Nothing is written.
    """
    terms = [t for t in client_terms(org, client.id) if auth is None or t.id != auth.id]
    numbers = {
        row.id: display_number(row.number)
        for row in db.session.execute(select(Authorization.id, Authorization.number).where(
            Authorization.id.in_([t.id for t in terms] + ([auth.id] if auth else []))))
    }  # fmt: skip
    if values is not None:
        proposed = _proposed_terms(org, auth, values, service_type_ids)
        terms.append(proposed)
        numbers[proposed.id] = display_number(values.get("number"))
    kept = db.session.scalars(
        select(Encounter).where(
            Encounter.client_id == client.id, Encounter.status == authorization_rules.KEPT
        )
    ).all()
    if not kept:
        return []
    before = _counted_on([e.id for e in kept])
    after = plan(org, client.id, terms=terms)
    moves = []
    for encounter in sorted(kept, key=lambda e: (e.starts_at, e.id)):
        was = before.get(encounter.id, set())
        now = set(after[encounter.id].placements)
        if was - now:
            moves.append(
                KeptMove(
                    encounter_id=encounter.id,
                    day_label=format_day(local_date(encounter.starts_at, org.timezone)),
                    services=encounter.services_label,
                    leaves=[numbers.get(i, "?") for i in sorted(was - now)],
                    goes_to=[numbers.get(i, "?") for i in sorted(now - was)],
                )
            )
    return moves


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

    The caller has validated the form and had any `kept_moves()` confirmed; service
    types are looked up again here scoped to the actor's organization, so a forged
    id of another practice is dropped.
    """
    is_new = auth is None
    auth = auth or Authorization(organization_id=actor.organization_id)
    before = None if is_new else _snapshot(auth)
    for key, value in values.items():
        setattr(auth, key, value)
    auth.service_types = _organization_services(actor.organization_id, service_type_ids)
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
