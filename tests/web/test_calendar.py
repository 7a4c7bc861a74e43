"""The calendar's routes (webapp/views/calendar.py) on SQLite and PostgreSQL: the events
JSON scoped to the organization and to a clinician's own visits, its dates range-checked,
hostile input answered with a message and never a 5xx; the move and Mark day as kept
answers; the schedule page's policy (a style nonce, scripts untouched)."""

import json
from datetime import date, datetime, time, timedelta

import pytest
from sqlalchemy import select

from tests import factories
from webapp.domain.windows import to_local, to_utc_naive
from webapp.extensions import db
from webapp.models import Encounter, PreAuthorization

MONDAY = date(2026, 11, 16)  # past: its visits have started (Mark day as kept)
WEEK = "/schedule/events?start=2026-11-15&end=2026-11-22"


@pytest.fixture
def rows(world):
    """Ada (the standing clinician's client, messaging on, 1 session allowed) at Mon 10:00
    and Tue 10:00 — Tuesday over its authorization; Bo (another clinician's) at Mon 10:30,
    booked over Ada's hour by the same clinician; a scheduled hold on Ada's Monday; and a
    visit of another practice the same week."""
    org = world.org
    other = factories.user(org, "clinician", name="Dr Other")
    therapy = factories.service_type(org, cpt_code="90837")
    ada = factories.client(org, first_name="Ada", last_name="Lovelace",
                           primary_clinician_id=world.clinician.id)  # fmt: skip
    payer = factories.payer(org, messaging_enabled=True)
    policy = factories.insurance(org, ada, payer)
    factories.authorization(org, policy, [therapy], allowed=1)
    bo = factories.client(org, first_name="Bo", last_name="Other", primary_clinician_id=other.id)

    def at(day, hour, minute=0, zone=org.timezone):
        return to_utc_naive(datetime.combine(day, time(hour, minute)), zone)

    monday = factories.encounter(org, ada, world.clinician, policy, [therapy],
                                 starts_at=at(MONDAY, 10), service_date=MONDAY)  # fmt: skip
    tuesday = MONDAY + timedelta(days=1)
    over = factories.encounter(org, ada, world.clinician, policy, [therapy],
                               starts_at=at(tuesday, 10), service_date=tuesday)  # fmt: skip
    clash = factories.encounter(org, bo, world.clinician, None, [therapy],
                                starts_at=at(MONDAY, 10, 30), service_date=MONDAY)  # fmt: skip
    others = factories.encounter(org, bo, other, None, [therapy],
                                 starts_at=at(MONDAY, 14), service_date=MONDAY)  # fmt: skip
    far = factories.client(world.outsider_org)
    outsider_therapy = factories.service_type(world.outsider_org)
    elsewhere = factories.encounter(world.outsider_org, far, world.outsider, None,
                                    [outsider_therapy], starts_at=at(MONDAY, 9),
                                    service_date=MONDAY)  # fmt: skip
    db.session.add(PreAuthorization(organization_id=org.id, encounter_id=monday.id,
                                    state="scheduled", hours_before=24,
                                    run_at=monday.starts_at - timedelta(hours=24)))  # fmt: skip
    db.session.commit()
    return {"monday": monday, "over": over, "clash": clash, "others": others,
            "elsewhere": elsewhere, "other": other}  # fmt: skip


def _events(client, url=WEEK) -> dict:
    response = client.get(url)
    assert response.status_code == 200, response.data
    return {int(e["id"]): e for e in response.get_json()}


def test_each_event_carries_its_warning_hold_double_booking_status_and_links(
    client, auth, world, rows
):
    auth.login(world.biller)
    events = _events(client)
    assert set(events) == {rows[n].id for n in ("monday", "over", "clash", "others")}
    monday, over = events[rows["monday"].id], events[rows["over"].id]
    assert monday["start"] == "2026-11-16T10:00" and monday["end"] == "2026-11-16T11:00"
    assert monday["title"] == "Ada Lovelace" and monday["editable"] is True
    props = monday["extendedProps"]
    assert props["hold_state"] == "scheduled" and props["hold_label"] == "Hold: Scheduled"
    assert (
        props["double_booked"] is True
        and "booked at the same time 1 more time" in (props["double_booked_text"])
    )
    assert props["warning"] is None
    assert props["url"] == f"/encounters/{rows['monday'].id}"
    assert props["move_url"] == f"/encounters/{rows['monday'].id}/move"
    assert "exhausted" in over["extendedProps"]["warning"] and "has-warning" in over["classNames"]
    assert events[rows["clash"].id]["extendedProps"]["double_booked"] is True
    assert events[rows["others"].id]["extendedProps"]["double_booked"] is False


def test_the_events_agree_with_the_list(client, auth, world, rows):
    """The calendar's badges and the list's are one computation (load_schedule)."""
    auth.login(world.admin)
    events = _events(client)
    page = client.get("/schedule?mode=list&view=week&date=2026-11-16").get_data(as_text=True)
    assert page.count("Double-booked</span>") == sum(
        e["extendedProps"]["double_booked"] for e in events.values()
    )
    assert page.count(">Authorization warning<") == sum(
        bool(e["extendedProps"]["warning"]) for e in events.values()
    )
    assert page.count(">Hold: Scheduled<") == 1


def test_a_clinician_sees_only_their_own_visits_whatever_the_url_says(client, auth, world, rows):
    auth.login(world.clinician)
    mine = {rows["monday"].id, rows["over"].id}
    assert set(_events(client)) == mine
    assert set(_events(client, f"{WEEK}&clinician={rows['other'].id}")) == mine


def test_the_clinician_filter(client, auth, world, rows):
    auth.login(world.admin)
    assert set(_events(client, f"{WEEK}&clinician={rows['other'].id}")) == {rows["others"].id}


def test_another_practice_sees_none_of_these(client, auth, world, rows):
    auth.login(world.outsider)
    assert set(_events(client)) == {rows["elsewhere"].id}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "Give the start and end dates"),
        ("start=2026-12-13", "Give the start and end dates"),
        ("start=2026-12-13&end=", "Give the start and end dates"),
        ("start=13/12/2026&end=2026-12-20", "YYYY-MM-DD"),
        ("start=2026-12-13T00:00:00Z&end=2026-12-20", "YYYY-MM-DD"),
        ("start=2026-02-30&end=2026-03-02", "YYYY-MM-DD"),
        ("start=9999-12-01&end=9999-12-08", "1900"),
        ("start=0001-01-01&end=0001-01-08", "1900"),
        ("start=2026-12-20&end=2026-12-13", "after the start"),
        ("start=2026-12-13&end=2026-12-13", "after the start"),
        ("start=2026-01-01&end=2026-12-31", "at most 42 days"),
        ("start=2026-12-13&end=2027-01-25", "at most 42 days"),
        ("start=%27%3B--&end=2026-12-20", "YYYY-MM-DD"),
        ("start=２０２６-１２-１３&end=2026-12-20", "YYYY-MM-DD"),
    ],
)
def test_bad_ranges_get_a_message_not_an_error(client, auth, world, query, message):
    auth.login(world.admin)
    response = client.get(f"/schedule/events?{query}")
    assert response.status_code == 422
    assert message in response.get_json()["error"]


def test_six_weeks_is_the_longest_range(client, auth, world):
    auth.login(world.admin)
    assert client.get("/schedule/events?start=2026-12-13&end=2027-01-24").status_code == 200


@pytest.mark.parametrize("value", ["x" * 5000, "-1", "99999999999999999999", "1e3", " 2 "])
def test_a_hostile_clinician_filter_is_ignored(client, auth, world, rows, value):
    auth.login(world.admin)
    query = {"start": "2026-11-15", "end": "2026-11-22", "clinician": value}
    response = client.get("/schedule/events", query_string=query)
    assert response.status_code == 200


def test_a_control_character_is_refused_before_the_view(client, auth, world):
    auth.login(world.admin)
    assert client.get("/schedule/events?start=2026-12-13%00&end=2026-12-20").status_code == 400


# --- moving ---------------------------------------------------------------------------


def _local(world, encounter_id) -> datetime:
    db.session.expire_all()
    row = db.session.get(Encounter, encounter_id)
    return to_local(row.starts_at, world.org.timezone).replace(tzinfo=None)


def test_a_move_with_a_warning_answers_with_the_confirmation_then_saves(client, auth, world,
                                                                        rows):  # fmt: skip
    auth.login(world.biller)
    url = f"/encounters/{rows['monday'].id}/move"
    first = client.post(url, data={"date": "2027-01-04", "time": "09:15"},
                        headers={"HX-Request": "true"})  # fmt: skip
    assert first.status_code == 200
    page = first.get_data(as_text=True)
    assert 'id="move-confirm-dialog"' in page and "No authorization covers" in page
    assert "The pre-authorization moves with the start" in page
    assert "HX-Trigger" not in first.headers
    assert _local(world, rows["monday"].id) == datetime(2026, 11, 16, 10)
    acknowledged = page.split('name="acknowledged" type="hidden" value="')[1].split('"')[0]
    saved = client.post(url, data={"date": "2027-01-04", "time": "09:15",
                                   "acknowledged": acknowledged},
                        headers={"HX-Request": "true"})  # fmt: skip
    assert saved.status_code == 200 and saved.get_data(as_text=True) == ""
    trigger = json.loads(saved.headers["HX-Trigger"])["schedule-changed"]["message"]
    assert trigger.startswith("Moved Ada Lovelace's appointment to Jan 4, 2027 at 9:15 AM.")
    assert _local(world, rows["monday"].id) == datetime(2027, 1, 4, 9, 15)


def test_a_move_of_a_closed_visit_is_refused_with_the_reason(client, auth, world, rows):
    rows["others"].status = "kept"
    db.session.commit()
    auth.login(world.admin)
    response = client.post(f"/encounters/{rows['others'].id}/move",
                           data={"date": "2026-12-15", "time": "09:00"})  # fmt: skip
    assert response.status_code == 409
    assert "Only an upcoming appointment can be moved" in response.get_data(as_text=True)
    assert "schedule-refused" in response.headers["HX-Trigger"]


@pytest.mark.parametrize(
    "data",
    [
        {"date": "9999-01-01", "time": "09:00"},
        {"date": "2026-12-15", "time": "25:00"},
        {"date": "", "time": ""},
        {"date": "2026-12-15", "time": "09:00", "acknowledged": "x" * 500},
        {"date": "2026-12-15", "time": "09:00", "override_reason": "x" * 5000},
    ],
)
def test_bad_move_input_is_answered_next_to_the_field(client, auth, world, rows, data):
    auth.login(world.admin)
    response = client.post(f"/encounters/{rows['others'].id}/move", data=data)
    assert response.status_code == 422
    assert "schedule-refused" in response.headers["HX-Trigger"]
    assert _local(world, rows["others"].id) == datetime(2026, 11, 16, 14)


def test_a_clinician_cannot_move_or_see_another_clinicians_visit(client, auth, world, rows):
    auth.login(world.clinician)
    url = f"/encounters/{rows['others'].id}/move"
    assert client.get(url).status_code == 404
    assert client.post(url, data={"date": "2026-12-15", "time": "09:00"}).status_code == 404


def test_another_practice_cannot_move_a_visit(client, auth, world, rows):
    auth.login(world.outsider)
    response = client.post(f"/encounters/{rows['monday'].id}/move",
                           data={"date": "2026-12-15", "time": "09:00"})  # fmt: skip
    assert response.status_code == 404


# --- Mark day as kept -----------------------------------------------------------------


def test_mark_day_as_kept_lists_then_closes_a_clinicians_own_started_visits(
    client, auth, world, rows
):
    auth.login(world.clinician)
    confirm = client.get(
        "/schedule/keep-day?date=2026-11-16", headers={"HX-Request": "true"}
    ).get_data(as_text=True)
    assert confirm.count("<li data-encounter-id=") == 1  # Ada's Monday; Bo's are not hers
    assert f'data-encounter-id="{rows["monday"].id}"' in confirm
    done = client.post("/schedule/keep-day?date=2026-11-16")
    assert done.status_code == 200
    assert "Marked 1 appointment of Nov 16, 2026 Kept." in done.get_data(as_text=True)
    assert "schedule-changed" in done.headers["HX-Trigger"]
    statuses = dict(db.session.execute(select(Encounter.id, Encounter.status)).all())
    assert statuses[rows["monday"].id] == "kept"
    assert statuses[rows["clash"].id] == statuses[rows["others"].id] == "upcoming"


def test_mark_day_as_kept_leaves_another_practice_alone(client, auth, world, rows):
    auth.login(world.outsider)
    client.post("/schedule/keep-day?date=2026-11-16")
    statuses = dict(db.session.execute(select(Encounter.id, Encounter.status)).all())
    assert statuses[rows["elsewhere"].id] == "kept"
    assert [statuses[rows[n].id] for n in ("monday", "over", "clash", "others")] == ["upcoming"] * 4


@pytest.mark.parametrize("day", ["9999-01-01", "2026-13-01", "x"])
def test_mark_day_as_kept_refuses_a_bad_date_and_changes_nothing(client, auth, world, rows, day):
    auth.login(world.admin)
    response = client.post(f"/schedule/keep-day?date={day}")
    assert response.status_code == 422
    statuses = db.session.scalars(select(Encounter.status)).all()
    assert "kept" not in statuses


# --- the page -------------------------------------------------------------------------


def test_the_calendar_page_has_a_style_nonce_and_scripts_stay_strict(client, auth, world):
    auth.login(world.admin)
    response = client.get("/schedule")
    policy = response.headers["Content-Security-Policy"]
    nonce = response.get_data(as_text=True).split('<meta name="csp-nonce" content="')[1]
    nonce = nonce.split('"')[0]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert f"'nonce-{nonce}'" in directives["style-src"].split()
    assert "nonce" not in directives["script-src"] and "unsafe" not in policy
    assert directives["font-src"].split() == ["'self'", "data:"]
    again = client.get("/schedule").headers["Content-Security-Policy"]
    assert again != policy  # a new nonce for every answer


def test_other_pages_and_the_list_get_the_plain_policy(client, auth, world):
    auth.login(world.admin)
    for url in ("/schedule?mode=list", "/clients"):
        policy = client.get(url).headers["Content-Security-Policy"]
        assert "nonce" not in policy and "data:" not in policy.split("font-src")[1].split(";")[0]
