"""In-app notifications: the bell in the header and the Notifications page.

`notify` only adds rows to the session; the calling service commits, so a
notification is written together with whatever caused it (or not at all).
"""

from collections.abc import Iterable
from typing import Literal

from sqlalchemy import func, select, update

from webapp.extensions import db
from webapp.models import Notification, User
from webapp.models.base import utcnow

TITLE_LIMIT = 300
LINK_LIMIT = 500


def notify(
    users: Iterable[User],
    *,
    kind: str,
    title: str,
    body: str = "",
    link: str | None = None,
    authorization_id: int | None = None,
    threshold: int | None = None,
) -> list[Notification]:
    """Add one unread notification per user (no commit: the caller commits).

    `kind` is a short machine name ("reminder.expiration", "preauth.expired", …),
    `link` a path inside the app the notification points to; a reminder names its
    `authorization_id` and `threshold`, so it can be marked resolved later.

    Raises:
        ValueError: no title, or a link that is not a path inside the app.
    """
    if not title:
        raise ValueError("A notification needs a title")
    if link is not None and (
        len(link) > LINK_LIMIT or not link.startswith("/") or link.startswith("//")
    ):
        raise ValueError("A notification links to a path inside the app, such as /clients/1")
    title = title if len(title) <= TITLE_LIMIT else title[: TITLE_LIMIT - 1] + "…"
    rows = [
        Notification(
            organization_id=user.organization_id,
            user_id=user.id,
            kind=kind,
            title=title,
            body=body,
            link=link,
            authorization_id=authorization_id,
            threshold=threshold,
        )
        for user in users
    ]
    db.session.add_all(rows)
    return rows


def unread_count(user: User) -> int:
    """Unread notifications of one user that still need attention (not resolved)."""
    return db.session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(
            Notification.user_id == user.id,
            Notification.read_at.is_(None),
            Notification.resolved_at.is_(None),
        )
    )


def recent(user: User, *, limit: int = 100, offset: int = 0) -> list[Notification]:
    """A user's notifications, newest first."""
    return list(
        db.session.scalars(
            select(Notification)
            .where(Notification.user_id == user.id)
            .order_by(Notification.created_at.desc(), Notification.id.desc())
            .limit(limit)
            .offset(offset)
        )
    )


def count(user: User) -> int:
    return db.session.scalar(
        select(func.count()).select_from(Notification).where(Notification.user_id == user.id)
    )


def mark_read(user: User, ids: Iterable[int] | Literal["all"]) -> int:
    """Mark some (or "all") of the user's unread notifications read; commits.

    Only the user's own rows are touched, whatever ids are passed. Returns how
    many rows changed.
    """
    statement = (
        update(Notification)
        .where(Notification.user_id == user.id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if ids != "all":
        id_list = [int(i) for i in ids]
        if not id_list:
            return 0
        statement = statement.where(Notification.id.in_(id_list))
    changed = db.session.execute(statement).rowcount
    db.session.commit()
    return changed
