"""RQ worker entry point with the scheduler on (for enqueue_at / enqueue_in jobs).

The worker that wins RQ's scheduler lock forks the scheduler as a child process,
and a forked child inherits every socket the worker has open. Were the worker
killed outright (SIGKILL, the OOM killer) while it waits for a job, the child's
copy of its Redis socket would keep that wait alive: Redis would hand the next
job to a process that is gone, and the job would say "queued" while no queue
holds it. So every process this worker forks closes its copies of the worker's
Redis sockets first (`close_inherited_redis_sockets`); the worker's own stay open.

Two more things RQ's Worker does not do on its own (`CoveredWorker`):
- it runs RQ's maintenance every WORKER_MAINTENANCE_SECONDS (webapp/config.py), not
  every 10 minutes: that is when a worker takes over the scheduler of one that died;
- it registers itself again when Redis has lost its record (a flush, a restart
  without persistence), so the System page does not say "Workers 0" while it runs.
"""

import os

from redis import Redis
from rq import Worker

from jobs import get_app
from jobs.wait import wait_for_redis
from webapp.config import WORKER_MAINTENANCE_SECONDS
from webapp.services.queue import QUEUE_NAMES, redis_connection


class CoveredWorker(Worker):
    """RQ's forking Worker that registers again when Redis forgot it."""

    def heartbeat(self, timeout=None, pipeline=None):
        """RQ's heartbeat; before the one of each wait for a job, the worker's record is
        written again if Redis no longer has it."""
        if pipeline is None and not self.connection.exists(self.key):
            self.register_birth()
            self.set_state(self.get_state())
        super().heartbeat(timeout, pipeline)


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
        worker = CoveredWorker(
            list(QUEUE_NAMES),
            connection=connection,
            maintenance_interval=WORKER_MAINTENANCE_SECONDS,
        )
        worker.work(with_scheduler=True)


if __name__ == "__main__":
    main()
