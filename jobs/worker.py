"""RQ worker entry point with the scheduler on (for enqueue_at / enqueue_in jobs).

The worker that wins RQ's scheduler lock forks the scheduler as a child process,
and a forked child inherits every socket the worker has open. Were the worker
killed outright (SIGKILL, the OOM killer) while it waits for a job, the child's
copy of its Redis socket would keep that wait alive: Redis would hand the next
job to a process that is gone, and the job would say "queued" while no queue
holds it. So every process this worker forks closes its copies of the worker's
Redis sockets first (`close_inherited_redis_sockets`); the worker's own stay open.
"""

import os

from redis import Redis
from rq import Worker

from jobs import get_app
from jobs.wait import wait_for_redis
from webapp.services.queue import QUEUE_NAMES, redis_connection


def close_inherited_redis_sockets(connection: Redis) -> None:
    """In a forked child: close this process's copies of `connection`'s sockets.

    redis-py's `Connection.disconnect` only closes (never shuts down) a socket
    opened by another process, so the parent's connections stay usable; the
    child's client opens new ones when it needs them.
    """
    pool = connection.connection_pool
    for held in [*pool._available_connections, *pool._in_use_connections]:
        held.disconnect()


def main() -> None:
    app = get_app()
    with app.app_context():
        connection = redis_connection()
        wait_for_redis(connection)
        os.register_at_fork(after_in_child=lambda: close_inherited_redis_sockets(connection))
        worker = Worker(list(QUEUE_NAMES), connection=connection)
        worker.work(with_scheduler=True)


if __name__ == "__main__":
    main()
