from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, event
from sqlalchemy.orm import Mapped, Session, mapped_column, object_session, relationship

from webapp.extensions import db
from webapp.models.base import org_fk, utcnow


class AuditEvent(db.Model):
    """Who did what to which row, with the row before and after."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = org_fk()
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    action: Mapped[str] = mapped_column(String(64))
    entity_type: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[int | None]
    before: Mapped[dict | None] = mapped_column(JSON)
    after: Mapped[dict | None] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(String(500))

    user = relationship("User")


class AuditIsAppendOnly(Exception):
    """An audit event was about to be changed or deleted; the app only adds them."""


# Events this session wrote in its open transaction: a use case may still complete one
# (its outcome, counted at the end) before it commits; once committed, never.
WRITTEN_NOW = "audit_events_written_in_this_transaction"


@event.listens_for(AuditEvent, "after_insert")
def _remember_written(_mapper, _connection, target: AuditEvent) -> None:
    session = object_session(target)
    if session is not None:
        session.info.setdefault(WRITTEN_NOW, set()).add(target.id)


@event.listens_for(Session, "after_transaction_end")
def _forget_written(session: Session, transaction) -> None:
    if transaction.parent is None:  # the outermost transaction: committed or rolled back
        session.info.pop(WRITTEN_NOW, None)


@event.listens_for(AuditEvent, "before_update")
def _refuse_update(_mapper, _connection, target: AuditEvent) -> None:
    """The audit trail is append-only (HIPAA §164.312(b) audit controls): no code path
    of the app may rewrite an event through the ORM once it is committed. An event
    written in the still-open transaction may be completed (the legacy import writes
    its event first and its counts at the end, in the same commit)."""
    session = object_session(target)
    if session is not None and target.id in session.info.get(WRITTEN_NOW, ()):
        return
    raise AuditIsAppendOnly(f"audit event {target.id} cannot be changed")


@event.listens_for(AuditEvent, "before_delete")
def _refuse_delete(_mapper, _connection, target: AuditEvent) -> None:
    """No code path of the app may remove an audit event through the ORM."""
    raise AuditIsAppendOnly(f"audit event {target.id} cannot be deleted")
