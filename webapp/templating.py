"""Jinja filters and globals: money in cents, dates and times in the organization's zone."""

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


# The one place dates and times get their format: templates use the filters, never strftime.
DATE_FORMAT = "%b %-d, %Y"  # Mar 3, 2026
TIME_FORMAT = "%-I:%M %p"  # 2:05 PM
DATETIME_FORMAT = f"{DATE_FORMAT} {TIME_FORMAT}"  # Mar 3, 2026 2:05 PM: when something happened
# Mon Mar 3, 2026 · 2:05 PM: when an appointment starts, or a card hold runs or lapses.
VISIT_FORMAT = f"%a {DATE_FORMAT} · {TIME_FORMAT}"
SECONDS_FORMAT = f"{DATE_FORMAT} %-I:%M:%S %p"  # a heartbeat, where seconds matter


def _local(value: datetime) -> datetime:
    """A stored naive-UTC datetime (or an aware one) in the organization's time zone."""
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(organization_zone())


def local_datetime(value: datetime | None, fmt: str = DATETIME_FORMAT) -> str:
    """`value` (naive UTC, or aware) in the organization's zone, as `fmt`; "" for None."""
    return _local(value).strftime(fmt) if value is not None else ""


def date_text(value: date | datetime | None) -> str:
    """`date` filter: "Mar 3, 2026"; a datetime gives its date in the organization's zone."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = _local(value)
    return value.strftime(DATE_FORMAT)


def datetime_text(value: datetime | None, seconds: bool = False) -> str:
    """`datetime` filter: "Mar 3, 2026 2:05 PM" in the organization's zone (with seconds)."""
    return local_datetime(value, SECONDS_FORMAT if seconds else DATETIME_FORMAT)


def visit_text(value: datetime | None) -> str:
    """`visit` filter: "Tue Mar 3, 2026 · 2:05 PM", for appointments and card holds."""
    return local_datetime(value, VISIT_FORMAT)


def time_text(value: datetime | None) -> str:
    """`time` filter: "2:05 PM" in the organization's zone."""
    return local_datetime(value, TIME_FORMAT)


def zone_abbreviation(value: datetime | None = None) -> str:
    """The organization's time zone as people read it beside a time ("EST", "EDT"): its
    abbreviation at `value` (naive UTC; now when None), or its name when it has none."""
    moment = _local(value if value is not None else datetime.now(UTC))
    name = moment.tzname() or ""
    return name if name and name[0] not in "+-" else str(organization_zone())


def zone_key() -> str:
    """The organization's time zone's IANA name ("America/New_York")."""
    return str(organization_zone())


def weekday_text(value: date | None) -> str:
    """`weekday` filter: "Tuesday"."""
    return value.strftime("%A") if value is not None else ""


def iso_local(value: str | None) -> str:
    """An ISO timestamp (naive UTC, as kept in Redis) as the `datetime` filter shows it."""
    return local_datetime(datetime.fromisoformat(value)) if value else ""


def init_app(app: Flask) -> None:
    app.jinja_env.filters["money"] = lambda cents: format_cents(cents or 0)
    app.jinja_env.filters["date"] = date_text
    app.jinja_env.filters["datetime"] = datetime_text
    app.jinja_env.filters["visit"] = visit_text
    app.jinja_env.filters["time"] = time_text
    app.jinja_env.filters["weekday"] = weekday_text
    app.jinja_env.globals["zone_abbreviation"] = zone_abbreviation
    app.jinja_env.globals["zone_key"] = zone_key
    # The supported date range, for date inputs' min and max (webapp.domain.limits).
    app.jinja_env.globals["earliest_date"] = EARLIEST_DATE
    app.jinja_env.globals["latest_date"] = LATEST_DATE
    app.jinja_env.filters["iso_local"] = iso_local
    app.jinja_env.globals["finding_labels"] = FINDING_LABELS
    app.jinja_env.globals["invoice_status_labels"] = INVOICE_STATUS_LABELS
    app.jinja_env.globals["renew_ahead"] = RENEW_AHEAD  # how early a lapsing hold is renewed
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
