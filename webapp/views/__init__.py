"""Blueprints, error pages and the login manager wiring."""

from flask import (
    Flask,
    flash,
    has_request_context,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_wtf.csrf import CSRFError
from sqlalchemy import event
from sqlalchemy.orm import Session

from webapp.extensions import db, htmx, login_manager
from webapp.services import sessions
from webapp.services.errors import Refused
from webapp.views import (
    admin,
    audit,
    auth,
    authorizations,
    automations,
    billing,
    calendar,
    cards,
    clients,
    decision_import,
    encounters,
    imports,
    main,
    notifications,
    outbox,
    passwords,
    payments_settings,
    people,
    preauth,
    profile,
    reports,
    settings,
    two_factor,
    webhooks,
    worklists,
)
from webapp.views.rendering import dialog_to_open, refused_page


def init_app(app: Flask) -> None:
    app.jinja_env.globals["dialog_to_open"] = dialog_to_open  # base.html: a dialog's URL opened
    for module in (
        auth,
        passwords,  # one-time links to choose a password
        two_factor,  # the second sign-in step; enrollment, required by the practice
        main,
        clients,
        admin,
        settings,
        imports,
        authorizations,
        decision_import,  # payer decisions (Da Vinci PAS)
        encounters,
        calendar,  # the schedule's calendar: events, moves, Mark day as kept
        reports,  # the Authorizations Report
        profile,  # reminder preferences
        notifications,
        outbox,
        payments_settings,
        cards,
        preauth,
        webhooks,
        billing,
        automations,
        people,  # Admin › Users
        audit,  # the audit trail
        worklists,
    ):
        app.register_blueprint(module.bp)

    login_manager.login_view = "auth.login"
    # Off on purpose: sessions end by their version, idle time and lifetime instead
    # (see webapp/services/sessions.py for why "strong" fought "Keep me signed in").
    login_manager.session_protection = None
    login_manager.user_loader(sessions.user_for_token)
    login_manager.unauthorized_handler(_to_sign_in)

    @app.before_request
    def end_idle_sessions():
        if sessions.check_idle():  # it said why, in a flash
            return _to_sign_in(message=None)
        return None

    @app.errorhandler(CSRFError)
    def csrf_error(error):
        message = "Your form expired or was sent without its security token. Reload and try again."
        return render_template("errors/error.html", code=400, message=message), 400

    for code, message in (
        (400, "The request could not be understood."),
        (403, "Your role does not allow this page or action."),
        (404, "There is nothing here, or it belongs to another organization."),
        (405, "That action is not allowed here."),
        (413, "What you sent is too large (uploads: at most 5 MB). Nothing was saved."),
    ):
        app.register_error_handler(code, _error_page(code, message))
    app.register_error_handler(Refused, refused_page)
    app.register_error_handler(500, _server_error)
    _track_commits()


def _to_sign_in(message: str | None = "Please sign in to continue."):
    """Signed out (or never in): the sign-in page, then back to this page if it was a GET.

    An htmx request gets HX-Redirect, so the whole page goes to sign-in instead of a
    sign-in form swapped into a polled fragment.
    """
    next_path = request.full_path.rstrip("?") if request.method == "GET" and not htmx else None
    target = url_for("auth.login", next=next_path)
    if htmx:
        response = make_response("", 200)
        response.headers["HX-Redirect"] = target
        return response
    if message:
        flash(message, "info")
    return redirect(target)


def _error_page(code: int, message: str):
    def handler(_error):
        return render_template("errors/error.html", code=code, message=message), code

    return handler


def _server_error(_error):
    """A 500 whose message is true: what the request committed before failing decides it.

    A page that could not be shown says so and claims nothing about saving (the
    flash of an earlier, successful save may be showing above it); a change that
    failed before its commit says nothing was saved; one that failed after says
    it was saved.
    """
    db.session.rollback()
    if request.environ.get(sessions.COMMITTED):
        message = (
            "Your change was saved, but something went wrong on our side afterwards. "
            "Reload the page to see it."
        )
    elif request.method in ("GET", "HEAD"):
        message = (
            "Something went wrong on our side and this page could not be shown. "
            "Try again in a moment; if it keeps happening, tell your administrator."
        )
    else:
        message = "Something went wrong on our side. Nothing was saved; please try again."
    return render_template("errors/error.html", code=500, message=message), 500


_tracking_commits = False


def _track_commits() -> None:
    """Note in the WSGI environ when the request commits its session (see `_server_error`)."""
    global _tracking_commits
    if _tracking_commits:
        return
    _tracking_commits = True

    @event.listens_for(Session, "after_commit")
    def _committed(_session):
        if has_request_context():
            request.environ[sessions.COMMITTED] = True
