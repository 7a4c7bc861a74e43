"""Reminder digests delivered to a real SMTP server (aiosmtpd on 127.0.0.1), and the outbox."""

import threading
from datetime import date, timedelta

import pytest
import time_machine
from sqlalchemy import select

from tests.reminder_support import ask, at_noon, build_practice, notification_titles
from webapp.extensions import db
from webapp.models import ReminderDelivery, User
from webapp.models.base import utcnow
from webapp.services import mail, reminders
from webapp.services.reminder_digest import send_digest

END = date(2026, 9, 30)


@pytest.fixture(autouse=True)
def clock():
    """The day the reminders are read decides their wording: noon on END, unless moved."""
    with time_machine.travel(at_noon(END), tick=True):
        yield


@pytest.fixture
def practice(world):
    return build_practice(world)


def claim(world, today: date) -> reminders.RunResult:
    return reminders.run_for_organization(world.org, today=today)


def statuses(user) -> list[str]:
    db.session.expire_all()
    return sorted(
        r.email_status
        for r in db.session.scalars(select(ReminderDelivery).filter_by(user_id=user.id))
    )


def test_one_digest_carries_every_reminder_with_both_parts_and_links(world, practice, smtp):
    soon = practice.authorization("maya", number="BH-1001", end_date=END - timedelta(days=3))
    later = practice.authorization("noah", number="BH-2002", end_date=END, allowed=1)
    with time_machine.travel(at_noon(END - timedelta(days=20)), tick=False):
        claim(world, END - timedelta(days=20))  # BH-1001: 30 days; BH-2002: 30 days, 1 left
        assert send_digest(world.admin.id) == f"sent 3 reminders to {world.admin.email}"

    [received] = smtp.received
    assert received.recipients == [world.admin.email]
    assert received.mail_from == "reminders@covered.test"
    assert received.subject == "3 authorization reminders · Harbor Therapy"
    text, html = received.part("plain"), received.part("html")
    for part in (text, html):
        assert "BH-1001" in part and "BH-2002" in part
        assert "Maya Patel" in part and "Noah Kim" in part
        assert "Blue Harbor Health" in part
        assert f"https://covered.test/authorizations/{soon.id}" in part
        assert f"https://covered.test/authorizations/{later.id}" in part
        assert "https://covered.test/profile/preferences" in part
    assert "expires in 17 days, on Sep 27, 2026" in text  # worded for the day it is read
    assert "has 1 session left" in text
    assert text.index("EXPIRING") < text.index("RUNNING OUT")
    assert '<a href="https://covered.test/authorizations/' in html
    assert statuses(world.admin) == ["sent", "sent", "sent"]
    assert statuses(world.biller) == ["pending", "pending", "pending"]  # their own digest


def test_a_single_reminder_says_it_in_the_subject(world, practice, smtp):
    practice.authorization("maya", number="ONLY-1", end_date=END)
    claim(world, END)
    send_digest(world.clinician.id)
    [received] = smtp.received
    assert received.subject == "Authorization ONLY-1 for Maya Patel expires today, Sep 30, 2026"
    assert received.message["To"] == f"{world.clinician.name} <{world.clinician.email}>"


def test_a_temporary_smtp_failure_keeps_the_reminders_pending_until_accepted(world, practice, smtp):
    practice.authorization("maya", number="RETRY-1", end_date=END)
    claim(world, END)
    smtp.fail_next(451, "4.3.0 Try again later")

    with pytest.raises(mail.MailDeliveryError) as raised:
        send_digest(world.admin.id)
    assert not raised.value.permanent
    assert smtp.received == []
    assert statuses(world.admin) == ["pending"]
    row = db.session.scalars(select(ReminderDelivery).filter_by(user_id=world.admin.id)).one()
    assert (row.email_claim, row.emailed_at) == (None, None)
    assert "451" in row.email_error
    assert world.admin.id in reminders.users_with_pending_email(world.org)  # the next run resends

    assert send_digest(world.admin.id).startswith("sent 1")
    assert [m.subject for m in smtp.received] == [
        "Authorization RETRY-1 for Maya Patel expires today, Sep 30, 2026"
    ]
    assert statuses(world.admin) == ["sent"]
    assert send_digest(world.admin.id) == "nothing to send"
    assert len(smtp.received) == 1


def test_an_unreachable_mail_server_is_a_temporary_failure(app, world, practice, smtp):
    from tests.servers import free_port

    app.config["MAIL_PORT"] = free_port()  # nobody listens there
    practice.authorization("maya", number="DOWN-1", end_date=END)
    claim(world, END)
    with pytest.raises(mail.MailDeliveryError, match="Could not talk to the mail server"):
        send_digest(world.admin.id)
    assert statuses(world.admin) == ["pending"]


def test_a_recipient_refused_for_good_is_marked_failed_and_told_in_the_app(world, practice, smtp):
    smtp.refuse(world.biller.email)
    practice.authorization("maya", number="BOUNCE-1", end_date=END)
    claim(world, END)

    outcome = send_digest(world.biller.id)

    assert outcome.startswith("refused for good: The mail server refused the recipient")
    assert statuses(world.biller) == ["failed"]
    row = db.session.scalars(select(ReminderDelivery).filter_by(user_id=world.biller.id)).one()
    assert "550" in row.email_error
    assert notification_titles(world.biller)[-1] == (
        "We could not email your authorization reminders"
    )
    assert world.biller.id not in reminders.users_with_pending_email(world.org)


def test_reminders_the_user_no_longer_wants_by_email_are_not_sent(world, practice, smtp):
    practice.authorization("maya", number="OPT-1", end_date=END)
    claim(world, END)
    ask(world.admin, email=False, in_app=True)
    db.session.commit()
    assert send_digest(world.admin.id) == "nothing to send"
    assert smtp.received == []
    assert statuses(world.admin) == ["not_requested"]


def test_a_claim_left_by_a_crashed_sender_is_taken_over_later(world, practice, smtp):
    practice.authorization("maya", number="CRASH-1", end_date=END)
    claim(world, END)
    row = db.session.scalars(select(ReminderDelivery).filter_by(user_id=world.admin.id)).one()
    row.email_claim, row.email_claimed_at = "dead-worker", utcnow()
    db.session.commit()
    assert send_digest(world.admin.id) == "nothing to send"  # someone is sending it

    later = utcnow() + reminders.STALE_CLAIM + timedelta(seconds=1)
    assert send_digest(world.admin.id, now=later).startswith("sent 1")
    assert len(smtp.received) == 1


def test_two_senders_at_once_send_one_digest(app, world, practice, smtp, monkeypatch):
    for n in range(5):
        practice.authorization("maya", number=f"TWICE-{n}", end_date=END)
    claim(world, END)
    user_id = world.admin.id
    barrier = threading.Barrier(2)
    outcomes, errors = [], []

    def send() -> None:
        with app.app_context():
            try:
                db.session.get(User, user_id)
                barrier.wait(10)
                outcomes.append(send_digest(user_id))
            except Exception as error:  # reported below
                errors.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sorted(outcomes) == ["nothing to send", f"sent 5 reminders to {world.admin.email}"]
    assert len(smtp.messages_to(world.admin.email)) == 1
    assert statuses(world.admin) == ["sent"] * 5


def test_without_a_mail_server_the_digest_goes_to_the_outbox(app, world, practice):
    assert not app.config["MAIL_SERVER"]
    practice.authorization("maya", number="FILE-1", end_date=END)
    claim(world, END)
    send_digest(world.admin.id)

    [entry] = mail.outbox_entries(world.org.id)
    assert entry.to == f"{world.admin.name} <{world.admin.email}>"
    message = mail.read_outbox_message(world.org.id, entry.name)
    assert "FILE-1" in message.text and "FILE-1" in message.html
    assert mail.outbox_entries(world.outsider_org.id) == []
    assert mail.read_outbox_message(world.outsider_org.id, entry.name) is None
    assert mail.read_outbox_message(world.org.id, "../" + entry.name) is None
    assert statuses(world.admin) == ["sent"]


def test_it_signs_in_to_the_mail_server_with_the_configured_login(app, world, practice):
    from tests.servers import SmtpServer

    server = SmtpServer(login=("covered", "s3cret"))
    try:
        app.config.update(MAIL_SERVER=server.host, MAIL_PORT=server.port, MAIL_TIMEOUT=5,
                          MAIL_USERNAME="covered", MAIL_PASSWORD="wrong")  # fmt: skip
        practice.authorization("maya", number="AUTH-1", end_date=END)
        claim(world, END)
        with pytest.raises(mail.MailDeliveryError, match="535"):
            send_digest(world.admin.id)  # a configuration problem: kept pending, retried
        assert statuses(world.admin) == ["pending"]

        app.config["MAIL_PASSWORD"] = "s3cret"
        assert send_digest(world.admin.id).startswith("sent 1")
        assert [m.recipients for m in server.received] == [[world.admin.email]]
        assert server.signed_in == ["covered"]
    finally:
        server.stop()
