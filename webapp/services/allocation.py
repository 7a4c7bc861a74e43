"""Write the allocation ledger: which authorization each encounter uses, and how much.

Every change that can move a visit — a booking, an edit, a status change, an
authorization added, edited, removed or imported, a payer's rounding profile or
a service's unit length — calls `reallocate_client()` inside its transaction. It
runs the allocation rule (`webapp.domain.allocation_rules`) over *all* of the client's
encounters and authorizations and writes only the rows that changed, so the
ledger is the same whichever change came last. `plan()` runs the same rule with
unsaved drafts, so a form's warnings are the ones the saved visit will carry.
Reminder notifications about the client's authorizations are then marked
resolved (or open again) to match. Never commits.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import joinedload, selectinload

from webapp.domain import allocation_rules, authorization_rules
from webapp.domain.units import DEFAULT_ROUNDING_PROFILE
from webapp.extensions import db
from webapp.models import (
    Allocation,
    Authorization,
    Client,
    ClientInsurance,
    Encounter,
    EncounterService,
)
from webapp.models.organization import Organization
from webapp.services import reminders
from webapp.services.coverage import terms_of

DRAFT_IDS_FROM = 10**15  # drafts sort after every saved encounter, as they will once saved


def as_visit(
    encounter: Encounter, stays_on: Iterable[int] = (), stays_lines: Iterable = ()
) -> allocation_rules.Visit:
    """The encounter as the allocation rule sees it (saved or draft)."""
    insurance = encounter.client_insurance if encounter.billing_type == "insurance" else None
    profile = insurance.payer.rounding_profile if insurance else DEFAULT_ROUNDING_PROFILE
    return allocation_rules.Visit(
        encounter_id=encounter.id,
        starts_at=encounter.starts_at,
        day=encounter.service_date,
        status=encounter.status,
        client_insurance_id=insurance.id if insurance else None,
        rounding_profile=profile,
        lines=tuple(
            allocation_rules.VisitLine(
                line.service_type_id, line.minutes, line.service_type.unit_minutes
            )
            for line in encounter.lines
        ),
        stays_on=frozenset(stays_on),
        stays_lines=frozenset(stays_lines),
    )


def client_terms(org: Organization, client_id: int) -> list[authorization_rules.AuthorizationTerms]:
    authorizations = db.session.scalars(
        select(Authorization)
        .join(ClientInsurance)
        .where(ClientInsurance.client_id == client_id)
        .options(selectinload(Authorization.service_types))
    )
    return [terms_of(auth, org) for auth in authorizations]


def client_encounters(client_id: int) -> list[Encounter]:
    return list(
        db.session.scalars(
            select(Encounter)
            .where(Encounter.client_id == client_id)
            .options(
                selectinload(Encounter.lines).joinedload(EncounterService.service_type),
                joinedload(Encounter.client_insurance).joinedload(ClientInsurance.payer),
            )
        ).unique()
    )


def _stored(encounter_ids: Sequence[int]) -> dict[tuple[int, int], Allocation]:
    if not encounter_ids:
        return {}
    rows = db.session.scalars(select(Allocation).where(Allocation.encounter_id.in_(encounter_ids)))
    return {(row.encounter_id, row.authorization_id): row for row in rows}


def plan(
    org: Organization,
    client_id: int,
    *,
    drafts: Sequence[Encounter] = (),
    terms: Sequence[authorization_rules.AuthorizationTerms] | None = None,
) -> dict[int, allocation_rules.VisitAllocation]:
    """{encounter id: VisitAllocation} for the client's encounters plus `drafts`.

    A draft with the id of a saved encounter replaces it (an edit); a draft
    without an id gets one after every saved encounter (a booking), in the order
    given. `terms` replaces the client's authorizations (an authorization edit
    being previewed). A saved Kept encounter stays on the authorizations it is
    on now while they cover it.
    """
    db.session.flush()
    encounters = {e.id: e for e in client_encounters(client_id)}
    stored = _stored(list(encounters))
    stays_on: dict[int, set[int]] = defaultdict(set)
    stays_lines: dict[int, set[tuple[int, int]]] = defaultdict(set)
    for (encounter_id, auth_id), row in stored.items():
        stays_on[encounter_id].add(auth_id)
        stays_lines[encounter_id].update((auth_id, i) for i in row.line_indexes or ())
    for number, draft in enumerate(drafts, start=1):
        if draft.id is None:
            draft.id = DRAFT_IDS_FROM + number
        encounters[draft.id] = draft
    visits = [
        as_visit(e)
        if e.status == authorization_rules.UPCOMING
        else as_visit(e, stays_on[e.id], stays_lines[e.id])
        for e in encounters.values()
    ]
    chosen = client_terms(org, client_id) if terms is None else list(terms)
    return allocation_rules.allocate_visits(chosen, visits)


def reallocate_client(
    org: Organization, client_id: int
) -> dict[int, allocation_rules.VisitAllocation]:
    """Run the rule over the client's encounters and write the rows that changed.

    First bumps the client's `booking_version` (the row lock bookings take), so two
    changes of one client's ledger wait for each other and the second reads what
    the first wrote.
    """
    db.session.execute(
        update(Client)
        .where(Client.id == client_id)
        .values(booking_version=Client.booking_version + 1)
    )
    terms = client_terms(org, client_id)
    results = plan(org, client_id, terms=terms)
    stored = _stored(list(results))
    for encounter_id, result in results.items():
        for auth_id, placement in result.placements.items():
            row = stored.pop((encounter_id, auth_id), None)
            if row is None:
                row = Allocation(
                    organization_id=org.id, authorization_id=auth_id, encounter_id=encounter_id
                )
                db.session.add(row)
            _copy(placement, row)
    for row in stored.values():
        db.session.delete(row)
    db.session.flush()
    reminders.resolve_cleared(org, authorization_ids=[t.id for t in terms])
    return results


def _copy(placement: allocation_rules.Placement, row: Allocation) -> None:
    passed = [{"id": p.authorization_id, "why": p.why} for p in placement.passed_over]
    values = {
        "amount": placement.amount,
        "reason": placement.reason,
        "room_before": placement.room_before,
        "window_room_before": placement.window_room_before,
        "passed_over": passed or None,
        "line_indexes": sorted(placement.line_indexes),
    }
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)


def reallocate_clients(org: Organization, client_ids: Iterable[int]) -> None:
    """`reallocate_client` for several clients, in id order (deterministic locks)."""
    for client_id in sorted(set(client_ids)):
        reallocate_client(org, client_id)


def units_explained(client_id: int, days: Iterable) -> dict[int, allocation_rules.VisitAllocation]:
    """How each of the client's visits on these dates got its units (the whole claim of
    its day pooled, as the ledger counts it), without placing them: for the ledger and
    the encounter page."""
    days = sorted(set(days))
    if not days:
        return {}
    encounters = db.session.scalars(
        select(Encounter)
        .where(Encounter.client_id == client_id, Encounter.service_date.in_(days))
        .options(
            selectinload(Encounter.lines).joinedload(EncounterService.service_type),
            joinedload(Encounter.client_insurance).joinedload(ClientInsurance.payer),
        )
    ).unique()
    return allocation_rules.allocate_visits([], [as_visit(e) for e in encounters])
