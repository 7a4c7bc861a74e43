"""Authorization reminders: the hourly run (also queued when the exhaustion setting changes)
and one email digest job per user, retried with backoff when the mail server fails
(REMINDER_DIGEST_RETRY_INTERVALS)."""

from flask import current_app

from jobs import with_app_context
from webapp.extensions import db
from webapp.services import reminder_digest, reminders


@with_app_context
def run(organization_id: int | None = None) -> str:
    """1. Claim and notify what came due, organization by organization.
    2. Queue one digest per user with reminder emails pending.

    One organization's failure does not stop the others; it is raised at the end.
    """
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
            digests += reminders.enqueue_digest(user_id)
    if failures:
        raise RuntimeError("reminders run failed for " + "; ".join(failures))
    return f"claimed {claimed} reminders, {notified} in-app, {digests} digests queued"


@with_app_context
def send_digest(user_id: int) -> str:
    return reminder_digest.send_digest(user_id)
