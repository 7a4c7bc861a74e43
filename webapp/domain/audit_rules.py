"""Reading the audit trail: the date range a person picks, and what changed in an event.

Pure rules for `webapp/services/audit_trail.py`:

- `day_bounds(start, end, tz_name)`: the practice's calendar days, inclusive, as the
  naive-UTC instants the audit rows are stored in (a day in New York is not a UTC day).
- `range_refusal(start, end)`: a range that ends before it starts.
- `changes(before, after)`: each field an event records, with its value before and
  after, in a stable order.
- `action_label(action)`: "user.role_changed" → "User: role changed".
"""

from datetime import date, datetime, time, timedelta

from webapp.domain.windows import to_utc_naive

PAGE_SIZE = 50


def day_bounds(
    start: date | None, end: date | None, tz_name: str
) -> tuple[datetime | None, datetime | None]:
    """(from, until) in naive UTC: from the start of `start` to the start of the day after
    `end` in `tz_name` (until is exclusive); None where the range is open."""
    low = to_utc_naive(datetime.combine(start, time()), tz_name) if start else None
    high = to_utc_naive(datetime.combine(end + timedelta(days=1), time()), tz_name) if end else None
    return low, high


def range_refusal(start: date | None, end: date | None) -> str | None:
    """A sentence when the range ends before it starts; None otherwise."""
    if start and end and end < start:
        return "The range ends before it starts: pick a “to” date on or after the “from” date."
    return None


def changes(before: dict | None, after: dict | None) -> list[tuple[str, object, object]]:
    """(field, value before, value after) for every field in either; missing is None.

    Fields in the order `before` then `after` name them.
    """
    before, after = before or {}, after or {}
    fields = list(dict.fromkeys([*before, *after]))
    return [(field, before.get(field), after.get(field)) for field in fields]


def action_label(action: str) -> str:
    """A readable action: "user.role_changed" → "User: role changed"."""
    subject, _, verb = action.partition(".")
    subject = subject.replace("_", " ").capitalize()
    return f"{subject}: {verb.replace('_', ' ')}" if verb else subject


def entity_label(entity_type: str) -> str:
    """The record kind of a table name: "pre_authorizations" → "Pre authorization"."""
    words = entity_type.replace("_", " ")
    if words.endswith("ies"):
        words = words[:-3] + "y"
    elif words.endswith("s"):
        words = words[:-1]
    return words.capitalize()
