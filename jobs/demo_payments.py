"""Give the demo practice its test cards and holds once the payments server answers.

Enqueued by the cron process at start when the demo practice exists
(`services.demo_payments.enqueue_if_demo`). A payments server that is not up yet is
a transient error, retried by RQ (DEMO_PAYMENTS_RETRY_INTERVALS).
"""

from flask import current_app

from jobs import with_app_context
from webapp.services.demo_payments import add_demo_cards


@with_app_context
def run() -> str:
    return add_demo_cards(live_payments="_live_" in current_app.config["STRIPE_API_KEY"])
