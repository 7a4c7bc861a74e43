"""Every minute: re-enqueue scheduled holds whose job is missing, settle stuck ones."""

from jobs import with_app_context
from webapp.services.preauth_runs import sweep


@with_app_context
def run() -> str:
    report = sweep()
    return (
        f"enqueued {len(report.enqueued)}, held {len(report.settled_held)}, "
        f"failed {len(report.settled_failed)}, requeued {len(report.requeued)}, "
        f"gateway unreachable for {len(report.unreachable)}"
    )
