"""Flask CLI commands: `flask seed-demo`, `flask create-user`."""

import click
from flask import Flask
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import Organization
from webapp.services import demo


def init_app(app: Flask) -> None:
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
