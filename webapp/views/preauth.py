"""The pre-authorization notification of an encounter, and its Reschedule / Cancel / Retry.

Everyone who may open the encounter sees the notification (and it polls while a
hold is being placed); billers and admins act on it. Each action answers with the
notification as it now is; a refused action answers 409 with the reason in it.
"""

from flask import Blueprint, request, url_for
from flask_login import current_user

from webapp.access import ALL_ROLES, BILLING_ROLES, get_encounter_or_404, role_required
from webapp.domain import preauth_rules
from webapp.forms.preauth import RescheduleForm
from webapp.models.base import utcnow
from webapp.services import hold_renewal, preauth, preauth_notice
from webapp.views.rendering import answer_refused, opened_directly, render_dialog, render_page

bp = Blueprint("preauth", __name__, url_prefix="/encounters/<int:encounter_id>/preauth")


def _notice(encounter, *, status=200, message=None, saved=None, block="preauth", **extra):
    notice = extra.pop("notice", None) or preauth_notice.notice(
        encounter, current_user.organization, utcnow()
    )
    return render_page(
        "encounters/_preauth.html",
        block,
        http_status=status,
        encounter=encounter,
        notice=notice,
        message=message,
        saved=saved,
        **extra,
    )


@bp.get("")
@role_required(*ALL_ROLES)
def show(encounter_id: int):
    """The notification alone: what the page polls while a hold is due or being placed.

    Once nothing is under way any more, the response also fires `preauth-settled`
    on the page, for other parts of it (the Billing panel) to refresh themselves.
    """
    encounter = get_encounter_or_404(encounter_id)
    if whole_page := opened_directly(url_for("encounters.show", encounter_id=encounter.id)):
        return whole_page
    notice = preauth_notice.notice(encounter, current_user.organization, utcnow())
    response = _notice(encounter, notice=notice)
    if not notice.polls:
        response.headers["HX-Trigger"] = "preauth-settled"
    return response


@bp.post("/cancel")
@role_required(*BILLING_ROLES)
def cancel(encounter_id: int):
    encounter = get_encounter_or_404(encounter_id)
    try:
        preauth.cancel(encounter, actor=current_user)
    except preauth.ActionRefused as refused:
        message, status = answer_refused(refused)
        return _notice(encounter, status=status, message=message)
    return _notice(encounter, saved="Pre-authorization cancelled.")


@bp.post("/retry")
@role_required(*BILLING_ROLES)
def retry(encounter_id: int):
    encounter = get_encounter_or_404(encounter_id)
    try:
        found = preauth.retry(encounter, actor=current_user)
    except preauth.ActionRefused as refused:
        message, status = answer_refused(refused)
        return _notice(encounter, status=status, message=message)
    return _notice(encounter, saved=found.message if found.adopted else "Retrying now.")


@bp.route("/renew", methods=["GET", "POST"])
@role_required(*BILLING_ROLES)
def renew(encounter_id: int):
    """Renew now (a placed hold whose renewal failed, once the card is fixed): the
    dialog says what happens; POST places the new hold, then releases the old one."""
    encounter = get_encounter_or_404(encounter_id)
    row = preauth.for_encounter(encounter.id)
    refusal, status = hold_renewal.renew_refusal(row), 200
    if request.method == "POST" and refusal is None:
        try:
            outcome = hold_renewal.renew_now(encounter, actor=current_user)
        except preauth.ActionRefused as refused:
            refusal, status = answer_refused(refused)
        else:
            saved = hold_renewal.OUTCOME_MESSAGES[outcome]
            return _notice(encounter, saved=saved, block="preauth", oob=True)
    return render_dialog(
        "encounters/_renew_dialog.html",
        **_behind(encounter),
        http_status=status,
        encounter=encounter,
        row=row,
        refusal=refusal,
        card=None if refusal else hold_renewal.card_for_renewal(row),
    )


def _behind(encounter) -> dict:
    """The hold dialogs open over the encounter's page, in the notice's slot."""
    return {
        "behind": url_for("encounters.show", encounter_id=encounter.id),
        "slot": "preauth-dialog-slot",
    }


def _dialog(encounter, form, *, status=200, run_at=None, error=None, block="dialog"):
    context = {
        "encounter": encounter,
        "form": form,
        "row": preauth.for_encounter(encounter.id),
        "run_at": run_at,
        "error": error,
        "now": utcnow(),
        "warning": preauth_rules.hours_warning(form.hours_before.data),
    }
    template = "encounters/_preauth_dialog.html"
    if block == "dialog":
        return render_dialog(template, **_behind(encounter), http_status=status, **context)
    return render_page(template, block, http_status=status, **context)


@bp.route("/reschedule", methods=["GET", "POST"])
@role_required(*BILLING_ROLES)
def reschedule(encounter_id: int):
    """The Reschedule dialog (new hours, the new time shown before saving), and saving it."""
    encounter = get_encounter_or_404(encounter_id)
    form = RescheduleForm()
    if not form.is_submitted():
        row = preauth.for_encounter(encounter.id)
        org = current_user.organization
        form.hours_before.data = row.hours_before if row else org.preauth_hours_before
        run_at, _ = preauth.preview_run_at(encounter, str(form.hours_before.data))
        return _dialog(encounter, form, run_at=run_at)
    if not form.validate():
        return _dialog(encounter, form, status=422)
    run_at, _ = preauth.preview_run_at(encounter, str(form.hours_before.data))
    try:
        preauth.reschedule(encounter, str(form.hours_before.data), actor=current_user)
    except preauth.ActionRefused as refused:
        error, status = answer_refused(refused)
        return _dialog(encounter, form, status=status, error=error, run_at=run_at)
    # The dialog's slot is emptied (it closes) and the notification swapped out of band.
    return _notice(encounter, saved="Pre-authorization rescheduled.", block="preauth", oob=True)


@bp.post("/preview")
@role_required(*BILLING_ROLES)
def preview(encounter_id: int):
    """The dialog's live line: "The hold will run on <local time>", or the field's error."""
    encounter = get_encounter_or_404(encounter_id)
    form = RescheduleForm()
    form.validate()
    run_at = None
    if not form.hours_before.errors:
        run_at, _ = preauth.preview_run_at(encounter, str(form.hours_before.data))
    return _dialog(encounter, form, run_at=run_at, block="preview")
