"""Whole page on a normal request, only the swapped block on an HTMX request; and how a
view answers a refusal (`answer_refused`)."""

import re
from types import SimpleNamespace
from urllib.parse import urlencode, urlsplit

from flask import current_app, make_response, redirect, render_template, request
from jinja2_fragments.flask import render_block
from werkzeug.exceptions import HTTPException

from webapp.extensions import htmx
from webapp.services.errors import Refused


def render_page(
    template: str,
    block: str,
    http_status: int = 200,
    *,
    block_template: str | None = None,
    **context,
):
    """Render `template`, or just `block` when HTMX asks (not on history restore).

    `block_template` names the partial that holds the block when the page
    includes it rather than defining it.
    """
    if htmx and not htmx.history_restore_request:
        body = render_block(block_template or template, block, **context)
    else:
        body = render_template(template, **context)
    response = make_response(body, http_status)
    response.vary.add("HX-Request")
    return response


def answer_refused(refused: Refused) -> tuple[str, int]:
    """How every view answers a use case's refusal: (the message, shown next to the
    action or field it is about; the HTTP status of its kind, 409 unless it says)."""
    return refused.message, refused.status


def refused_page(refused: Refused):
    """A refusal no view caught: the error page with its message and status, never a 500."""
    message, status = answer_refused(refused)
    return render_template("errors/error.html", code=status, message=message), status


def render_dialog(template: str, *, behind: str, slot: str, http_status: int = 200, **context):
    """A dialog: its `dialog` block when HTMX asks for it; opened directly (its URL typed,
    bookmarked, opened in a new tab), the page `behind` it with the dialog open.

    `behind` is the URL of the page whose button opens the dialog, `slot` the id (without
    #) of the element there the dialog is swapped into. The page is reached by a redirect
    carrying `?dialog=<this URL>&slot=<slot>`; base.html reads them back through
    `dialog_to_open()` and static/app.js loads the dialog into the slot, as a click would.
    Only a plain GET is redirected: a form posted without HTMX still gets its answer.
    """
    if request.method == "GET" and not htmx:
        here = request.full_path.rstrip("?")
        joint = "&" if "?" in behind else "?"  # `behind` may carry its own query (a date)
        return redirect(f"{behind}{joint}{urlencode({'dialog': here, 'slot': slot})}")
    return render_page(template, "dialog", http_status, **context)


def opened_directly(page: str):
    """A panel htmx polls or swaps in, opened by itself (typed, bookmarked): a redirect to
    the `page` it is part of; None when htmx asks (the view answers with the panel)."""
    if htmx:
        return None
    return redirect(page)


DIALOG_SLOT = re.compile(r"^[a-z][a-z0-9-]{0,40}$")
DIALOG_URL_LIMIT = 500


def dialog_to_open():
    """The dialog base.html should open over this page (see `render_dialog`): a namespace
    with `url` (a path of this app that answers GET) and `slot` (an element id); None when
    the request asks for none, or for anything that is not that (another site, a bad id)."""
    url, slot = request.args.get("dialog", ""), request.args.get("slot", "")
    if not url or not DIALOG_SLOT.match(slot) or len(url) > DIALOG_URL_LIMIT:
        return None
    parts = urlsplit(url)
    if parts.scheme or parts.netloc or not url.startswith("/") or url.startswith("//"):
        return None
    try:
        current_app.url_map.bind("localhost").match(parts.path, method="GET")
    except HTTPException:
        return None
    return SimpleNamespace(url=url.rstrip("?"), slot=slot)
