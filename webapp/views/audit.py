"""The audit trail (admin): who did what, when, to which record, before and after.
Read only: no route changes an audit row (rules: webapp/services/audit_trail.py)."""

from flask import Blueprint, Response, request, stream_with_context
from flask_login import current_user

from webapp.access import role_required
from webapp.domain import audit_rules
from webapp.domain.limits import MAX_SEARCH_LENGTH
from webapp.forms.urls import arg_date, arg_page, arg_row_id
from webapp.models.organization import ADMIN
from webapp.services import audit_trail
from webapp.views.rendering import render_page

bp = Blueprint("audit", __name__, url_prefix="/admin/audit")


def _filters(choices: dict) -> tuple[audit_trail.Filters, dict[str, str]]:
    """The filters of the query string, and a sentence per refused one (by its name)."""
    errors = {}
    people_ids = {person.id for person in choices["people"]}
    person = arg_row_id("person")
    if request.args.get("person") and person not in people_ids:
        errors["person"] = "Choose a person of the practice."
        person = None
    action = request.args.get("action", "")[:MAX_SEARCH_LENGTH] or None
    if action and action not in choices["actions"]:
        errors["action"] = "No event of the trail has this action."
        action = None
    record = request.args.get("record", "")[:MAX_SEARCH_LENGTH] or None
    if record and record not in choices["records"]:
        errors["record"] = "No event of the trail is about this kind of record."
        record = None
    record_id = arg_row_id("record_id")
    if request.args.get("record_id") and record_id is None:
        errors["record_id"] = "Enter a record number such as 12."
    start, start_error = arg_date("from")
    end, end_error = arg_date("to")
    if start_error:
        errors["from"] = start_error
    if end_error:
        errors["to"] = end_error
    range_error = audit_rules.range_refusal(start, end)
    if range_error:
        errors["to"], end = range_error, None
    filters = audit_trail.Filters(person, action, record, record_id, start, end)
    return filters, errors


@bp.get("")
@role_required(ADMIN)
def index():
    org = current_user.organization
    choices = audit_trail.choices(org)
    filters, errors = _filters(choices)
    result = audit_trail.page(org, filters, arg_page())
    return render_page(
        "audit/index.html",
        "audit_page",
        http_status=422 if errors else 200,
        result=result,
        filters=filters,
        errors=errors,
        choices=choices,
        changes=audit_rules.changes,
        action_label=audit_rules.action_label,
        entity_label=audit_rules.entity_label,
    )


@bp.get("/export.csv")
@role_required(ADMIN)
def export():
    """The filtered trail as CSV, every matching event (not one page), streamed."""
    org = current_user.organization
    filters, _errors = _filters(audit_trail.choices(org))  # refused filters are left out
    return Response(
        stream_with_context(audit_trail.csv_rows(org, filters)),
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="audit-trail.csv"'},
    )
