"""The practice's Holds and Invoices lists (billers and admins): filters, totals, CSV.

Filters come from the query string through `webapp.forms.urls` (dates and ids checked
against the limits); a value that cannot be used is named next to its field and left
out of the filter (422), never a 5xx.
"""

from flask import Blueprint, Response, request
from flask_login import current_user

from webapp.access import BILLING_ROLES, role_required
from webapp.domain.ledger import INVOICE_STATUS_LABELS
from webapp.domain.preauth_rules import STATE_LABELS
from webapp.forms.urls import arg_date, arg_page, arg_row_id
from webapp.services import billing_lists
from webapp.views.rendering import render_page

bp = Blueprint("worklists", __name__)


def _filter(states: tuple[str, ...], clients) -> tuple[billing_lists.ListFilter, dict[str, str]]:
    """The list's filter from the URL and a message per field that could not be used."""
    errors: dict[str, str] = {}
    start, problem = arg_date("from")
    if problem:
        errors["from"] = problem
    end, problem = arg_date("to")
    if problem:
        errors["to"] = problem
    if start and end and end < start:
        errors["to"] = "The end date is before the start date."
        end = None
    state = request.args.get("state", "")
    if state and state not in states:
        errors["state"] = "Choose a state from the list."
    client_id = arg_row_id("client")
    if request.args.get("client") and client_id not in {c.id for c in clients}:
        errors["client"] = "Choose a client from the list."
        client_id = None
    chosen = billing_lists.ListFilter(
        state=state if state in states else None,
        start=start,
        end=end,
        client_id=client_id,
        page=arg_page(),
    )
    return chosen, errors


def _csv(text: str, name: str) -> Response:
    return Response(
        text,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _list_page(template: str, states: tuple, labels: dict, page_of):
    """A practice-wide list (Holds, Invoices): the filters read from the URL, one page of
    rows from `page_of(org, chosen)`, 422 with the messages when a filter is bad."""
    org = current_user.organization
    clients = billing_lists.organization_clients(org)
    chosen, errors = _filter(states, clients)
    return render_page(
        template,
        "content",
        http_status=422 if errors else 200,
        found=page_of(org, chosen),
        chosen=chosen,
        errors=errors,
        clients=clients,
        states=labels,
        args={k: v for k, v in request.args.items() if k != "page"},
    )


@bp.get("/invoices")
@role_required(*BILLING_ROLES)
def invoices():
    return _list_page(
        "worklists/invoices.html",
        billing_lists.INVOICE_STATES,
        INVOICE_STATUS_LABELS,
        billing_lists.invoice_page,
    )


@bp.get("/invoices.csv")
@role_required(*BILLING_ROLES)
def invoices_csv():
    org = current_user.organization
    chosen, _errors = _filter(billing_lists.INVOICE_STATES, billing_lists.organization_clients(org))
    return _csv(billing_lists.invoices_csv(org, chosen), "invoices.csv")


@bp.get("/holds")
@role_required(*BILLING_ROLES)
def holds():
    return _list_page(
        "worklists/holds.html", billing_lists.HOLD_STATES, STATE_LABELS, billing_lists.hold_page
    )


@bp.get("/holds.csv")
@role_required(*BILLING_ROLES)
def holds_csv():
    org = current_user.organization
    chosen, _errors = _filter(billing_lists.HOLD_STATES, billing_lists.organization_clients(org))
    return _csv(billing_lists.holds_csv(org, chosen), "holds.csv")
