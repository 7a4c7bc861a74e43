"""The reminders jobs run by a real RQ worker against the embedded Redis, mailing aiosmtpd."""

from datetime import date, timedelta

import pytest
import time_machine
from rq import SimpleWorker
from rq.job import Job, JobStatus
from sqlalchemy import func, select

from jobs import reminders as job
from tests.reminder_support import ask, at_noon, build_practice, deliveries
from webapp.config import RETRY_SETTINGS
from webapp.extensions import db
from webapp.models import Notification, ReminderDelivery
from webapp.services import reminders, settings
from webapp.services.queue import queue, redis_connection

END = date(2026, 9, 30)
DIGEST_RETRY_INTERVALS = RETRY_SETTINGS["REMINDER_DIGEST_RETRY_INTERVALS"]


@pytest.fixture
def practice(world):
    return build_practice(world)


def work(*, with_scheduler: bool = False) -> None:
    SimpleWorker([queue()], connection=redis_connection()).work(
        burst=True, with_scheduler=with_scheduler
    )


def digest_jobs() -> list[Job]:
    registry = queue().finished_job_registry
    ids = [i for i in registry.get_job_ids() if i.startswith("reminder-digest-")]
    return [Job.fetch(i, connection=redis_connection()) for i in ids]


def test_the_run_claims_notifies_and_the_worker_sends_each_user_one_digest(world, practice, smtp):
    practice.authorization("maya", number="JOB-1", end_date=END, allowed=1)
    practice.authorization("noah", number="JOB-2", end_date=END)
    with time_machine.travel(at_noon(END), tick=True):
        queue().enqueue(job.run, job_id=reminders.run_job_id(None))
        work()
        digests = digest_jobs()  # while their results are kept (time-machine moved the clock)

    assert sorted(m.recipients[0] for m in smtp.received) == sorted(
        [world.admin.email, world.biller.email, world.clinician.email]
    )
    by_user = {m.recipients[0]: m for m in smtp.received}
    assert by_user[world.admin.email].subject == "3 authorization reminders · Harbor Therapy"
    assert "JOB-2" not in by_user[world.clinician.email].part("plain")  # not her client
    assert sorted(j.args for j in digests) == [(world.admin.id,), (world.biller.id,),
                                                (world.clinician.id,)]  # fmt: skip
    assert all(j.get_status() == JobStatus.FINISHED for j in digests)
    assert db.session.scalar(select(func.count(Notification.id))) == 3 + 3 + 2
    assert {r.email_status for r in db.session.scalars(select(ReminderDelivery))} == {"sent"}

    with time_machine.travel(at_noon(END) + timedelta(hours=1), tick=True):
        queue().enqueue(job.run, job_id=reminders.run_job_id(None))  # the next hourly run
        work()
    assert len(smtp.received) == 3  # nothing twice
    assert db.session.scalar(select(func.count(Notification.id))) == 8


def test_a_digest_the_mail_server_refuses_for_a_moment_is_retried_with_backoff(
    world, practice, smtp
):
    for user in (world.biller, world.clinician):
        ask(user, email=False, in_app=True)
    db.session.commit()
    practice.authorization("maya", number="LATER-1", end_date=END)
    smtp.fail_next(421, "4.7.0 Too busy, try again later")
    start = at_noon(END)
    with time_machine.travel(start, tick=False):
        queue().enqueue(job.run, job_id=reminders.run_job_id(world.org.id), args=(world.org.id,))
        work()

    [scheduled_id] = queue().scheduled_job_registry.get_job_ids()
    retrying = Job.fetch(scheduled_id, connection=redis_connection())
    assert retrying.func_name == "jobs.reminders.send_digest"
    assert retrying.get_status() == JobStatus.SCHEDULED
    assert retrying.retries_left == len(DIGEST_RETRY_INTERVALS) - 1
    when = queue().scheduled_job_registry.get_scheduled_time(retrying)
    assert when.timestamp() == pytest.approx(start.timestamp() + DIGEST_RETRY_INTERVALS[0])
    assert smtp.received == []
    assert {r.email_status for r in db.session.scalars(select(ReminderDelivery))} == {
        "pending",
        "not_requested",
    }

    with time_machine.travel(start + timedelta(seconds=61), tick=False):
        work(with_scheduler=True)  # the scheduler hands the retry back to the worker
    [received] = smtp.received
    assert received.subject == "Authorization LATER-1 for Maya Patel expires today, Sep 30, 2026"
    assert Job.fetch(scheduled_id, connection=redis_connection()).get_status() == (
        JobStatus.FINISHED
    )
    db.session.expire_all()
    admin_rows = db.session.scalars(select(ReminderDelivery).filter_by(user_id=world.admin.id))
    assert [r.email_status for r in admin_rows] == ["sent"]


def test_changing_the_exhaustion_setting_sends_exhaustion_reminders_right_away(
    world, practice, smtp
):
    practice.authorization("maya", number="SET-1", allowed=2, end_date=END)
    practice.visit("maya", date(2026, 3, 2), "kept")
    practice.visit("maya", date(2026, 3, 9), "upcoming")
    today = date(2026, 3, 5)
    with time_machine.travel(at_noon(today), tick=True):
        queue().enqueue(job.run, job_id=reminders.run_job_id(None))
        work()
        assert {(k, t) for _a, k, t, _u in deliveries()} == {("exhaustion", 1)}

        settings.set_toggle(world.org, "count_upcoming_for_exhaustion", True, actor=world.admin)
        work()

    assert {(k, t) for _a, k, t, _u in deliveries()} == {("exhaustion", 1), ("exhaustion", 0)}
    exhausted = [m for m in smtp.received if "no sessions left" in m.subject]
    assert sorted(m.recipients[0] for m in exhausted) == sorted(
        [world.admin.email, world.biller.email, world.clinician.email]
    )


def test_a_run_that_crashes_midway_leaves_nothing_half_done_and_a_retry_sends_once(
    world, practice, smtp, monkeypatch
):
    from webapp.services import notifications

    practice.authorization("maya", number="CRASH-1", end_date=END)
    real_notify = notifications.notify
    calls = []

    def notify_then_die(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("worker killed")
        return real_notify(*args, **kwargs)

    monkeypatch.setattr(notifications, "notify", notify_then_die)
    with time_machine.travel(at_noon(END), tick=True):
        with pytest.raises(RuntimeError, match="worker killed"):
            job.run(world.org.id)
        assert deliveries() == set()  # the claims went with the notifications: not at all
        assert db.session.scalar(select(func.count(Notification.id))) == 0

        monkeypatch.setattr(notifications, "notify", real_notify)
        queue().enqueue(job.run, world.org.id, job_id=reminders.run_job_id(world.org.id))
        queue().enqueue(job.run, world.org.id, job_id=reminders.run_job_id(world.org.id))
        work()

    assert len(deliveries()) == 3
    assert db.session.scalar(select(func.count(Notification.id))) == 3
    assert sorted(m.recipients[0] for m in smtp.received) == sorted(
        [world.admin.email, world.biller.email, world.clinician.email]
    )


def test_digests_not_queued_because_of_a_crash_go_out_with_the_next_run(
    world, practice, smtp, monkeypatch
):
    practice.authorization("maya", number="LOST-1", end_date=END)

    def redis_gone(user_id):
        raise ConnectionError("redis went away")

    with time_machine.travel(at_noon(END), tick=True):
        monkeypatch.setattr(reminders, "enqueue_digest", redis_gone)
        with pytest.raises(ConnectionError):
            job.run(world.org.id)
        assert smtp.received == []
        monkeypatch.undo()

        job.run(world.org.id)  # claims nothing new, queues the pending digests
        work()
    assert len(smtp.received) == 3
    assert db.session.scalar(select(func.count(Notification.id))) == 3
