"""Booking, the encounter page, status changes, the schedule and the settings page."""

from datetime import UTC, date, datetime

import pytest
import time_machine
from sqlalchemy import func, select

from tests import factories
from webapp.extensions import db
from webapp.models import AuditEvent, Encounter


@pytest.fixture(autouse=True)
def _late_2026():
    """The bookings below are in 2027, inside an authorization ending 2027-12-31; the
    warnings judge expiry by today, so today stays in late 2026 here."""
    with time_machine.travel(datetime(2026, 11, 20, 15, tzinfo=UTC), tick=True):
        yield


@pytest.fixture
def practice(world):
    client = factories.client(world.org, first_name="Ada", last_name="Lovelace",
                              primary_clinician_id=world.clinician.id)  # fmt: skip
    payer = factories.payer(world.org, name="Blue Harbor", messaging_enabled=True)
    policy = factories.insurance(world.org, client, payer)
    therapy = factories.service_type(world.org, cpt_code="90837")
    authorization = factories.authorization(
        world.org, policy, [therapy], number="S-9", allowed=1,
        start_date=date(2026, 1, 1), end_date=date(2027, 12, 31),
    )  # fmt: skip
    db.session.commit()
    return dict(client=client, policy=policy, therapy=therapy, authorization=authorization)


def _booking(p, clinician, day="2027-03-01", **extra):
    data = {
        "clinician_id": clinician.id,
        "date": day,
        "time": "10:00",
        "duration_minutes": "60",
        "lines-0-service_type_id": p["therapy"].id,
        "lines-0-minutes": "60",
        "lines-1-service_type_id": "0",
        "lines-2-service_type_id": "0",
        "billing_type": "insurance",
        "client_insurance_id": p["policy"].id,
        "repeat": "none",
    }
    data.update(extra)
    return data


def _encounter_count() -> int:
    return db.session.scalar(select(func.count(Encounter.id)))


def test_it_books_an_encounter_and_opens_it(client, auth, world, practice):
    auth.login(world.clinician)
    response = client.post(
        f"/clients/{practice['client'].id}/encounters/new", data=_booking(practice, world.clinician)
    )
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).data.decode()
    assert "Mon Mar 1, 2027" in page and "90837" in page
    assert "Authorization warning" not in page


def test_it_books_a_weekly_series_in_one_go(client, auth, world, practice):
    auth.login(world.admin)
    client.post(
        f"/clients/{practice['client'].id}/encounters/new",
        data=_booking(practice, world.clinician, repeat="biweekly", repeat_count="3"),
    )
    days = db.session.scalars(select(Encounter.service_date).order_by(Encounter.starts_at)).all()
    assert days == [date(2027, 3, 1), date(2027, 3, 15), date(2027, 3, 29)]


def test_it_stores_the_start_in_utc_and_the_local_service_date(client, auth, world, practice):
    auth.login(world.admin)
    client.post(
        f"/clients/{practice['client'].id}/encounters/new",
        data=_booking(practice, world.clinician, time="22:30"),
    )
    encounter = db.session.scalars(select(Encounter)).one()
    assert encounter.starts_at == datetime(2027, 3, 2, 3, 30)  # 22:30 EST = 03:30 UTC next day
    assert encounter.service_date == date(2027, 3, 1)


def test_the_booking_form_shows_the_red_warning_live(client, auth, world, practice):
    factories.encounter(world.org, practice["client"], world.clinician, practice["policy"],
                        [practice["therapy"]], status="kept")  # fmt: skip
    db.session.commit()
    auth.login(world.biller)
    response = client.post(
        f"/clients/{practice['client'].id}/encounters/check",
        data=_booking(practice, world.clinician),
        headers={"HX-Request": "true"},
    )
    body = response.data.decode()
    assert 'class="warning-box"' in body and "S-9 is exhausted" in body
    assert "<html" not in body


def test_the_series_warning_names_the_first_occurrence_over(client, auth, world, practice):
    auth.login(world.biller)
    response = client.post(
        f"/clients/{practice['client'].id}/encounters/check",
        data=_booking(practice, world.clinician, repeat="weekly", repeat_count="3"),
        headers={"HX-Request": "true"},
    )
    assert "Occurrence 2 of 3 (Mar 8, 2027)" in response.data.decode()


def test_it_refuses_an_overbooking_when_blocked_and_an_admin_overrides_it(
    client, auth, world, practice
):
    world.org.block_overscheduling = True
    factories.encounter(world.org, practice["client"], world.clinician, practice["policy"],
                        [practice["therapy"]], status="kept")  # fmt: skip
    db.session.commit()
    url = f"/clients/{practice['client'].id}/encounters/new"
    auth.login(world.biller)
    refused = client.post(url, data=_booking(practice, world.clinician))
    assert refused.status_code == 409
    assert "Not booked: this practice blocks over-scheduling." in refused.data.decode()
    assert _encounter_count() == 1
    auth.logout()
    auth.login(world.admin)
    asked = client.post(url, data=_booking(practice, world.clinician))
    assert "Override reason" in asked.data.decode()
    booked = client.post(
        url, data=_booking(practice, world.clinician, override_reason="Payer extended by phone")
    )
    assert booked.status_code == 302
    assert _encounter_count() == 2
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "encounter.overbooking_overridden")
    ).one()
    assert event.reason == "Payer extended by phone"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"lines-0-service_type_id": "0"}, "Add at least one service."),
        ({"lines-0-minutes": ""}, "Enter the minutes for each service."),
        ({"client_insurance_id": "0"}, "Choose one of the client&#39;s insurances"),
        ({"repeat": "weekly"}, "Give the number of occurrences or an end date."),
        ({"repeat": "weekly", "repeat_until": "2027-01-01"}, "The series ends before it starts."),
        ({"date": ""}, "Choose a date."),
    ],
)
def test_it_rejects_bad_bookings_and_books_nothing(
    client, auth, world, practice, overrides, message
):
    auth.login(world.admin)
    response = client.post(
        f"/clients/{practice['client'].id}/encounters/new",
        data=_booking(practice, world.clinician, **overrides),
    )
    assert response.status_code == 422
    assert message in response.data.decode()
    assert _encounter_count() == 0


def test_the_encounter_page_shows_the_warning_only_when_messaging_is_on(
    client, auth, world, practice
):
    p = practice
    factories.encounter(
        world.org, p["client"], world.clinician, p["policy"], [p["therapy"]], status="kept"
    )
    second = factories.encounter(
        world.org, p["client"], world.clinician, p["policy"], [p["therapy"]],
        starts_at=datetime(2026, 3, 9, 15),
    )  # fmt: skip
    db.session.commit()
    auth.login(world.admin)
    assert 'id="authorization-warning"' in client.get(f"/encounters/{second.id}").data.decode()
    p["policy"].payer.messaging_enabled = False
    db.session.commit()
    assert 'id="authorization-warning"' not in client.get(f"/encounters/{second.id}").data.decode()


def test_changing_status_to_kept_uses_the_authorization(client, auth, world, practice):
    p = practice
    encounter = factories.encounter(
        world.org, p["client"], world.clinician, p["policy"], [p["therapy"]]
    )
    db.session.commit()
    auth.login(world.clinician)
    client.post(f"/encounters/{encounter.id}/finalize")
    page = client.get(f"/clients/{p['client'].id}/insurance?status=exhausted").data.decode()
    assert "S-9" in page


def test_the_status_form_does_not_close_an_upcoming_appointment(client, auth, world, practice):
    p = practice
    encounter = factories.encounter(
        world.org, p["client"], world.clinician, p["policy"], [p["therapy"]]
    )
    db.session.commit()
    auth.login(world.biller)
    page = client.post(f"/encounters/{encounter.id}/status", data={"status": "no_show"})
    assert "Use Finalize or Cancel" in client.get(page.headers["Location"]).data.decode()
    db.session.refresh(encounter)
    assert encounter.status == "upcoming"


def test_the_status_form_corrects_a_closed_appointment(client, auth, world, practice):
    p = practice
    encounter = factories.encounter(
        world.org, p["client"], world.clinician, p["policy"], [p["therapy"]], status="kept"
    )
    db.session.commit()
    auth.login(world.biller)
    client.post(f"/encounters/{encounter.id}/status", data={"status": "no_show"})
    db.session.refresh(encounter)
    assert encounter.status == "no_show"


def test_an_unknown_status_changes_nothing(client, auth, world, practice):
    p = practice
    encounter = factories.encounter(
        world.org, p["client"], world.clinician, p["policy"], [p["therapy"]]
    )
    db.session.commit()
    auth.login(world.admin)
    client.post(f"/encounters/{encounter.id}/status", data={"status": "vanished"})
    db.session.refresh(encounter)
    assert encounter.status == "upcoming"


def test_the_schedule_shows_a_warning_badge_and_filters_by_clinician(client, auth, world, practice):
    p = practice
    factories.encounter(
        world.org, p["client"], world.clinician, p["policy"], [p["therapy"]], status="kept"
    )
    factories.encounter(world.org, p["client"], world.clinician, p["policy"], [p["therapy"]],
                        starts_at=datetime(2026, 3, 3, 15))  # fmt: skip
    db.session.commit()
    auth.login(world.admin)
    page = client.get("/schedule?view=week&date=2026-03-02").data.decode()
    assert page.count("Ada Lovelace") == 2
    assert "Authorization warning" in page
    other = client.get(
        f"/schedule?view=week&date=2026-03-02&clinician={world.admin.id}",
        headers={"HX-Request": "true"},
    ).data.decode()
    assert "Ada Lovelace" not in other and "<html" not in other


def test_the_settings_checkbox_saves_on_change_with_an_audit_record(client, auth, world):
    auth.login(world.admin)
    page = client.get("/admin/organization").data.decode()
    assert "may prompt authorization exhaustion reminders to be sent" in page
    response = client.post(
        "/admin/organization/count_upcoming_for_exhaustion",
        data={"enabled": "on"},
        headers={"HX-Request": "true"},
    )
    assert "Saved." in response.data.decode() and "<html" not in response.data.decode()
    db.session.refresh(world.org)
    assert world.org.count_upcoming_for_exhaustion is True
    assert db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "settings.count_upcoming_for_exhaustion")
    ).one()


def test_an_unknown_setting_is_a_404(client, auth, world):
    auth.login(world.admin)
    assert (
        client.post("/admin/organization/launch_rockets", data={"enabled": "on"}).status_code == 404
    )


def test_the_release_date_saves_and_a_bad_one_gets_a_message(client, auth, world):
    auth.login(world.admin)
    bad = client.post("/admin/organization/release-date", data={"release_date": "soon"},
                      headers={"HX-Request": "true"})  # fmt: skip
    assert bad.status_code == 422 and "Enter a date such as 2026-01-01." in bad.data.decode()
    good = client.post("/admin/organization/release-date", data={"release_date": "2026-02-01"},
                       headers={"HX-Request": "true"})  # fmt: skip
    assert "Saved." in good.data.decode()
    db.session.refresh(world.org)
    assert world.org.enhanced_authorizations_release_date == date(2026, 2, 1)
