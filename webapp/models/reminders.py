from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.base import org_fk, utcnow
from webapp.models.organization import User


class ReminderDelivery(db.Model):
    """One reminder for one user about one authorization crossing one threshold.

    The unique constraint is what makes a reminder go out once, ever: a run claims
    the (authorization, kind, threshold, user) by inserting this row.
    """

    __tablename__ = "reminder_deliveries"
    __table_args__ = (UniqueConstraint("authorization_id", "kind", "threshold", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = org_fk()
    authorization_id: Mapped[int] = mapped_column(
        ForeignKey("authorizations.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # "expiration" | "exhaustion"
    threshold: Mapped[int]  # days before the end date, or units/sessions remaining
    # "pending" until the digest that carries it is accepted by SMTP, then "sent";
    # "not_requested" when the user asked only for the in-app reminder; "failed" when
    # the SMTP server refused the message or recipient for good (a 5xx answer).
    email_status: Mapped[str] = mapped_column(String(20), default="pending")
    emailed_at: Mapped[datetime | None]
    # A digest sender claims pending rows by writing its token here (compare-and-set),
    # so two senders never email the same reminder; a claim older than a few minutes
    # is a crashed sender's and may be taken over. "failed" rows keep the SMTP reason.
    email_claim: Mapped[str | None] = mapped_column(String(40), index=True)
    email_claimed_at: Mapped[datetime | None]
    email_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship()


class Notification(db.Model):
    """An in-app notification: the bell in the header and the list page.

    A reminder about an authorization carries its `authorization_id`; once the
    condition it warned about clears (the end date moved, more allowed) it is
    marked `resolved_at` and shown as resolved.
    """

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_unread", "user_id", "read_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = org_fk()
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str | None] = mapped_column(String(500))
    authorization_id: Mapped[int | None] = mapped_column(
        ForeignKey("authorizations.id", ondelete="SET NULL"), index=True
    )
    threshold: Mapped[int | None]  # the reminder's threshold (days, or remaining)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    read_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
