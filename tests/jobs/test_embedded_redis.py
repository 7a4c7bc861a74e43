"""`make run`'s Redis outlives the worker's warm shutdown, so Ctrl-C leaves nothing stale."""

import os
import signal
import subprocess
import sys
from pathlib import Path

from redis import Redis
from rq import Worker

from tests.servers import wait_until, worker_handles_signals

ROOT = Path(__file__).resolve().parents[2]


def _start(module: str, instance: Path) -> subprocess.Popen:
    env = {**os.environ, "COVERED_INSTANCE_PATH": str(instance)}
    for name in ("REDIS_URL", "DATABASE_URL"):
        env.pop(name, None)
    return subprocess.Popen(
        [sys.executable, "-m", module],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # as honcho starts them
    )


def _answers(connection: Redis) -> bool:
    try:
        return connection.ping()
    except Exception:
        return False


def test_stopping_everything_at_once_lets_the_worker_unregister_and_keeps_the_data(tmp_path):
    redis_process = _start("jobs.embedded_redis", tmp_path)
    connection = Redis(unix_socket_path=str(tmp_path / "redis.sock"))
    worker_process = None
    try:
        wait_until(lambda: _answers(connection), 20, "the embedded redis-server")
        connection.set("kept", "yes")
        worker_process = _start("jobs.worker", tmp_path)
        wait_until(lambda: worker_handles_signals(connection, worker_process.pid), 30, "the worker")

        # What honcho does on Ctrl-C: SIGTERM to every process at the same moment.
        redis_process.send_signal(signal.SIGTERM)
        worker_process.send_signal(signal.SIGTERM)
        assert worker_process.wait(20) == 0
        assert redis_process.wait(20) == 0
    finally:
        for process in (worker_process, redis_process):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()

    # The data was saved on the way down, without the worker's registration.
    restarted = _start("jobs.embedded_redis", tmp_path)
    try:
        wait_until(lambda: _answers(connection), 20, "the restarted redis-server")
        assert connection.get("kept") == b"yes"
        assert Worker.all(connection=connection) == []
    finally:
        restarted.terminate()
        assert restarted.wait(20) == 0
