"""Authorizations: the Add/Edit dialog, removal, and the ledger page."""

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
from webapp.domain.units import describe_day, describe_line
from webapp.domain.windows import FREQUENCY_LABELS
from webapp.forms.authorizations import AuthorizationForm
from webapp.forms.fields import choices
from webapp.services import allocation, authorizations
from webapp.services.coverage import load_coverage, organization_today, reasons_by_encounter
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


def _form(client, auth=None) -> AuthorizationForm:
    form = AuthorizationForm(obj=auth)
    form.client_insurance_id.choices = choices((i.id, i.label) for i in client.insurances)
    form.service_type_ids.choices = choices((s.id, s.label) for s in organization_service_types())
    if auth is not None and request.method == "GET":
        form.service_type_ids.data = [s.id for s in auth.service_types]
        form.allowed.data = str(auth.allowed)
        form.frequency.data = auth.frequency or ""
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


def _add_or_edit(client, auth):
    """The dialog: shown, or saved and the page reloaded, or shown again with messages.

    A change that would move Kept visits off this authorization is shown again
    with those visits listed, and saved once "Move these kept appointments" is ticked.
    """
    form = _form(client, auth)
    moves = []
    if form.validate_on_submit():
        exclude_id = auth.id if auth else None
        if authorizations.number_taken(form.client_insurance_id.data, form.number.data, exclude_id):
            form.number.errors.append("This insurance already has an authorization with this #.")
        else:
            org = current_user.organization
            values, services = form.values(), form.service_type_ids.data
            moves = authorizations.kept_moves(org, client, auth, values, services)
            if not moves or form.confirm_moves.data:
                authorizations.save_authorization(
                    auth, client, values, services, actor=current_user
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


@bp.get("/authorizations/<int:auth_id>")
@role_required(*ALL_ROLES)
def ledger(auth_id: int):
    auth = get_authorization_or_404(auth_id)
    client = auth.client_insurance.client
    coverage = load_coverage(current_user.organization, [client.id])
    summary = coverage.by_id().get(auth.id) or abort(404)
    days = {row.usage.day for row in summary.ledger.rows}
    units = allocation.units_explained(client.id, days)
    return render_page(
        "authorizations/ledger.html",
        "content",
        client=client,
        summary=summary,
        units=units,
        service_codes={s.id: s.cpt_code for s in organization_service_types()},
        reasons=reasons_by_encounter(coverage, summary),
        frequency_labels=FREQUENCY_LABELS,
        today=organization_today(current_user.organization),
    )
