"""Two-factor sign-in pages: the second step, My Profile › Two-factor, the admins' page.

Rules: webapp/services/two_factor.py, webapp/services/two_factor_sign_in.py and
webapp/domain/two_factor_rules.py. `require_enrollment` (before every request) sends
an admin or biller of a practice that requires two-factor to set it up first.
"""

from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user

from webapp.access import ALL_ROLES, get_user_or_404, role_required
from webapp.extensions import htmx
from webapp.forms.two_factor import (
    ConfirmForm,
    ProofForm,
    RequirementForm,
    ResetForm,
    SecondStepForm,
)
from webapp.models.base import utcnow
from webapp.models.organization import ADMIN
from webapp.services import sessions, two_factor, two_factor_sign_in
from webapp.services.two_factor import TwoFactorRefused
from webapp.views.rendering import answer_refused

bp = Blueprint("two_factor", __name__)

# What a person who must enroll may still reach: this page and its forms, and sign-out.
OPEN_WHILE_ENROLLING = frozenset(
    {"static", "auth.logout", "two_factor.settings", "two_factor.setup", "two_factor.confirm"}
)


@bp.before_app_request
def require_enrollment():
    if request.endpoint in OPEN_WHILE_ENROLLING or request.endpoint is None:
        return None
    if not current_user.is_authenticated or not two_factor.enrollment_required(current_user):
        return None
    if htmx and request.endpoint in sessions.POLLING_ENDPOINTS:
        return "", 204  # a page polling by itself (the bell): nothing, not a reload mid-set-up
    target = url_for("two_factor.settings")
    if htmx:
        response = make_response("", 200)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target)  # the page says why


@bp.route("/login/two-factor", methods=["GET", "POST"])
def second_step():
    user, problem = two_factor_sign_in.pending_user(utcnow())
    if user is None:
        flash(problem or "Sign in first.", "info")
        return redirect(url_for("auth.login"))
    form, error, status = SecondStepForm(), None, 200
    if form.validate_on_submit():
        error = two_factor_sign_in.throttle_refusal(user)
        status = 429 if error else 200
        if error is None:
            try:
                check = two_factor.check_code(user, form.code.data, utcnow())
            except TwoFactorRefused as refused:
                two_factor_sign_in.count_failure(user)
                form.code.errors = [answer_refused(refused)[0]]  # next to the field
            else:
                return _signed_in(user, check)
    status = 422 if form.errors and status == 200 else status
    return render_template("two_factor/second_step.html", form=form, error=error), status


def _signed_in(user, check):
    next_path = two_factor_sign_in.finish(user)
    if check.kind == "recovery":
        left = check.recovery_codes_left
        flash(f"You signed in with a recovery code; {left} of 10 are left. "
              "Make new ones on My Profile › Two-factor sign-in.", "warning")  # fmt: skip
    return redirect(next_path)


@bp.post("/login/two-factor/cancel")
def cancel():
    two_factor_sign_in.forget()
    return redirect(url_for("auth.login"))


@bp.get("/profile/two-factor")
@role_required(*ALL_ROLES)
def settings():
    return _settings_page()


def _settings_page(status: int = 200, **forms):
    user = current_user._get_current_object()
    return render_template(
        "two_factor/settings.html",
        enabled_since=two_factor.enabled_since(user),
        enrollment=two_factor.pending_enrollment(user),
        codes_left=two_factor.recovery_codes_left(user),
        required=two_factor.enrollment_required(user),
        role_requires=two_factor.role_requires(user),
        confirm_form=forms.get("confirm_form") or ConfirmForm(formdata=None),
        regenerate_form=forms.get("regenerate_form") or ProofForm(formdata=None, prefix="new"),
        disable_form=forms.get("disable_form") or ProofForm(formdata=None, prefix="off"),
    ), status


@bp.post("/profile/two-factor/setup")
@role_required(*ALL_ROLES)
def setup():
    try:
        two_factor.begin_enrollment(current_user._get_current_object())
    except TwoFactorRefused as refused:
        flash(refused.message, "info")
    return redirect(url_for("two_factor.settings"))


@bp.post("/profile/two-factor/confirm")
@role_required(*ALL_ROLES)
def confirm():
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            codes = two_factor.confirm_enrollment(
                current_user._get_current_object(), form.code.data, utcnow()
            )
        except TwoFactorRefused as refused:
            form.code.errors = [refused.message]
        else:
            return _codes_page(codes, "Two-factor sign-in is on")
    return _settings_page(422, confirm_form=form)


def _codes_page(codes: list[str], heading: str):
    response = make_response(
        render_template("two_factor/recovery_codes.html", codes=codes, heading=heading)
    )
    response.headers["Cache-Control"] = "no-store"  # shown once: not kept by the browser
    return response


@bp.post("/profile/two-factor/recovery-codes")
@role_required(*ALL_ROLES)
def regenerate():
    form = ProofForm(prefix="new")
    if form.validate_on_submit():
        try:
            codes = two_factor.regenerate_recovery_codes(
                current_user._get_current_object(), form.proof.data, utcnow()
            )
        except TwoFactorRefused as refused:
            form.proof.errors = [refused.message]
        else:
            return _codes_page(codes, "New recovery codes")
    return _settings_page(422, regenerate_form=form)


@bp.post("/profile/two-factor/disable")
@role_required(*ALL_ROLES)
def disable():
    form = ProofForm(prefix="off")
    if form.validate_on_submit():
        try:
            two_factor.disable(current_user._get_current_object(), form.proof.data, utcnow())
        except TwoFactorRefused as refused:
            form.proof.errors = [refused.message]
        else:
            flash("Two-factor sign-in is off.", "success")
            return redirect(url_for("two_factor.settings"))
    return _settings_page(422, disable_form=form)


@bp.get("/admin/two-factor")
@role_required(ADMIN)
def admin():
    return _admin_page()


def _admin_page(status: int = 200):
    org = current_user.organization
    return render_template(
        "two_factor/admin.html",
        org=org,
        people=[
            (person, enabled_at, required, ResetForm(formdata=None, prefix=f"reset-{person.id}"))
            for person, enabled_at, required in two_factor.people(org)
        ],
        requirement_form=RequirementForm(formdata=None, data={"required": org.require_two_factor}),
    ), status


@bp.post("/admin/two-factor/requirement")
@role_required(ADMIN)
def requirement():
    form = RequirementForm()
    if form.validate_on_submit():
        required = bool(form.required.data)
        two_factor.set_requirement(current_user.organization, required, actor=current_user)
        flash("Two-factor sign-in is now required for admins and billers." if required
              else "Two-factor sign-in is no longer required.", "success")  # fmt: skip
    return redirect(url_for("two_factor.admin"))


@bp.post("/admin/two-factor/<int:user_id>/reset")
@role_required(ADMIN)
def reset(user_id: int):
    target = get_user_or_404(user_id)
    form = ResetForm(prefix=f"reset-{user_id}")
    if not form.validate_on_submit():
        flash("Keep the reason under 300 characters.", "danger")
        return redirect(url_for("two_factor.admin"))
    try:
        two_factor.reset_two_factor(target, actor=current_user._get_current_object(),
                                    reason=form.reason.data or None)  # fmt: skip
    except TwoFactorRefused as refused:
        flash(answer_refused(refused)[0], "danger")
    else:
        flash(f"Two-factor sign-in of {target.name} is reset. They sign in with their "
              "password next.", "success")  # fmt: skip
    return redirect(url_for("two_factor.admin"))
