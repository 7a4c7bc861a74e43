"""Import an uploaded file of legacy authorizations, reporting progress in job.meta."""

from rq import get_current_job

from jobs import with_app_context
from webapp.services.legacy_import import run_upload


def report_progress(done: int, total: int) -> None:
    """Write done/total on the running RQ job, where the progress page reads them."""
    job = get_current_job()
    if job is None:  # called directly, outside a worker
        return
    job.meta["done"] = done
    job.meta["total"] = total
    job.save_meta()


@with_app_context
def run(import_id: int) -> str:
    return run_upload(import_id, progress=report_progress)
