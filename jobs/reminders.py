"""Authorization reminders: the hourly run (also queued when the exhaustion setting changes)
and one email digest job per user, retried with backoff when the mail server fails."""

from jobs import with_app_context

# Seconds before each retry of a digest the mail server did not accept; after the
# last one the reminders stay pending and the next hourly run queues them again.
DIGEST_RETRY_INTERVALS = [60, 300, 1800]


def run_job_id(organization_id: int | None) -> str:
    """A readable, unique job id (RQ ids allow only letters, digits, _ and -)."""
    import uuid

    scope = "all" if organization_id is None else f"org-{organization_id}"
    return f"reminders-{scope}-{uuid.uuid4().hex[:12]}"


@with_app_context
def run(organization_id: int | None = None) -> str:
    """1. Claim and notify what came due, organization by organization.
    2. Queue one digest per user with reminder emails pending.

    One organization's failure does not stop the others; it is raised at the end.
    """
    from flask import current_app

    from webapp.extensions import db
    from webapp.services import reminders

    claimed = notified = digests = 0
    failures = []
    for org in reminders.organizations_to_run(organization_id):
        try:
            result = reminders.run_for_organization(org)
        except Exception as error:  # raised again below, once the others have run
            db.session.rollback()
            current_app.logger.exception("reminders run failed for organization %s", org.id)
            failures.append(f"organization {org.id}: {error!r}")
            continue
        claimed += result.claimed
        notified += result.notified
        for user_id in result.digest_user_ids:
            enqueue_digest(user_id)
            digests += 1
    if failures:
        raise RuntimeError("reminders run failed for " + "; ".join(failures))
    return f"claimed {claimed} reminders, {notified} in-app, {digests} digests queued"


def enqueue_digest(user_id: int):
    import uuid

    from flask import current_app
    from rq import Retry

    from webapp.services.queue import queue

    intervals = current_app.config.get("REMINDER_DIGEST_RETRY_INTERVALS", DIGEST_RETRY_INTERVALS)
    return queue().enqueue(
        send_digest,
        user_id,
        job_id=f"reminder-digest-{user_id}-{uuid.uuid4().hex[:12]}",
        retry=Retry(max=len(intervals), interval=list(intervals)),
    )


@with_app_context
def send_digest(user_id: int) -> str:
    from webapp.services.reminder_digest import send_digest as send

    return send(user_id)
