"""Admin → Payments Settings: Edit Config with the Active toggle and the hours, audited."""

import pytest
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import AuditEvent

HX = {"HX-Request": "true"}


def test_the_page_shows_the_config_and_the_admin_menu_links_to_it(client, auth, world):
    auth.login(world.admin)
    page = client.get("/admin/payments").get_data(as_text=True)
    assert "Payments Settings</a>" in client.get("/schedule").get_data(as_text=True)
    assert "<h1>Payments Settings</h1>" in page and "Edit Config" in page
    assert "Inactive" in page and "<strong>24</strong> hours" in page
    assert 'id="hours-warning"' not in page


def test_edit_config_saves_with_an_audit_record_and_warns_above_96_hours(client, auth, world):
    auth.login(world.admin)
    dialog = client.get("/admin/payments/edit", headers=HX).get_data(as_text=True)
    assert 'value="24"' in dialog and 'role="switch"' in dialog

    response = client.post(
        "/admin/payments/edit", data={"active": "y", "hours_before": "120"}, headers=HX
    )
    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == "/admin/payments"
    db.session.refresh(world.org)
    assert (world.org.preauth_active, world.org.preauth_hours_before) == (True, 120)
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "settings.payments"))
    (event,) = event.all()
    assert event.user_id == world.admin.id
    assert (event.before, event.after) == (
        {"active": False, "hours_before": 24},
        {"active": True, "hours_before": 120},
    )

    page = client.get("/admin/payments").get_data(as_text=True)
    assert "Payments settings saved." in page
    assert 'id="hours-warning"' in page and "4 days 18 hours" in page


def test_the_warning_shows_live_while_typing(client, auth, world):
    auth.login(world.admin)
    over = client.post("/admin/payments/check", data={"hours_before": "97"}, headers=HX)
    assert over.get_data(as_text=True).lstrip().startswith('<div id="hours-feedback"')
    assert "4 days 18 hours" in over.get_data(as_text=True)
    under = client.post("/admin/payments/check", data={"hours_before": "96"}, headers=HX)
    assert "4 days 18 hours" not in under.get_data(as_text=True)
    bad = client.post("/admin/payments/check", data={"hours_before": "-1"}, headers=HX)
    assert "Hours cannot be negative." in bad.get_data(as_text=True)


@pytest.mark.parametrize(
    ("hours", "message"),
    [
        ("-1", "Hours cannot be negative."),
        ("12.5", "Use a whole number of hours, such as 24."),
        ("", "Enter the number of hours before the appointment (0–168)."),
        ("169", "At most 168 hours (7 days) before the appointment."),
    ],
)
def test_bad_hours_are_refused_next_to_the_field_and_nothing_is_saved(
    client, auth, world, hours, message
):
    auth.login(world.admin)
    response = client.post(
        "/admin/payments/edit", data={"active": "y", "hours_before": hours}, headers=HX
    )
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert message in body and "Nothing was saved." in body
    db.session.refresh(world.org)
    assert (world.org.preauth_active, world.org.preauth_hours_before) == (False, 24)
    assert db.session.scalars(select(AuditEvent)).all() == []


def test_saving_the_same_values_records_nothing(client, auth, world):
    auth.login(world.admin)
    client.post("/admin/payments/edit", data={"hours_before": "24"}, headers=HX)
    assert db.session.scalars(select(AuditEvent)).all() == []
