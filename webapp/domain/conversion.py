"""Conversion of legacy authorizations (number, optional end date, sessions allowed).

A converted authorization is Sessions, flagged converted, starts on the
organization's enhanced-authorizations release date and ends on its own end date
or 12 months after the release date. Attaching all service types and skipping
duplicates on re-runs are the service's job.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from webapp.domain.authorization_rules import SESSIONS
from webapp.domain.limits import MAX_ALLOWED, date_refusal

CSV_HEADERS = ("client", "payer", "authorization_number", "end_date", "sessions_allowed")
DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y")


class LegacyRowError(ValueError):
    """A legacy row that cannot be converted; the message says why."""


@dataclass(frozen=True)
class LegacyRow:
    client_ref: str
    payer_name: str
    number: str
    end_date: date | None
    sessions_allowed: int


@dataclass(frozen=True)
class ConvertedTerms:
    number: str
    start: date
    end: date
    allowed: int
    kind: str = SESSIONS
    converted: bool = True


def add_months(day: date, months: int) -> date:
    """Calendar month addition, clamping to the month's last day (Feb 29 → Feb 28)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    for last_day in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last_day))
        except ValueError:
            continue
    raise AssertionError("unreachable")  # pragma: no cover


def convert_legacy(row: LegacyRow, *, release_date: date) -> ConvertedTerms:
    """New-format terms for a legacy row.

    A legacy authorization that ended before the release date starts on its end
    date instead, so it converts to a valid, expired authorization.
    """
    end = row.end_date or add_months(release_date, 12)
    return ConvertedTerms(
        number=row.number, start=min(release_date, end), end=end, allowed=row.sessions_allowed
    )


def parse_date(text: str) -> date:
    """YYYY-MM-DD or MM/DD/YYYY, in the supported range (webapp.domain.limits)."""
    for fmt in DATE_FORMATS:
        try:
            day = datetime.strptime(text, fmt).date()
        except ValueError:
            continue
        problem = date_refusal(day)
        if problem:
            raise LegacyRowError(f"End date {text!r} is out of range. {problem}")
        return day
    raise LegacyRowError(f"End date {text!r} is not a date (use YYYY-MM-DD or MM/DD/YYYY).")


def normalise_row(raw: Mapping[str, str | None]) -> dict[str, str]:
    """Headers: case-insensitive, surrounding whitespace and a BOM ignored,
    spaces read as underscores. Values: stripped; missing (None) → ''."""
    clean = {}
    for key, value in raw.items():
        if key is None:  # csv.DictReader puts surplus cells under None
            continue
        name = key.replace("\ufeff", "").strip().lower().replace(" ", "_")
        clean[name] = (value or "").strip()
    return clean


def parse_legacy_row(raw: Mapping[str, str]) -> LegacyRow:
    """A LegacyRow from one CSV row (see CSV_HEADERS); LegacyRowError says what is wrong."""
    row = normalise_row(raw)
    required = (
        ("client", "Client is missing."),
        ("payer", "Payer is missing."),
        ("authorization_number", "Authorization number is missing."),
        ("sessions_allowed", "Sessions allowed is missing."),
    )
    for name, message in required:
        if not row.get(name):
            raise LegacyRowError(message)
    sessions = row["sessions_allowed"]
    if not (sessions.isascii() and sessions.isdigit()) or int(sessions) == 0:
        raise LegacyRowError(f"Sessions allowed {sessions!r} is not a positive whole number.")
    if len(sessions) > 6 or int(sessions) > MAX_ALLOWED:
        raise LegacyRowError(f"Sessions allowed {sessions} is more than {MAX_ALLOWED:,}.")
    end_text = row.get("end_date", "")
    return LegacyRow(
        client_ref=row["client"],
        payer_name=row["payer"],
        number=row["authorization_number"],
        end_date=parse_date(end_text) if end_text else None,
        sessions_allowed=int(sessions),
    )
