"""Edit encounter: start, duration, billing type, services; allocations and holds follow."""

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from tests import factories
from tests.preauth_support import book, practice, preauth_of
from webapp.extensions import db
from webapp.models import Allocation, AuditEvent, Encounter


@pytest.fixture
def p(world):
    return practice(world, hours=24)


def _form(p, day: str, time: str = "10:00", **extra):
    data = {
        "date": day,
        "time": time,
        "duration_minutes": "60",
        "lines-0-service_type_id": p.therapy.id,
        "lines-0-minutes": "60",
        "lines-1-service_type_id": "0",
        "lines-2-service_type_id": "0",
        "billing_type": "insurance",
        "client_insurance_id": p.policy.id,
    }
    data.update(extra)
    return data


def test_the_form_is_filled_from_the_encounter(client, auth, world, p):
    encounter = book(p, world.biller)
    auth.login(world.clinician)
    page = client.get(f"/encounters/{encounter.id}/edit").get_data(as_text=True)
    assert "<h1>Edit appointment</h1>" in page
    assert (
        'name="duration_minutes" required type="number" value="60"' in page or 'value="60"' in page
    )
    assert "moves with the start" in page


def test_moving_the_start_moves_the_hold_and_is_audited(client, auth, world, p):
    encounter = book(p, world.biller, starts_in=timedelta(days=3))
    day = (datetime.now() + timedelta(days=10)).date().isoformat()
    auth.login(world.biller)

    response = client.post(f"/encounters/{encounter.id}/edit", data=_form(p, day, "14:30"))

    assert response.status_code == 302
    db.session.expire_all()
    moved = db.session.get(Encounter, encounter.id)
    assert moved.service_date.isoformat() == day
    row = preauth_of(moved)
    assert (row.attempt, row.run_at) == (2, moved.starts_at - timedelta(hours=24))
    actions = db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions[-2:] == ["encounter.changed", "preauth.moved"]
    assert "Appointment changed." in client.get(response.headers["Location"]).get_data(as_text=True)


def test_changing_services_rewrites_the_allocations(client, auth, world, p):
    dates = {"start_date": date(2026, 1, 1), "end_date": date(2030, 12, 31)}
    auth_row = factories.authorization(world.org, p.policy, [p.therapy], allowed=5, **dates)
    db.session.commit()
    encounter = book(p, world.biller)
    assert db.session.scalars(select(Allocation.authorization_id)).all() == [auth_row.id]
    day = encounter.service_date.isoformat()
    auth.login(world.biller)

    other_service = {"lines-0-service_type_id": p.testing.id}
    client.post(f"/encounters/{encounter.id}/edit", data=_form(p, day, **other_service))

    assert db.session.scalars(select(Allocation)).all() == []


def test_bad_input_is_answered_422_and_nothing_changes(client, auth, world, p):
    encounter = book(p, world.biller)
    starts_at = encounter.starts_at
    auth.login(world.biller)
    response = client.post(
        f"/encounters/{encounter.id}/edit",
        data=_form(p, "", duration_minutes="0", **{"lines-0-service_type_id": "0"}),
    )
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "Choose a date." in body and "Add at least one service." in body
    db.session.expire_all()
    assert db.session.get(Encounter, encounter.id).starts_at == starts_at


def test_block_over_scheduling_refuses_an_edit_with_warnings(client, auth, world, p):
    world.org.block_overscheduling = True
    p.policy.payer.messaging_enabled = True
    db.session.commit()
    encounter = book(p, world.biller, billing_type="self_pay")
    auth.login(world.biller)
    response = client.post(
        f"/encounters/{encounter.id}/edit", data=_form(p, encounter.service_date.isoformat())
    )
    assert response.status_code == 409
    assert "No authorization covers" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Encounter, encounter.id).billing_type == "self_pay"


def test_live_warnings_for_the_edit_form(client, auth, world, p):
    p.policy.payer.messaging_enabled = True
    db.session.commit()
    encounter = book(p, world.biller)
    auth.login(world.biller)
    response = client.post(
        f"/encounters/{encounter.id}/edit/check",
        data=_form(p, encounter.service_date.isoformat()),
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert "No authorization covers 90837" in response.get_data(as_text=True)
