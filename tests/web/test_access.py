"""Every route: signed out → login, another organization's row → 404, wrong role → 403.

ROUTES lists each endpoint once with the roles allowed; a test checks that no
registered endpoint is missing from it, so a new route can't skip these rules.
"""

import pytest

from tests import factories
from tests.pas_support import fixture_bytes
from webapp.extensions import db
from webapp.models import LegacyImport, PayerDecisionFile

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
    "cards.setup": ("POST", "/clients/{client}/cards/setup", BILLING),
    "cards.create": ("POST", "/clients/{client}/cards", BILLING),
    "cards.make_default": ("POST", "/cards/{card}/default", BILLING),
    "cards.delete": ("POST", "/cards/{card}/delete", BILLING),
    "encounters.new": ("GET", "/clients/{client}/encounters/new", ALL),
    "encounters.check": ("POST", "/clients/{client}/encounters/check", ALL),
    "encounters.show": ("GET", "/encounters/{encounter}", ALL),
    "encounters.change_status": ("POST", "/encounters/{encounter}/status", ALL),
    "encounters.client_appointments": ("GET", "/clients/{client}/appointments", ALL),
    "encounters.edit": ("GET", "/encounters/{encounter}/edit", ALL),
    "encounters.check_edit": ("POST", "/encounters/{encounter}/edit/check", ALL),
    "preauth.show": ("GET", "/encounters/{encounter}/preauth", ALL),
    "preauth.reschedule": ("GET", "/encounters/{encounter}/preauth/reschedule", BILLING),
    "preauth.preview": ("POST", "/encounters/{encounter}/preauth/preview", BILLING),
    "preauth.cancel": ("POST", "/encounters/{encounter}/preauth/cancel", BILLING),
    "preauth.retry": ("POST", "/encounters/{failed_preauth_encounter}/preauth/retry", BILLING),
    "preauth.renew": ("GET", "/encounters/{encounter}/preauth/renew", BILLING),
    "payments_settings.show": ("GET", "/admin/payments", ADMIN),
    "payments_settings.edit": ("GET", "/admin/payments/edit", ADMIN),
    "payments_settings.check": ("POST", "/admin/payments/check", ADMIN),
    "encounters.schedule": ("GET", "/schedule", ALL),
    "calendar.events": ("GET", "/schedule/events?start=2026-03-01&end=2026-03-08", ALL),
    "calendar.move": ("GET", "/encounters/{encounter}/move", ALL),
    "calendar.keep_day": ("GET", "/schedule/keep-day?date=2026-03-02", ALL),
    "imports.upload": ("GET", "/admin/imports", ADMIN),
    "imports.show": ("GET", "/admin/imports/{legacy_import}", ADMIN),
    "decisions.upload": ("GET", "/authorizations/decisions", BILLING),
    "decisions.show": ("GET", "/authorizations/decisions/{decision_file}", BILLING),
    "decisions.apply": ("POST", "/authorizations/decisions/{decision_file}/apply", BILLING),
    "decisions.source": ("GET", "/authorizations/decisions/{decision_file}/file", BILLING),
    "reports.authorizations": ("GET", "/reports/authorizations", BILLING),
    "reports.authorizations_csv": ("GET", "/reports/authorizations.csv", BILLING),
    "reports.utilization_chart": ("GET", "/reports/authorizations/chart", BILLING),
    "profile.preferences": ("GET", "/profile/preferences", ALL),
    "notifications.index": ("GET", "/notifications", ALL),
    "notifications.bell": ("GET", "/notifications/bell", ALL),
    "notifications.mark_read": ("POST", "/notifications/read", ALL),
    "notifications.mark_all_read": ("POST", "/notifications/read-all", ALL),
    "outbox.index": ("GET", "/admin/outbox", ADMIN),
    "outbox.show": ("GET", "/admin/outbox/{outbox_message}", ADMIN),
    "outbox.raw": ("GET", "/admin/outbox/{outbox_message}/raw", ADMIN),
    "outbox.html": ("GET", "/admin/outbox/{outbox_message}/html", ADMIN),
    "billing.show_panel": ("GET", "/encounters/{encounter}/billing", ALL),
    "billing.charge": ("GET", "/encounters/{encounter}/charge", BILLING),
    "billing.release": ("GET", "/encounters/{encounter}/release", BILLING),
    "billing.cancellation_fee": ("GET", "/encounters/{encounter}/cancellation-fee", BILLING),
    "billing.create_invoice": ("GET", "/encounters/{encounter}/invoice", BILLING),
    "billing.finalize": ("GET", "/encounters/{encounter}/finalize", ALL),
    "billing.cancel": ("GET", "/encounters/{encounter}/cancel", ALL),
    "billing.client_billing": ("GET", "/clients/{client}/billing", BILLING),
    "billing.client_billing_csv": ("GET", "/clients/{client}/billing.csv", BILLING),
    "billing.invoice": ("GET", "/invoices/{invoice}", BILLING),
    "billing.charge_balance": ("GET", "/invoices/{invoice}/charge-balance", BILLING),
    "billing.void": ("GET", "/invoices/{invoice}/void", BILLING),
    "billing.receipt": ("GET", "/invoices/{invoice}/receipt", BILLING),
    "billing.receipt_pdf": ("GET", "/invoices/{invoice}/receipt.pdf", BILLING),
    "billing.email_receipt": ("GET", "/invoices/{invoice}/email-receipt", BILLING),
    "billing.refund": ("GET", "/payments/{payment}/refund", BILLING),
    "worklists.holds": ("GET", "/holds", BILLING),
    "worklists.holds_csv": ("GET", "/holds.csv", BILLING),
    "worklists.invoices": ("GET", "/invoices", BILLING),
    "worklists.invoices_csv": ("GET", "/invoices.csv", BILLING),
    "automations.index": ("GET", "/admin/automations", ADMIN),
    "automations.add": ("POST", "/admin/automations", ADMIN),
    "automations.move": ("POST", "/admin/automations/{automation}/move", ADMIN),
    "automations.toggle": ("POST", "/admin/automations/{automation}/toggle", ADMIN),
    "automations.delete": ("POST", "/admin/automations/{automation}/delete", ADMIN),
    "two_factor.settings": ("GET", "/profile/two-factor", ALL),
    "two_factor.setup": ("POST", "/profile/two-factor/setup", ALL),
    "two_factor.confirm": ("POST", "/profile/two-factor/confirm", ALL),
    "two_factor.regenerate": ("POST", "/profile/two-factor/recovery-codes", ALL),
    "two_factor.disable": ("POST", "/profile/two-factor/disable", ALL),
    "two_factor.admin": ("GET", "/admin/two-factor", ADMIN),
    "two_factor.requirement": ("POST", "/admin/two-factor/requirement", ADMIN),
    "two_factor.reset": ("POST", "/admin/two-factor/{user}/reset", ADMIN),
    "people.index": ("GET", "/admin/users", ADMIN),
    "people.invite": ("GET", "/admin/users/invite", ADMIN),
    "people.manage": ("GET", "/admin/users/{person}", ADMIN),
    "people.change_role": ("POST", "/admin/users/{person}/role", ADMIN),
    "people.deactivate": ("POST", "/admin/users/{person}/deactivate", ADMIN),
    "people.reactivate": ("POST", "/admin/users/{person}/reactivate", ADMIN),
    "people.unlock": ("POST", "/admin/users/{person}/unlock", ADMIN),
    "people.resend": ("POST", "/admin/users/{person}/resend", ADMIN),
    "audit.index": ("GET", "/admin/audit", ADMIN),
    "audit.export": ("GET", "/admin/audit/export.csv", ADMIN),
    "profile.password": ("GET", "/profile/password", ALL),
    "settings.time_and_week": ("POST", "/admin/organization/time-and-week", ADMIN),
}
# webhooks.stripe: no session; Stripe's signature is the check (tests/web/test_stripe_webhook.py).
# passwords.set_password: the signed one-time link is the check (tests/web/test_set_password.py).
# passwords.forgot: anyone may ask; one answer for every email (tests/web/test_people.py).
# two_factor.second_step/cancel: the pending sign-in is the check (tests/web/test_two_factor.py).
PUBLIC = {
    "static",
    "main.favicon",
    "auth.login",
    "auth.logout",
    "webhooks.stripe",
    "passwords.set_password",
    "passwords.forgot",
    "two_factor.second_step",
    "two_factor.cancel",
}


@pytest.fixture
def rows(world):
    """One of each resource in the practice, owned by the standing clinician."""
    return seed_rows(world)


def seed_rows(world) -> dict:
    """Add one of each resource to `world.org`; their ids by ROUTES placeholder.

    Also used by the browser walk under the CSP (tests/browser/test_content_security_policy.py).
    """
    client = factories.client(world.org, primary_clinician_id=world.clinician.id)
    payer = factories.payer(world.org, payer_identifier="SCHP1")
    insurance = factories.insurance(world.org, client, payer, member_id="SC-4471209")
    service_type = factories.service_type(world.org)
    authorization = factories.authorization(world.org, insurance, [service_type])
    card = factories.payment_card(world.org, client)
    encounter = factories.encounter(world.org, client, world.clinician, insurance, [service_type])
    person = factories.user(world.org, "clinician", email="invited@harbor.example")
    person.password_hash = "!not-yet-chosen"  # invited: no password yet
    legacy_import = LegacyImport(
        organization_id=world.org.id, user_id=world.admin.id, filename="old.csv", content=""
    )
    decision_file = PayerDecisionFile(
        organization_id=world.org.id, sha256="0" * 64, filename="denied.json",
        content=fixture_bytes("covered/aba-denied-claimresponse.json"),
    )  # fmt: skip
    db.session.add_all([legacy_import, decision_file])
    db.session.commit()
    return {
        "decision_file": decision_file.id,
        "client": client.id,
        "card": card.id,
        "payer": payer.id,
        "insurance": insurance.id,
        "service_type": service_type.id,
        "authorization": authorization.id,
        "encounter": encounter.id,
        "legacy_import": legacy_import.id,
        "user": world.clinician.id,
        "person": person.id,
        "failed_preauth_encounter": _pre_authorizations(world, encounter),
        "outbox_message": _outbox_message(world.org.id),
        **_billing_rows(world, client),
    }


def _billing_rows(world, client) -> dict:
    """An invoice of the client and an automation rule of the practice."""
    from webapp.models import Automation, Invoice, Payment

    invoice = Invoice(organization_id=world.org.id, client_id=client.id, total_cents=1000)
    rule = Automation(organization_id=world.org.id, event="encounter_cancelled",
                      action="release_preauth", position=1)  # fmt: skip
    db.session.add_all([invoice, rule])
    db.session.flush()
    payment = Payment(organization_id=world.org.id, client_id=client.id, invoice_id=invoice.id,
                      kind="balance_payment", amount_cents=1000, status="succeeded",
                      gateway_reference="pi_paid", idempotency_key="access-paid")  # fmt: skip
    db.session.add(payment)
    db.session.flush()
    return {"invoice": invoice.id, "automation": rule.id, "payment": payment.id}


def _outbox_message(organization_id: int) -> str:
    """A message in the organization's outbox (mail without MAIL_SERVER goes there)."""
    from webapp.services import mail

    message = mail.compose(
        to="someone@example.com", subject="Hello", text="Hi", html="<p>Hi</p>",
        organization_id=organization_id,
    )  # fmt: skip
    return mail.deliver(message).removeprefix("outbox:")


def _pre_authorizations(world, encounter) -> int:
    """A scheduled hold on `encounter`; a failed one (Retry-able) on a second encounter."""
    from datetime import datetime

    from webapp.models import PreAuthorization

    failed = factories.encounter(world.org, encounter.client, world.clinician, None,
                                 [encounter.lines[0].service_type],
                                 starts_at=datetime(2026, 3, 9, 15))  # fmt: skip
    for row, state in ((encounter, "scheduled"), (failed, "failed")):
        db.session.add(PreAuthorization(organization_id=world.org.id, encounter_id=row.id,
                                        state=state, hours_before=24, run_at=row.starts_at,
                                        failure_code="gateway_unavailable"))  # fmt: skip
    db.session.flush()
    return failed.id


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
