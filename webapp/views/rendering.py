"""Whole page on a normal request, only the swapped block on an HTMX request; and how a
view answers a refusal (`answer_refused`)."""

from flask import make_response, render_template
from jinja2_fragments.flask import render_block

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
