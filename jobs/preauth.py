"""Place a pre-authorization's card hold when its time comes, and every other hold due
by then, many at once (services/hold_batches, services/preauth_runs)."""

from rq import get_current_job

from jobs import with_app_context
from webapp.services.hold_batches import place_due_holds


@with_app_context
def run(preauth_id: int, attempt: int) -> str:
    job = get_current_job()
    can_retry = bool(job is not None and job.retries_left)
    outcome, _ = place_due_holds((preauth_id, attempt), can_retry=can_retry)
    return str(outcome)
