"""Admin → Payments Settings: the pre-authorization config (Edit Config dialog)."""

from flask import Blueprint, flash, make_response, request, url_for
from flask_login import current_user

from webapp.access import role_required
from webapp.domain import preauth_rules
from webapp.domain.units import ROUNDING_PROFILE_LABELS
from webapp.forms.preauth import PaymentsSettingsForm
from webapp.models.organization import ADMIN
from webapp.services import payments_settings
from webapp.views.rendering import render_dialog, render_page

bp = Blueprint("payments_settings", __name__, url_prefix="/admin/payments")


@bp.get("")
@role_required(ADMIN)
def show():
    org = current_user.organization
    return render_page(
        "settings/payments.html",
        "content",
        org=org,
        warning=preauth_rules.hours_warning(org.preauth_hours_before),
        counts=payments_settings.counts(org),
        rounding_label=ROUNDING_PROFILE_LABELS[org.self_pay_rounding_profile],
    )


@bp.route("/edit", methods=["GET", "POST"])
@role_required(ADMIN)
def edit():
    """Edit Config: shown, or saved (the page reloads, warning included), or shown with messages."""
    org = current_user.organization
    form = PaymentsSettingsForm()
    if request.method == "GET":
        form.active.data = org.preauth_active
        form.hours_before.data = org.preauth_hours_before
        form.self_pay_rounding.data = org.self_pay_rounding_profile
    elif form.validate_on_submit():
        values = {
            "active": form.active.data,
            "hours_before": form.hours_before.data,
            "self_pay_rounding": form.self_pay_rounding.data,
        }
        changed = payments_settings.save(org, **values, actor=current_user)
        flash("Payments settings saved." if changed else "Nothing changed.", "success")
        response = make_response("", 200)
        response.headers["HX-Redirect"] = url_for("payments_settings.show")
        return response
    return render_dialog(
        "settings/_payments_dialog.html",
        behind=url_for("payments_settings.show"),
        slot="dialog",
        http_status=422 if form.errors else 200,
        form=form,
        warning=preauth_rules.hours_warning(form.hours_before.data),
    )


@bp.post("/check")
@role_required(ADMIN)
def check():
    """The hours field's live message (HTMX on input): an error, the >96 h warning, or nothing."""
    form = PaymentsSettingsForm()
    form.validate()
    return render_page(
        "settings/_payments_dialog.html",
        "hours_feedback",
        form=form,
        warning=preauth_rules.hours_warning(form.hours_before.data),
    )
