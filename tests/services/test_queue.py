"""`queue.enqueue`: by dotted path, Retry from a declared setting, now or at a time."""

from datetime import timedelta

import pytest
from rq.job import Job

from webapp.models.base import utcnow
from webapp.services import queue


def test_it_sends_a_job_by_dotted_path_with_the_retries_of_a_declared_setting(app):
    app.config["SETTLE_RETRY_INTERVALS"] = (7, 11)

    assert queue.enqueue(
        "jobs.charges.settle", 42, job_id="settle-payments-42", retry="SETTLE_RETRY_INTERVALS"
    )

    job = Job.fetch("settle-payments-42", connection=queue.redis_connection())
    assert (job.func_name, job.args) == ("jobs.charges.settle", (42,))
    assert (job.retries_left, job.retry_intervals) == (2, [7, 11])
    assert queue.queue().job_ids == ["settle-payments-42"]


def test_a_job_at_a_later_time_waits_in_the_scheduler_and_an_empty_setting_means_no_retry(app):
    app.config["HOLD_CHECK_RETRY_INTERVALS"] = ()
    at = utcnow() + timedelta(hours=1)

    assert queue.enqueue(
        "jobs.hold_checks.check",
        5,
        job_id="hold-check-5",
        at=at,
        retry="HOLD_CHECK_RETRY_INTERVALS",
    )

    registry = queue.queue().scheduled_job_registry
    assert registry.get_job_ids() == ["hold-check-5"] and queue.queue().job_ids == []
    job = Job.fetch("hold-check-5", connection=queue.redis_connection())
    assert registry.get_scheduled_time(job).replace(tzinfo=None) == at.replace(microsecond=0)
    assert job.retries_left is None


def test_a_retry_that_is_not_a_setting_is_a_programming_error(app):
    with pytest.raises(KeyError):
        queue.enqueue("jobs.heartbeat.run", job_id="heartbeat-x", retry="NO_SUCH_INTERVALS")


def test_dropping_a_job_that_is_not_there_is_harmless(app):
    assert queue.drop("preauth-1-1") is True
