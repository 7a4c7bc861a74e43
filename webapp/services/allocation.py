"""Write the allocation ledger: which authorization each encounter uses, and how much.

Called inside the transaction of whatever changed an encounter or an
authorization; never commits itself.
"""

from sqlalchemy import delete, select
from sqlalchemy.orm import selectinload

from webapp.domain import authorizations as rules
from webapp.extensions import db
from webapp.models import Allocation, Authorization, ClientInsurance, Encounter, EncounterService
from webapp.models.organization import Organization
from webapp.services.coverage import terms_of


def service_lines(encounter: Encounter) -> list[rules.ServiceLine]:
    return [
        rules.ServiceLine(line.service_type_id, line.minutes, line.service_type.unit_minutes)
        for line in encounter.lines
    ]


def allocation_for(
    encounter: Encounter, candidates: list[rules.AuthorizationTerms]
) -> tuple[dict[int, int], list[rules.ServiceLine]]:
    """The encounter's {authorization id: amount} and the lines nothing covers."""
    if encounter.billing_type != "insurance" or encounter.client_insurance is None:
        return {}, []
    return rules.allocate(
        candidates,
        client_insurance_id=encounter.client_insurance_id,
        day=encounter.service_date,
        lines=service_lines(encounter),
        rounding_profile=encounter.client_insurance.payer.rounding_profile,
    )


def client_terms(org: Organization, client_id: int) -> list[rules.AuthorizationTerms]:
    authorizations = db.session.scalars(
        select(Authorization)
        .join(ClientInsurance)
        .where(ClientInsurance.client_id == client_id)
        .options(selectinload(Authorization.service_types))
    )
    return [terms_of(auth, org) for auth in authorizations]


def reallocate_client(org: Organization, client_id: int) -> None:
    """Rewrite the allocations of every encounter of a client (after an authorization change)."""
    encounters = db.session.scalars(
        select(Encounter)
        .where(Encounter.client_id == client_id)
        .options(selectinload(Encounter.lines).joinedload(EncounterService.service_type))
    ).all()
    reallocate(org, client_id, encounters)


def reallocate(org: Organization, client_id: int, encounters: list[Encounter]) -> None:
    """Rewrite the allocations of these encounters of one client."""
    db.session.flush()
    ids = [e.id for e in encounters]
    if not ids:
        return
    db.session.execute(delete(Allocation).where(Allocation.encounter_id.in_(ids)))
    candidates = client_terms(org, client_id)
    for encounter in encounters:
        amounts, _uncovered = allocation_for(encounter, candidates)
        for auth_id, amount in amounts.items():
            db.session.add(
                Allocation(
                    organization_id=org.id,
                    authorization_id=auth_id,
                    encounter_id=encounter.id,
                    amount=amount,
                )
            )
    db.session.flush()
