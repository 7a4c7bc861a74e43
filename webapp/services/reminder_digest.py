"""One email per user carrying every reminder of theirs the mail server has not yet accepted.

1. Reminders the user no longer wants by email (preference unticked, account
   deactivated) are marked "not_requested" instead of sent.
2. The sender claims the user's pending rows by compare-and-set (writes its token
   into `email_claim` where the row is pending and unclaimed, or claimed by a
   sender that died more than `STALE_CLAIM` ago) and commits. A second sender at
   the same moment finds nothing left to claim.
3. It renders the digest (HTML and plain text) from today's facts and hands it to
   the mail server (or the outbox).
4. Accepted → the rows become "sent". Refused for a moment (connection, 4xx) → the
   claim is released, the rows stay "pending", and the error is raised so RQ
   retries with backoff; the next hourly run resends whatever is still pending.
   Refused for good (5xx for the recipient or message) → the rows become "failed"
   with the reason, and the user is told in the app.

A crash after the server accepted the message but before step 4 committed means
the digest is sent again after `STALE_CLAIM`: email is at-least-once (SMTP has no
idempotency key); the in-app notification is exactly-once.
"""

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

from flask import current_app, render_template, url_for
from sqlalchemy import select, update

from webapp.domain import reminder_rules
from webapp.domain.windows import format_day
from webapp.extensions import db
from webapp.models import Organization, ReminderDelivery, User
from webapp.models.base import utcnow
from webapp.services import mail, notifications
from webapp.services.coverage import organization_today
from webapp.services.reminders import (
    EMAIL_FAILED,
    EMAIL_NOT_REQUESTED,
    EMAIL_PENDING,
    EMAIL_SENT,
    KIND_LABELS,
    authorization_paths,
    claimable_email,
    load_facts,
)

SECTION_TITLES = {reminder_rules.EXPIRATION: "Expiring", reminder_rules.EXHAUSTION: "Running out"}


@dataclass
class DigestItem:
    kind: str
    threshold: int
    number: str
    client_name: str
    payer_name: str
    type_label: str
    period: str
    headline: str
    left: str
    status: str
    url: str


def send_digest(user_id: int, *, now: datetime | None = None) -> str:
    """Email the user's pending reminders in one message; returns what happened."""
    now = now or utcnow()
    user = db.session.get(User, user_id)
    if user is None:
        return "no such user"
    org = user.organization
    _drop_unwanted(user)
    token = uuid.uuid4().hex
    claimed = db.session.execute(
        update(ReminderDelivery)
        .where(ReminderDelivery.user_id == user.id, claimable_email(now))
        .values(email_claim=token, email_claimed_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    if not claimed:
        return "nothing to send"
    rows = db.session.scalars(
        select(ReminderDelivery).where(ReminderDelivery.email_claim == token)
    ).all()
    message = compose_digest(org, user, rows, today=organization_today(org))
    try:
        mail.deliver(message)
    except mail.MailDeliveryError as error:
        _settle(token, failed=error)
        if not error.permanent:
            raise
        return f"refused for good: {error}"
    _settle(token)
    return f"sent {len(rows)} reminders to {user.email}"


def _drop_unwanted(user: User) -> None:
    kinds = [k for k in reminder_rules.REMINDER_KINDS if not getattr(user, f"remind_{k}_email")]
    if not user.is_active_user:
        kinds = list(reminder_rules.REMINDER_KINDS)
    if kinds:
        db.session.execute(
            update(ReminderDelivery)
            .where(
                ReminderDelivery.user_id == user.id,
                ReminderDelivery.email_status == EMAIL_PENDING,
                ReminderDelivery.kind.in_(kinds),
            )
            .values(email_status=EMAIL_NOT_REQUESTED)
            .execution_options(synchronize_session=False)
        )


def _settle(token: str, failed: mail.MailDeliveryError | None = None) -> None:
    """Write the outcome on the claimed rows and release the claim (commits)."""
    claimed = ReminderDelivery.email_claim == token
    values: dict = {"email_claim": None, "email_claimed_at": None}
    if failed is None:
        values |= {"email_status": EMAIL_SENT, "emailed_at": utcnow(), "email_error": None}
    elif failed.permanent:
        values |= {"email_status": EMAIL_FAILED, "email_error": str(failed)[:500]}
        user = db.session.scalar(select(User).join(ReminderDelivery).where(claimed).limit(1))
        notifications.notify(
            [user],
            kind="reminder.email_failed",
            title="We could not email your authorization reminders",
            body=f"{failed} They are still listed here in the app.",
        )
    else:
        values |= {"email_error": str(failed)[:500]}
    db.session.execute(
        update(ReminderDelivery)
        .where(claimed)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def compose_digest(org: Organization, user: User, rows, *, today: date):
    """The digest message: a section per reminder kind, an entry per authorization."""
    facts = load_facts(org, authorization_ids={r.authorization_id for r in rows})
    paths = authorization_paths(facts)
    base = current_app.config["PUBLIC_URL"]
    sections: dict[str, list[DigestItem]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: (facts[r.authorization_id].end, r.authorization_id)):
        fact = facts[row.authorization_id]
        sections[row.kind].append(
            DigestItem(
                kind=row.kind,
                threshold=row.threshold,
                number=fact.number,
                client_name=fact.client_name,
                payer_name=fact.payer_name,
                type_label=KIND_LABELS.get(fact.auth_kind, fact.auth_kind),
                period=f"{format_day(fact.start)} – {format_day(fact.end)}",
                headline=fact.headline(row.kind, row.threshold, today),
                left=f"{max(fact.remaining, 0)} of {fact.total} {fact.noun} left",
                status=fact.status(today).title(),
                url=base + paths[row.authorization_id],
            )
        )
    ordered = [
        (SECTION_TITLES[k], sections[k]) for k in reminder_rules.REMINDER_KINDS if sections[k]
    ]
    items = [item for _title, section in ordered for item in section]
    with current_app.test_request_context("/"):
        preferences_url = base + url_for("profile.preferences")
        notifications_url = base + url_for("notifications.index")
    context = {
        "org": org,
        "user": user,
        "sections": ordered,
        "count": len(items),
        "preferences_url": preferences_url,
        "notifications_url": notifications_url,
    }
    return mail.compose(
        to=f"{user.name} <{user.email}>",
        subject=_subject(org, items),
        text=render_template("email/reminders.txt", **context),
        html=render_template("email/reminders.html", **context),
        organization_id=org.id,
    )


def _subject(org: Organization, items: list[DigestItem]) -> str:
    if len(items) == 1:
        item = items[0]
        return f"Authorization {item.number} for {item.client_name} {item.headline}"
    return f"{len(items)} authorization reminders · {org.name}"
