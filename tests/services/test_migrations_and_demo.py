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


def test_the_0006_upgrade_reads_the_authorization_and_threshold_of_old_reminders(app):
    """Reminders sent before 0006 name their authorization only in their link; the
    upgrade reads it back, and the threshold from the user's reminder delivery."""
    from datetime import datetime

    from flask_migrate import downgrade
    from sqlalchemy import text

    from tests import factories
    from webapp.models import Notification, ReminderDelivery

    db.drop_all()
    with db.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    upgrade()
    org = factories.organization()
    user = factories.user(org, "biller")
    client = factories.client(org)
    policy = factories.insurance(org, client, factories.payer(org))
    auth = factories.authorization(org, policy, [])
    auth_id = auth.id
    link = f"/authorizations/{auth_id}"
    for threshold, day in ((30, 1), (7, 21)):  # claimed three weeks apart
        when = datetime(2026, 3, day, 9)
        db.session.add(ReminderDelivery(organization_id=org.id, authorization_id=auth.id,
                                        user_id=user.id, kind="expiration", threshold=threshold,
                                        created_at=when))  # fmt: skip
        db.session.add(Notification(organization_id=org.id, user_id=user.id,
                                    kind="reminder.expiration", title=f"{threshold} days",
                                    link=link, created_at=when))  # fmt: skip
    db.session.add(Notification(organization_id=org.id, user_id=user.id, kind="preauth.expired",
                                title="Hold lapsed", link="/encounters/1"))  # fmt: skip
    db.session.commit()
    db.session.remove()
    downgrade(revision="0005_settlement")
    upgrade()
    with db.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT title, authorization_id, threshold FROM notifications ORDER BY id")
        ).all()
    assert [tuple(row) for row in rows] == [
        ("30 days", auth_id, 30),
        ("7 days", auth_id, 7),
        ("Hold lapsed", None, None),
    ]
