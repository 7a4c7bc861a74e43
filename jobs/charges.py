"""Finish payments left pending (the gateway timed out, or a worker died mid-charge)."""

from jobs import with_app_context
from webapp.payments.gateway import TransientGatewayError
from webapp.services import automations, settlement


@with_app_context
def settle(encounter_id: int) -> str:
    outcome = settlement.settle_encounter(encounter_id)
    return outcome.message if outcome else "nothing pending"


@with_app_context
def sweep() -> str:
    """Every minute: settle stale pending payments, re-enqueue lost automation runs."""
    settled, busy = 0, 0
    for encounter_id in settlement.stale_encounter_ids():
        try:
            settlement.settle_encounter(encounter_id)
            settled += 1
        except TransientGatewayError:
            busy += 1  # in progress elsewhere, or the gateway is down: next minute
    requeued = automations.requeue_lost()
    return f"settled {settled}, busy {busy}, automation runs requeued {len(requeued)}"
