"""Flask CLI commands:

- `flask create-practice`: a new practice and its first admin, with a one-time link
  to set the admin's password (the way to start in production);
- `flask password-link EMAIL`: a fresh one-time link for an account with no password
  yet (the first link expired or was lost);
- `flask seed-demo [--if-empty]`: the demo practice, only into the default development
  database (`services.demo.seeding_refusal`);
- `flask authorizations import-legacy FILE.csv`;
- `flask authorizations reallocate`: place every visit again by the current rule
  (once after upgrading past revision 0006);
- `flask users unlock EMAIL`: lift a sign-in lockout (too many failed sign-ins).
"""

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import func, select

from webapp.domain import practice_rules
from webapp.extensions import db
from webapp.models import Client, Organization, User
from webapp.models.base import utcnow
from webapp.services import demo, legacy_import, password_links, practices, sign_in
from webapp.services.allocation import reallocate_client

authorizations_cli = AppGroup("authorizations", help="Authorization maintenance.")
users_cli = AppGroup("users", help="People who sign in.")


@users_cli.command("unlock")
@click.argument("email")
@click.option("--address", help="Also forget the failed sign-ins from this client address.")
def unlock_command(email: str, address: str | None):
    """Lift the sign-in lockout of an account (too many failed sign-ins)."""
    was_locked = sign_in.is_locked_out(email)
    sign_in.lift_lockout(email, address=address)
    state = "was locked out; unlocked" if was_locked else "was not locked out; counts cleared"
    click.echo(f"{sign_in.normalized_email(email)} {state}.")


@authorizations_cli.command("import-legacy")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--organization-id",
    type=int,
    help="The organization to import into (default: the only one there is).",
)
def import_legacy_command(file: str, organization_id: int | None):
    """Import legacy authorizations from a CSV file (see DESIGN.md, "Conversion").

    Columns: client, payer, authorization_number, end_date (optional),
    sessions_allowed. Exits with status 1 when any row could not be imported.
    """
    if organization_id is None:
        org_ids = db.session.scalars(select(Organization.id).limit(2)).all()
        if len(org_ids) != 1:
            raise click.UsageError(
                "There is more than one organization; choose one with --organization-id."
                if org_ids
                else "There is no organization yet."
            )
        organization_id = org_ids[0]
    org = db.session.get(Organization, organization_id)
    if org is None:
        raise click.UsageError(f"No organization has the id {organization_id}.")
    try:
        with open(file, encoding="utf-8-sig", newline="") as handle:
            text = handle.read()
    except UnicodeDecodeError:
        raise click.ClickException(
            f'{file} is not UTF-8 text; save it as "CSV UTF-8" and try again.'
        ) from None
    try:
        result = legacy_import.import_rows(org, legacy_import.parse_csv(text), actor_id=None)
    except ValueError as error:  # missing headers, organization not ready
        raise click.ClickException(str(error)) from None
    click.echo(
        f"{org.name}: {result.total} rows, {result.imported} imported, "
        f"{result.unchanged} unchanged (already present), {len(result.errors)} bad."
    )
    for error in result.errors:
        click.echo(f"row {error['row']}: {error['reason']}")
    if result.errors:
        click.get_current_context().exit(1)


@authorizations_cli.command("reallocate")
def reallocate_command():
    """Place every client's visits again by the allocation rule (after an upgrade).

    Kept visits stay on the authorization they count against; one transaction per
    client, so a long run can be stopped and started again.
    """

    clients = 0
    for org in db.session.scalars(select(Organization).order_by(Organization.id)).all():
        client_ids = db.session.scalars(
            select(Client.id).where(Client.organization_id == org.id).order_by(Client.id)
        ).all()
        for client_id in client_ids:
            reallocate_client(org, client_id)
            db.session.commit()
            clients += 1
    click.echo(f"Placed the visits of {clients} clients again.")


def init_app(app: Flask) -> None:
    app.cli.add_command(authorizations_cli)
    app.cli.add_command(users_cli)

    @app.cli.command("seed-demo")
    @click.option("--if-empty", is_flag=True, help="Only when the database has no organization.")
    def seed_demo_command(if_empty: bool):
        """Create the demo practice and its users (safe to run again).

        Only into the default development database: refused when COVERED_ENV is not
        development or DATABASE_URL is set (with --if-empty, skipped with the reason).
        """
        refusal = demo.seeding_refusal(app.config["COVERED_ENV"], app.config["DATABASE_URL_SET"])
        if refusal and if_empty:
            click.echo(f"Demo not added: {refusal}")
            return
        if refusal:
            raise click.ClickException(f"Demo not added: {refusal}")
        if if_empty and db.session.scalar(select(func.count(Organization.id))):
            click.echo("Database already has data; demo not added.")
            if not db.session.scalar(
                select(Organization.id).where(Organization.name == demo.DEMO_ORGANIZATION)
            ):
                return
        else:
            org, created = demo.seed_demo()
            click.echo(("Created" if created else "Already present:") + f" {org.name}")
        click.echo(f"Demo logins (password: {demo.DEMO_PASSWORD}):")
        for email, _name, role in demo.DEMO_USERS[:3]:
            click.echo(f"  {role:<10} {email}")

    app.cli.add_command(create_practice_command)
    app.cli.add_command(password_link_command)


@click.command("create-practice")
@click.option("--name", prompt="Practice name", help="The practice's name, as people know it.")
@click.option(
    "--time-zone",
    prompt="Time zone (IANA, such as America/New_York)",
    help="IANA time zone the practice works in, such as America/Chicago.",
)
@click.option(
    "--week-start",
    default="sunday",
    show_default=True,
    help="The day weeks start on, for weekly authorization limits (monday … sunday).",
)
@click.option("--admin-email", prompt="First admin's email", help="The first admin's email.")
@click.option("--admin-name", default=None, help="The admin's name [default: from the email].")
def create_practice_command(
    name: str, time_zone: str, week_start: str, admin_email: str, admin_name: str | None
):
    """Create a practice and its first admin; print a one-time link to set the password.

    No demo data. The admin has no password until the link is used; the link works
    once and expires after 72 hours (`flask password-link EMAIL` prints a new one).
    """
    new_practice = practices.NewPractice(
        name=name,
        time_zone=time_zone,
        week_start=week_start,
        admin_email=admin_email,
        admin_name=admin_name,
    )
    try:
        org, admin = practices.create_practice(new_practice)
    except practices.PracticeInvalid as invalid:
        for field, message in invalid.errors.items():
            click.echo(f"--{field.replace('_', '-')}: {message}", err=True)
        raise click.ClickException("Nothing was created.") from None
    url = password_links.link(admin, password_links.SET_UP, now=utcnow())
    click.echo(
        f"Created {org.name} ({org.timezone}, weeks start on "
        f"{practice_rules.week_start_name(org.week_start)})."
    )
    click.echo(
        f"Admin: {admin.email}. Open this link within {_set_up_hours()} hours to set the password;"
    )
    click.echo("it works once:")
    click.echo(url)


@click.command("password-link")
@click.argument("email")
def password_link_command(email: str):
    """Print a fresh one-time link for an account that has no password yet.

    Links printed before stop working. An account with a password is refused: its
    owner signs in with it.
    """
    user = db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
    if user is None:
        raise click.ClickException(f"No account has the email {email}.")
    if password_links.has_usable_password(user):
        raise click.ClickException(f"{user.email} already has a password; no link was made.")
    if not user.is_active_user:
        raise click.ClickException(f"{user.email} is deactivated; no link was made.")
    password_links.revoke(user)
    db.session.commit()
    url = password_links.link(user, password_links.SET_UP, now=utcnow())
    click.echo(f"One-time link for {user.email} (works once, for {_set_up_hours()} hours):")
    click.echo(url)


def _set_up_hours() -> int:
    return int(password_links.LIFETIMES[password_links.SET_UP].total_seconds() // 3600)
