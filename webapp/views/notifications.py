"""In-app notifications: the bell in the header, the list, marking read (HTMX)."""

from flask import Blueprint, redirect, request, url_for
from flask_login import current_user

from webapp.access import ALL_ROLES, role_required
from webapp.extensions import htmx
from webapp.forms.urls import arg_page, row_id
from webapp.services import notifications
from webapp.views.rendering import opened_directly, render_page

bp = Blueprint("notifications", __name__, url_prefix="/notifications")
PAGE_SIZE = 30


@bp.app_context_processor
def bell_count():
    """The bell's unread count, as a function: only pages that draw the header query it."""

    def unread_notification_count() -> int:
        if not current_user or not current_user.is_authenticated:
            return 0
        return notifications.unread_count(current_user)

    return {"unread_notification_count": unread_notification_count}


def _list(http_status: int = 200, error: str | None = None, *, changed: bool = False):
    page = arg_page()
    total = notifications.count(current_user)
    rows = notifications.recent(current_user, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    response = render_page(
        "notifications/index.html",
        "notification_list",
        http_status=http_status,
        notifications=rows,
        page=page,
        has_more=page * PAGE_SIZE < total,
        unread=notifications.unread_count(current_user),
        error=error,
    )
    if changed:  # the bell in the header refreshes itself on this event
        response.headers["HX-Trigger"] = "notifications-changed"
    return response


@bp.get("")
@role_required(*ALL_ROLES)
def index():
    return _list()


@bp.get("/bell")
@role_required(*ALL_ROLES)
def bell():
    """The bell alone (the header polls it); opened directly, the notifications page."""
    if whole_page := opened_directly(url_for("notifications.index")):
        return whole_page
    return render_page("notifications/_bell.html", "bell")


@bp.post("/read")
@role_required(*ALL_ROLES)
def mark_read():
    """Mark the notifications named by `id` (one or more) read; only the user's own."""
    ids = [i for i in map(row_id, request.form.getlist("id")) if i is not None]
    if not ids:
        return _list(422, "Choose a notification to mark as read.")
    notifications.mark_read(current_user, ids)
    return _list(changed=True) if htmx else redirect(url_for("notifications.index"))


@bp.post("/read-all")
@role_required(*ALL_ROLES)
def mark_all_read():
    notifications.mark_read(current_user, "all")
    return _list(changed=True) if htmx else redirect(url_for("notifications.index"))
