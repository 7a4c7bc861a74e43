"""A job a worker took off the queue and never started is lost, and the sweepers say so.

Such a job's status stays "queued" while no queue holds it: a worker died between
taking it and starting it, or a dead worker's wait was handed it. `job_will_run`
counts it lost once its queue has not held it for a minute (a live worker starts a
job within milliseconds of taking it); the pre-authorization sweeper then enqueues
the hold again, and the hold is placed once.
"""

from datetime import UTC, timedelta

import pytest
from rq.job import Job

from tests.preauth_support import add_card, book, practice, preauth_of, work
from webapp.config import SCHEDULER_GRACE_SECONDS
from webapp.models.base import utcnow
from webapp.services import preauth_runs
from webapp.services.queue import TAKEN_BUT_NOT_STARTED_GRACE, job_will_run, queue

LATER = TAKEN_BUT_NOT_STARTED_GRACE + timedelta(seconds=1)


def _noop() -> None:
    return None


def _taken_by_a_dead_worker(job_id: str) -> None:
    """What a worker's BLPOP does, without the worker living on to start the job."""
    assert queue().connection.lrem(queue().key, 0, job_id) == 1


def _job(status: str) -> Job:
    job = queue().enqueue(_noop)
    if status != "queued":
        queue().remove(job)
        job.set_status(status)
    return job


@pytest.mark.parametrize(
    ("status", "taken", "later", "will_run"),
    [
        ("queued", False, False, True),
        ("queued", False, True, True),  # a backlog: still in its queue
        ("queued", True, False, True),  # just taken: its worker is starting it
        ("queued", True, True, False),  # taken a minute ago and never started: lost
        ("started", False, True, True),
        ("deferred", False, True, True),
        ("finished", False, False, False),
        ("failed", False, False, False),
        ("stopped", False, False, False),
        ("canceled", False, False, False),
    ],
)
def test_a_job_will_run_unless_it_ended_or_no_queue_holds_it_for_a_minute(
    app, status, taken, later, will_run
):
    job = _job(status)
    if taken:
        _taken_by_a_dead_worker(job.id)
    fetched = Job.fetch(job.id, connection=queue().connection)
    enqueued_at = fetched.enqueued_at.astimezone(UTC).replace(tzinfo=None)
    now = enqueued_at + (LATER if later else timedelta(seconds=1))
    assert job_will_run(fetched, now) is will_run


@pytest.mark.parametrize(
    ("seconds_past_its_time", "will_run"),
    [
        (-3600, True),
        (0, True),
        (SCHEDULER_GRACE_SECONDS, True),
        (SCHEDULER_GRACE_SECONDS + 1, False),
    ],
)
def test_a_scheduled_job_will_run_unless_no_scheduler_moved_it_in_time(
    app, seconds_past_its_time, will_run
):
    """A job still in the scheduled registry past its time plus the grace: RQ's scheduler
    is not running (its worker died, Redis restarted), so a sweeper sends it itself."""
    at = utcnow().replace(microsecond=0) + timedelta(hours=1)
    job = queue().enqueue_at(at.replace(tzinfo=UTC), _noop)
    fetched = Job.fetch(job.id, connection=queue().connection)
    assert fetched.get_status() == "scheduled"
    assert job_will_run(fetched, at + timedelta(seconds=seconds_past_its_time)) is will_run


def test_a_job_that_says_scheduled_in_no_scheduled_registry_will_not_run(app):
    job = _job("scheduled")
    assert job_will_run(Job.fetch(job.id, connection=queue().connection), utcnow()) is False


def test_a_missing_job_will_not_run(app):
    assert job_will_run(None, utcnow()) is False


@pytest.fixture
def p(world, app, strict_gateway):
    app.config["PREAUTH_RETRY_INTERVALS"] = [0, 0, 0]
    p = practice(world, hours=24)
    add_card(strict_gateway, p.client)
    return p


def test_a_hold_whose_job_a_dead_worker_took_is_enqueued_again_and_placed_once(
    world, p, strict_gateway
):
    encounter = book(p, world.biller, starts_in=timedelta(hours=3))
    row = preauth_of(encounter)
    _taken_by_a_dead_worker(f"preauth-{row.id}-{row.attempt}")

    assert preauth_runs.sweep().enqueued == []  # within the minute: leave it be
    report = preauth_runs.sweep(now=utcnow() + LATER)
    work()

    assert report.enqueued == [row.id]
    assert preauth_of(encounter).state == "held"
    assert strict_gateway.calls["place_hold"] == 1
    assert preauth_runs.sweep(now=utcnow() + LATER).enqueued == []


def test_a_hold_waiting_in_a_long_queue_is_not_enqueued_twice(world, p, strict_gateway):
    encounter = book(p, world.biller, starts_in=timedelta(hours=3))
    row = preauth_of(encounter)

    report = preauth_runs.sweep(now=utcnow() + timedelta(hours=1))

    assert report.enqueued == []
    assert queue().job_ids == [f"preauth-{row.id}-{row.attempt}"]
