"""The page a one-time password link opens (rules: webapp/services/password_links.py)."""

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user, logout_user

from webapp.forms.passwords import SetPasswordForm
from webapp.models.base import utcnow
from webapp.services import password_links
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
