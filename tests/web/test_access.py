"""Every route: signed out → login, another organization's row → 404, wrong role → 403.

ROUTES lists each endpoint once with the roles allowed; a test checks that no
registered endpoint is missing from it, so a new route can't skip these rules.
"""

import pytest

from tests import factories
from webapp.extensions import db
from webapp.models import LegacyImport

ALL = ("admin", "biller", "clinician")
BILLING = ("admin", "biller")
ADMIN = ("admin",)

# endpoint: (method, path template, roles allowed)
ROUTES = {
    "main.home": ("GET", "/", ALL),
    "clients.index": ("GET", "/clients", ALL),
    "clients.new": ("GET", "/clients/new", ALL),
    "clients.show": ("GET", "/clients/{client}", ALL),
    "clients.insurance": ("GET", "/clients/{client}/insurance", ALL),
    "clients.edit_insurance": ("GET", "/clients/{client}/insurances/{insurance}/edit", BILLING),
    "admin.payers": ("GET", "/admin/payers", ADMIN),
    "admin.edit_payer": ("GET", "/admin/payers/{payer}/edit", ADMIN),
    "admin.service_types": ("GET", "/admin/service-types", ADMIN),
    "admin.edit_service_type": ("GET", "/admin/service-types/{service_type}/edit", ADMIN),
    "admin.system_status": ("GET", "/admin/system", ADMIN),
    "settings.organization": ("GET", "/admin/organization", ADMIN),
    "settings.toggle": ("POST", "/admin/organization/block_overscheduling", ADMIN),
    "settings.release_date": ("POST", "/admin/organization/release-date", ADMIN),
    "authorizations.new": ("GET", "/clients/{client}/authorizations/new", BILLING),
    "authorizations.edit": ("GET", "/authorizations/{authorization}/edit", BILLING),
    "authorizations.delete": ("POST", "/authorizations/{authorization}/delete", BILLING),
    "authorizations.ledger": ("GET", "/authorizations/{authorization}", ALL),
    "encounters.new": ("GET", "/clients/{client}/encounters/new", ALL),
    "encounters.check": ("POST", "/clients/{client}/encounters/check", ALL),
    "encounters.show": ("GET", "/encounters/{encounter}", ALL),
    "encounters.change_status": ("POST", "/encounters/{encounter}/status", ALL),
    "encounters.client_appointments": ("GET", "/clients/{client}/appointments", ALL),
    "encounters.schedule": ("GET", "/schedule", ALL),
    "imports.upload": ("GET", "/admin/imports", ADMIN),
    "imports.show": ("GET", "/admin/imports/{legacy_import}", ADMIN),
}
PUBLIC = {"static", "auth.login", "auth.logout"}


@pytest.fixture
def rows(world):
    """One of each resource in the practice, owned by the standing clinician."""
    client = factories.client(world.org, primary_clinician_id=world.clinician.id)
    payer = factories.payer(world.org)
    insurance = factories.insurance(world.org, client, payer)
    service_type = factories.service_type(world.org)
    authorization = factories.authorization(world.org, insurance, [service_type])
    encounter = factories.encounter(world.org, client, world.clinician, insurance, [service_type])
    legacy_import = LegacyImport(
        organization_id=world.org.id, user_id=world.admin.id, filename="old.csv", content=""
    )
    db.session.add(legacy_import)
    db.session.commit()
    return {
        "client": client.id,
        "payer": payer.id,
        "insurance": insurance.id,
        "service_type": service_type.id,
        "authorization": authorization.id,
        "encounter": encounter.id,
        "legacy_import": legacy_import.id,
    }


def _path(endpoint: str, rows: dict) -> str:
    return ROUTES[endpoint][1].format(**rows)


def _has_row_ids(endpoint: str) -> bool:
    return "{" in ROUTES[endpoint][1]


def test_every_route_is_listed(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert endpoints - PUBLIC - set(ROUTES) == set()


@pytest.mark.parametrize("endpoint", sorted(ROUTES))
def test_it_sends_signed_out_visitors_to_login(client, rows, endpoint):
    method, _, _ = ROUTES[endpoint]
    response = client.open(_path(endpoint, rows), method=method)
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


@pytest.mark.parametrize("endpoint", sorted(e for e in ROUTES if _has_row_ids(e)))
def test_it_hides_rows_from_another_organization(client, auth, world, rows, endpoint):
    auth.login(world.outsider)
    method, _, _ = ROUTES[endpoint]
    assert client.open(_path(endpoint, rows), method=method).status_code == 404


@pytest.mark.parametrize(
    ("endpoint", "role"),
    [(e, role) for e in sorted(ROUTES) for role in ALL if role not in ROUTES[e][2]],
)
def test_it_forbids_roles_without_permission(client, auth, world, rows, endpoint, role):
    auth.login(world.user(role))
    method, _, _ = ROUTES[endpoint]
    assert client.open(_path(endpoint, rows), method=method).status_code == 403


@pytest.mark.parametrize(
    ("endpoint", "role"), [(e, role) for e in sorted(ROUTES) for role in ROUTES[e][2]]
)
def test_it_lets_allowed_roles_in(client, auth, world, rows, endpoint, role):
    auth.login(world.user(role))
    method, _, _ = ROUTES[endpoint]
    response = client.open(_path(endpoint, rows), method=method)
    assert response.status_code in (200, 302, 422)  # 422: an empty form, answered with messages
    assert "/login" not in response.headers.get("Location", "")


def test_a_clinician_sees_only_their_own_clients(client, auth, world):
    mine = factories.client(world.org, last_name="Mine", primary_clinician_id=world.clinician.id)
    theirs = factories.client(world.org, last_name="Theirs")
    db.session.commit()
    auth.login(world.clinician)
    page = client.get("/clients").data
    assert b"Mine" in page and b"Theirs" not in page
    assert client.get(f"/clients/{theirs.id}/insurance").status_code == 404
    assert client.get(f"/clients/{mine.id}/insurance").status_code == 200
