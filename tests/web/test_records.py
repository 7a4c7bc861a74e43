"""Clients, insurances, payers and service types: validation next to the field, audit."""

from sqlalchemy import select

from tests import factories
from webapp.extensions import db
from webapp.models import AuditEvent, ClientInsurance, Payer, ServiceType


def test_the_client_search_swaps_only_the_table(client, auth, world):
    factories.client(world.org, first_name="Grace", last_name="Hopper")
    factories.client(world.org, first_name="Alan", last_name="Turing")
    db.session.commit()
    auth.login(world.admin)
    partial = client.get("/clients?q=hop", headers={"HX-Request": "true"}).data.decode()
    assert "Hopper" in partial and "Turing" not in partial and "<html" not in partial


def test_it_adds_a_client(client, auth, world):
    auth.login(world.clinician)
    response = client.post(
        "/clients/new",
        data={
            "first_name": "Rosa",
            "last_name": "Parks",
            "primary_clinician_id": world.clinician.id,
        },
    )
    assert response.status_code == 302
    assert "Rosa Parks" in client.get(response.headers["Location"]).data.decode()


def test_it_adds_an_insurance_and_rejects_a_bad_copay(client, auth, world):
    person = factories.client(world.org)
    payer = factories.payer(world.org)
    db.session.commit()
    auth.login(world.biller)
    url = f"/clients/{person.id}/insurances/new"
    bad = client.post(url, data={"payer_id": payer.id, "member_id": "X1", "copay": "-5"})
    assert bad.status_code == 200 and b'class="field-error"' in bad.data
    assert db.session.scalars(select(ClientInsurance)).all() == []
    good = client.post(
        url, data={"payer_id": payer.id, "member_id": "X1", "copay": "25.50", "active": "y"}
    )
    assert good.status_code == 302
    saved = db.session.scalars(select(ClientInsurance)).one()
    assert (saved.copay_cents, saved.active) == (2550, True)
    assert db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "insurance.created")
    ).one()


def test_it_refuses_a_duplicate_payer_name(client, auth, world):
    factories.payer(world.org, name="Evergreen")
    db.session.commit()
    auth.login(world.admin)
    response = client.post(
        "/admin/payers/new", data={"name": "evergreen", "rounding_profile": "cms-8-minute"}
    )
    assert b"Another payer already has this name." in response.data
    assert len(db.session.scalars(select(Payer)).all()) == 1


def test_payer_messaging_is_off_by_default(client, auth, world):
    auth.login(world.admin)
    client.post("/admin/payers/new", data={"name": "Acme", "rounding_profile": "midpoint-min-1"})
    payer = db.session.scalars(select(Payer)).one()
    assert (payer.messaging_enabled, payer.rounding_profile) == (False, "midpoint-min-1")


def test_it_validates_service_type_money_and_units(client, auth, world):
    auth.login(world.admin)
    bad = client.post(
        "/admin/service-types/new",
        data={
            "cpt_code": "97153",
            "name": "ABA",
            "price": "abc",
            "cancellation_fee": "-1",
            "unit_minutes": "0",
        },
    )
    body = bad.data.decode()
    assert body.count('class="field-error"') == 3
    assert db.session.scalars(select(ServiceType)).all() == []
    client.post(
        "/admin/service-types/new",
        data={
            "cpt_code": "97153",
            "name": "ABA",
            "price": "20",
            "cancellation_fee": "15",
            "unit_minutes": "15",
        },
    )
    saved = db.session.scalars(select(ServiceType)).one()
    assert (saved.price_cents, saved.cancellation_fee_cents, saved.unit_minutes) == (2000, 1500, 15)
