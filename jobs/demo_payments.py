"""Give the demo practice its test cards and holds once the payments server answers.

Enqueued by the cron process at start when the demo practice exists (see
services/demo_payments). A payments server that is not up yet is a transient
error, retried by RQ.
"""

from jobs import with_app_context

JOB_ID = "demo-payments"
RETRY_INTERVALS = [2, 5, 10, 20, 30, 60]


@with_app_context
def run() -> str:
    from flask import current_app

    from webapp.services.demo_payments import add_demo_cards

    return add_demo_cards(live_payments="_live_" in current_app.config["STRIPE_API_KEY"])


def enqueue_if_demo() -> bool:
    """Enqueue the job (once: a fixed id) when the database holds the demo practice."""
    from rq import Retry

    from webapp.services.demo_payments import demo_organization
    from webapp.services.queue import queue

    if demo_organization() is None:
        return False
    queue().enqueue(
        run, job_id=JOB_ID, retry=Retry(max=len(RETRY_INTERVALS), interval=RETRY_INTERVALS)
    )
    return True
