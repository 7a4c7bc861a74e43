"""Rows for tests, with sensible defaults; each takes overrides as keywords."""

import itertools

from werkzeug.security import generate_password_hash

from webapp.extensions import db
from webapp.models import Client, ClientInsurance, Organization, Payer, ServiceType, User

PASSWORD = "correct horse battery"
# Hashed once, cheaply: the app's default (scrypt) is slow on purpose.
PASSWORD_HASH = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
_sequence = itertools.count(1)


def _add(row):
    db.session.add(row)
    db.session.flush()
    return row


def organization(**values) -> Organization:
    values.setdefault("name", f"Practice {next(_sequence)}")
    values.setdefault("timezone", "America/New_York")
    return _add(Organization(**values))


def user(org: Organization, role: str = "admin", **values) -> User:
    number = next(_sequence)
    values.setdefault("email", f"{role}{number}@example.com")
    values.setdefault("name", f"{role.title()} {number}")
    row = User(organization_id=org.id, role=role, password_hash=PASSWORD_HASH, **values)
    return _add(row)


def client(org: Organization, **values) -> Client:
    number = next(_sequence)
    values.setdefault("first_name", "Client")
    values.setdefault("last_name", f"Number{number}")
    return _add(Client(organization_id=org.id, **values))


def payer(org: Organization, **values) -> Payer:
    values.setdefault("name", f"Payer {next(_sequence)}")
    return _add(Payer(organization_id=org.id, **values))


def insurance(org: Organization, client_row: Client, payer_row: Payer, **values) -> ClientInsurance:
    values.setdefault("member_id", f"M{next(_sequence)}")
    values.setdefault("copay_cents", 2500)
    return _add(
        ClientInsurance(
            organization_id=org.id, client_id=client_row.id, payer_id=payer_row.id, **values
        )
    )


def service_type(org: Organization, **values) -> ServiceType:
    values.setdefault("cpt_code", f"9{next(_sequence):04d}"[:5])
    values.setdefault("name", "Psychotherapy")
    values.setdefault("price_cents", 15000)
    values.setdefault("cancellation_fee_cents", 5000)
    return _add(ServiceType(organization_id=org.id, **values))


def authorization(
    org: Organization, insurance_row: ClientInsurance, services, lines=None, **values
):
    """An authorization with one line (kind, allowed, frequency, `services`, line_decision)
    or the given `lines`: dicts of AuthorizationLine values with `services`."""
    from datetime import date

    from webapp.models import Authorization, AuthorizationLine

    values.setdefault("number", f"A{next(_sequence)}")
    values.setdefault("start_date", date(2026, 1, 1))
    values.setdefault("end_date", date(2026, 12, 31))
    if lines is None:
        lines = [
            {
                "kind": values.pop("kind", "sessions"),
                "allowed": values.pop("allowed", 10),
                "frequency": values.pop("frequency", None),
                "decision": values.pop("line_decision", "approved"),
                "services": list(services),
            }
        ]
    row = Authorization(organization_id=org.id, client_insurance_id=insurance_row.id, **values)
    for position, line in enumerate(lines):
        line = dict(line)
        line.setdefault("kind", "sessions")
        service_rows = list(line.pop("services", ()))
        row.lines.append(
            AuthorizationLine(
                organization_id=org.id, position=position, service_types=service_rows, **line
            )
        )
    return _add(row)


def encounter(org, client_row, clinician, insurance_row, services, **values):
    """An Upcoming encounter (60 minutes per service) with its allocations written."""
    from datetime import datetime

    from webapp.models import Encounter, EncounterService
    from webapp.services.allocation import reallocate_client

    values.setdefault("starts_at", datetime(2026, 3, 2, 15))
    values.setdefault("service_date", values["starts_at"].date())
    values.setdefault("duration_minutes", 60)
    values.setdefault("billing_type", "insurance" if insurance_row else "self_pay")
    row = Encounter(
        organization_id=org.id,
        client_id=client_row.id,
        clinician_id=clinician.id,
        client_insurance_id=insurance_row.id if insurance_row else None,
        lines=[EncounterService(service_type_id=s.id, minutes=60) for s in services],
        **values,
    )
    _add(row)
    db.session.refresh(row)
    reallocate_client(org, client_row.id)
    return row


def legacy_import_ready(org: Organization) -> Organization:
    """An organization that can import legacy rows for client "Ana Rivera" with Aetna."""
    from datetime import date

    org.enhanced_authorizations_release_date = date(2026, 1, 1)
    service_type(org, cpt_code="90837")
    aetna = payer(org, name="Aetna")
    ana = client(org, first_name="Ana", last_name="Rivera")
    insurance(org, ana, aetna)
    db.session.commit()
    return org


def card_from_gateway(client_row: Client, details, *, is_default: bool = True):
    """The PaymentCard row for a card the gateway already holds (its CardDetails)."""
    from webapp.services.cards import card_row

    return _add(card_row(client_row, details, is_default=is_default))


def payment_card(org: Organization, client_row: Client, **values):
    """A card on file (the gateway's payment method id is made up unless given)."""
    from webapp.models import PaymentCard

    values.setdefault("gateway_payment_method_id", f"pm_factory{next(_sequence)}")
    values.setdefault("brand", "visa")
    values.setdefault("last4", "4242")
    values.setdefault("exp_month", 12)
    values.setdefault("exp_year", 2030)
    values.setdefault("is_default", True)
    return _add(PaymentCard(organization_id=org.id, client_id=client_row.id, **values))


LINE_FIELDS = ("kind", "allowed", "frequency", "service_type_ids", "decision", "requested")


def one_line_form(data: dict) -> dict:
    """An authorization dialog post written with one line's fields at the top (kind,
    allowed, frequency, service_type_ids, …) as the dialog names them: `lines-0-kind`, …;
    the authorization's own `decision` stays as `authorization_decision`."""
    posted = {k: v for k, v in data.items() if k not in LINE_FIELDS}
    if "authorization_decision" in posted:
        posted["decision"] = posted.pop("authorization_decision")
    for key in LINE_FIELDS:
        if key in data:
            posted[f"lines-0-{key}"] = data[key]
    return posted
