"""Cron process: enqueues the periodic jobs of jobs/periodic.py. Run exactly one."""

from rq.cron import CronScheduler

from jobs import get_app
from jobs.periodic import PERIODIC_JOBS
from jobs.wait import wait_for_redis
from webapp.services.demo_payments import enqueue_if_demo
from webapp.services.queue import redis_connection


def main() -> None:
    app = get_app()
    with app.app_context():
        wait_for_redis(redis_connection())
        enqueue_if_demo()
        scheduler = CronScheduler(connection=redis_connection())
        for func, interval in PERIODIC_JOBS:
            scheduler.register(func, queue_name="default", interval=interval)
        scheduler.start()


if __name__ == "__main__":
    main()
