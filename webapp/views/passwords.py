"""The page a one-time password link opens (rules: webapp/services/password_links.py), and
"Forgot your password?" (rules: webapp/services/passwords.py)."""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, logout_user

from webapp.forms.passwords import SetPasswordForm
from webapp.forms.profile import ForgotPasswordForm
from webapp.models.base import utcnow
from webapp.services import password_links, passwords
from webapp.views.rendering import answer_refused

bp = Blueprint("passwords", __name__)


@bp.route("/password/<token>", methods=["GET", "POST"])
def set_password(token: str):
    """Choose a password; then sign in with it (which also asks any second factor)."""
    try:
        account = password_links.holder(token, now=utcnow())
    except password_links.LinkRefused as refused:
        return _refused(refused)
    form = SetPasswordForm(account=account)
    status = 200
    if form.validate_on_submit():
        try:
            password_links.set_password(token, form.password.data, now=utcnow())
        except password_links.LinkRefused as refused:
            return _refused(refused)
        except password_links.PasswordRejected as rejected:
            form.password.errors.append(rejected.message)
        else:
            if current_user.is_authenticated:
                logout_user()  # whoever was signed in here, the next sign-in is the account's
            flash("Your password is set. Sign in with it.", "success")
            return redirect(url_for("auth.login"))
    if form.errors:
        status = 422
    page = render_template("auth/set_password.html", form=form, account=account)
    return _private(page, status)


def _refused(refused: password_links.LinkRefused):
    message, status = answer_refused(refused)
    page = render_template("errors/error.html", code=status, message=message)
    return _private(page, status)


def _private(body: str, status: int):
    """The address holds a secret: no caching, and no Referer to wherever the page links."""
    return body, status, {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


SENT = (
    "If {email} has an account, a link to choose a new password is on its way. "
    "It works once, for an hour. No message? Check the address and your spam folder, "
    "or ask your practice's admin."
)


@bp.route("/forgot-password", methods=["GET", "POST"])
def forgot():
    """Ask for a reset link: the same answer, and the same work, for every address."""
    form = ForgotPasswordForm()
    sent_to = None
    if form.validate_on_submit():
        passwords.request_reset(form.email.data, client_address=request.remote_addr)
        sent_to = form.email.data.strip()
    status = 422 if form.errors else 200
    message = SENT.format(email=sent_to) if sent_to else None
    page = render_template("auth/forgot_password.html", form=form, message=message)
    return _private(page, status)
