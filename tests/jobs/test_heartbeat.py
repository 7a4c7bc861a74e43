"""The heartbeat job through a real RQ worker on the embedded redis-server."""

from rq import SimpleWorker

from jobs import heartbeat
from webapp.services.queue import queue, redis_connection
from webapp.services.system import current_status


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
