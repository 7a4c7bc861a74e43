"""Place one pre-authorization's card hold, when its time comes (see services/preauth_runs)."""

from rq import get_current_job

from jobs import with_app_context
from webapp.services.preauth_runs import place_hold


@with_app_context
def run(preauth_id: int, attempt: int) -> str:
    job = get_current_job()
    can_retry = bool(job is not None and job.retries_left)
    return str(place_hold(preauth_id, attempt, can_retry=can_retry))
