"""The schedule's calendar in Chromium (issue 15 part 2): a week time grid fed by the JSON
of calendar.events, a drag and a keyboard move that bring up the authorization warning in
the app's own dialog, saved only on confirmation, and Mark day as kept.

Ada's authorization covers Sunday to Tuesday of a week next month; her visit is on that
Monday at 10:00. Moving it to Wednesday leaves it with no authorization: a warning.
"""

import re
from datetime import date, datetime, time, timedelta
from pathlib import Path

from playwright.sync_api import expect

from tests import factories
from tests.browser.conftest import sign_in
from tests.browser.test_content_security_policy import Watch
from webapp.domain.windows import to_local, to_utc_naive
from webapp.extensions import db
from webapp.models import Encounter, Organization
from webapp.models.base import utcnow

SHOTS = Path("/work/wt/shots/calendar")


def _shot(page, name: str, *, full_page: bool = True) -> None:
    """A PNG for people to look at (a dialog: the viewport, where its backdrop is)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full_page)


def _monday_ahead() -> date:
    """A Monday 3 to 4 weeks ahead: the visit stays in the future and the week is whole."""
    day = date.today() + timedelta(days=21)
    return day + timedelta(days=(7 - day.weekday()) % 7)


def _seed(live_server, world):
    monday = _monday_ahead()
    with live_server.seed():
        org = world.org
        client = factories.client(org, first_name="Ada", last_name="Lovelace",
                                  primary_clinician_id=world.clinician.id)  # fmt: skip
        payer = factories.payer(org, name="Blue Harbor", messaging_enabled=True)
        policy = factories.insurance(org, client, payer)
        therapy = factories.service_type(org, cpt_code="90837", name="Psychotherapy")
        factories.authorization(org, policy, [therapy], number="AUTH-1", allowed=5,
                                start_date=monday - timedelta(days=1),
                                end_date=monday + timedelta(days=1))  # fmt: skip
        starts = to_utc_naive(datetime.combine(monday, time(10)), org.timezone)
        visit = factories.encounter(org, client, world.clinician, policy, [therapy],
                                    starts_at=starts, service_date=monday)  # fmt: skip
    return monday, visit.id


def _visit(live_server, encounter_id: int) -> tuple[date, datetime]:
    with live_server.app.app_context():
        row = db.session.get(Encounter, encounter_id)
        zone = db.session.get(Organization, row.organization_id).timezone
        return row.service_date, to_local(row.starts_at, zone).replace(tzinfo=None)


def _open_week(page, live_server, monday: date, watch: Watch) -> None:
    page.goto(f"{live_server.url}/schedule?view=week&date={monday.isoformat()}")
    page.wait_for_timeout(1500)
    assert watch.take() == []
    expect(page.locator(".fc-event")).to_have_count(1)


def test_a_drag_with_an_authorization_warning_moves_the_visit_once_confirmed(
    page, live_server, live_world
):
    monday, visit_id = _seed(live_server, live_world)
    watch = Watch(page)
    sign_in(page, live_server, live_world.clinician)
    _open_week(page, live_server, monday, watch)
    event = page.locator(f'.fc-event[data-encounter-id="{visit_id}"]')
    expect(event).to_contain_text("Ada Lovelace")
    expect(event.locator(".cal-warning")).to_have_count(0)
    _shot(page, "week-1280")

    wednesday = monday + timedelta(days=2)
    source = event.bounding_box()
    column = page.locator(f'td.fc-timegrid-col[data-date="{wednesday.isoformat()}"]')
    target = column.bounding_box()
    x, y = source["x"] + source["width"] / 2, source["y"] + 8
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 10, y, steps=3)
    page.mouse.move(target["x"] + target["width"] / 2, y, steps=12)
    with page.expect_response(re.compile(rf"/encounters/{visit_id}/move$")):
        page.mouse.up()

    dialog = page.locator("dialog#move-confirm-dialog[open]")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#authorization-warnings")).to_contain_text("Authorization warning")
    _shot(page, "move-confirm-1280", full_page=False)
    shown = dialog.locator("#move-new-start").inner_text()
    assert _visit(live_server, visit_id)[0] == monday  # nothing saved yet

    with page.expect_response(re.compile(rf"/encounters/{visit_id}/move$")):
        dialog.get_by_role("button", name="Move anyway").click()
    expect(page.locator("dialog")).to_have_count(0)
    expect(page.locator("#schedule-status")).to_contain_text("Moved Ada Lovelace's appointment")
    day, start = _visit(live_server, visit_id)
    assert day == wednesday and f"{start:%a %b %-d, %Y · %-I:%M %p}" == shown
    moved = page.locator(f'td.fc-timegrid-col[data-date="{wednesday.isoformat()}"] .fc-event')
    expect(moved.locator(".cal-warning")).to_have_text("Authorization warning")
    _shot(page, "week-moved-1280")
    assert watch.take() == []


def test_a_refused_drag_goes_back_and_says_why(page, live_server, live_world):
    """Block over-scheduling on: a clinician's drag that would over-schedule is refused."""
    monday, visit_id = _seed(live_server, live_world)
    with live_server.seed() as session:
        session.merge(live_world.org).block_overscheduling = True
    watch = Watch(page)
    sign_in(page, live_server, live_world.clinician)
    _open_week(page, live_server, monday, watch)
    event = page.locator(f'.fc-event[data-encounter-id="{visit_id}"]')
    wednesday = monday + timedelta(days=2)
    source = event.bounding_box()
    target = page.locator(f'td.fc-timegrid-col[data-date="{wednesday.isoformat()}"]')
    box = target.bounding_box()
    x, y = source["x"] + source["width"] / 2, source["y"] + 8
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 10, y, steps=3)
    page.mouse.move(box["x"] + box["width"] / 2, y, steps=12)
    with page.expect_response(re.compile(rf"/encounters/{visit_id}/move$")):
        page.mouse.up()
    refused = page.locator("dialog#move-dialog[open] #move-refused")
    expect(refused).to_contain_text("blocks over-scheduling")
    expect(page.locator("#schedule-status")).to_contain_text("Not moved")
    home = page.locator(f'td.fc-timegrid-col[data-date="{monday.isoformat()}"] .fc-event')
    expect(home).to_have_count(1)  # the event went back
    assert _visit(live_server, visit_id)[0] == monday
    _shot(page, "move-refused-1280", full_page=False)
    refusal_status = "status of 409 (CONFLICT)"  # the refusal's own answer, logged by Chromium
    assert [p for p in watch.take() if refusal_status not in p] == []


def test_a_keyboard_move_shows_the_warning_and_cancel_leaves_the_visit(
    page, live_server, live_world
):
    monday, visit_id = _seed(live_server, live_world)
    watch = Watch(page)
    sign_in(page, live_server, live_world.biller)
    _open_week(page, live_server, monday, watch)
    event = page.locator(f'.fc-event[data-encounter-id="{visit_id}"]')
    event.focus()
    page.keyboard.press("Enter")
    move = page.locator("dialog#move-dialog[open]")
    expect(move).to_be_visible()
    wednesday = monday + timedelta(days=2)
    move.get_by_label("New date").fill(wednesday.isoformat())
    move.get_by_label("New start time").fill("11:30")
    move.get_by_role("button", name="Move", exact=True).click()

    confirm = page.locator("dialog#move-confirm-dialog[open]")
    expect(confirm.locator("#authorization-warnings")).to_be_visible()
    confirm.locator("footer").get_by_role("button", name="Close").click()
    expect(page.locator("dialog")).to_have_count(0)
    assert _visit(live_server, visit_id)[0] == monday

    event.focus()
    page.keyboard.press("Enter")
    move.get_by_label("New date").fill(wednesday.isoformat())
    move.get_by_label("New start time").fill("11:30")
    move.get_by_role("button", name="Move", exact=True).click()
    confirm.get_by_role("button", name="Move anyway").click()
    expect(page.locator("#schedule-status")).to_contain_text("Moved Ada Lovelace's appointment")
    day, start = _visit(live_server, visit_id)
    assert (day, start.time()) == (wednesday, time(11, 30))
    assert watch.take() == []


def test_mark_day_as_kept_closes_the_days_started_visits(page, live_server, live_world):
    with live_server.seed():
        org = live_world.org
        client = factories.client(org, first_name="Grace", last_name="Hopper",
                                  primary_clinician_id=live_world.clinician.id)  # fmt: skip
        therapy = factories.service_type(org, cpt_code="90834")
        now_local = to_local(utcnow(), org.timezone).replace(tzinfo=None, second=0, microsecond=0)
        today_local = now_local.date()
        start_local = max(datetime.combine(today_local, time(0)), now_local - timedelta(hours=1))
        started = to_utc_naive(start_local, org.timezone)
        visit = factories.encounter(org, client, live_world.clinician, None, [therapy],
                                    starts_at=started, service_date=today_local)  # fmt: skip
    watch = Watch(page)
    sign_in(page, live_server, live_world.clinician)
    page.goto(f"{live_server.url}/schedule?view=day&date={today_local.isoformat()}")
    expect(page.locator(".fc-event")).to_have_count(1)
    _shot(page, "today-1280")
    page.locator(".schedule-calendar .keep-day").click()
    dialog = page.locator("dialog#keep-day-dialog[open]")
    expect(dialog.locator("#keep-day-list li")).to_have_count(1)
    _shot(page, "keep-day-1280", full_page=False)
    dialog.get_by_role("button", name="Mark 1 Kept").click()
    expect(dialog.locator("#keep-day-result")).to_contain_text("Marked 1 appointment")
    with live_server.app.app_context():
        assert db.session.get(Encounter, visit.id).status == "kept"
    dialog.locator("footer").get_by_role("button", name="Close").click()
    expect(page.locator(".fc-event .cal-status")).to_have_text("Kept")
    assert watch.take() == []


def test_small_screens_get_the_list_and_the_calendar_shows_at_1280(page, live_server, live_world):
    monday, visit_id = _seed(live_server, live_world)
    sign_in(page, live_server, live_world.admin)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/schedule?view=week&date={monday.isoformat()}")
    expect(page.locator("#schedule-body")).to_be_visible()
    expect(page.locator("#calendar")).to_be_hidden()
    expect(page.locator("#schedule-body")).to_contain_text("Ada Lovelace")
    _shot(page, "week-390")
    page.goto(f"{live_server.url}/schedule?view=day&date={monday.isoformat()}")
    _shot(page, "day-390")
    page.locator("#schedule-body .row-actions button").first.click()
    expect(page.locator("dialog#move-dialog[open]")).to_be_visible()
    _shot(page, "move-dialog-390", full_page=False)
    with live_server.seed():  # another client booked over Ada's hour: both show it
        other = factories.client(live_world.org, first_name="Bo", last_name="Clash")
        factories.encounter(live_world.org, other, live_world.clinician, None,
                            [factories.service_type(live_world.org)],
                            starts_at=to_utc_naive(datetime.combine(monday, time(10, 30)),
                                                   live_world.org.timezone),
                            service_date=monday)  # fmt: skip
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/schedule?view=day&date={monday.isoformat()}")
    expect(page.locator(".fc-event")).to_have_count(2)
    expect(page.locator("#schedule-body")).to_be_hidden()
    expect(page.locator(".fc-event .cal-clinician").first).to_have_text(live_world.clinician.name)
    expect(page.locator(".fc-event .cal-double")).to_have_count(2)
    _shot(page, "day-1280")
