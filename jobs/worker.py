"""RQ worker entry point with the scheduler on (for enqueue_at / enqueue_in jobs)."""

from rq import Worker

from jobs import get_app


def main() -> None:
    app = get_app()
    with app.app_context():
        from jobs.wait import wait_for_redis
        from webapp.services.queue import QUEUE_NAMES, redis_connection

        wait_for_redis(redis_connection())
        worker = Worker(list(QUEUE_NAMES), connection=redis_connection())
        worker.work(with_scheduler=True)


if __name__ == "__main__":
    main()
