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
        clients,
        encounters,
        imports,
        main,
        settings,
    )

    for module in (auth, main, clients, admin, authorizations, encounters, settings, imports):
        app.register_blueprint(module.bp)

    from webapp.views import reports  # the Authorizations Report

    app.register_blueprint(reports.bp)

    from webapp.views import notifications, outbox, profile  # reminders and notifications

    for module in (profile, notifications, outbox):
        app.register_blueprint(module.bp)

    from webapp.views import payments_settings, preauth, webhooks  # pre-authorizations

    for module in (payments_settings, preauth, webhooks):
        app.register_blueprint(module.bp)

    from webapp.views import cards  # cards on file

    app.register_blueprint(cards.bp)

    from webapp.views import automations, billing  # charges, invoices, automations

    for module in (billing, automations):
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
