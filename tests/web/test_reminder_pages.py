"""Preferences, the bell and the Notifications page, and the admins' Outbox."""

import re

from sqlalchemy import select

from webapp.extensions import db
from webapp.models import AuditEvent, User
from webapp.services import mail, notifications

HTMX = {"HX-Request": "true"}
ALL_ON = {
    "remind_expiration_email": "y",
    "remind_expiration_in_app": "y",
    "remind_exhaustion_email": "y",
    "remind_exhaustion_in_app": "y",
}


def checked(page: str) -> set[str]:
    return set(re.findall(r'<input checked id="(remind_\w+)"', page))


def test_every_user_reaches_preferences_from_the_user_menu(client, auth, world):
    for role in ("admin", "biller", "clinician"):
        auth.login(world.user(role))
        home = client.get("/clients").text
        assert 'href="/profile/preferences">My Profile &amp; Settings</a>' in home
        page = client.get("/profile/preferences").text
        assert "General Preferences" in page
        assert "Expiration reminders" in page and "Exhaustion reminders" in page
        assert checked(page) == set()
        auth.logout()


def test_saving_preferences_confirms_and_keeps_an_audit_record(client, auth, world):
    auth.login(world.biller)
    response = client.post(
        "/profile/preferences",
        data={"remind_expiration_email": "y", "remind_exhaustion_in_app": "y"},
        headers=HTMX,
    )
    assert response.status_code == 200
    assert "Your preferences were saved." in response.text
    assert "<html" not in response.text  # only the form came back
    assert checked(response.text) == {"remind_expiration_email", "remind_exhaustion_in_app"}
    db.session.expire_all()
    biller = db.session.get(User, world.biller.id)
    assert (biller.remind_expiration_email, biller.remind_expiration_in_app) == (True, False)
    assert (biller.remind_exhaustion_email, biller.remind_exhaustion_in_app) == (False, True)
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "profile.reminder_preferences")
    ).one()
    assert (event.user_id, event.entity_id) == (world.biller.id, world.biller.id)
    assert event.before["remind_expiration_email"] is False
    assert event.after["remind_expiration_email"] is True


def test_unticking_everything_without_htmx_saves_and_says_so(client, auth, world):
    auth.login(world.admin)
    client.post("/profile/preferences", data=ALL_ON)
    response = client.post("/profile/preferences", data={}, follow_redirects=True)
    assert "Your preferences were saved." in response.text
    assert checked(response.text) == set()
    db.session.expire_all()
    admin = db.session.get(User, world.admin.id)
    assert not any(
        (admin.remind_expiration_email, admin.remind_expiration_in_app,
         admin.remind_exhaustion_email, admin.remind_exhaustion_in_app)
    )  # fmt: skip


def test_the_bell_counts_unread_notifications(client, auth, world):
    notifications.notify([world.biller] * 3, kind="reminder.expiration", title="Soon")
    notifications.notify([world.admin], kind="reminder.expiration", title="Not yours")
    db.session.commit()
    auth.login(world.biller)
    page = client.get("/clients").text
    assert 'aria-label="Notifications, 3 unread"' in page
    assert 'data-unread="3"' in page
    bell = client.get("/notifications/bell", headers=HTMX).text
    assert 'data-unread="3"' in bell and "<html" not in bell
    # Polling after the session ended gets the login page: nothing of it is swapped in.
    assert 'hx-select="#notification-bell"' in bell


def test_the_notifications_page_lists_and_marks_read(client, auth, world):
    mine = notifications.notify(
        [world.biller, world.biller],
        kind="reminder.exhaustion",
        title="Authorization A-1 for Maya Patel has 1 session left",
        body="Blue Harbor Health · Sessions",
        link="/authorizations/1",
    )
    theirs = notifications.notify([world.admin], kind="reminder.expiration", title="Admin's")
    db.session.commit()
    auth.login(world.biller)

    page = client.get("/notifications").text
    assert "2 unread" in page
    assert page.count("Authorization A-1 for Maya Patel has 1 session left") == 2
    assert '<a href="/authorizations/1">' in page
    assert "Admin&#39;s" not in page

    response = client.post("/notifications/read", data={"id": [mine[0].id, theirs[0].id]},
                           headers=HTMX)  # fmt: skip
    assert response.status_code == 200
    assert response.headers["HX-Trigger"] == "notifications-changed"
    assert "1 unread" in response.text
    assert notifications.unread_count(world.admin) == 1  # someone else's id changes nothing

    response = client.post("/notifications/read-all", headers=HTMX)
    assert "All caught up" in response.text
    assert notifications.unread_count(world.biller) == 0
    assert "data-unread" not in client.get("/notifications/bell").text


def test_marking_read_without_choosing_one_answers_with_a_message(client, auth, world):
    auth.login(world.clinician)
    response = client.post("/notifications/read", data={"id": "nope"}, headers=HTMX)
    assert response.status_code == 422
    assert "Choose a notification to mark as read." in response.text


def _outbox_message(org_id: int, html: str) -> str:
    message = mail.compose(
        to="Avery Admin <avery@example.com>", subject="3 authorization reminders",
        text="Plain words", html=html, organization_id=org_id,
    )  # fmt: skip
    return mail.deliver(message).removeprefix("outbox:")


def test_admins_read_the_outbox_with_html_kept_in_a_sandbox(client, auth, world):
    name = _outbox_message(world.org.id, '<p>Hello</p><script>alert("x")</script>')
    other = _outbox_message(world.outsider_org.id, "<p>Elsewhere</p>")
    auth.login(world.admin)

    listing = client.get("/admin/outbox").text
    assert "1 message" in listing
    assert f'href="/admin/outbox/{name}"' in listing and other not in listing
    assert "Avery Admin &lt;avery@example.com&gt;" in listing

    page = client.get(f"/admin/outbox/{name}").text
    assert '<iframe class="mail-preview" sandbox=""' in page
    assert f'src="/admin/outbox/{name}/html"' in page  # its own answer, its own policy
    assert "<script>alert" not in page
    preview = client.get(f"/admin/outbox/{name}/html")
    assert '<p>Hello</p><script>alert("x")</script>' in preview.text  # shown as written…
    assert "sandbox" in preview.headers["Content-Security-Policy"]  # …where no script runs
    assert "script-src" not in preview.headers["Content-Security-Policy"]
    assert "Plain words" in page

    raw = client.get(f"/admin/outbox/{name}/raw")
    assert raw.mimetype == "message/rfc822"
    assert b"Subject: 3 authorization reminders" in raw.data

    assert client.get(f"/admin/outbox/{other}").status_code == 404
    assert client.get(f"/admin/outbox/{other}/html").status_code == 404
    assert client.get("/admin/outbox/..%2Fsecret_key").status_code == 404
    assert client.get("/admin/outbox/org1-x.eml").status_code == 404
