"""Blueprints, error pages and the login manager wiring."""

from flask import Flask, render_template
from flask_wtf.csrf import CSRFError

from webapp.extensions import db, login_manager
from webapp.models import User


def init_app(app: Flask) -> None:
    from webapp.views import (
        admin,
        auth,
        authorizations,
        automations,
        billing,
        cards,
        clients,
        encounters,
        imports,
        main,
        notifications,
        outbox,
        passwords,
        payments_settings,
        preauth,
        profile,
        reports,
        settings,
        webhooks,
    )

    for module in (
        auth,
        passwords,  # one-time links to choose a password
        main,
        clients,
        admin,
        settings,
        imports,
        authorizations,
        encounters,
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
    ):
        app.register_blueprint(module.bp)

    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def load_user(user_id: str) -> User | None:
        return db.session.get(User, int(user_id))

    @app.errorhandler(CSRFError)
    def csrf_error(error):
        message = "Your form expired or was sent without its security token. Reload and try again."
        return render_template("errors/error.html", code=400, message=message), 400

    for code, message in (
        (400, "The request could not be understood."),
        (403, "Your role does not allow this page or action."),
        (404, "There is nothing here, or it belongs to another organization."),
        (405, "That action is not allowed here."),
        (500, "Something went wrong on our side. Nothing was saved; please try again."),
    ):
        app.register_error_handler(code, _error_page(code, message))


def _error_page(code: int, message: str):
    def handler(_error):
        if code == 500:
            db.session.rollback()
        return render_template("errors/error.html", code=code, message=message), code

    return handler
