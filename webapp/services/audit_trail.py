"""The audit trail page (admin): the organization's audit events, filtered, a page at a
time, and the whole filtered set as CSV, streamed.

Read only. Nothing in the app changes or deletes an audit row: `services.audit.record`
adds them, and `models.audit` refuses an update or a delete through the ORM.
"""

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import selectinload

from webapp.domain import audit_rules
from webapp.extensions import db
from webapp.models import AuditEvent, Organization, User
from webapp.services.report_csv import safe_cell

CSV_COLUMNS = (
    "id", "when_utc", "person", "person_email", "action", "record", "record_id",
    "before", "after", "reason",
)  # fmt: skip
CSV_BATCH = 500


@dataclass(frozen=True)
class Filters:
    """What the person picked; every value already checked (ids by forms.urls)."""

    user_id: int | None = None
    action: str | None = None
    entity_type: str | None = None
    entity_id: int | None = None
    start: date | None = None
    end: date | None = None

    def query_args(self) -> dict:
        """The filters as query-string arguments (for links to other pages and the CSV)."""
        values = {
            "person": self.user_id,
            "action": self.action,
            "record": self.entity_type,
            "record_id": self.entity_id,
            "from": self.start.isoformat() if self.start else None,
            "to": self.end.isoformat() if self.end else None,
        }
        return {key: value for key, value in values.items() if value not in (None, "")}


@dataclass(frozen=True)
class Page:
    events: list[AuditEvent]
    total: int
    page: int
    pages: int


def _query(org: Organization, filters: Filters):
    query = select(AuditEvent).where(AuditEvent.organization_id == org.id)
    if filters.user_id:
        query = query.where(AuditEvent.user_id == filters.user_id)
    if filters.action:
        query = query.where(AuditEvent.action == filters.action)
    if filters.entity_type:
        query = query.where(AuditEvent.entity_type == filters.entity_type)
    if filters.entity_id:
        query = query.where(AuditEvent.entity_id == filters.entity_id)
    low, high = audit_rules.day_bounds(filters.start, filters.end, org.timezone)
    if low:
        query = query.where(AuditEvent.created_at >= low)
    if high:
        query = query.where(AuditEvent.created_at < high)
    return query


def page(org: Organization, filters: Filters, number: int) -> Page:
    """Events matching `filters`, newest first, PAGE_SIZE a page (`number` from 1; past
    the last page gives the last page)."""
    query = _query(org, filters)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    pages = max(1, -(-total // audit_rules.PAGE_SIZE))
    number = min(max(1, number), pages)
    events = db.session.scalars(
        query.options(selectinload(AuditEvent.user))
        .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
        .offset((number - 1) * audit_rules.PAGE_SIZE)
        .limit(audit_rules.PAGE_SIZE)
    ).all()
    return Page(list(events), total, number, pages)


def choices(org: Organization) -> dict[str, list]:
    """What the filters offer: the people (every account of the practice), the actions
    and the record kinds that occur in its trail."""
    people = db.session.scalars(
        select(User).where(User.organization_id == org.id).order_by(User.name, User.id)
    ).all()

    def used(column):
        return db.session.scalars(
            select(distinct(column)).where(AuditEvent.organization_id == org.id).order_by(column)
        ).all()

    return {
        "people": list(people),
        "actions": list(used(AuditEvent.action)),
        "records": list(used(AuditEvent.entity_type)),
    }


def csv_rows(org: Organization, filters: Filters) -> Iterator[str]:
    """The filtered events as CSV text, header first, newest first, CSV_BATCH rows at a
    time (for a streamed response; memory stays flat however long the trail)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(CSV_COLUMNS)
    yield flush()
    people = {
        u.id: u for u in db.session.scalars(select(User).where(User.organization_id == org.id))
    }
    query = _query(org, filters).order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
    last = None
    while True:
        batch_query = query.limit(CSV_BATCH)
        if last is not None:
            batch_query = batch_query.where(
                (AuditEvent.created_at < last.created_at)
                | ((AuditEvent.created_at == last.created_at) & (AuditEvent.id < last.id))
            )
        batch = db.session.scalars(batch_query).all()
        if not batch:
            return
        for event in batch:
            person = people.get(event.user_id)
            writer.writerow(
                [
                    event.id,
                    event.created_at.isoformat(sep=" ", timespec="seconds"),
                    safe_cell(person.name if person else "System"),
                    safe_cell(person.email if person else ""),
                    event.action,
                    event.entity_type,
                    event.entity_id if event.entity_id is not None else "",
                    safe_cell(_json(event.before)),
                    safe_cell(_json(event.after)),
                    safe_cell(event.reason or ""),
                ]
            )
        yield flush()
        last = batch[-1]  # the session's identity map holds rows weakly: memory stays flat


def _json(value) -> str:
    return "" if value is None else json.dumps(value, sort_keys=True, default=str)
