"""Run the automation rule chosen when an encounter was finalized or cancelled."""

from rq import get_current_job

from jobs import with_app_context
from webapp.services.automations import carry_out


@with_app_context
def run(encounter_id: int, event: str) -> str:
    job = get_current_job()
    return carry_out(encounter_id, event, can_retry=bool(job is not None and job.retries_left))
