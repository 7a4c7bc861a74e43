"""Pages of people and their doors, on SQLite and PostgreSQL: Admin › Users, My Profile ›
Password, "Forgot your password?", the audit trail and the time zone setting."""

import csv
import io
import re
from datetime import datetime
from html import unescape
from pathlib import Path

import pytest
from rq import SimpleWorker
from sqlalchemy import func, select

from tests import factories
from tests.web.test_access import ROUTES, seed_rows
from tests.web.test_sessions import Browser
from webapp.extensions import db
from webapp.models import AuditEvent, User
from webapp.models.audit import AuditIsAppendOnly
from webapp.services import audit, password_links, people, queue
from webapp.services.queue import redis_connection

LINK = re.compile(r"https://covered\.test(/password/[A-Za-z0-9_.\-]+)")
NEW_PASSWORD = "lantern quay harbor tide"


@pytest.fixture(autouse=True)
def browsers(app):
    app.test_client_class = Browser  # each request its own app context, as in production


@pytest.fixture
def client(app, browsers):
    return app.test_client()


def sign_in(client, user, password=factories.PASSWORD):
    response = client.post("/login", data={"email": user.email, "password": password})
    assert response.status_code == 302, "sign-in failed"


def signed_in(client) -> bool:
    return client.get("/clients").status_code == 200


def page_text(response) -> str:
    """The page without its CSRF token (signed with the time: it changes every second)."""
    return re.sub(r'"X-CSRFToken": "[^"]+"', "", response.text)


def run_jobs() -> None:
    SimpleWorker([queue.queue()], connection=redis_connection()).work(burst=True)


# --- Admin › Users -------------------------------------------------------------------------


def test_the_users_page_says_what_the_rows_say(client, world):
    newcomer = factories.user(world.org, "clinician", name="Nia Newcomer")
    newcomer.password_hash = password_links.unusable_password_hash()
    newcomer.invited_at = datetime(2026, 3, 2, 15)
    db.session.commit()
    sign_in(client, world.admin)
    assert client.get("/admin/users", headers={"HX-Request": "1"}).status_code == 200
    page = " ".join(client.get("/admin/users").text.split())
    assert "Nia Newcomer" in page and world.outsider.name not in page
    rows = {row.user.id: row.state for row in people.people(world.org.id)}
    for user_id, state in rows.items():
        row_html = page.split(f'id="person-{user_id}"')[1].split("</tr>")[0]
        assert f'data-state="{state}"' in row_html
    counts = {s: list(rows.values()).count(s) for s in ("active", "invited")}
    assert f"4 people · {counts['active']} active · {counts['invited']} invited" in page
    assert "Never" in page.split(f'id="person-{newcomer.id}"')[1].split("</tr>")[0]


def test_inviting_through_the_dialog_writes_the_email_to_the_outbox(app, client, world):
    sign_in(client, world.admin)
    dialog = client.get("/admin/users/invite", headers={"HX-Request": "true"})
    assert dialog.status_code == 200 and 'id="invite-dialog"' in dialog.text
    data = {"name": "Omar Biller", "email": "omar@example.com", "person_role": "biller"}
    answer = client.post("/admin/users/invite", data=data, headers={"HX-Request": "true"})
    assert answer.headers["HX-Redirect"] == "/admin/users"
    assert "Omar Biller is invited as Biller" in client.get("/admin/users").text
    [message] = list(Path(app.config["OUTBOX_PATH"]).glob(f"org{world.org.id}-*.eml"))
    assert "omar@example.com" in message.read_text() and "/password/" in message.read_text()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "", "email": "a@example.com", "person_role": "biller"}, "Enter the person's"),
        ({"name": "A", "email": "nope", "person_role": "biller"}, "Enter an email address"),
        ({"name": "A", "email": "a@example.com", "person_role": "owner"}, "Not a valid choice"),
    ],
)
def test_a_bad_invitation_is_answered_next_to_its_field(client, world, data, message):
    sign_in(client, world.admin)
    users = db.session.scalar(select(func.count(User.id)))
    answer = client.post("/admin/users/invite", data=data, headers={"HX-Request": "true"})
    assert answer.status_code in (409, 422) and message in unescape(answer.text)
    assert 'class="field-error"' in answer.text
    assert db.session.scalar(select(func.count(User.id))) == users


def test_the_last_admin_is_told_next_to_the_action(client, world):
    sign_in(client, world.admin)
    answer = client.post(
        f"/admin/users/{world.admin.id}/role",
        data={"person_role": "biller"},
        headers={"HX-Request": "1"},
    )
    assert answer.status_code == 409
    refusal = answer.text.split('id="refusal-role"')[1].split("</p>")[0]
    assert "the only admin who can sign in" in refusal
    assert db.session.get(User, world.admin.id).role == "admin"


def test_an_admin_lifts_a_lockout_from_the_users_page(client, world):
    other = factories.user(world.org, "admin")
    db.session.commit()
    for _ in range(5):
        client.post("/login", data={"email": other.email, "password": "wrong wrong wrong"})
    sign_in(client, world.admin)
    assert 'data-state="locked out"' in client.get("/admin/users").text
    assert (
        "Lift lockout"
        in client.get(f"/admin/users/{other.id}", headers={"HX-Request": "true"}).text
    )
    assert client.post(f"/admin/users/{other.id}/unlock").status_code == 302
    assert 'data-state="locked out"' not in client.get("/admin/users").text
    sign_in(client, other)


# --- My Profile › Password -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "new", "confirm", "field", "message"),
    [
        (
            "wrong password",
            NEW_PASSWORD,
            NEW_PASSWORD,
            "current_password",
            "That is not your current password.",
        ),
        (
            factories.PASSWORD,
            "password1234",
            "password1234",
            "new_password",
            "This is a very common password.",
        ),
        (factories.PASSWORD, "short", "short", "new_password", "Use at least 12 characters."),
        (factories.PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "!", "confirm", "not the same"),
        (
            factories.PASSWORD,
            factories.PASSWORD,
            factories.PASSWORD,
            "new_password",
            "different from your current one",
        ),
        ("", NEW_PASSWORD, NEW_PASSWORD, "current_password", "Enter your current password."),
    ],
)
def test_a_refused_change_says_why_next_to_the_field(
    client, world, current, new, confirm, field, message
):
    sign_in(client, world.biller)
    data = {"current_password": current, "new_password": new, "confirm": confirm}
    answer = client.post("/profile/password", data=data)
    assert answer.status_code == 422
    error = answer.text.split(f'id="{field}-error"')[1].split("</small>")[0]
    assert message in error
    assert db.session.get(User, world.biller.id).check_password(factories.PASSWORD)


def test_changing_my_password_ends_my_other_sessions_and_keeps_this_one(app, client, world):
    phone = app.test_client()
    sign_in(phone, world.biller)
    sign_in(client, world.biller)
    data = {"current_password": factories.PASSWORD, "new_password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD}  # fmt: skip
    answer = client.post("/profile/password", data=data)
    assert answer.status_code == 302 and answer.headers["Location"] == "/profile/password"
    assert "You were signed out everywhere else" in client.get("/profile/password").text
    assert signed_in(client) and not signed_in(phone)
    sign_in(app.test_client(), world.biller, NEW_PASSWORD)
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "user.password_changed")
    )
    assert (event.user_id, event.entity_id) == (world.biller.id, world.biller.id)


# --- Forgot your password? ----------------------------------------------------------------


def test_forgot_password_answers_and_works_the_same_for_every_email(client, world, monkeypatch):
    people.deactivate(world.admin, world.clinician)
    queued = []
    monkeypatch.setattr(queue, "enqueue", lambda path, *args, **kw: queued.append((path, args)))
    answers = {}
    for email in (world.biller.email, "nobody@example.com", world.clinician.email):
        answer = client.post("/forgot-password", data={"email": email})
        answers[email] = (answer.status_code, page_text(answer).replace(email, "EMAIL"))
    assert len(set(answers.values())) == 1
    status, text = answers[world.biller.email]
    assert status == 200 and "If EMAIL has an account, a link" in text
    assert [path for path, _ in queued] == ["jobs.passwords.send_reset"] * 3
    assert [args for _, args in queued] == [(world.biller.email,), ("nobody@example.com",),
                                            (world.clinician.email,)]  # fmt: skip


def test_the_reset_email_goes_to_active_accounts_only_and_its_link_works_once(
    app, client, world, smtp
):
    people.deactivate(world.admin, world.clinician)
    phone = app.test_client()
    sign_in(phone, world.biller)
    for email in (world.biller.email.upper(), "nobody@example.com", world.clinician.email):
        client.post("/forgot-password", data={"email": email})
    run_jobs()
    [received] = smtp.received
    assert received.recipients == [world.biller.email]
    assert received.subject == "Reset your Covered password for Harbor Therapy"
    assert "1 hour" in received.part("plain")
    path = LINK.search(received.part("plain")).group(1)
    answer = client.post(path, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert answer.status_code == 302
    sign_in(client, world.biller, NEW_PASSWORD)
    assert not signed_in(phone)  # a reset ends the sessions that knew the old password
    assert client.get(path).status_code == 410
    actions = db.session.scalars(
        select(AuditEvent.action).where(AuditEvent.entity_id == world.biller.id)
    ).all()
    assert actions == ["user.password_reset_sent", "user.password_set"]


def test_requests_past_the_limit_get_the_same_answer_and_queue_nothing(client, world, monkeypatch):
    queued = []
    monkeypatch.setattr(queue, "enqueue", lambda path, *args, **kw: queued.append(args))
    answers = set()
    for _ in range(5):
        answer = client.post("/forgot-password", data={"email": world.biller.email})
        answers.add((answer.status_code, page_text(answer)))
    assert len(answers) == 1
    assert queued == [(world.biller.email,)] * 3  # RESET_EMAIL_LIMIT: 3 per hour
    for number in range(25):  # many addresses from one client
        client.post("/forgot-password", data={"email": f"someone{number}@example.com"})
    assert len(queued) == 3 + 15  # RESET_CLIENT_LIMIT: 20 requests an hour, 5 made above


def test_the_sign_in_page_links_to_forgot_password(client):
    assert 'href="/forgot-password"' in client.get("/login").text


# --- the audit trail -----------------------------------------------------------------------


def _events(world):
    """Four events over three days (times UTC; the practice is in New York)."""
    rows = [
        (world.admin, "user.role_changed", world.biller, datetime(2026, 3, 2, 14)),
        (world.biller, "settings.block_overscheduling", world.org, datetime(2026, 3, 3, 3)),
        (world.admin, "user.deactivated", world.clinician, datetime(2026, 3, 3, 15)),
        (world.outsider, "user.role_changed", world.outsider, datetime(2026, 3, 3, 16)),
    ]
    for actor, action, row, when in rows:
        event = audit.record(
            organization_id=actor.organization_id,
            user_id=actor.id,
            action=action,
            row=row,
            before={"role": "clinician"},
            after={"role": "=biller"},
        )
        event.created_at = when
    db.session.commit()


@pytest.mark.parametrize(
    ("query", "count"),
    [
        ("", 3),
        ("?person={admin}", 2),
        ("?action=user.role_changed", 1),
        ("?record=users", 2),
        ("?record=users&record_id={clinician}", 1),
        ("?from=2026-03-02&to=2026-03-02", 2),  # 03:00 UTC on the 3rd is the 2nd in New York
        ("?from=2026-03-03", 1),
        ("?to=2026-03-01", 0),
    ],
)
def test_the_trail_filters_by_person_action_record_and_practice_days(client, world, query, count):
    _events(world)
    sign_in(client, world.admin)
    url = "/admin/audit" + query.format(admin=world.admin.id, clinician=world.clinician.id)
    page = client.get(url)
    assert page.status_code == 200
    assert page.text.count("data-audit-id=") == count
    assert f"{count} entr" in page.text
    swapped = client.get(url, headers={"HX-Request": "true"})  # the filter form's request
    assert swapped.text.startswith('<div id="audit-page">') or 'id="audit-page"' in swapped.text
    assert swapped.text.count("data-audit-id=") == count and "<html" not in swapped.text
    export_url = url.replace("/admin/audit", "/admin/audit/export.csv")
    exported = list(csv.DictReader(io.StringIO(client.get(export_url).text)))
    assert len(exported) == count
    assert all(row["after"] == '{"role": "=biller"}' for row in exported)


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("?from=0001-01-01", "from", "1900"),
        ("?to=9999-12-31", "to", "2099"),
        ("?from=2026-13-40", "from", "YYYY-MM-DD"),
        ("?from=2026-03-05&to=2026-03-01", "to", "ends before it starts"),
        ("?person=99999999999999999999", "person", "Choose a person"),
        ("?person={outsider}", "person", "Choose a person"),
        ("?action=user.deleted", "action", "No event of the trail"),
        ("?record_id=-4", "record_id", "record number"),
    ],
)
def test_a_bad_filter_is_answered_next_to_it(client, world, query, field, message):
    _events(world)
    sign_in(client, world.admin)
    page = client.get("/admin/audit" + query.format(outsider=world.outsider.id))
    assert page.status_code == 422
    swapped = client.get(page.request.full_path, headers={"HX-Request": "true"})
    assert swapped.status_code == 422 and f'id="audit-{field}-error"' in swapped.text
    assert message in page.text.split(f'id="audit-{field}-error"')[1].split("</small>")[0]
    assert client.get("/admin/audit/export.csv" + query.format(outsider=1)).status_code == 200


def test_the_trail_pages_and_the_csv_holds_every_matching_event(client, world):
    for number in range(120):
        audit.record(
            organization_id=world.org.id,
            user_id=world.admin.id,
            action="settings.test",
            entity_type="organizations",
            entity_id=number + 1,
        )
    db.session.commit()
    sign_in(client, world.admin)
    first, last = client.get("/admin/audit"), client.get("/admin/audit?page=3")
    assert first.text.count("data-audit-id=") == 50 and last.text.count("data-audit-id=") == 20
    assert "Page 1 of 3" in first.text and "Page 3 of 3" in last.text
    assert client.get("/admin/audit?page=99999").text.count("data-audit-id=") == 20
    export = client.get("/admin/audit/export.csv")
    assert export.is_streamed and export.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert len(rows) == 120 and {r["person"] for r in rows} == {world.admin.name}


def test_a_formula_in_a_value_is_quoted_in_the_csv(client, world):
    audit.record(
        organization_id=world.org.id,
        user_id=world.admin.id,
        action="x.y",
        entity_type="clients",
        entity_id=1,
        reason="=HYPERLINK(1)",
    )
    db.session.commit()
    sign_in(client, world.admin)
    [row] = list(csv.DictReader(io.StringIO(client.get("/admin/audit/export.csv").text)))
    assert row["reason"] == "'=HYPERLINK(1)"


def test_the_orm_refuses_to_change_or_delete_an_audit_event(world):
    event = audit.record(
        organization_id=world.org.id, user_id=None, action="x.y", entity_type="clients"
    )
    db.session.commit()
    event.action = "rewritten"
    with pytest.raises(AuditIsAppendOnly):
        db.session.commit()
    db.session.rollback()
    db.session.delete(event)
    with pytest.raises(AuditIsAppendOnly):
        db.session.commit()
    db.session.rollback()
    assert db.session.get(AuditEvent, event.id).action == "x.y"


def test_an_event_is_completed_in_the_transaction_that_writes_it_and_never_after(world):
    # The legacy import writes its event first and its counts at the end of one commit.
    event = audit.record(
        organization_id=world.org.id, user_id=None, action="x.y", entity_type="clients"
    )
    db.session.flush()
    event.after = {"imported": 3}
    db.session.commit()
    assert db.session.get(AuditEvent, event.id).after == {"imported": 3}
    event.after = {"imported": 4}
    with pytest.raises(AuditIsAppendOnly):
        db.session.commit()
    db.session.rollback()
    # A rolled-back transaction's events are forgotten too.
    other = audit.record(
        organization_id=world.org.id, user_id=None, action="x.z", entity_type="clients"
    )
    db.session.flush()
    db.session.rollback()
    assert other.id is None or db.session.get(AuditEvent, other.id) is None


def _trail() -> list[tuple]:
    db.session.expire_all()
    return [
        (e.id, e.organization_id, e.user_id, e.created_at, e.action, e.entity_type, e.entity_id,
         e.before, e.after, e.reason)
        for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))
    ]  # fmt: skip


def test_no_route_changes_or_removes_an_audit_row(app, world):
    """Every route of the app, each method it answers, as an admin: rows only get added."""
    rows = seed_rows(world)
    _events(world)
    before = _trail()
    admin = app.test_client()
    sign_in(admin, world.admin)
    placeholders = {
        **rows,
        "setting": "block_overscheduling",
        "token": "x",
        "user_id": rows["person"],
    }
    tried = 0
    for rule in app.url_map.iter_rules():
        if rule.endpoint in ("static", "auth.logout"):
            continue
        path = ROUTES[rule.endpoint][1].format(**rows) if rule.endpoint in ROUTES else None
        if path is None:
            values = {arg: placeholders.get(arg.removesuffix("_id"), placeholders.get(arg, 1))
                      for arg in rule.arguments}  # fmt: skip
            path = rule.rule
            for arg, value in values.items():
                path = re.sub(rf"<(?:\w+:)?{arg}>", str(value), path)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            data = {"reason": "x", "person_role": "biller"}
            response = admin.open(path, method=method, data=data)
            assert response.status_code < 500, (method, path)
            response.close()  # a streamed answer (CSV) ends its request here
            tried += 1
    after = _trail()
    assert after[: len(before)] == before
    assert tried > len(ROUTES)


# --- Organization settings: time zone and week start ------------------------------------------


def test_the_time_zone_and_week_start_show_on_the_schedule(client, world):
    client_row = factories.client(world.org, primary_clinician_id=world.clinician.id)
    service = factories.service_type(world.org)
    factories.encounter(
        world.org, client_row, world.clinician, None, [service], starts_at=datetime(2026, 3, 4, 15)
    )
    db.session.commit()
    sign_in(client, world.admin)
    schedule = client.get("/schedule?date=2026-03-04&mode=list").text
    assert "10:00 AM" in schedule and "Mar 1, 2026 – Mar 7, 2026" in schedule  # NY, Sunday
    answer = client.post(
        "/admin/organization/time-and-week",
        data={"timezone": "America/Los_Angeles", "week_start": "monday"},
        headers={"HX-Request": "true"},  # the form's own request: its panel comes back
    )
    assert answer.status_code == 200 and "Saved." in answer.text
    assert answer.text.lstrip().startswith('<section class="panel" id="setting-time-and-week">')
    schedule = client.get("/schedule?date=2026-03-04&mode=list").text
    assert "7:00 AM" in schedule and "Mar 2, 2026 – Mar 8, 2026" in schedule
    page = client.get("/admin/organization").text
    assert '<option value="America/Los_Angeles" selected>' in page
    assert '<option value="monday" selected>' in page
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "settings.time_and_week")
    )
    assert event.before == {"timezone": "America/New_York", "week_start": 6}
    assert event.after == {"timezone": "America/Los_Angeles", "week_start": 0}


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"timezone": "Mars/Olympus_Mons", "week_start": "monday"}, "timezone", "not a time zone"),
        ({"timezone": "", "week_start": "monday"}, "timezone", "Enter the practice's time zone"),
        ({"timezone": "UTC", "week_start": "someday"}, "week_start", "Choose the day"),
        ({"timezone": "x" * 5000, "week_start": "monday"}, "timezone", "not a time zone"),
    ],
)
def test_a_bad_time_setting_is_answered_next_to_it_and_nothing_changes(
    client, world, data, field, message
):
    sign_in(client, world.admin)
    answer = client.post(
        "/admin/organization/time-and-week", data=data, headers={"HX-Request": "true"}
    )
    assert answer.status_code == 422
    assert message in unescape(answer.text).split(f'id="{field}-error"')[1].split("</small>")[0]
    db.session.expire_all()
    assert (world.org.timezone, world.org.week_start) == ("America/New_York", 6)
