"""`flask create-practice`: a practice and its admin, a one-time link, no demo; and
`flask seed-demo`, which adds the demo only to the default development database."""

import re

import pytest
from sqlalchemy import func, select

from tests import factories
from webapp.extensions import db
from webapp.models import (
    AuditEvent,
    Client,
    Organization,
    Payer,
    PaymentCard,
    ServiceType,
    User,
)
from webapp.models.base import utcnow
from webapp.services import password_links

GOOD = {
    "--name": "Harbor Therapy",
    "--time-zone": "America/Chicago",
    "--week-start": "monday",
    "--admin-email": "Jo.Admin@Harbor.example",
    "--admin-name": "Jo Admin",
}
LINK = re.compile(r"^https://covered\.test/password/(\S+)$", re.MULTILINE)


@pytest.fixture
def runner(app):
    app.config["PUBLIC_URL"] = "https://covered.test"
    return app.test_cli_runner()


def create(runner, **changes):
    values = {**GOOD, **changes}
    args = ["create-practice"]
    for option, value in values.items():
        if value is not None:
            args += [option, value]
    return runner.invoke(args=args)


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_it_creates_the_practice_and_an_admin_without_a_password(runner):
    result = create(runner)
    assert result.exit_code == 0, result.output
    org = db.session.scalar(select(Organization))
    admin = db.session.scalar(select(User))
    assert (org.name, org.timezone, org.week_start) == ("Harbor Therapy", "America/Chicago", 0)
    assert (admin.organization_id, admin.email, admin.name, admin.role) == (
        org.id, "jo.admin@harbor.example", "Jo Admin", "admin",
    )  # fmt: skip
    assert not password_links.has_usable_password(admin)
    for guess in ("", "!", admin.password_hash, admin.password_hash[1:], "covered-demo"):
        assert not admin.check_password(guess)
    assert "Created Harbor Therapy (America/Chicago, weeks start on Monday)." in result.output
    assert "jo.admin@harbor.example" in result.output and "within 72 hours" in result.output


def test_it_prints_a_link_that_opens_the_admins_password_page(runner, app):
    result = create(runner)
    token = LINK.search(result.output).group(1)
    admin = db.session.scalar(select(User))
    assert password_links.holder(token, now=utcnow()) == admin


def test_it_adds_no_demo_data(runner):
    create(runner)
    assert [count(m) for m in (Organization, User, Client, Payer, ServiceType, PaymentCard)] == [
        1, 1, 0, 0, 0, 0,
    ]  # fmt: skip
    actions = db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions == ["organization.created", "user.created"]


def test_the_week_starts_on_sunday_unless_told(runner):
    assert create(runner, **{"--week-start": None}).exit_code == 0
    assert db.session.scalar(select(Organization.week_start)) == 6


def test_the_admins_name_defaults_to_the_emails_first_part(runner):
    assert create(runner, **{"--admin-name": None}).exit_code == 0
    assert db.session.scalar(select(User.name)) == "jo.admin"


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--name", "  ", "--name: Enter the practice's name."),
        ("--name", "x" * 201, "--name: Use at most 200 characters"),
        ("--time-zone", "EST5", "--time-zone: 'EST5' is not a time zone name"),
        ("--time-zone", "america/new york", "Did you mean America/New_York"),
        ("--week-start", "0", "--week-start: Choose the day weeks start on"),
        ("--admin-email", "jo@", "--admin-email: Enter the admin's email address"),
        ("--admin-email", "jo at example.org", "--admin-email: Enter the admin's email address"),
        ("--admin-email", "a" * 250 + "@x.org", "--admin-email: Enter the admin's email"),
        ("--admin-name", "x" * 201, "--admin-name: Use at most 200 characters"),
        ("--admin-name", "Jo\x07", "--admin-name: The name holds a control character"),
    ],
)
def test_it_names_the_bad_value_and_writes_nothing(runner, option, value, message):
    result = create(runner, **{option: value})
    assert result.exit_code == 1
    assert message in result.output
    assert "Nothing was created." in result.output
    assert "password/" not in result.output
    assert (count(Organization), count(User), count(AuditEvent)) == (0, 0, 0)


def test_it_lists_every_bad_value_at_once(runner):
    result = create(runner, **{"--name": "", "--time-zone": "Nowhere", "--admin-email": "x"})
    lines = [line.split(":")[0] for line in result.output.splitlines() if line.startswith("--")]
    assert lines == ["--name", "--time-zone", "--admin-email"]


def test_it_refuses_an_email_that_has_an_account_in_any_practice(runner, world):
    result = create(runner, **{"--admin-email": world.outsider.email.upper()})
    assert result.exit_code == 1
    assert f"--admin-email: {world.outsider.email} already has an account." in result.output
    assert count(Organization) == 2


def test_it_refuses_a_second_practice_of_the_same_name(runner):
    create(runner)
    result = create(runner, **{"--name": "harbor therapy", "--admin-email": "b@harbor.example"})
    assert result.exit_code == 1
    assert "--name: A practice named 'harbor therapy' already exists." in result.output
    assert (count(Organization), count(User)) == (1, 1)


def test_password_link_prints_a_new_link_and_kills_the_old_one(runner):
    first = LINK.search(create(runner).output).group(1)
    result = runner.invoke(args=["password-link", "JO.ADMIN@harbor.example"])
    assert result.exit_code == 0, result.output
    second = LINK.search(result.output).group(1)
    with pytest.raises(password_links.LinkRefused) as refused:
        password_links.holder(first, now=utcnow())
    assert refused.value is password_links.USED
    assert password_links.holder(second, now=utcnow()).email == "jo.admin@harbor.example"


def test_password_link_refuses_an_account_with_a_password_or_no_account(runner, world):
    result = runner.invoke(args=["password-link", world.admin.email])
    assert result.exit_code == 1 and "already has a password; no link was made" in result.output
    assert world.admin.check_password(factories.PASSWORD)
    result = runner.invoke(args=["password-link", "nobody@example.org"])
    assert result.exit_code == 1 and "No account has the email nobody@example.org" in result.output


# --- the demo ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environment", "database_url_set", "reason"),
    [
        ("production", False, "COVERED_ENV is production"),
        ("test", False, "COVERED_ENV is test"),
        ("development", True, "DATABASE_URL is set"),
    ],
)
def test_seed_demo_never_adds_the_demo_outside_the_default_development_database(
    app, environment, database_url_set, reason
):
    app.config.update(COVERED_ENV=environment, DATABASE_URL_SET=database_url_set)
    runner = app.test_cli_runner()
    skipped = runner.invoke(args=["seed-demo", "--if-empty"])
    assert skipped.exit_code == 0
    assert skipped.output.startswith("Demo not added: ") and reason in skipped.output
    refused = runner.invoke(args=["seed-demo"])
    assert refused.exit_code == 1 and reason in refused.output
    assert count(Organization) == 0


def test_seed_demo_adds_the_demo_to_an_empty_default_development_database(app):
    app.config.update(COVERED_ENV="development", DATABASE_URL_SET=False)
    result = app.test_cli_runner().invoke(args=["seed-demo", "--if-empty"])
    assert result.exit_code == 0 and "covered-demo" in result.output
    assert count(Organization) == 1


def test_seed_demo_leaves_a_database_with_another_practice_alone(app, world):
    app.config.update(COVERED_ENV="development", DATABASE_URL_SET=False)
    result = app.test_cli_runner().invoke(args=["seed-demo", "--if-empty"])
    assert result.output == "Database already has data; demo not added.\n"
    assert count(Organization) == 2


def test_seed_demo_reminds_the_logins_of_a_demo_already_there(app):
    app.config.update(COVERED_ENV="development", DATABASE_URL_SET=False)
    runner = app.test_cli_runner()
    runner.invoke(args=["seed-demo", "--if-empty"])
    again = runner.invoke(args=["seed-demo", "--if-empty"])
    assert "demo not added" in again.output and "password: covered-demo" in again.output
    assert count(Organization) == 1


def test_password_link_refuses_a_deactivated_account(runner, world):
    world.biller.password_hash = password_links.unusable_password_hash()
    world.biller.is_active_user = False
    db.session.commit()
    result = runner.invoke(args=["password-link", world.biller.email])
    assert result.exit_code == 1 and "is deactivated; no link was made" in result.output
