"""Audit trail: every change a person makes is kept with the row before and after."""

from datetime import date, datetime

from sqlalchemy import inspect

from webapp.extensions import db
from webapp.models import AuditEvent


def snapshot(row) -> dict:
    """The row's column values, JSON-ready."""
    values = {}
    for column in inspect(row).mapper.column_attrs:
        value = getattr(row, column.key)
        if isinstance(value, date | datetime):
            value = value.isoformat()
        values[column.key] = value
    return values


def record(
    *,
    organization_id: int,
    user_id: int | None,
    action: str,
    row=None,
    entity_type: str | None = None,
    entity_id: int | None = None,
    before: dict | None = None,
    after: dict | None = None,
    reason: str | None = None,
) -> AuditEvent:
    """Add an audit event to the session; the calling service commits."""
    event = AuditEvent(
        organization_id=organization_id,
        user_id=user_id,
        action=action,
        entity_type=entity_type or (type(row).__tablename__ if row is not None else "unknown"),
        entity_id=entity_id if entity_id is not None else getattr(row, "id", None),
        before=before,
        after=after,
        reason=reason,
    )
    db.session.add(event)
    return event
