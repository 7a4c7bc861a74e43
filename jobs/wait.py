"""Wait for Redis at start-up: under `make run` it starts beside the worker."""

import time

from redis.exceptions import RedisError


def wait_for_redis(connection, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            connection.ping()
            return
        except RedisError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
