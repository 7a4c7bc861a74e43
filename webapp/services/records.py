"""Create and edit the plain records: clients, insurances, payers, service types.

Each function copies validated form data onto a row, keeps an audit event with
the row before and after, and commits.
"""

from webapp.extensions import db
from webapp.models import Client, ClientInsurance, Payer, ServiceType, User
from webapp.services import audit


def save_row(row, values: dict, *, actor: User, action: str):
    """Apply `values` to `row` (new or existing), audit, commit; returns the row."""
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
    return save_row(payer or Payer(), values, actor=actor, action="payer")


def save_service_type(service: ServiceType | None, values: dict, *, actor: User) -> ServiceType:
    return save_row(service or ServiceType(), values, actor=actor, action="service_type")
