"""Browser tests: the real app served over HTTP, driven by Debian's chromium through Playwright.

These tests never use the `app`/`client` fixtures of tests/conftest.py (parametrized
over SQLite and PostgreSQL); they run against one live server on a SQLite file, with
CSRF protection on, as a user's browser sees it.

Playwright's sync API marks the main thread as running an asyncio event loop for as
long as Playwright is started (asyncio.run() raises "cannot be called from a running
event loop"). So the browser lives in a *package*-scoped fixture: one chromium for all
browser tests, stopped before pytest moves on to the other test folders.
"""

import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from flask import Flask, got_request_exception
from redis import Redis
from werkzeug.serving import BaseWSGIServer, make_server

from tests import factories
from tests.servers import wait_until, worker_handles_signals
from webapp import PROJECT_ROOT, create_app
from webapp.extensions import db

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 900}
SCREENSHOTS = PROJECT_ROOT / "screenshots"


@dataclass
class LiveServer:
    """The app on http://127.0.0.1:<port>, served by werkzeug from a background thread."""

    app: Flask
    server: BaseWSGIServer
    errors: list[BaseException] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    @contextmanager
    def seed(self) -> Iterator:
        """Add rows in the live app's context; commits on leaving the block.

        Rows stay readable afterwards (column values; not lazy relationships).
        """
        with self.app.app_context():
            session = db.session()
            session.expire_on_commit = False
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def reset(self) -> None:
        """Empty every table and Redis, so each test starts from nothing."""
        from webapp.services.queue import redis_connection

        with self.app.app_context():
            for table in reversed(db.metadata.sorted_tables):
                db.session.execute(table.delete())
            db.session.commit()
            redis_connection().flushdb()
        self.errors.clear()

    def _record_error(self, _sender, exception, **_extra) -> None:
        self.errors.append(exception)


@pytest.fixture(scope="module")
def _live_server_process(
    tmp_path_factory, redis_server, localstripe_server
) -> Iterator[LiveServer]:
    database = tmp_path_factory.mktemp("live") / "live.sqlite3"
    app = create_app(
        {
            "TESTING": True,
            "WTF_CSRF_ENABLED": True,
            "REDIS_URL": redis_server.url,
            # Payments through the session's localstripe; the page loads its test Stripe.js.
            "STRIPE_API_BASE": localstripe_server.url,
            "STRIPE_JS_URL": localstripe_server.js_url,
            "STRIPE_API_KEY": "sk_test_covered",
            "STRIPE_PUBLISHABLE_KEY": "pk_test_covered",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}",
        }
    )
    with app.app_context():
        db.create_all()

    # werkzeug attaches a stderr handler to its logger on first use unless one exists;
    # under pytest that would bind to a capture stream. A NullHandler keeps the request
    # log flowing to the root logger, where pytest shows it with a failing test.
    werkzeug_logger = logging.getLogger("werkzeug")
    quiet = logging.NullHandler()
    werkzeug_logger.addHandler(quiet)

    # Port 0: the OS picks a free port at bind time, so there is no race for it.
    server = make_server("127.0.0.1", 0, app, threaded=True)
    live = LiveServer(app=app, server=server)
    got_request_exception.connect(live._record_error, app)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield live
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()
        got_request_exception.disconnect(live._record_error, app)
        werkzeug_logger.removeHandler(quiet)
        with app.app_context():
            db.engine.dispose()
        redis = app.extensions.get("covered_redis")
        if redis is not None:
            redis.close()


@pytest.fixture
def live_server(_live_server_process) -> Iterator[LiveServer]:
    """The live app (one per test module), emptied before each test.

    Fails the test in teardown if any request raised inside the app.
    """
    _live_server_process.reset()
    yield _live_server_process
    errors = list(_live_server_process.errors)
    assert not errors, f"the live server raised during the test: {errors!r}"


@dataclass
class LiveWorld:
    """One practice with its three standing users, committed in the live server's database."""

    org: object
    admin: object
    biller: object
    clinician: object

    def user(self, role: str):
        return getattr(self, role)


@pytest.fixture
def live_world(live_server) -> LiveWorld:
    with live_server.seed():
        org = factories.organization(name="Harbor Therapy")
        return LiveWorld(
            org=org,
            admin=factories.user(org, "admin"),
            biller=factories.user(org, "biller"),
            clinician=factories.user(org, "clinician"),
        )


@pytest.fixture(scope="package")
def browser():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing; `make test` installs it (make system-deps)")
        pytest.skip(f"{CHROMIUM} not installed (run `make system-deps`)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=VIEWPORT)
    try:
        yield context.new_page()
    finally:
        context.close()


def sign_in(page, live_server: LiveServer, user, password: str = factories.PASSWORD) -> None:
    """Sign in through the real login form; waits for the page the form leads to."""
    page.goto(f"{live_server.url}/login")
    page.get_by_label("Email", exact=True).fill(user.email)
    page.get_by_label("Password", exact=True).fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()


def screenshot(page, name: str) -> Path:
    """A full-page PNG at screenshots/<name>.png (git-ignored), for people to look at."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture
def start_worker(live_server):
    """Start `python -m jobs.worker` against the live server's database, Redis and localstripe."""
    processes = []

    def start() -> subprocess.Popen:
        config = live_server.app.config
        env = {
            **os.environ,
            "DATABASE_URL": config["SQLALCHEMY_DATABASE_URI"],
            "REDIS_URL": config["REDIS_URL"],
            "STRIPE_API_BASE": config["STRIPE_API_BASE"],
            "STRIPE_JS_URL": config["STRIPE_JS_URL"],
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "jobs.worker"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its scheduler (a forked child) is stopped with it
        )
        processes.append(process)
        connection = Redis.from_url(config["REDIS_URL"])
        wait_until(lambda: worker_handles_signals(connection, process.pid), 30, "the RQ worker")
        return process

    yield start
    for process in processes:
        os.killpg(process.pid, signal.SIGTERM)
        assert process.wait(15) == 0, "the worker did not shut down cleanly"
