"""Create and edit the plain records: clients, insurances, payers, service types.

Each function copies validated form data onto a row, keeps an audit event with
the row before and after, and commits.
"""

from collections.abc import Callable

from sqlalchemy import select

from webapp.extensions import db
from webapp.models import (
    Client,
    ClientInsurance,
    Encounter,
    EncounterService,
    Payer,
    ServiceType,
    User,
)
from webapp.services import audit
from webapp.services.allocation import reallocate_clients


def save_row(row, values: dict, *, actor: User, action: str, before_commit: Callable | None = None):
    """Apply `values` to `row` (new or existing), audit, run `before_commit(row)` (in the
    same transaction), commit; returns the row."""
    is_new = row.id is None
    before = None if is_new else audit.snapshot(row)
    for key, value in values.items():
        setattr(row, key, value)
    row.organization_id = actor.organization_id
    db.session.add(row)
    db.session.flush()
    audit.record(
        organization_id=actor.organization_id,
        user_id=actor.id,
        action=f"{action}.{'created' if is_new else 'updated'}",
        row=row,
        before=before,
        after=audit.snapshot(row),
    )
    if before_commit is not None:
        before_commit(row)
    db.session.commit()
    return row


def save_client(client: Client | None, values: dict, *, actor: User) -> Client:
    values = {**values, "primary_clinician_id": values.get("primary_clinician_id") or None}
    return save_row(client or Client(), values, actor=actor, action="client")


def save_insurance(
    insurance: ClientInsurance | None, client: Client, values: dict, *, actor: User
) -> ClientInsurance:
    row = insurance or ClientInsurance(client_id=client.id)
    return save_row(row, values, actor=actor, action="insurance")


def save_payer(payer: Payer | None, values: dict, *, actor: User) -> Payer:
    """Save a payer; a new rounding profile re-places the visits of its clients (their
    units change), in the same transaction."""
    old_profile = payer.rounding_profile if payer else None

    def reallocate(row: Payer) -> None:
        if old_profile is not None and row.rounding_profile != old_profile:
            client_ids = db.session.scalars(
                select(ClientInsurance.client_id).where(ClientInsurance.payer_id == row.id)
            )
            reallocate_clients(actor.organization, client_ids)

    return save_row(payer or Payer(), values, actor=actor, action="payer", before_commit=reallocate)


def save_service_type(service: ServiceType | None, values: dict, *, actor: User) -> ServiceType:
    """Save a service type; a new unit length re-places the visits that use it."""
    old_unit = service.unit_minutes if service else None

    def reallocate(row: ServiceType) -> None:
        if service is not None and row.unit_minutes != old_unit:
            client_ids = db.session.scalars(
                select(Encounter.client_id)
                .join(EncounterService, EncounterService.encounter_id == Encounter.id)
                .where(EncounterService.service_type_id == row.id)
                .distinct()
            )
            reallocate_clients(actor.organization, client_ids)

    return save_row(
        service or ServiceType(),
        values,
        actor=actor,
        action="service_type",
        before_commit=reallocate,
    )
