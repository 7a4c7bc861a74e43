"""Authorization reminders: find what came due, claim each reminder once, notify in the app.

A run, per organization:
1. Reads the authorizations that could be due (insurance active, end date at most
   `EXPIRED_GRACE_DAYS` ago) with their clients, and how much of each counts under
   the "Use Kept and Upcoming" setting — two queries, whatever the number.
2. Asks the pure rules which thresholds each has crossed today and who wants to
   hear about them.
3. Claims every (authorization, kind, threshold, user) by inserting its
   ReminderDelivery row with ON CONFLICT DO NOTHING … RETURNING: only the rows
   this run inserted come back, so a rerun, a second worker at the same moment or
   a retry after a crash finds the reminder already taken and sends nothing.
4. Adds the in-app notifications of the rows it claimed, in the same transaction
   as the claim: both or neither.
5. Returns the users with emails pending; the job enqueues one digest each
   (`webapp.services.reminder_digest`).
"""

import logging
import uuid
from dataclasses import dataclass
from datetime import date, timedelta

from flask import current_app, url_for
from sqlalchemy import case, func, select
from sqlalchemy.dialects import postgresql, sqlite

from webapp.domain import reminder_rules
from webapp.domain.authorization_rules import STATUS_LABELS, authorization_status
from webapp.extensions import db
from webapp.models import (
    Allocation,
    Authorization,
    Client,
    ClientInsurance,
    Encounter,
    Notification,
    Organization,
    Payer,
    ReminderDelivery,
    User,
)
from webapp.models.authorizations import display_number
from webapp.models.base import utcnow
from webapp.services import notifications, queue
from webapp.services.coverage import organization_today, terms_of_columns

log = logging.getLogger(__name__)

EMAIL_PENDING, EMAIL_SENT = "pending", "sent"
EMAIL_NOT_REQUESTED, EMAIL_FAILED = "not_requested", "failed"
STALE_CLAIM = timedelta(minutes=15)
KIND_LABELS = {"sessions": "Sessions", "units": "Units"}
_INSERT_BATCH = 500


@dataclass
class Facts:
    """One authorization as the reminders see it."""

    authorization_id: int
    number: str
    auth_kind: str
    start: date
    end: date
    total: int
    counted: int
    insurance_active: bool
    client_id: int
    client_name: str
    primary_clinician_id: int | None
    payer_name: str

    @property
    def remaining(self) -> int:
        return self.total - self.counted

    def status(self, today: date) -> str:
        return authorization_status(
            insurance_active=self.insurance_active,
            end_date=self.end,
            remaining=self.remaining,
            today=today,
        )

    @property
    def noun(self) -> str:
        return "sessions" if self.auth_kind == "sessions" else "units"

    def headline(self, kind: str, threshold: int, today: date) -> str:
        return reminder_rules.headline(
            kind=kind,
            threshold=threshold,
            end=self.end,
            today=today,
            remaining=self.remaining,
            auth_kind=self.auth_kind,
        )

    def title(self, kind: str, threshold: int, today: date) -> str:
        headline = self.headline(kind, threshold, today)
        return f"Authorization {self.number} for {self.client_name} {headline}"

    def summary(self, today: date) -> str:
        left = max(self.remaining, 0)
        return (
            f"{self.payer_name} · {KIND_LABELS.get(self.auth_kind, self.auth_kind)} · "
            f"{left} of {self.total} {self.noun} left · {STATUS_LABELS[self.status(today)]}"
        )


def load_facts(org: Organization, *, authorization_ids=None, since: date | None = None):
    """{authorization id: Facts} for the org's authorizations ending on/after `since`
    (or exactly `authorization_ids`), with what counts under the org's setting."""
    query = (
        select(
            Authorization.id,
            Authorization.client_insurance_id,
            Authorization.number,
            Authorization.kind,
            Authorization.start_date,
            Authorization.end_date,
            Authorization.allowed,
            Authorization.frequency,
            ClientInsurance.active,
            Client.id.label("client_id"),
            Client.first_name,
            Client.last_name,
            Client.primary_clinician_id,
            Payer.name.label("payer_name"),
        )
        .join(ClientInsurance, ClientInsurance.id == Authorization.client_insurance_id)
        .join(Client, Client.id == ClientInsurance.client_id)
        .join(Payer, Payer.id == ClientInsurance.payer_id)
        .where(Authorization.organization_id == org.id)
        .order_by(Authorization.end_date, Authorization.id)
    )
    if authorization_ids is not None:
        query = query.where(Authorization.id.in_(list(authorization_ids)))
    if since is not None:
        query = query.where(ClientInsurance.active.is_(True), Authorization.end_date >= since)
    facts = {}
    for row in db.session.execute(query):
        facts[row.id] = Facts(
            row.id, display_number(row.number), row.kind, row.start_date, row.end_date,
            terms_of_columns(row, org).total, 0, row.active, row.client_id,
            f"{row.first_name} {row.last_name}", row.primary_clinician_id, row.payer_name,
        )  # fmt: skip
    for auth_id, counted in _counted(org, list(facts)).items():
        facts[auth_id].counted = counted
    return facts


def _counted(org: Organization, authorization_ids: list[int]) -> dict[int, int]:
    """What counts against each authorization: Kept, plus Upcoming when the setting is on."""
    if not authorization_ids:
        return {}
    statuses = reminder_rules.counted_statuses(org.count_upcoming_for_exhaustion)
    counted = {}
    for start in range(0, len(authorization_ids), 5000):
        chunk = authorization_ids[start : start + 5000]
        # The status test sits in the SUM, not the WHERE: the database then reads the
        # allocations by authorization and each encounter by its key, instead of every
        # Kept encounter of the organization (SQLite chose the status index: 64 s at
        # 500,000 encounters, against well under a second this way).
        counts = case((Encounter.status.in_(statuses), Allocation.amount), else_=0)
        rows = db.session.execute(
            select(Allocation.authorization_id, func.sum(counts))
            .join(Encounter, Encounter.id == Allocation.encounter_id)
            .where(Allocation.authorization_id.in_(chunk))
            .group_by(Allocation.authorization_id)
        )
        counted.update({auth_id: int(total or 0) for auth_id, total in rows})
    return counted


def _preferences(org: Organization) -> list[reminder_rules.Preferences]:
    users = db.session.scalars(
        select(User).where(
            User.organization_id == org.id,
            User.is_active_user.is_(True),
            User.remind_expiration_email
            | User.remind_expiration_in_app
            | User.remind_exhaustion_email
            | User.remind_exhaustion_in_app,
        )
    )
    return [
        reminder_rules.Preferences(
            user_id=u.id,
            role=u.role,
            active=u.is_active_user,
            expiration_email=u.remind_expiration_email,
            expiration_in_app=u.remind_expiration_in_app,
            exhaustion_email=u.remind_exhaustion_email,
            exhaustion_in_app=u.remind_exhaustion_in_app,
        )
        for u in users
    ]


def authorization_paths(authorization_ids) -> dict[int, str]:
    """Paths of the authorizations' pages, built outside of any request (jobs)."""
    with current_app.test_request_context("/"):
        return {i: url_for("authorizations.ledger", auth_id=i) for i in authorization_ids}


@dataclass
class RunResult:
    claimed: int
    notified: int
    digest_user_ids: list[int]


def run_for_organization(org: Organization, *, today: date | None = None) -> RunResult:
    """Claim and notify what came due in one organization today (commits)."""
    today = today or organization_today(org)
    db.session.commit()  # start clean: the claim below is one short transaction
    users = _preferences(org)
    facts = (
        load_facts(org, since=today - timedelta(days=reminder_rules.EXPIRED_GRACE_DAYS))
        if users
        else {}
    )
    wanted = []
    channels = {}
    for fact in facts.values():
        due = reminder_rules.due_reminders(
            insurance_active=fact.insurance_active,
            end=fact.end,
            remaining=fact.remaining,
            today=today,
        )
        for reminder in due:
            for recipient in reminder_rules.recipients(
                users, kind=reminder.kind, primary_clinician_id=fact.primary_clinician_id
            ):
                key = (fact.authorization_id, reminder.kind, reminder.threshold, recipient.user_id)
                channels[key] = recipient
                wanted.append(key)
    claimed = _claim(org, _not_yet_claimed(org, wanted), channels)
    notified = _notify(claimed, facts, channels, today)
    resolve_cleared(org, today=today)
    db.session.commit()
    return RunResult(len(claimed), notified, users_with_pending_email(org))


def _not_yet_claimed(org: Organization, wanted: list[tuple]) -> list[tuple]:
    """Leave out the reminders already claimed (the insert's conflict check still decides)."""
    if not wanted:
        return []
    auth_ids = sorted({key[0] for key in wanted})
    taken = set()
    for start in range(0, len(auth_ids), 5000):
        rows = db.session.execute(
            select(
                ReminderDelivery.authorization_id,
                ReminderDelivery.kind,
                ReminderDelivery.threshold,
                ReminderDelivery.user_id,
            ).where(
                ReminderDelivery.organization_id == org.id,
                ReminderDelivery.authorization_id.in_(auth_ids[start : start + 5000]),
            )
        )
        taken.update(tuple(row) for row in rows)
    return [key for key in wanted if key not in taken]


def _claim(org: Organization, keys: list[tuple], channels: dict) -> list[tuple]:
    """Insert the ReminderDelivery rows; returns the keys this transaction inserted.

    Email status starts "pending" for users who asked for email, else "not_requested".
    Keys go in sorted, so two runs inserting the same rows lock them in the same
    order and wait for each other instead of deadlocking (PostgreSQL).
    """
    if not keys:
        return []
    keys = sorted(keys)
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    now = utcnow()
    claimed = []
    for start in range(0, len(keys), _INSERT_BATCH):
        rows = [
            {
                "organization_id": org.id,
                "authorization_id": auth_id,
                "kind": kind,
                "threshold": threshold,
                "user_id": user_id,
                "email_status": EMAIL_PENDING
                if channels[(auth_id, kind, threshold, user_id)].email
                else EMAIL_NOT_REQUESTED,
                "created_at": now,
            }
            for auth_id, kind, threshold, user_id in keys[start : start + _INSERT_BATCH]
        ]
        statement = (
            insert(ReminderDelivery)
            .values(rows)
            .on_conflict_do_nothing(
                index_elements=["authorization_id", "kind", "threshold", "user_id"]
            )
            .returning(
                ReminderDelivery.authorization_id,
                ReminderDelivery.kind,
                ReminderDelivery.threshold,
                ReminderDelivery.user_id,
            )
        )
        claimed += [tuple(row) for row in db.session.execute(statement)]
    return claimed


def _notify(claimed: list[tuple], facts: dict, channels: dict, today: date) -> int:
    """In-app notifications for the claimed rows whose users asked for them.

    Added latest-ending first, so the list (newest first) opens on the most urgent.
    """
    in_app = [key for key in claimed if channels[key].in_app]
    in_app.sort(key=lambda key: (facts[key[0]].end, key), reverse=True)
    if not in_app:
        return 0
    paths = authorization_paths({key[0] for key in in_app})
    user_ids = {key[3] for key in in_app}
    users = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(user_ids)))}
    for auth_id, kind, threshold, user_id in in_app:
        fact = facts[auth_id]
        notifications.notify(
            [users[user_id]],
            kind=f"reminder.{kind}",
            title=fact.title(kind, threshold, today),
            body=fact.summary(today),
            link=paths[auth_id],
            authorization_id=auth_id,
            threshold=threshold,
        )
    return len(in_app)


def resolve_cleared(org: Organization, *, authorization_ids=None, today: date | None = None) -> int:
    """Mark reminder notifications resolved whose condition cleared (the end date moved
    later, more allowed, visits cancelled), and open again those whose condition came
    back (`reminder_rules.still_due`). No commit: the caller's transaction carries it.

    Returns how many notifications changed.
    """
    today = today or organization_today(org)
    query = select(Notification).where(
        Notification.organization_id == org.id,
        Notification.kind.in_([f"reminder.{kind}" for kind in reminder_rules.REMINDER_KINDS]),
        Notification.authorization_id.is_not(None),
        Notification.threshold.is_not(None),
    )
    if authorization_ids is not None:
        ids = list(authorization_ids)
        if not ids:
            return 0
        query = query.where(Notification.authorization_id.in_(ids))
    rows = list(db.session.scalars(query))
    if not rows:
        return 0
    facts = load_facts(org, authorization_ids={row.authorization_id for row in rows})
    now, changed = utcnow(), 0
    for row in rows:
        fact = facts.get(row.authorization_id)
        if fact is None:
            continue
        due = reminder_rules.still_due(
            row.kind.split(".", 1)[1],
            row.threshold,
            end=fact.end,
            remaining=fact.remaining,
            today=today,
        )
        if due and row.resolved_at is not None:
            row.resolved_at, changed = None, changed + 1
        elif not due and row.resolved_at is None:
            row.resolved_at, changed = now, changed + 1
    return changed


def claimable_email(now):
    """Pending emails nobody is sending: unclaimed, or claimed by a sender that died."""
    unclaimed = ReminderDelivery.email_claim.is_(None)
    abandoned = ReminderDelivery.email_claimed_at < now - STALE_CLAIM
    return (ReminderDelivery.email_status == EMAIL_PENDING) & (unclaimed | abandoned)


def users_with_pending_email(org: Organization) -> list[int]:
    """Users with reminder emails not yet accepted by the mail server (and not being sent)."""
    return list(
        db.session.scalars(
            select(ReminderDelivery.user_id)
            .where(ReminderDelivery.organization_id == org.id, claimable_email(utcnow()))
            .distinct()
            .order_by(ReminderDelivery.user_id)
        )
    )


def organizations_to_run(organization_id: int | None) -> list[Organization]:
    query = select(Organization).order_by(Organization.id)
    if organization_id is not None:
        query = query.where(Organization.id == organization_id)
    return list(db.session.scalars(query))


def run_job_id(organization_id: int | None) -> str:
    """A readable, unique job id (RQ ids allow only letters, digits, _ and -)."""
    scope = "all" if organization_id is None else f"org-{organization_id}"
    return f"reminders-{scope}-{uuid.uuid4().hex[:12]}"


def enqueue_run(organization_id: int | None = None) -> bool:
    """Queue a reminders run (after a setting changed); False when Redis is unreachable.

    The setting is saved either way: the hourly run catches up within the hour.
    """
    return queue.enqueue("jobs.reminders.run", organization_id, job_id=run_job_id(organization_id))


def enqueue_digest(user_id: int) -> bool:
    """Queue one user's reminder email digest, retried when the mail server fails.
    False when Redis is unreachable: the reminders stay pending and the next hourly
    run queues the digest again."""
    return queue.enqueue(
        "jobs.reminders.send_digest",
        user_id,
        job_id=f"reminder-digest-{user_id}-{uuid.uuid4().hex[:12]}",
        retry="REMINDER_DIGEST_RETRY_INTERVALS",
    )
