"""Run the automation rule chosen when an encounter was finalized or cancelled."""

from jobs import with_app_context


@with_app_context
def run(encounter_id: int, event: str) -> str:
    from webapp.services.automations import carry_out

    return carry_out(encounter_id, event)
