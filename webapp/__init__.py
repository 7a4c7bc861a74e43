"""Covered: insurance authorizations and card pre-authorizations for practices."""

import os
from pathlib import Path

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

from webapp.config import load_settings
from webapp.extensions import csrf, db, htmx, limiter, login_manager, migrate
from webapp.forms.urls import RowIdConverter

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def create_app(overrides: dict | None = None) -> Flask:
    """Build the app; `overrides` is a plain dict of config values (tests use it)."""
    instance_path = Path(os.environ.get("COVERED_INSTANCE_PATH", PROJECT_ROOT / "instance"))
    app = Flask(
        __name__,
        instance_path=str(instance_path),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    instance_path.mkdir(parents=True, exist_ok=True)
    app.config.from_mapping(load_settings(instance_path))
    if not app.config["REDIS_URL"]:
        app.config["REDIS_URL"] = f"unix://{instance_path / 'redis.sock'}"
    app.config.setdefault("OUTBOX_PATH", str(instance_path / "outbox"))
    if overrides:
        app.config.update(overrides)
    app.config.setdefault("RATELIMIT_STORAGE_URI", limiter_storage_uri(app.config["REDIS_URL"]))
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", False)
    # Ids in paths: 1 … 2^31-1, else 404 (webapp/forms/urls.py); before any route exists.
    app.url_map.converters["int"] = RowIdConverter

    db.init_app(app)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"))
    login_manager.init_app(app)
    csrf.init_app(app)
    htmx.init_app(app)
    limiter.init_app(app)
    _tune_sqlite()

    # reason: the blueprints, the CLI and the payment gateway pull in every service; an
    # import of webapp.domain or webapp.models alone (migrations, domain tests) stays light.
    from webapp import cli, payments, security, templating, views

    security.init_app(app)
    templating.init_app(app)
    views.init_app(app)
    cli.init_app(app)
    payments.init_app(app)
    return app


def limiter_storage_uri(redis_url: str) -> str:
    """REDIS_URL in the form Flask-Limiter's storage reads (unix:// → redis+unix://)."""
    if redis_url.startswith("unix://"):
        return "redis+unix://" + redis_url[len("unix://") :]
    return redis_url


_sqlite_tuned = False


def _tune_sqlite() -> None:
    """WAL and a busy timeout: the web process and the worker write the same file."""
    global _sqlite_tuned
    if _sqlite_tuned:
        return
    _sqlite_tuned = True

    @event.listens_for(Engine, "connect")
    def _on_connect(dbapi_connection, _record):
        if type(dbapi_connection).__module__.startswith("sqlite3"):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=15000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()
