"""Outbox (admins): the mail written to instance/outbox/ when no MAIL_SERVER is configured."""

from flask import Blueprint, Response, current_app
from flask_login import current_user

from webapp.access import get_outbox_message_or_404, role_required
from webapp.models.organization import ADMIN
from webapp.security import mail_preview_headers
from webapp.services import mail
from webapp.views.rendering import render_page

bp = Blueprint("outbox", __name__, url_prefix="/admin/outbox")


@bp.get("")
@role_required(ADMIN)
def index():
    org_id = current_user.organization_id
    return render_page(
        "outbox/index.html",
        "content",
        messages=mail.outbox_entries(org_id),
        total=mail.outbox_count(org_id),
        limit=mail.OUTBOX_LIST_LIMIT,
        smtp_server=current_app.config.get("MAIL_SERVER"),
    )


@bp.get("/<name>")
@role_required(ADMIN)
def show(name: str):
    return render_page("outbox/show.html", "content", message=get_outbox_message_or_404(name))


@bp.get("/<name>/raw")
@role_required(ADMIN)
def raw(name: str):
    """The message file itself (.eml), for opening in a mail client."""
    message = get_outbox_message_or_404(name)
    body = (mail.outbox_path() / message.name).read_bytes()
    return Response(
        body,
        mimetype="message/rfc822",
        headers={"Content-Disposition": f'attachment; filename="{message.name}"'},
    )


@bp.get("/<name>/html")
@role_required(ADMIN)
def html(name: str):
    """The HTML version alone, for the sandboxed frame of the message page.

    Mail styles itself inline, which the pages' policy refuses; this answer carries its
    own (webapp.security.MAIL_PREVIEW_POLICY): inline styles, no script, framed only here.
    """
    message = get_outbox_message_or_404(name)
    return Response(message.html or "", mimetype="text/html", headers=mail_preview_headers())
