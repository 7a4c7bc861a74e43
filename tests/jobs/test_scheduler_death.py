"""A hold due while RQ's scheduler is gone is still placed, by the app's own processes.

RQ's scheduler runs in a child of one worker; killed with it (or cut off by a Redis
restart), no scheduler moves due jobs until a worker's maintenance takes the lock
over. The every-minute sweeper therefore sends a hold whose job waits in the
scheduled registry past its time itself (`queue.job_will_run`), and a surviving
worker places it. Real `python -m jobs.worker` processes (tests/bench/topology.py),
a redis-server that can be restarted, localstripe. The sweeper is called here as the
cron process would call it; the delay is the bench's to measure (`make bench`,
failover), not asserted.
"""

import random
from datetime import timedelta

import pytest
from flask import current_app
from redis import Redis
from rq import Worker
from sqlalchemy import update

from jobs import preauth_sweeper
from tests.bench.topology import RedisProcess, Topology, scheduler_worker_pid
from tests.jobs.test_preauth_localstripe import VISA, _card_on_file
from tests.preauth_support import book, practice, preauth_of
from tests.servers import wait_until
from webapp.extensions import db
from webapp.models import PreAuthorization
from webapp.models.base import utcnow
from webapp.services import preauth_state, queue, system

GRACE = 2  # seconds: SCHEDULER_GRACE_SECONDS for the sweeper run here


@pytest.fixture
def parts(app, database_url, app_stripe_gateway, localstripe_server, tmp_path, monkeypatch):
    """A restartable redis-server the app and two workers share, and the topology."""
    monkeypatch.setattr(queue, "SCHEDULER_GRACE_SECONDS", GRACE)
    redis = RedisProcess(tmp_path / "redis")
    app.config["REDIS_URL"] = redis.url
    app.extensions.pop("covered_redis", None)
    topology = Topology(
        tmp_path / "processes",
        database_url,
        redis.url,
        localstripe_server.url,
        localstripe_server.js_url,
        extra_env={"COVERED_ENV": "test"},
    )
    try:
        yield redis, topology, app_stripe_gateway
    finally:
        topology.stop()
        redis.stop()


def _hold_scheduled_in(p, world, seconds: float) -> PreAuthorization:
    """A hold whose job RQ's scheduler should move to the queue `seconds` from now."""
    encounter = book(p, world.biller, starts_in=timedelta(days=3), billing_type="self_pay")
    row = preauth_of(encounter)
    preauth_state.drop_job(row.id, row.attempt)
    attempt = random.randrange(10**6, 10**9)  # a reference no other test used
    lead = current_app.config["PREAUTH_LEAD_SECONDS"]
    run_at = utcnow() + timedelta(seconds=seconds + lead)  # its job starts `seconds` from now
    db.session.execute(
        update(PreAuthorization)
        .where(PreAuthorization.id == row.id)
        .values(attempt=attempt, run_at=run_at)
    )
    db.session.commit()
    assert preauth_state.enqueue(row.id, attempt, run_at)
    return preauth_of(encounter)


def _placed(row_id: int) -> bool:
    db.session.expire_all()
    return db.session.get(PreAuthorization, row_id).state == "held"


def _sweep_until_placed(row_id: int, seconds: float) -> None:
    """What cron does every minute, every two seconds here, until the hold is placed."""

    def swept_and_placed() -> bool:
        preauth_sweeper.run()
        return _placed(row_id)

    wait_until(swept_and_placed, seconds, "the hold placed")


def _one_hold_at(gateway, row) -> None:
    found = gateway.find_hold(f"preauth-{row.id}-{row.attempt}")
    assert found is not None and found.reference == preauth_of(row.encounter).gateway_reference


def test_a_hold_due_after_the_schedulers_worker_is_killed_is_placed(world, parts):
    redis, topology, gateway = parts
    p = practice(world, hours=24)
    _card_on_file(gateway, p.client, VISA)
    topology.start_workers(2)
    connection = Redis.from_url(redis.url)
    holder = topology.name_of(scheduler_worker_pid(connection))
    row = _hold_scheduled_in(p, world, 3)

    topology.kill(holder)  # with its scheduler child; restarted 5 s later without the lock
    wait_until(
        lambda: utcnow() > preauth_state.starts_at(row.run_at) + timedelta(seconds=GRACE + 1),
        30,
        "the hold's job overdue",
    )
    assert not _placed(row.id)  # nothing moved it: its job still waits to be scheduled
    assert system.current_status().scheduler.overdue_jobs == 1
    _sweep_until_placed(row.id, 60)
    _one_hold_at(gateway, row)


@pytest.mark.parametrize("keep_data", [True, False], ids=["restart", "restart-empty"])
def test_a_hold_due_across_a_redis_restart_is_placed(world, parts, keep_data):
    redis, topology, gateway = parts
    p = practice(world, hours=24)
    _card_on_file(gateway, p.client, VISA)
    topology.start_workers(2)
    row = _hold_scheduled_in(p, world, 4)

    redis.restart(6, keep_data=keep_data)  # down past the job's time
    _sweep_until_placed(row.id, 90)
    _one_hold_at(gateway, row)
    # Both workers are on the System page again, even after Redis lost their records.
    connection = Redis.from_url(redis.url)
    pids = {process.popen.pid for process in topology.processes.values()}
    wait_until(
        lambda: {w.pid for w in Worker.all(connection=connection)} >= pids, 60, "workers listed"
    )
