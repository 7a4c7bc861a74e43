"""Fixtures: real SQLite and PostgreSQL databases, the embedded Redis, standing users.

Every test that takes `app` runs twice, on SQLite and on PostgreSQL. With CI=true
a missing PostgreSQL fails the run; elsewhere those variants skip with a reason.
"""

import os
import tempfile
from dataclasses import dataclass

import pytest
from sqlalchemy import text

os.environ.setdefault("COVERED_INSTANCE_PATH", tempfile.mkdtemp(prefix="covered-instance-"))
os.environ.setdefault("COVERED_ENV", "test")  # development defaults, never the demo

from tests import factories  # noqa: E402
from tests.gateways import StrictGateway  # noqa: E402
from tests.servers import (  # noqa: E402
    IN_CI,
    LocalstripeServer,
    PostgresServer,
    RedisServer,
    SmtpServer,
    find_pg_bin,
)
from webapp import create_app  # noqa: E402
from webapp.extensions import db  # noqa: E402

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def redis_server():
    server = RedisServer()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_server():
    bin_dir = find_pg_bin()
    if bin_dir is None:
        if IN_CI:
            pytest.fail("PostgreSQL server binaries are missing; `make test` installs them")
        pytest.skip("PostgreSQL server binaries not installed (run `make system-deps`)")
    server = PostgresServer(bin_dir)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_url(postgres_server):
    """One database for the session; tables are emptied after each test."""
    url = postgres_server.create_database("covered_test")
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        db.create_all()
        db.engine.dispose()
    return url


def _base_config(redis_server) -> dict:
    return {
        "TESTING": True,
        "WTF_CSRF_ENABLED": False,
        "REDIS_URL": redis_server.url,
        "SERVER_NAME": "covered.test",
        # In memory, never the network; `app_stripe_gateway` swaps in localstripe.
        "PAYMENT_GATEWAY": StrictGateway(),
    }


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.sqlite3'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def app(database_url, redis_server, tmp_path):
    app = create_app(
        {
            **_base_config(redis_server),
            "SQLALCHEMY_DATABASE_URI": database_url,
            "OUTBOX_PATH": str(tmp_path / "outbox"),  # each test its own outbox
        }
    )
    with app.app_context():
        if database_url.startswith("sqlite"):
            db.create_all()
        from webapp.services.queue import redis_connection

        redis_connection().flushdb()
        yield app
        db.session.remove()
        if not database_url.startswith("sqlite"):
            tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
            with db.engine.begin() as conn:
                conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@dataclass
class World:
    """One practice with its three standing users, plus an outsider practice."""

    org: object
    admin: object
    biller: object
    clinician: object
    outsider_org: object
    outsider: object

    def user(self, role: str):
        return getattr(self, role)


@pytest.fixture
def world(app) -> World:
    org = factories.organization(name="Harbor Therapy")
    outsider_org = factories.organization(name="Elsewhere Clinic")
    built = World(
        org=org,
        admin=factories.user(org, "admin"),
        biller=factories.user(org, "biller"),
        clinician=factories.user(org, "clinician"),
        outsider_org=outsider_org,
        outsider=factories.user(outsider_org, "admin"),
    )
    db.session.commit()
    return built


class Auth:
    def __init__(self, client):
        self.client = client

    def login(self, user, password: str = factories.PASSWORD):
        response = self.client.post("/login", data={"email": user.email, "password": password})
        assert response.status_code == 302, "sign-in failed"
        return response

    def logout(self):
        return self.client.post("/logout")


@pytest.fixture
def auth(client) -> Auth:
    return Auth(client)


@pytest.fixture(scope="session")
def localstripe_server():
    server = LocalstripeServer()
    yield server
    server.stop()


@pytest.fixture
def stripe_gateway(localstripe_server):
    """A StripeGateway talking to the session's localstripe, emptied first (no retries)."""
    from webapp.payments.stripe_gateway import StripeGateway

    localstripe_server.flush()

    return StripeGateway(
        api_key="sk_test_covered",
        api_base=localstripe_server.url,
        publishable_key="pk_test_covered",
        js_url=localstripe_server.js_url,
        max_network_retries=0,
    )


@pytest.fixture
def strict_gateway(app) -> StrictGateway:
    """The app's gateway in tests: the strict in-memory one (see tests/gateways.py)."""
    return app.extensions["payment_gateway"]


@pytest.fixture
def app_stripe_gateway(app, stripe_gateway):
    """Make the app (and jobs run in this test) talk to localstripe instead."""
    app.extensions["payment_gateway"] = stripe_gateway
    return stripe_gateway


@pytest.fixture(scope="session")
def smtp_server():
    """A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it accepts."""
    server = SmtpServer()
    yield server
    server.stop()


@pytest.fixture
def smtp(app, smtp_server):
    """Point the app's mail at the test SMTP server, emptied for this test."""
    smtp_server.reset()
    app.config.update(
        MAIL_SERVER=smtp_server.host,
        MAIL_PORT=smtp_server.port,
        MAIL_USE_TLS=False,
        MAIL_USE_SSL=False,
        MAIL_USERNAME=None,
        MAIL_PASSWORD=None,
        MAIL_DEFAULT_SENDER="Covered <reminders@covered.test>",
        MAIL_TIMEOUT=5,
        PUBLIC_URL="https://covered.test",
    )
    return smtp_server
