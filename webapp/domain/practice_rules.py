"""What makes a practice's name, time zone and week start valid (for `flask create-practice`
and the organization settings). Each parser returns the value to store or raises
`ValueError` with a sentence for the person who typed it.
"""

import difflib
import unicodedata
from zoneinfo import available_timezones

NAME_MAX_LENGTH = 200  # organizations.name
TIME_ZONE_MAX_LENGTH = 64  # organizations.timezone
# Python's weekday numbers, as organizations.week_start stores them: 0 = Monday … 6 = Sunday.
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def parse_name(raw: str) -> str:
    """The practice's name, trimmed: 1 to 200 printable characters."""
    name = " ".join((raw or "").split())
    if not name:
        raise ValueError("Enter the practice's name.")
    if len(name) > NAME_MAX_LENGTH:
        raise ValueError(f"Use at most {NAME_MAX_LENGTH} characters for the name.")
    if any(unicodedata.category(c) == "Cc" for c in name):
        raise ValueError("The name holds a control character; type it again.")
    return name


def parse_time_zone(raw: str) -> str:
    """An IANA time zone such as America/New_York, in its canonical spelling.

    Matched without regard to case ("america/chicago"); an unknown name suggests
    the closest known ones.
    """
    text = (raw or "").strip()
    if not text:
        raise ValueError("Enter the practice's time zone, such as America/New_York.")
    zones = {zone.lower(): zone for zone in available_timezones()}
    found = zones.get(text.lower())
    if found is None or len(found) > TIME_ZONE_MAX_LENGTH:
        close = difflib.get_close_matches(text, sorted(zones.values()), n=3)
        hint = f" Did you mean {' or '.join(close)}?" if close else ""
        raise ValueError(
            f"{text!r} is not a time zone name (IANA, such as America/New_York).{hint}"
        )
    return found


def parse_week_start(raw: str) -> int:
    """A weekday name (or its first three letters), as Python's weekday number."""
    text = (raw or "").strip().lower()
    for number, day in enumerate(WEEKDAYS):
        if text and (text == day or text == day[:3]):
            return number
    raise ValueError(f"Choose the day weeks start on: {', '.join(WEEKDAYS)}.")


def week_start_name(number: int) -> str:
    return WEEKDAYS[number].title()
