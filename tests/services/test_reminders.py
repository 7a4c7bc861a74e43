"""Reminder runs: thresholds crossed as the clock moves, who is reminded, once only."""

import threading
from datetime import date, timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from tests.reminder_support import (
    ask,
    at_noon,
    build_practice,
    deliveries,
    notification_titles,
)
from webapp.extensions import db
from webapp.models import Notification, Organization, ReminderDelivery
from webapp.services import reminders, settings
from webapp.services.coverage import load_coverage

END = date(2026, 9, 30)


@pytest.fixture
def practice(world):
    return build_practice(world)


def run_on(org, day: date) -> reminders.RunResult:
    with time_machine.travel(at_noon(day), tick=False):
        return reminders.run_for_organization(org)


def test_expiration_reminders_come_at_60_30_7_and_0_days_as_the_clock_moves(world, practice):
    auth = practice.authorization(number="AUTH-60", end_date=END, allowed=20)
    admin = world.admin
    seen = []
    for days_left in (61, 60, 45, 30, 29, 8, 7, 3, 0, -1, -6):
        result = run_on(world.org, END - timedelta(days=days_left))
        seen.append((days_left, sorted(t for a, k, t, u in deliveries() if u == admin.id)))
        if days_left in (60, 30, 7, 0):
            assert result.claimed == 3, days_left  # admin, biller, Maya's clinician
        else:
            assert result.claimed == 0, days_left
    assert seen == [
        (61, []),
        (60, [60]),
        (45, [60]),
        (30, [30, 60]),
        (29, [30, 60]),
        (8, [30, 60]),
        (7, [7, 30, 60]),
        (3, [7, 30, 60]),
        (0, [0, 7, 30, 60]),
        (-1, [0, 7, 30, 60]),
        (-6, [0, 7, 30, 60]),
    ]
    assert notification_titles(admin) == [
        "Authorization AUTH-60 for Maya Patel expires in 60 days, on Sep 30, 2026",
        "Authorization AUTH-60 for Maya Patel expires in 30 days, on Sep 30, 2026",
        "Authorization AUTH-60 for Maya Patel expires in 7 days, on Sep 30, 2026",
        "Authorization AUTH-60 for Maya Patel expires today, Sep 30, 2026",
    ]
    note = db.session.scalars(select(Notification).where(Notification.user_id == admin.id)).first()
    assert note.link == f"/authorizations/{auth.id}"
    assert note.body == "Blue Harbor Health · Sessions · 20 of 20 sessions left · Active"
    assert note.kind == "reminder.expiration"


def test_a_late_first_run_sends_only_the_most_urgent_threshold(world, practice):
    practice.authorization(number="LATE", end_date=END)
    run_on(world.org, END - timedelta(days=5))
    assert {t for _a, _k, t, _u in deliveries()} == {7}


def test_an_authorization_that_expired_more_than_a_week_ago_is_left_alone(world, practice):
    practice.authorization(number="OLD", start_date=date(2025, 1, 1), end_date=END)
    assert run_on(world.org, END + timedelta(days=7)).claimed == 3  # catches up "expires today"
    practice.authorization(number="OLDER", start_date=date(2025, 1, 1), end_date=END)
    assert run_on(world.org, END + timedelta(days=8)).claimed == 0


def test_inactive_insurance_gets_no_reminders(world, practice):
    practice.maya_policy.active = False
    practice.authorization(number="INACTIVE", end_date=END, allowed=1)
    assert run_on(world.org, END).claimed == 0
    assert deliveries() == set()


def test_exhaustion_follows_the_use_kept_and_upcoming_setting(world, practice):
    auth = practice.authorization(number="EX-3", allowed=3, end_date=END)
    for day, status in ((date(2026, 3, 2), "kept"), (date(2026, 3, 9), "kept"),
                        (date(2026, 3, 16), "upcoming")):  # fmt: skip
        practice.visit("maya", day, status)
    today = date(2026, 3, 10)

    run_on(world.org, today)  # Kept only: 1 left
    assert {(k, t) for a, k, t, u in deliveries()} == {("exhaustion", 1)}

    world.org.count_upcoming_for_exhaustion = True  # Kept and Upcoming: 0 left
    db.session.commit()
    run_on(world.org, today)
    assert {(k, t) for a, k, t, u in deliveries()} == {("exhaustion", 1), ("exhaustion", 0)}
    assert notification_titles(world.admin)[-1] == (
        "Authorization EX-3 for Maya Patel is exhausted: no sessions left"
    )
    # "Remaining" is exactly the status computation's.
    summary = load_coverage(world.org, [practice.maya.id], today=today).by_id()[auth.id]
    assert (summary.ledger.remaining, summary.status) == (0, "exhausted")


def test_units_with_a_frequency_count_against_the_whole_authorization(world, practice):
    # 2 units a week for the 2 weeks of Mar 1–14: 4 in all. Using a week's 2 is no reminder.
    practice.authorization(number="U-W", kind="units", frequency="week", allowed=2,
                           start_date=date(2026, 3, 1), end_date=date(2026, 3, 14))  # fmt: skip
    practice.therapy.unit_minutes = 15
    db.session.commit()
    practice.visit("maya", date(2026, 3, 2), "kept")  # 60 minutes: 4 units
    run_on(world.org, date(2026, 2, 1))
    assert {(k, t) for a, k, t, u in deliveries()} == {("expiration", 60), ("exhaustion", 0)}


def test_clinicians_hear_only_about_their_own_clients(world, practice):
    practice.authorization("maya", number="MAYA-1", end_date=END)
    practice.authorization("noah", number="NOAH-1", end_date=END)
    run_on(world.org, END - timedelta(days=7))
    assert [t.split(" expires")[0] for t in notification_titles(world.clinician)] == [
        "Authorization MAYA-1 for Maya Patel"
    ]
    assert len(notification_titles(world.biller)) == 2
    assert len(notification_titles(world.admin)) == 2
    assert notification_titles(world.outsider) == []


def test_only_active_users_who_asked_are_reminded_by_the_channels_they_chose(world, practice):
    ask(world.admin, email=False, in_app=False)
    ask(world.biller, email=True, in_app=False)
    world.clinician.is_active_user = False
    db.session.commit()
    practice.authorization(number="ONE", end_date=END)
    run_on(world.org, END)
    rows = db.session.scalars(select(ReminderDelivery)).all()
    assert [(r.user_id, r.email_status) for r in rows] == [(world.biller.id, "pending")]
    assert db.session.scalar(select(func.count(Notification.id))) == 0


def test_in_app_only_users_are_marked_email_not_requested(world, practice):
    ask(world.admin, email=False, in_app=True)
    db.session.commit()
    practice.authorization(number="ONE", end_date=END)
    result = run_on(world.org, END)
    statuses = {r.user_id: r.email_status for r in db.session.scalars(select(ReminderDelivery))}
    assert statuses[world.admin.id] == "not_requested"
    assert statuses[world.biller.id] == "pending"
    assert world.admin.id not in result.digest_user_ids
    assert world.biller.id in result.digest_user_ids


def test_a_rerun_sends_nothing_twice(world, practice):
    practice.authorization(number="ONE", end_date=END, allowed=1)
    first = run_on(world.org, END)
    second = run_on(world.org, END)
    assert (first.claimed, second.claimed) == (6, 0)  # 3 users × (expires today, 1 left)
    assert db.session.scalar(select(func.count(Notification.id))) == 6


def test_changing_the_exhaustion_setting_queues_a_reminders_run(world, practice):
    from webapp.services.queue import queue

    settings.set_toggle(world.org, "count_upcoming_for_exhaustion", True, actor=world.admin)
    [job] = queue().get_jobs()
    assert job.func_name == "jobs.reminders.run"
    assert job.args == (world.org.id,)
    settings.set_toggle(world.org, "block_overscheduling", True, actor=world.admin)
    assert len(queue().get_jobs()) == 1  # only the exhaustion setting prompts reminders


def test_two_runs_at_the_same_moment_claim_each_reminder_once(app, world, practice, monkeypatch):
    """Both runs read the same due reminders before either claims; the insert decides."""
    for n in range(12):
        practice.authorization("maya" if n % 2 else "noah", number=f"RACE-{n}",
                               end_date=END, allowed=1)  # fmt: skip
    org_id = world.org.id
    both_have_read = threading.Barrier(2)
    attempted, results, errors = [], [], []
    not_yet_claimed = reminders._not_yet_claimed

    def read_then_wait(org, wanted):
        keys = not_yet_claimed(org, wanted)
        attempted.append(len(keys))
        both_have_read.wait(10)
        return keys

    monkeypatch.setattr(reminders, "_not_yet_claimed", read_then_wait)

    def run() -> None:
        with app.app_context():
            try:
                org = db.session.get(Organization, org_id)
                results.append(reminders.run_for_organization(org, today=END))
            except Exception as error:  # reported below
                errors.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    # 12 authorizations × 2 reminders (expires today, 1 left) × admin and biller,
    # plus Maya's 6 authorizations × 2 for her clinician.
    expected = 12 * 2 * 2 + 6 * 2
    assert attempted == [expected, expected]  # both tried to claim every one …
    assert sorted(r.claimed for r in results) == [0, expected]  # … one transaction got them
    assert len(deliveries()) == expected
    assert db.session.scalar(select(func.count(Notification.id))) == expected
