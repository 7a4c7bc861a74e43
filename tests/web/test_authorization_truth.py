"""Issue 10 through the pages: the authorization each visit uses and why, warnings that fit
the visit, numbers that agree, and the payer's rounding in plain words."""

import re
from datetime import UTC, date, datetime, time

import pytest
import time_machine
from sqlalchemy import select

from tests import factories
from webapp.domain import authorization_rules as rules
from webapp.extensions import db
from webapp.models import Encounter, Notification
from webapp.services import authorizations, booking, notifications

D = date
HX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def _early_2026():
    with time_machine.travel(datetime(2026, 3, 1, 17, tzinfo=UTC), tick=True):
        yield


@pytest.fixture
def practice(world):
    org = world.org
    client = factories.client(org, first_name="Ada", last_name="Lovelace",
                              primary_clinician_id=world.clinician.id)  # fmt: skip
    payer = factories.payer(org, name="Blue Harbor", messaging_enabled=True)
    policy = factories.insurance(org, client, payer)
    therapy = factories.service_type(org, cpt_code="90837")
    aba = factories.service_type(org, cpt_code="97153", name="ABA", unit_minutes=15)
    supervision = factories.service_type(org, cpt_code="97155", name="Supervision", unit_minutes=15)
    db.session.commit()
    return dict(org=org, client=client, payer=payer, policy=policy, therapy=therapy, aba=aba,
                supervision=supervision)  # fmt: skip


def auth_row(p, number, start, end, allowed, services=None, **values):
    return factories.authorization(
        p["org"], p["policy"], services or [p["therapy"]], number=number,
        start_date=start, end_date=end, allowed=allowed, **values,
    )  # fmt: skip


def book(p, world, day, lines=None, hour=10, **extra):
    request = booking.BookingRequest(
        clinician_id=world.clinician.id,
        start_local=datetime.combine(day, time(hour)),
        duration_minutes=60,
        lines=lines or [(p["therapy"].id, 60)],
        billing_type="insurance",
        client_insurance_id=p["policy"].id,
        **extra,
    )
    return booking.book(p["org"], p["client"], request, actor=world.admin)


def form(p, world, day, **extra):
    data = {
        "clinician_id": world.clinician.id, "date": day.isoformat(), "time": "10:00",
        "duration_minutes": "60", "lines-0-service_type_id": p["therapy"].id,
        "lines-0-minutes": "60", "lines-1-service_type_id": "0", "lines-2-service_type_id": "0",
        "billing_type": "insurance", "client_insurance_id": p["policy"].id, "repeat": "none",
    }  # fmt: skip
    data.update(extra)
    return data


def set_status(encounter, status, world):
    encounter.status = status
    from webapp.services.allocation import reallocate_client

    reallocate_client(world.org, encounter.client_id)
    db.session.commit()


# --- Which authorization, and why --------------------------------------------------------


def test_the_encounter_page_and_the_ledger_say_which_authorization_and_why(
    client, auth, world, practice
):
    p = practice
    a = auth_row(p, "A-1", D(2026, 1, 1), D(2026, 3, 31), 2)
    b = auth_row(p, "B-1", D(2026, 3, 1), D(2026, 6, 30), 10)
    db.session.commit()
    for day in (D(2026, 1, 12), D(2026, 2, 9)):
        set_status(book(p, world, day)[0], rules.KEPT, world)
    auth.login(world.biller)
    check = client.post(f"/clients/{p['client'].id}/encounters/check",
                        data=form(p, world, D(2026, 3, 16)), headers=HX)  # fmt: skip
    assert "warning-box" not in check.get_data(as_text=True)
    march = book(p, world, D(2026, 3, 16))[0]

    page = client.get(f"/encounters/{march.id}").get_data(as_text=True)
    use = re.search(r'<ul class="plain" id="authorization-use">(.*?)</ul>', page, re.S)[1]
    assert f'data-auth-id="{b.id}"' in use and f'data-auth-id="{a.id}"' not in use
    assert "A-1 (ends Mar 31, 2026): no sessions were left" in use
    assert 'id="authorization-warning"' not in page

    ledger = client.get(f"/authorizations/{b.id}").get_data(as_text=True)
    row = re.search(rf'<tr [^>]*data-encounter-id="{march.id}">(.*?)</tr>', ledger, re.S)[1]
    assert "The next to end with room for it" in row
    kept_ledger = client.get(f"/authorizations/{a.id}").get_data(as_text=True)
    assert kept_ledger.count("Kept: it stays on the authorization it was counted against.") == 2


def test_the_ledger_shows_the_minutes_and_how_they_became_units(client, auth, world, practice):
    p = practice
    units = auth_row(p, "U-1", D(2026, 1, 1), D(2026, 12, 31), 100, [p["aba"], p["supervision"]],
                     kind="units", frequency="period")  # fmt: skip
    db.session.commit()
    visit = book(p, world, D(2026, 3, 2), [(p["aba"].id, 33), (p["supervision"].id, 7)])[0]
    auth.login(world.biller)
    ledger = client.get(f"/authorizations/{units.id}").get_data(as_text=True)
    row = re.search(rf'data-encounter-id="{visit.id}">(.*?)</tr>', ledger, re.S)[1]
    assert "33 min → 2 units" in row and "7 min → 1 unit" in row
    assert "33 min = 2 whole units of 15, 3 min left over" in row
    assert "7 min = 0 whole units of 15, 7 min left over; +1 unit from the day&#39;s pooled" in row
    assert "40 timed min (15-min units) = 3 units." in row
    assert '<td class="num">3</td>' in row
    page = client.get(f"/encounters/{visit.id}").get_data(as_text=True)
    assert re.findall(r"<td class=\"num\" data-units>(\d+)</td>", page) == ["2", "1"]


def test_the_payer_page_states_each_rounding_profile_in_plain_words(client, auth, world, practice):
    factories.payer(world.org, name="Per Code Health", rounding_profile="midpoint-min-1")
    db.session.commit()
    auth.login(world.admin)
    page = client.get("/admin/payers").get_data(as_text=True)
    assert "CMS 8-minute rule (total timed minutes of the day)" in page
    assert "Per code, rounded at half a unit (at least 1)" in page
    assert "added up first: 8–22 minutes is 1 unit of 15" in page
    assert "<code>cms-8-minute</code>" not in page


def test_an_edit_that_moves_kept_visits_lists_them_and_saves_only_when_confirmed(
    client, auth, world, practice
):
    p = practice
    a = auth_row(p, "A-1", D(2026, 1, 1), D(2026, 6, 30), 10)
    auth_row(p, "B-1", D(2026, 1, 1), D(2026, 12, 31), 10)
    db.session.commit()
    may = book(p, world, D(2026, 5, 4))[0]
    set_status(may, rules.KEPT, world)
    auth.login(world.biller)
    data = {"client_insurance_id": p["policy"].id, "number": "A-1", "kind": "sessions",
            "start_date": "2026-01-01", "end_date": "2026-03-31", "allowed": "10",
            "frequency": "", "service_type_ids": [p["therapy"].id]}  # fmt: skip
    asked = client.post(f"/authorizations/{a.id}/edit", data=data, headers=HX)
    body = asked.get_data(as_text=True)
    assert asked.status_code == 409
    assert "Not saved yet: this change moves 1 kept appointment" in body
    assert "May 4, 2026 (90837): from A-1 to B-1" in body
    db.session.expire_all()
    assert db.session.get(type(a), a.id).end_date == D(2026, 6, 30)
    saved = client.post(f"/authorizations/{a.id}/edit", data={**data, "confirm_moves": "y"},
                        headers=HX)  # fmt: skip
    assert "HX-Redirect" in saved.headers
    db.session.expire_all()
    assert db.session.get(type(a), a.id).end_date == D(2026, 3, 31)


# --- Warnings that fit the visit ----------------------------------------------------------


@pytest.mark.parametrize("count_upcoming", [False, True])
def test_a_series_shows_every_affected_occurrence_and_each_keeps_its_warning(
    client, auth, world, practice, count_upcoming
):
    p = practice
    world.org.count_upcoming_for_exhaustion = count_upcoming
    auth_row(p, "S-2", D(2026, 3, 1), D(2026, 6, 30), 2)
    db.session.commit()
    auth.login(world.biller)
    series = form(p, world, D(2026, 3, 2), repeat="weekly", repeat_count="4")
    check = client.post(f"/clients/{p['client'].id}/encounters/check", data=series, headers=HX)
    body = check.get_data(as_text=True)
    assert "2 of 4 appointments have an authorization warning" in body
    assert re.findall(r'data-occurrence="(\d)" data-date', body) == ["3", "4"]
    client.post(f"/clients/{p['client'].id}/encounters/new", data=series)
    saved = db.session.scalars(select(Encounter).order_by(Encounter.starts_at)).all()
    shown = [
        'id="authorization-warning"' in client.get(f"/encounters/{e.id}").get_data(as_text=True)
        for e in saved
    ]
    assert shown == [False, False, True, True]


@pytest.mark.parametrize("status", [rules.CANCELLED, rules.LATE_CANCELLED, rules.NO_SHOW])
def test_a_visit_that_never_counts_shows_no_authorization_warning(
    client, auth, world, practice, status
):
    p = practice
    auth_row(p, "S-1", D(2026, 3, 1), D(2026, 3, 31), 1)
    db.session.commit()
    book(p, world, D(2026, 3, 2))
    over = book(p, world, D(2026, 3, 9))[0]
    uncovered = book(p, world, D(2026, 7, 6))[0]  # nothing covers July
    auth.login(world.biller)
    assert 'id="authorization-warning"' in client.get(f"/encounters/{over.id}").get_data(
        as_text=True
    )
    for visit in (over, uncovered):
        set_status(visit, status, world)
        page = client.get(f"/encounters/{visit.id}").get_data(as_text=True)
        assert 'id="authorization-warning"' not in page
    schedule = client.get("/schedule?date=2026-03-09").get_data(as_text=True)
    assert "Authorization warning" not in schedule


def test_a_clinician_booked_twice_is_warned_and_the_schedule_shows_it(
    client, auth, world, practice
):
    p = practice
    auth_row(p, "S-1", D(2026, 3, 1), D(2026, 6, 30), 20)
    other = factories.client(world.org, first_name="Grace", last_name="Hopper",
                             primary_clinician_id=world.clinician.id)  # fmt: skip
    db.session.commit()
    first = book(p, world, D(2026, 3, 2))[0]
    auth.login(world.biller)
    clash = form(p, world, D(2026, 3, 2), time="10:30", billing_type="self_pay")
    check = client.post(f"/clients/{other.id}/encounters/check", data=clash, headers=HX)
    body = check.get_data(as_text=True)
    assert 'id="double-booking-warnings"' in body
    assert "already booked Mar 2, 2026, 10:00 AM–11:00 AM (with Ada Lovelace)" in body
    client.post(f"/clients/{other.id}/encounters/new", data=clash)
    second = db.session.scalars(select(Encounter).where(Encounter.client_id == other.id)).one()
    page = client.get(f"/encounters/{second.id}").get_data(as_text=True)
    assert 'id="double-booking-warning"' in page
    schedule = client.get("/schedule?date=2026-03-02&view=day").get_data(as_text=True)
    assert schedule.count("Double-booked</span>") == 2
    assert f'data-overlaps="{first.id}"' in schedule
    # Back to back is fine; a cancelled appointment frees the slot.
    set_status(first, rules.CANCELLED, world)
    schedule = client.get("/schedule?date=2026-03-02&view=day").get_data(as_text=True)
    assert "Double-booked</span>" not in schedule


def test_a_future_visit_is_finalized_only_with_its_date_confirmed(client, auth, world, practice):
    p = practice
    auth_row(p, "S-1", D(2026, 3, 1), D(2026, 6, 30), 20)
    db.session.commit()
    visit = book(p, world, D(2026, 3, 9))[0]
    auth.login(world.clinician)
    dialog = client.get(f"/encounters/{visit.id}/finalize", headers=HX).get_data(as_text=True)
    assert 'name="confirm_early" value="2026-03-09"' in dialog
    assert "Yes, mark the appointment of Mar 9, 2026 Kept before it starts" in dialog
    assert "it is on Mar 9, 2026 at 10:00 AM." in dialog  # the stored start, in the org's zone
    refused = client.post(f"/encounters/{visit.id}/finalize", headers=HX)
    assert refused.status_code == 409
    assert "Mar 9, 2026 at 10:00 AM and has not started yet" in refused.get_data(as_text=True)
    wrong = client.post(f"/encounters/{visit.id}/finalize", headers=HX,
                        data={"confirm_early": "2026-03-10"})  # fmt: skip
    assert wrong.status_code == 409
    db.session.expire_all()
    assert db.session.get(Encounter, visit.id).status == rules.UPCOMING
    done = client.post(f"/encounters/{visit.id}/finalize", headers=HX,
                       data={"confirm_early": "2026-03-09"})  # fmt: skip
    assert done.status_code == 200 and "HX-Redirect" in done.headers
    db.session.expire_all()
    assert db.session.get(Encounter, visit.id).status == rules.KEPT
    ledger_page = client.get(f"/encounters/{visit.id}").get_data(as_text=True)
    assert "(counts once kept)" not in ledger_page


def test_a_future_visit_is_corrected_to_kept_only_with_its_date_confirmed(
    client, auth, world, practice
):
    p = practice
    visit = book(p, world, D(2026, 3, 9))[0]
    set_status(visit, rules.CANCELLED, world)
    auth.login(world.biller)
    client.post(f"/encounters/{visit.id}/status", data={"status": "kept"})
    db.session.expire_all()
    assert db.session.get(Encounter, visit.id).status == rules.CANCELLED
    client.post(f"/encounters/{visit.id}/status",
                data={"status": "kept", "confirm_early": "2026-03-09"})  # fmt: skip
    db.session.expire_all()
    assert db.session.get(Encounter, visit.id).status == rules.KEPT


def test_a_reminder_is_marked_resolved_when_its_condition_clears(client, auth, world, practice):
    p = practice
    a = auth_row(p, "S-1", D(2026, 1, 1), D(2026, 3, 5), 1)
    db.session.commit()
    link = f"/authorizations/{a.id}"
    for kind, threshold in (("expiration", 7), ("exhaustion", 0)):
        notifications.notify(
            [world.biller],
            kind=f"reminder.{kind}",
            title=f"S-1 {kind}",
            link=link,
            authorization_id=a.id,
            threshold=threshold,
        )
    db.session.commit()
    set_status(book(p, world, D(2026, 3, 2))[0], rules.KEPT, world)
    assert notifications.unread_count(world.biller) == 2
    values = {"client_insurance_id": p["policy"].id, "number": "S-1", "kind": "sessions",
              "start_date": D(2026, 1, 1), "end_date": D(2026, 9, 30), "allowed": 5,
              "frequency": None}  # fmt: skip
    authorizations.save_authorization(a, p["client"], values, [p["therapy"].id], actor=world.admin)
    rows = db.session.scalars(select(Notification).order_by(Notification.id)).all()
    assert [row.resolved_at is not None for row in rows] == [True, True]
    assert notifications.unread_count(world.biller) == 0
    auth.login(world.biller)
    page = client.get("/notifications").get_data(as_text=True)
    assert page.count("resolved-badge") == 2
    # The condition comes back: open again.
    values["allowed"] = 1
    authorizations.save_authorization(a, p["client"], values, [p["therapy"].id], actor=world.admin)
    rows = db.session.scalars(select(Notification).order_by(Notification.id)).all()
    assert [row.resolved_at is not None for row in rows] == [True, False]


# --- Numbers that agree --------------------------------------------------------------------


def test_over_use_and_a_cap_overbooked_show_on_the_client_row_and_the_report(
    client, auth, world, practice
):
    p = practice
    sessions = auth_row(p, "S-4", D(2026, 3, 1), D(2026, 3, 31), 4)
    weekly = auth_row(p, "W-8", D(2026, 3, 1), D(2026, 3, 31), 8, [p["aba"]],
                      kind="units", frequency="week")  # fmt: skip
    db.session.commit()
    for day in range(2, 6):
        set_status(book(p, world, D(2026, 3, day))[0], rules.KEPT, world)
    for day in range(9, 13):
        book(p, world, D(2026, 3, day))
    for day in (2, 3, 4):
        book(p, world, D(2026, 3, day), [(p["aba"].id, 60)], hour=14)  # 12 units in a week of 8
    auth.login(world.biller)
    page = client.get(f"/clients/{p['client'].id}/insurance").get_data(as_text=True)
    row = re.search(rf'data-auth-id="{sessions.id}">(.*?)</tr>', page, re.S)[1]
    assert "over by 4" in row and "200%" in row
    capped = re.search(rf'data-auth-id="{weekly.id}">(.*?)</tr>', page, re.S)[1]
    assert "Over the weekly cap in 1 week" in capped
    report = client.get("/reports/authorizations?start=2026-03-01&end=2026-03-31").get_data(
        as_text=True
    )
    report_row = re.search(rf'data-auth-id="{sessions.id}"[^>]*>(.*?)</tr>', report, re.S)[1]
    assert "over by 4" in report_row
    report_capped = re.search(rf'data-auth-id="{weekly.id}"[^>]*>(.*?)</tr>', report, re.S)[1]
    assert "Over the weekly cap in 1 week" in report_capped
    csv_text = client.get("/reports/authorizations.csv?start=2026-03-01&end=2026-03-31").get_data(
        as_text=True
    )
    assert "Over the weekly cap in 1 week" in csv_text


def test_a_week_breakdown_never_counts_a_visit_outside_the_range(client, auth, world, practice):
    p = practice
    auth_row(p, "N-1", D(2026, 11, 1), D(2026, 12, 31), 20)
    db.session.commit()
    with time_machine.travel(datetime(2026, 10, 1, 17, tzinfo=UTC), tick=True):
        book(p, world, D(2026, 12, 1))
        auth.login(world.biller)
        html = client.get("/reports/authorizations?start=2026-11-01&end=2026-11-30&by=week")
    body = html.get_data(as_text=True)
    assert 'data-end="2026-11-30"' in body and "Dec 5" not in body
    assert re.findall(r'<td class="num" data-figure="upcoming">(\d+)</td>', body) == ["0"] * 5


def test_dates_carry_their_year_and_the_csv_says_what_the_table_says(client, auth, world, practice):
    p = practice
    auth_row(p, "F-1", D(2026, 1, 1), D(2026, 12, 31), 100)
    db.session.commit()
    book(p, world, D(2026, 3, 2))
    auth.login(world.biller)
    html = client.get("/reports/authorizations?start=2026-03-01&end=2026-03-31").get_data(
        as_text=True
    )
    forecast = re.search(r'data-figure="forecast">\s*<span[^>]*>([^<]+)</span>', html)[1]
    assert forecast == "99 unused at end"
    csv_text = client.get("/reports/authorizations.csv?start=2026-03-01&end=2026-03-31").get_data(
        as_text=True
    )
    assert ",99 unused at end," in csv_text
    assert "Expires unused" not in csv_text
    for label in ("% Kept", "% Upcoming", "Available", "Over by"):
        assert label in csv_text.splitlines()[0]
    assert "% Upc." not in html


def test_the_run_out_date_carries_its_year(client, auth, world, practice):
    p = practice
    auth_row(p, "R-1", D(2026, 1, 1), D(2027, 12, 31), 1)
    db.session.commit()
    book(p, world, D(2026, 3, 2))
    auth.login(world.biller)
    html = client.get("/reports/authorizations?start=2026-03-01&end=2026-03-31").get_data(
        as_text=True
    )
    assert "Runs out Mar 2, 2026" in html
