"""Authorizations: the Add/Edit dialog, removal, and the ledger page."""

from dataclasses import dataclass
from datetime import date

from flask import Blueprint, abort, flash, make_response, request, url_for
from flask_login import current_user

from webapp.access import (
    ALL_ROLES,
    BILLING_ROLES,
    get_authorization_or_404,
    get_client_or_404,
    organization_service_types,
    role_required,
)
from webapp.domain import charts
from webapp.domain.authorization_rules import SESSIONS, WindowUsage
from webapp.domain.decision_rules import APPROVED, DECISION_LABELS
from webapp.domain.units import describe_day, describe_line
from webapp.domain.windows import FREQUENCY_LABELS
from webapp.forms.authorizations import MAX_LINES, AuthorizationForm
from webapp.forms.fields import choices
from webapp.services import allocation, authorizations
from webapp.services.coverage import (
    LineSummary,
    load_coverage,
    organization_today,
    reasons_by_encounter,
)
from webapp.views.rendering import render_dialog, render_page

bp = Blueprint("authorizations", __name__)


@bp.app_template_filter("units_how")
def units_how(line, profile: str) -> str:
    """'33 min = 2 whole units of 15, 3 min left over' (webapp.domain.units.describe_line)."""
    return describe_line(line, profile)


@bp.app_template_filter("claim_how")
def claim_how(day) -> str:
    """'40 timed min (15-min units) = 3 units.' (webapp.domain.units.describe_day)."""
    return describe_day(day)


AUTHORIZATION_FIELDS = ("client_insurance_id", "number", "start_date", "end_date", "decision",
                        "urgency")  # fmt: skip


def _line_data(line) -> dict:
    return {
        "id": str(line.id),
        "service_type_ids": [s.id for s in line.service_types],
        "kind": line.kind,
        "allowed": str(line.allowed),
        "frequency": line.frequency or "",
        "start_date": line.start_date,
        "end_date": line.end_date,
        "decision": line.decision,
        "requested": "" if line.requested is None else str(line.requested),
    }


def _new_line(kind: str = SESSIONS) -> dict:
    return {"kind": kind, "decision": APPROVED, "frequency": "", "allowed": ""}


def _form(client, auth=None, *, lines: list[dict] | None = None) -> AuthorizationForm:
    """The dialog's form: posted, or an authorization's (or a new one's) values; `lines`
    replaces the lines (a line added or removed: the form is shown again, not saved)."""
    if lines is not None:
        posted = AuthorizationForm()
        data = {name: posted[name].data for name in AUTHORIZATION_FIELDS}
        form = AuthorizationForm(formdata=None, data={**data, "lines": lines})
    elif auth is not None and request.method == "GET":
        saved = {name: getattr(auth, name) for name in AUTHORIZATION_FIELDS}
        form = AuthorizationForm(data={**saved, "lines": [_line_data(x) for x in auth.lines]})
    else:
        form = AuthorizationForm(
            data=None if request.method == "POST" else {"lines": [_new_line()]}
        )
    form.client_insurance_id.choices = choices((i.id, i.label) for i in client.insurances)
    services = choices((s.id, s.label) for s in organization_service_types())
    for entry in form.lines.entries:
        entry.form.service_type_ids.choices = services
    return form


def _dialog(form, client, auth, status=200, moves=()):
    return render_dialog(
        "authorizations/_dialog.html",
        behind=url_for("clients.insurance", client_id=client.id),
        slot="dialog",
        http_status=status,
        form=form,
        client=client,
        auth=auth,
        moves=moves,
        max_lines=MAX_LINES,
    )


def _saved(client, message: str):
    flash(message, "success")
    response = make_response("", 200)
    response.headers["HX-Redirect"] = url_for("clients.insurance", client_id=client.id)
    return response


@bp.route("/clients/<int:client_id>/authorizations/new", methods=["GET", "POST"])
@role_required(*BILLING_ROLES)
def new(client_id: int):
    return _add_or_edit(get_client_or_404(client_id), None)


@bp.route("/authorizations/<int:auth_id>/edit", methods=["GET", "POST"])
@role_required(*BILLING_ROLES)
def edit(auth_id: int):
    auth = get_authorization_or_404(auth_id)
    return _add_or_edit(auth.client_insurance.client, auth)


def _line_index(text: str | None) -> int:
    """The line index a "Remove" button sent; MAX_LINES (no such line) when it is not one."""
    if text and text.isascii() and text.isdigit() and len(text) < 4:
        return int(text)
    return MAX_LINES


def _line_change(client, auth):
    """The form again with a line added ("Add line") or removed ("Remove" on line N), or
    None when the post is a save."""
    adding, removing = request.form.get("add_line"), request.form.get("remove_line")
    if adding is None and removing is None:
        return None
    posted = AuthorizationForm()
    lines = [{**entry.data, "id": entry.form.id.data or ""} for entry in posted.lines.entries]
    if adding is not None and len(lines) < MAX_LINES:
        lines.append(_new_line(lines[-1]["kind"] if lines else SESSIONS))
    elif _line_index(removing) < len(lines) > 1:
        lines.pop(_line_index(removing))
    return _form(client, auth, lines=lines)


def _add_or_edit(client, auth):
    """The dialog: shown, or saved and the page reloaded, or shown again with messages.

    "Add line" and a line's "Remove" show the dialog again with the lines changed
    (nothing is saved). A change that would move Kept visits off this authorization
    is shown again with those visits listed, and saved once "Move these kept
    appointments" is ticked.
    """
    changed = _line_change(client, auth) if request.method == "POST" else None
    if changed is not None:
        return _dialog(changed, client, auth)
    form = _form(client, auth)
    moves = []
    if form.validate_on_submit():
        exclude_id = auth.id if auth else None
        if authorizations.number_taken(form.client_insurance_id.data, form.number.data, exclude_id):
            form.number.errors.append("This insurance already has an authorization with this #.")
        else:
            org = current_user.organization
            values, lines = form.values(), form.line_values()
            moves = authorizations.kept_moves(org, client, auth, values, lines=lines)
            if not moves or form.confirm_moves.data:
                authorizations.save_authorization(
                    auth, client, values, actor=current_user, lines=lines
                )
                return _saved(client, "Authorization saved." if auth else "Authorization added.")
            return _dialog(form, client, auth, 409, moves)
    return _dialog(form, client, auth, 422 if form.errors else 200)


@bp.post("/authorizations/<int:auth_id>/delete")
@role_required(*BILLING_ROLES)
def delete(auth_id: int):
    auth = get_authorization_or_404(auth_id)
    client = auth.client_insurance.client
    authorizations.remove_authorization(auth, actor=current_user)
    return _saved(client, "Authorization removed. The audit log keeps a record of it.")


@dataclass(frozen=True)
class LineCharts:
    """What a ledger line's charts draw: the burn-down, the window bars and the windows shown."""

    burn_down: charts.BurnDown
    window_bars: charts.Bars | None
    shown_windows: list[WindowUsage]


def _line_charts(summary: LineSummary, today: date) -> LineCharts:
    """The charts of one authorization line, from that line's own ledger."""
    return LineCharts(
        burn_down=charts.burn_down(summary.ledger, status=summary.status, today=today),
        window_bars=charts.window_bars(summary.ledger, today),
        shown_windows=charts.shown_windows(summary.ledger, today),
    )


@bp.get("/authorizations/<int:auth_id>")
@role_required(*ALL_ROLES)
def ledger(auth_id: int):
    auth = get_authorization_or_404(auth_id)
    client = auth.client_insurance.client
    coverage = load_coverage(current_user.organization, [client.id])
    rollup = coverage.rollup_of(auth.id) or abort(404)
    days = {row.usage.day for line in rollup.lines for row in line.ledger.rows}
    units = allocation.units_explained(client.id, days)
    today = organization_today(current_user.organization)
    return render_page(
        "authorizations/ledger.html",
        "content",
        client=client,
        rollup=rollup,
        units=units,
        service_codes={s.id: s.cpt_code for s in organization_service_types()},
        reasons_by_line={s.line.id: reasons_by_encounter(coverage, s) for s in rollup.lines},
        frequency_labels=FREQUENCY_LABELS,
        decision_labels=DECISION_LABELS,
        today=today,
        charts_by_line={s.line.id: _line_charts(s, today) for s in rollup.lines},
    )
