"""The heartbeat job through a real RQ worker on the embedded redis-server."""

from datetime import UTC, datetime, timedelta

from rq import SimpleWorker
from rq.scheduler import RQScheduler

from jobs import heartbeat
from tests import factories
from tests.preauth_support import book, practice, preauth_of
from webapp.config import SCHEDULER_GRACE_SECONDS
from webapp.extensions import db
from webapp.models import PreAuthorization
from webapp.models.base import utcnow
from webapp.services import system
from webapp.services.queue import queue, redis_connection
from webapp.services.system import HOLD_OVERDUE_AFTER, current_status


def test_a_worker_runs_the_heartbeat_and_the_system_page_shows_it(app, client, auth, world):
    assert current_status().heartbeat_at is None
    job = queue().enqueue(heartbeat.run, job_id="heartbeat-test")
    SimpleWorker([queue()], connection=redis_connection()).work(burst=True)
    assert job.get_status(refresh=True) == "finished"
    status = current_status()
    assert status.redis_ok and status.heartbeat_ok
    auth.login(world.admin)
    page = client.get("/admin/system").data.decode()
    assert "data-heartbeat-age=" in page and "stat-ok" in page


def test_the_system_page_counts_queued_and_failed_jobs(app, client, auth, world):
    queue().enqueue("jobs.heartbeat.run", job_id="waiting-1")
    auth.login(world.admin)
    page = client.get("/admin/system", headers={"HX-Request": "true"}).data.decode()
    assert 'id="system-panel"' in page and "<html" not in page
    assert '<td class="num">1</td>' in page


def test_the_system_page_says_when_redis_is_unreachable(app, client, auth, world):
    app.config["REDIS_URL"] = "unix:///nonexistent/redis.sock"
    app.extensions.pop("covered_redis", None)
    auth.login(world.admin)
    page = client.get("/admin/system").data.decode()
    assert "Redis is unreachable" in page


def _panel(client) -> str:
    return client.get("/admin/system", headers={"HX-Request": "true"}).data.decode()


def test_the_system_page_says_whether_rqs_scheduler_runs_and_is_on_time(app, client, auth, world):
    connection = redis_connection()
    lock = RQScheduler.get_locking_key("default")
    auth.login(world.admin)
    assert 'data-ok="false"' in _panel(client) and "Not running" in _panel(client)

    connection.set(lock, "a-scheduler", ex=60)
    assert 'data-ok="true"' in _panel(client)

    # A job left in the scheduled registry past its time: nothing is moving jobs.
    overdue = datetime.now(UTC) - timedelta(seconds=SCHEDULER_GRACE_SECONDS + 5)
    queue().enqueue_at(overdue, "jobs.heartbeat.run", job_id="left-behind")
    page = _panel(client)
    assert 'data-ok="false"' in page and "Behind" in page
    assert "1 scheduled job past due" in page


def test_the_system_page_shows_this_practices_oldest_overdue_hold(app, client, auth, world):
    p = practice(world, hours=24)
    mine = book(p, world.biller, starts_in=timedelta(days=2))
    elsewhere = world.outsider_org
    theirs = factories.encounter(
        elsewhere,
        factories.client(elsewhere),
        world.outsider,
        None,
        [factories.service_type(elsewhere)],
    )
    long_ago = utcnow() - HOLD_OVERDUE_AFTER - timedelta(minutes=5)
    db.session.add(
        PreAuthorization(
            organization_id=elsewhere.id, encounter_id=theirs.id, state="scheduled",
            hours_before=24, run_at=long_ago, attempt=1,
        )
    )  # fmt: skip
    db.session.commit()
    auth.login(world.admin)
    assert 'data-overdue-holds="0"' in _panel(client)

    preauth_of(mine).run_at = long_ago
    db.session.commit()
    page = _panel(client)
    assert 'data-overdue-holds="1"' in page  # the other practice's hold is not counted
    assert f"/encounters/{mine.id}" in page
    assert system.overdue_holds(world.outsider_org.id, utcnow()).count == 1
