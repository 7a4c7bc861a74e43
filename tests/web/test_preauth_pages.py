"""The encounter's pre-authorization notification: what each role sees, live polling,
Reschedule / Cancel / Retry with clear messages when they cannot apply."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from tests.preauth_support import add_card, book, practice, preauth_of, work
from webapp.domain.windows import to_local
from webapp.extensions import db
from webapp.models import AuditEvent
from webapp.services import preauth as service

HX = {"HX-Request": "true"}


@pytest.fixture
def p(world, app):
    app.config["PREAUTH_RETRY_INTERVALS"] = [0, 0, 0]
    return practice(world, hours=24, copay=2500)


def _local(p, when) -> str:
    return to_local(when, p.org.timezone).strftime("%a %b %-d, %Y · %-I:%M %p")


def _section(html: str) -> str:
    match = re.search(r'<section id="preauth".*?</section>', html, re.S)
    assert match, "no pre-authorization notification on the page"
    return match.group(0)


def _audit_count() -> int:
    return db.session.scalar(select(func.count(AuditEvent.id)))


def test_a_scheduled_hold_shows_amount_time_and_the_billers_actions(client, auth, world, p):
    encounter = book(p, world.biller, starts_in=timedelta(days=3))
    row = preauth_of(encounter)
    auth.login(world.biller)

    section = _section(client.get(f"/encounters/{encounter.id}").get_data(as_text=True))

    assert f"Pre-authorization of $25.00 scheduled for {_local(p, row.run_at)}" in section
    assert "Reschedule</button>" in section and "Cancel</button>" in section
    assert 'hx-trigger="every 2s"' not in section  # not due yet: no polling
    assert "Create invoice" in section and "disabled" in section
    assert "A pre-authorization is scheduled for this appointment." in section


def test_clinicians_see_the_notification_without_actions(client, auth, world, p):
    encounter = book(p, world.biller)
    auth.login(world.clinician)
    section = _section(client.get(f"/encounters/{encounter.id}").get_data(as_text=True))
    assert "Pre-authorization of $25.00 scheduled" in section
    assert "Reschedule" not in section and "Cancel</button>" not in section
    assert client.post(f"/encounters/{encounter.id}/preauth/cancel").status_code == 403
    assert preauth_of(encounter).state == "scheduled"


def test_the_notification_polls_while_due_and_stops_once_held(
    client, auth, world, p, strict_gateway
):
    add_card(strict_gateway, p.client)
    encounter = book(p, world.biller, starts_in=timedelta(hours=2))
    auth.login(world.biller)
    url = f"/encounters/{encounter.id}/preauth"

    due = client.get(url, headers=HX)
    assert "HX-Request" in due.headers["Vary"]
    body = due.get_data(as_text=True)
    assert body.lstrip().startswith('<section id="preauth"')
    assert 'hx-trigger="every 2s"' in body
    assert "Placing a hold of $25.00 on the client's card now" in body

    work()
    held = client.get(url, headers=HX).get_data(as_text=True)
    row = preauth_of(encounter)
    assert "hx-trigger" not in held
    assert "$25.00 held on Visa •••• 4242" in held
    assert f"Placed {_local(p, row.held_at)}" in held
    assert f"lapses {_local(p, row.lapses_at)}" in held
    assert "Funds are held on the client&#39;s card" in held  # Create invoice still disabled


def test_a_hold_due_within_the_hour_wakes_the_page_when_it_is(client, auth, world, p):
    encounter = book(p, world.biller, starts_in=timedelta(hours=24, minutes=30))
    auth.login(world.biller)
    body = client.get(f"/encounters/{encounter.id}/preauth", headers=HX).get_data(as_text=True)
    delay = int(re.search(r'hx-trigger="load delay:(\d+)s"', body).group(1))
    assert 1700 <= delay <= 1801


def test_cancel_then_a_second_cancel_is_told_and_changes_nothing(client, auth, world, p):
    encounter = book(p, world.biller)
    auth.login(world.biller)
    url = f"/encounters/{encounter.id}/preauth/cancel"

    first = client.post(url, headers=HX)
    assert first.status_code == 200
    assert "Pre-authorization cancelled." in first.get_data(as_text=True)
    events = _audit_count()

    second = client.post(url, headers=HX)
    assert second.status_code == 409
    assert "This pre-authorization is already cancelled." in second.get_data(as_text=True)
    assert "Reschedule</button>" in second.get_data(as_text=True)
    assert _audit_count() == events
    assert preauth_of(encounter).state == "cancelled"


def test_retry_of_a_hold_that_did_not_fail_is_refused_with_a_message(client, auth, world, p):
    encounter = book(p, world.biller)
    auth.login(world.admin)
    response = client.post(f"/encounters/{encounter.id}/preauth/retry", headers=HX)
    assert response.status_code == 409
    assert "already scheduled; there is nothing to retry" in response.get_data(as_text=True)
    assert preauth_of(encounter).attempt == 1


def test_a_failed_hold_shows_the_reason_and_retry_disabled_until_a_card_exists(
    client, auth, world, p, strict_gateway
):
    encounter = book(p, world.biller, starts_in=timedelta(hours=2))
    work()
    auth.login(world.biller)
    url = f"/encounters/{encounter.id}/preauth"

    section = client.get(url, headers=HX).get_data(as_text=True)
    assert "Pre-authorization failed: No card on file for the client." in section
    assert re.search(r'id="preauth-retry"[^>]*disabled', section)
    assert "Retry is not available yet: Add a card for the client" in section
    refused = client.post(f"{url}/retry", headers=HX)
    assert refused.status_code == 409
    assert preauth_of(encounter).state == "failed"

    add_card(strict_gateway, p.client)
    section = client.get(url, headers=HX).get_data(as_text=True)
    assert not re.search(r'id="preauth-retry"[^>]*disabled', section)
    retried = client.post(f"{url}/retry", headers=HX)
    assert retried.status_code == 200
    assert 'hx-trigger="every 2s"' in retried.get_data(as_text=True)
    work()
    assert preauth_of(encounter).state == "held"


def test_the_reschedule_dialog_previews_the_new_time(client, auth, world, p):
    encounter = book(p, world.biller, starts_in=timedelta(days=5))
    auth.login(world.biller)
    url = f"/encounters/{encounter.id}/preauth"

    dialog = client.get(f"{url}/reschedule", headers=HX).get_data(as_text=True)
    assert 'value="24"' in dialog
    assert _local(p, encounter.starts_at - timedelta(hours=24)) in dialog

    preview = client.post(f"{url}/preview", data={"hours_before": "100"}, headers=HX)
    body = preview.get_data(as_text=True)
    assert _local(p, encounter.starts_at - timedelta(hours=100)) in body
    assert "that time has passed" not in body
    assert "4 days 18 hours" in body  # the >96 h warning

    past = client.post(f"{url}/preview", data={"hours_before": "130"}, headers=HX)
    assert "that time has passed, so it runs as soon as you save" in past.get_data(as_text=True)


@pytest.mark.parametrize(
    ("hours", "message"),
    [
        ("-2", "Hours cannot be negative."),
        ("2.5", "Use a whole number of hours, such as 24."),
        ("", "Enter the number of hours before the appointment (0–168)."),
        ("many", "&#39;many&#39; is not a number of hours"),
    ],
)
def test_reschedule_with_bad_hours_answers_422_next_to_the_field(
    client, auth, world, p, hours, message
):
    encounter = book(p, world.biller)
    auth.login(world.biller)
    events = _audit_count()
    response = client.post(
        f"/encounters/{encounter.id}/preauth/reschedule", data={"hours_before": hours}, headers=HX
    )
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert message in body and 'aria-invalid="true"' in body
    assert "Nothing was saved." in body
    row = preauth_of(encounter)
    assert (row.hours_before, row.attempt) == (24, 1)
    assert _audit_count() == events


def test_reschedule_saves_closes_the_dialog_and_swaps_the_notification(client, auth, world, p):
    encounter = book(p, world.biller, starts_in=timedelta(days=5))
    service.cancel(encounter, actor=world.biller)
    auth.login(world.biller)

    response = client.post(
        f"/encounters/{encounter.id}/preauth/reschedule", data={"hours_before": "48"}, headers=HX
    )

    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert 'hx-swap-oob="outerHTML"' in body and "<dialog" not in body
    row = preauth_of(encounter)
    assert (row.state, row.hours_before, row.attempt) == ("scheduled", 48, 2)
    assert f"scheduled for {_local(p, row.run_at)}" in body


def test_reschedule_of_a_held_hold_releases_it_and_schedules_a_new_one(
    client, auth, world, p, strict_gateway
):
    add_card(strict_gateway, p.client)
    encounter = book(p, world.biller, starts_in=timedelta(hours=20))
    work()
    held = preauth_of(encounter)
    held_attempt, held_reference = held.attempt, held.gateway_reference
    auth.login(world.biller)
    dialog = client.get(f"/encounters/{encounter.id}/preauth/reschedule", headers=HX)
    assert "The hold of $25.00 on Visa •••• 4242 is released when you save" in dialog.get_data(
        as_text=True
    )
    response = client.post(
        f"/encounters/{encounter.id}/preauth/reschedule", data={"hours_before": "2"}, headers=HX
    )
    assert response.status_code == 200
    row = preauth_of(encounter)
    assert (row.state, row.hours_before, row.attempt) == ("scheduled", 2, held_attempt + 1)
    work()  # the settle job releases the old hold
    assert strict_gateway.intents[held_reference].status == "canceled"
    assert strict_gateway.live() == []


def test_another_organizations_id_is_not_found_and_changes_nothing(client, auth, world, p):
    encounter = book(p, world.biller)
    auth.login(world.outsider)
    for action in ("cancel", "retry", "reschedule"):
        response = client.post(
            f"/encounters/{encounter.id}/preauth/{action}", data={"hours_before": "5"}
        )
        assert response.status_code == 404
    row = preauth_of(encounter)
    assert (row.state, row.attempt, row.hours_before) == ("scheduled", 1, 24)


def test_an_encounter_without_a_hold_offers_schedule_when_settings_are_active(
    client, auth, world, p
):
    encounter = book(p, world.biller)
    db.session.execute(text("DELETE FROM pre_authorizations"))
    db.session.commit()
    auth.login(world.biller)
    section = _section(client.get(f"/encounters/{encounter.id}").get_data(as_text=True))
    assert "No pre-authorization is scheduled for this appointment." in section
    assert "Schedule</button>" in section
    assert "Create invoice" not in section  # nothing blocks invoicing


def test_without_settings_and_without_a_hold_nothing_is_shown(client, auth, world):
    p = practice(world, active=False)
    encounter = book(p, world.biller)
    auth.login(world.biller)
    section = _section(client.get(f"/encounters/{encounter.id}").get_data(as_text=True))
    assert "hidden" in section.split(">")[0]
