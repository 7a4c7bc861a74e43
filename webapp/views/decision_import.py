"""Billers and admins: import a payer's prior-authorization decision (Da Vinci PAS JSON).

Upload → per-item preview → apply on confirmation (`webapp.services.decision_import`).
The kept file is health information: only billers and admins of its organization may
see it or download it.
"""

from flask import Blueprint, flash, make_response, redirect, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired

from webapp.access import BILLING_ROLES, get_decision_file_or_404, role_required
from webapp.services import decision_import
from webapp.services.decision_import import DecisionImportRefused
from webapp.views.rendering import answer_refused, render_page

bp = Blueprint("decisions", __name__, url_prefix="/authorizations/decisions")


class DecisionUploadForm(FlaskForm):
    file = FileField(
        "Decision file (JSON)",
        validators=[FileRequired(message="Choose the payer's decision file to upload.")],
        render_kw={"accept": ".json,application/json,application/fhir+json"},
    )


class ApplyForm(FlaskForm):
    """Only the CSRF token: applying is a confirmed POST."""


def _upload_page(form, http_status=200):
    return render_page(
        "decisions/upload.html",
        "content",
        http_status=http_status,
        form=form,
        files=decision_import.recent_files(current_user.organization),
    )


@bp.route("", methods=["GET", "POST"])
@role_required(*BILLING_ROLES)
def upload():
    form = DecisionUploadForm()
    if request.method == "GET":
        return _upload_page(form)
    if form.validate_on_submit():
        storage = form.file.data
        raw = storage.read(decision_import.MAX_FILE_BYTES + 1)
        try:
            row = decision_import.upload(
                current_user.organization, current_user, storage.filename or "", raw
            )
        except DecisionImportRefused as refused:
            form.file.errors.append(answer_refused(refused)[0])
        else:
            return redirect(url_for("decisions.show", file_id=row.id))
    return _upload_page(form, http_status=422)


@bp.get("/<int:file_id>")
@role_required(*BILLING_ROLES)
def show(file_id: int):
    row = get_decision_file_or_404(file_id)
    try:
        plan = decision_import.preview(current_user.organization, row)
    except DecisionImportRefused as refused:
        message, status = answer_refused(refused)
        return render_page("decisions/show.html", "content", http_status=status, row=row,
                           plan=None, problem=message, form=ApplyForm())  # fmt: skip
    by_client = decision_import.lines_by_client(plan)
    return render_page("decisions/show.html", "content", row=row, plan=plan, problem=None,
                       form=ApplyForm(), by_client=by_client)  # fmt: skip


@bp.post("/<int:file_id>/apply")
@role_required(*BILLING_ROLES)
def apply(file_id: int):
    row = get_decision_file_or_404(file_id)
    form = ApplyForm()
    if not form.validate_on_submit():
        return redirect(url_for("decisions.show", file_id=row.id))
    try:
        plan = decision_import.apply(current_user.organization, row, actor=current_user)
    except DecisionImportRefused as refused:
        flash(answer_refused(refused)[0], "danger")
        return redirect(url_for("decisions.show", file_id=row.id))
    changed = len(plan.changes)
    flash(
        f"Decision applied: {changed} line{'' if changed == 1 else 's'} created or changed."
        if changed
        else "Nothing to change: these decisions were already applied.",
        "success",
    )
    clients = sorted({i.insurance.client_id for i in plan.items})
    if len(clients) == 1:
        return redirect(url_for("clients.insurance", client_id=clients[0]))
    return redirect(url_for("decisions.show", file_id=row.id))


@bp.get("/<int:file_id>/file")
@role_required(*BILLING_ROLES)
def source(file_id: int):
    """The file as the payer sent it (download; never rendered as a page)."""
    row = get_decision_file_or_404(file_id)
    response = make_response(row.content)
    response.headers["Content-Type"] = "application/octet-stream"
    response.headers["Content-Disposition"] = f'attachment; filename="decision-{row.id}.json"'
    response.headers["Cache-Control"] = "no-store"
    return response
