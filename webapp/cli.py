"""Flask CLI commands: `flask seed-demo`, `flask authorizations import-legacy FILE.csv`,
`flask users unlock EMAIL`."""

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import Organization
from webapp.services import demo

authorizations_cli = AppGroup("authorizations", help="Authorization maintenance.")
users_cli = AppGroup("users", help="People who sign in.")


@users_cli.command("unlock")
@click.argument("email")
@click.option("--address", help="Also forget the failed sign-ins from this client address.")
def unlock_command(email: str, address: str | None):
    """Lift the sign-in lockout of an account (too many failed sign-ins)."""
    from webapp.services import sign_in

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
    from webapp.services import legacy_import

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


def init_app(app: Flask) -> None:
    app.cli.add_command(authorizations_cli)
    app.cli.add_command(users_cli)

    @app.cli.command("seed-demo")
    @click.option("--if-empty", is_flag=True, help="Only when the database has no organization.")
    def seed_demo_command(if_empty: bool):
        """Create the demo practice and its users (safe to run again)."""
        if if_empty and db.session.scalar(select(func.count(Organization.id))):
            click.echo("Database already has data; demo not added.")
            return
        org, created = demo.seed_demo()
        click.echo(("Created" if created else "Already present:") + f" {org.name}")
        click.echo(f"Demo logins (password: {demo.DEMO_PASSWORD}):")
        for email, _name, role in demo.DEMO_USERS[:3]:
            click.echo(f"  {role:<10} {email}")
