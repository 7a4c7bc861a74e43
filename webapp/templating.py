"""Jinja filters and globals: money in cents, times in the organization's zone."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import Flask
from flask_login import current_user

from webapp.domain.hold_rules import RENEW_AHEAD
from webapp.domain.ledger import INVOICE_STATUS_LABELS
from webapp.domain.limits import EARLIEST_DATE, LATEST_DATE
from webapp.domain.money import format_cents

UTC = ZoneInfo("UTC")
FINDING_LABELS = {
    "adopted": "Tracked a lost hold",
    "released": "Released",
    "expired": "Marked expired",
    "reported": "Reported",
}


def organization_zone() -> ZoneInfo:
    if current_user and current_user.is_authenticated:
        return ZoneInfo(current_user.organization.timezone)
    return UTC


def local_datetime(value: datetime | None, fmt: str = "%b %-d, %Y %-I:%M %p") -> str:
    if value is None:
        return ""
    return value.replace(tzinfo=UTC).astimezone(organization_zone()).strftime(fmt)


def iso_local(value: str | None, fmt: str = "%b %-d, %Y %-I:%M %p") -> str:
    """An ISO timestamp (naive UTC, as kept in Redis) in the organization's zone."""
    return local_datetime(datetime.fromisoformat(value), fmt) if value else ""


def short_date(value: date | None) -> str:
    return value.strftime("%b %-d, %Y") if value else ""


def init_app(app: Flask) -> None:
    app.jinja_env.filters["money"] = lambda cents: format_cents(cents or 0)
    app.jinja_env.filters["local_datetime"] = local_datetime
    app.jinja_env.filters["short_date"] = short_date
    # The supported date range, for date inputs' min and max (webapp.domain.limits).
    app.jinja_env.globals["earliest_date"] = EARLIEST_DATE
    app.jinja_env.globals["latest_date"] = LATEST_DATE
    app.jinja_env.filters["iso_local"] = iso_local
    app.jinja_env.globals["finding_labels"] = FINDING_LABELS
    app.jinja_env.globals["invoice_status_labels"] = INVOICE_STATUS_LABELS
    app.jinja_env.globals["renew_ahead"] = RENEW_AHEAD  # how early a lapsing hold is renewed
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
