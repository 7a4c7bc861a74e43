"""Sign in and sign out (rules: webapp/services/sign_in.py and webapp/services/sessions.py)."""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from webapp.domain.session_rules import safe_next
from webapp.forms.auth import LoginForm
from webapp.services import sessions, sign_in

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    form = LoginForm()
    error, status = None, 200
    if form.validate_on_submit():
        result = sign_in.attempt(form.email.data, form.password.data, address=request.remote_addr)
        if result.user is not None:
            sessions.start(result.user, remember=form.remember.data)
            return redirect(safe_next(request.args.get("next")))
        error, status = result.message, result.status
    return render_template("auth/login.html", form=form, error=error), status


@bp.post("/logout")
def logout():
    sessions.sign_out()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))
