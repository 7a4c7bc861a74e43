"""Run the automation rule chosen when an encounter was finalized or cancelled."""

from jobs import with_app_context


@with_app_context
def run(encounter_id: int, event: str) -> str:
    from rq import get_current_job

    from webapp.services.automations import carry_out

    job = get_current_job()
    return carry_out(encounter_id, event, can_retry=bool(job is not None and job.retries_left))
