"""A worker killed while it waits for work must not take the next jobs with it.

The worker that won RQ's scheduler lock runs the scheduler in a forked child. A
child that keeps a copy of the worker's Redis socket keeps the worker's blocking
BLPOP alive after the worker itself is killed (SIGKILL, the OOM killer), and Redis
hands the next job to that dead wait: the job's status says queued while no queue
holds it, and no worker ever runs it. Here two jobs are pushed at once after the
kill, so a dead wait would take one of them whatever order the waits came in.
"""

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

from redis import Redis
from rq import Queue, Worker

from tests.servers import wait_until, worker_handles_signals

ROOT = Path(__file__).resolve().parents[2]


def _worker(redis_url: str, instance: Path) -> subprocess.Popen:
    env = {**os.environ, "COVERED_INSTANCE_PATH": str(instance), "REDIS_URL": redis_url}
    env.pop("DATABASE_URL", None)
    return subprocess.Popen(
        [sys.executable, "-m", "jobs.worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _idle(connection: Redis, pid: int) -> bool:
    return any(w.pid == pid and w.get_state() == "idle" for w in Worker.all(connection=connection))


def test_the_jobs_after_a_worker_is_killed_are_run_by_the_others(redis_server, tmp_path):
    connection = Redis.from_url(redis_server.url)
    connection.flushdb()
    first = _worker(redis_server.url, tmp_path)
    second = None
    try:
        wait_until(lambda: worker_handles_signals(connection, first.pid), 30, "the first worker")
        # The first worker holds the scheduler lock: its scheduler runs in a child.
        wait_until(lambda: _children(first.pid), 30, "the first worker's scheduler")
        second = _worker(redis_server.url, tmp_path)
        wait_until(lambda: _idle(connection, second.pid), 30, "the second worker")
        wait_until(lambda: _idle(connection, first.pid), 30, "the first worker waiting")

        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
        queue = Queue("default", connection=connection)
        with connection.pipeline() as both_at_once:
            for key in ("marker-1", "marker-2"):
                queue.enqueue("tests.jobs.marker.mark", key, job_id=key, pipeline=both_at_once)
            both_at_once.execute()

        wait_until(lambda: connection.exists("marker-1", "marker-2") == 2, 30, "both jobs run")
        # The job writes its marker before the worker records it finished: wait for the record.
        wait_until(
            lambda: (
                [queue.fetch_job(k).get_status() for k in ("marker-1", "marker-2")]
                == ["finished", "finished"]
            ),
            30,
            "both jobs recorded finished",
        )
    finally:
        for process in (first, second):
            if process is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
        connection.flushdb()
