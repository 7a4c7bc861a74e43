"""Calendar windows for authorization frequencies, and time zone conversion.

Windows are calendar days, weeks (starting on the organization's week start) or
months, clipped to an authorization's dates; "period" is the whole date range.
Week starts use Python's weekday numbers: 0 = Monday … 6 = Sunday.
Times are stored as naive UTC datetimes and shown in the organization's zone.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

FREQUENCIES = ("day", "week", "month", "period")
FREQUENCY_LABELS = {
    "day": "per day",
    "week": "per week",
    "month": "per month",
    "period": "entire period",
}
DEFAULT_WEEK_START = 6  # Sunday

ONE_DAY = timedelta(days=1)


def format_day(day: date) -> str:
    """'Mar 3, 2025' (no leading zero on the day)."""
    return f"{day:%b} {day.day}, {day.year}"


@dataclass(frozen=True)
class Window:
    """A run of days, both ends inclusive."""

    start: date
    end: date

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def label(self) -> str:
        """'Mar 3 – Mar 9, 2025'; 'Dec 29, 2024 – Jan 4, 2025'; 'Mar 3, 2025'."""
        if self.start == self.end:
            return format_day(self.start)
        if self.start.year == self.end.year:
            return f"{self.start:%b} {self.start.day} – {format_day(self.end)}"
        return f"{format_day(self.start)} – {format_day(self.end)}"


def _check(frequency: str | None, week_start: int) -> str:
    frequency = frequency or "period"
    if frequency not in FREQUENCIES:
        raise ValueError(f"Unknown frequency {frequency!r}.")
    if not 0 <= week_start <= 6:
        raise ValueError("Week start must be a weekday number from 0 (Monday) to 6 (Sunday).")
    return frequency


def shift(day: date, days: int) -> date:
    """`day` moved by `days`, stopping at the ends of the calendar (date.min, date.max).

    Windows are clipped to an authorization's dates afterwards, so a window that
    would run past the last representable day is exactly right once clipped.
    """
    try:
        return day + timedelta(days=days)
    except OverflowError:
        return date.max if days > 0 else date.min


def days_into_week(day: date, week_start: int) -> int:
    """How many days `day` is past the start of its week (0–6); `week_start` is
    Python's weekday number of the organization's first day (0 Monday … 6 Sunday)."""
    return (day.weekday() - week_start) % 7


def week_start_of(day: date, week_start: int) -> date:
    """The first day of the week containing `day` (stopping at date.min)."""
    return shift(day, -days_into_week(day, week_start))


def last_of_month(day: date) -> date:
    """The last day of `day`'s calendar month."""
    if day.month == 12:
        return day.replace(day=31)
    return date(day.year, day.month + 1, 1) - ONE_DAY


def window_containing(
    day: date,
    frequency: str | None,
    *,
    start: date,
    end: date,
    week_start: int = DEFAULT_WEEK_START,
) -> Window:
    """The calendar window of `frequency` containing `day`, clipped to [start, end].

    A `frequency` of None means "period".
    """
    frequency = _check(frequency, week_start)
    if start > end:
        raise ValueError("Start date is after end date.")
    if not start <= day <= end:
        raise ValueError(f"{format_day(day)} is outside {Window(start, end).label}.")
    if frequency == "day":
        first = last = day
    elif frequency == "week":
        offset = days_into_week(day, week_start)
        first, last = shift(day, -offset), shift(day, 6 - offset)
    elif frequency == "month":
        first, last = day.replace(day=1), last_of_month(day)
    else:
        first, last = start, end
    return Window(max(first, start), min(last, end))


def windows_for(
    start: date, end: date, frequency: str | None, week_start: int = DEFAULT_WEEK_START
) -> list[Window]:
    """All clipped windows covering [start, end], in order."""
    if _check(frequency, week_start) == "day":  # one a day: no need to work each out
        days = (end - start).days + 1
        return [Window(start + timedelta(days=n), start + timedelta(days=n)) for n in range(days)]
    windows = []
    day = start
    while day <= end:
        window = window_containing(day, frequency, start=start, end=end, week_start=week_start)
        windows.append(window)
        if window.end == date.max:
            break
        day = window.end + ONE_DAY
    return windows


def total_allowed(
    allowed: int,
    start: date,
    end: date,
    frequency: str | None,
    week_start: int = DEFAULT_WEEK_START,
) -> int:
    """`allowed` per window × the number of windows; "period" (or None) → `allowed`."""
    frequency = _check(frequency, week_start)
    if frequency == "period":
        return allowed
    if frequency == "day":
        return allowed * max(0, (end - start).days + 1)
    return allowed * len(windows_for(start, end, frequency, week_start))


def _as_utc(value: datetime) -> datetime:
    """Naive values are UTC; aware ones are taken as they are."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def to_local(utc_naive: datetime, tz_name: str) -> datetime:
    """A stored (naive UTC) datetime as an aware datetime in `tz_name`."""
    return _as_utc(utc_naive).astimezone(ZoneInfo(tz_name))


def local_date(utc_naive: datetime, tz_name: str) -> date:
    """The calendar date in `tz_name` of a stored (naive UTC) datetime."""
    return to_local(utc_naive, tz_name).date()


def to_utc_naive(local_naive: datetime, tz_name: str) -> datetime:
    """Wall time in `tz_name` → naive UTC for storage.

    Ambiguous times (the repeated hour when clocks go back) follow `fold`: 0 is
    the first occurrence. Times that do not exist (the skipped hour when clocks go
    forward) are read with the offset in force before the change, so 02:30 on a
    spring-forward night in New York is stored as 07:30 UTC (03:30 EDT).
    """
    if local_naive.tzinfo is not None:
        raise ValueError("Expected a naive local datetime.")
    aware = local_naive.replace(tzinfo=ZoneInfo(tz_name))
    return aware.astimezone(UTC).replace(tzinfo=None)
