"""Migrations build the same schema as the models; the demo seed is idempotent."""

from datetime import date

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import Client, ClientInsurance, Organization, ServiceType, User
from webapp.services import demo
from webapp.services.coverage import load_coverage


def test_migrations_match_the_models(app):
    db.drop_all()
    with db.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    upgrade()
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
    assert diff == []


def test_seed_demo_creates_the_practice_once(app):
    _org, created = demo.seed_demo()
    again, created_again = demo.seed_demo()
    assert (created, created_again) == (True, False)
    assert db.session.scalar(select(func.count(Organization.id))) == 1
    assert db.session.scalar(select(func.count(Client.id))) == 20
    assert db.session.scalar(select(func.count(ClientInsurance.id))) == 20
    codes = set(db.session.scalars(select(ServiceType.cpt_code)))
    assert {"90791", "90834", "90837", "97153"} <= codes
    aba = db.session.scalar(select(ServiceType).where(ServiceType.cpt_code == "97153"))
    assert aba.unit_minutes == 15
    emails = set(db.session.scalars(select(User.email)))
    assert {"admin@example.com", "biller@example.com", "clinician@example.com"} <= emails
    admin = db.session.scalar(select(User).where(User.email == "admin@example.com"))
    assert admin.check_password("covered-demo")


def test_the_demo_shows_every_authorization_status(app):
    org, _ = demo.seed_demo(today=date(2026, 11, 22))
    client_ids = list(db.session.scalars(select(Client.id)))
    coverage = load_coverage(org, client_ids, today=date(2026, 11, 22))
    statuses = {summary.status for summary in coverage.summaries}
    assert statuses == {"active", "inactive", "expired", "exhausted"}
    assert any(summary.authorization.converted for summary in coverage.summaries)
    assert any(summary.ledger.windows for summary in coverage.summaries)


def test_the_seed_command_prints_the_logins_and_skips_a_used_database(app):
    app.config.update(COVERED_ENV="development", DATABASE_URL_SET=False)  # `make run`'s database
    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed-demo", "--if-empty"])
    assert "admin@example.com" in first.output and "covered-demo" in first.output
    second = runner.invoke(args=["seed-demo", "--if-empty"])
    assert "demo not added" in second.output
