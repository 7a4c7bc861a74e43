"""Every minute: prove a worker is alive by writing the time to Redis."""

from datetime import UTC, datetime

from jobs import with_app_context
from webapp.services.system import record_heartbeat


@with_app_context
def run() -> str:
    now = datetime.now(UTC)
    record_heartbeat(now)
    return now.isoformat()
