"""A clinician booked twice at once, and finalizing a visit before it starts.

- Two appointments of one clinician **overlap** when each starts before the other
  ends (back to back — one ending at 11:00, the next starting at 11:00 — is fine).
  Only appointments that still take the clinician's time conflict: Upcoming and
  Kept; cancelled, late-cancelled and no-show ones free the slot.
- A visit **in the future** (its start after now) cannot be marked Kept — by
  Finalize or by a status correction — without a confirmation that names its
  date; confirmed, it counts as Kept like any other.
- The schedule page shows a **day** or a **week** (from the organization's week
  start) around an anchor date, and steps by one of them. Its calendar asks for the
  appointments of a range of days, at most `MAX_CALENDAR_DAYS` (six weeks: the most
  any calendar view shows), the end after the start.
- Only an **Upcoming** appointment moves on the calendar; a closed one (Kept,
  cancelled, no-show) records what happened and is corrected from its own page.
- **Mark day as kept** closes the Upcoming appointments of one day that have
  started (a future one needs its own date confirmed, so it is left as it is).
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from webapp.domain.authorization_rules import KEPT, UPCOMING
from webapp.domain.windows import format_day, week_start_of

TAKES_TIME = (UPCOMING, KEPT)
MAX_CALENDAR_DAYS = 42
DOUBLE_BOOKED = "double_booked"
DAY_VIEW, WEEK_VIEW = "day", "week"
SCHEDULE_VIEWS = (DAY_VIEW, WEEK_VIEW)


def schedule_days(view: str, anchor: date, week_start: int) -> list[date]:
    """The days a schedule view shows: `anchor` alone, or the 7 days of its week."""
    if view != WEEK_VIEW:
        return [anchor]
    first = week_start_of(anchor, week_start)
    return [first + timedelta(days=i) for i in range(7)]


def schedule_step(view: str) -> timedelta:
    """How far Previous and Next move the schedule: a week or a day."""
    return timedelta(days=7 if view == WEEK_VIEW else 1)


@dataclass(frozen=True)
class Slot:
    """One appointment's time: naive UTC start, minutes, status."""

    encounter_id: int
    clinician_id: int
    starts_at: datetime
    minutes: int
    status: str

    @property
    def ends_at(self) -> datetime:
        return self.starts_at + timedelta(minutes=self.minutes)

    def overlaps(self, other: "Slot") -> bool:
        return (
            self.encounter_id != other.encounter_id
            and self.clinician_id == other.clinician_id
            and self.status in TAKES_TIME
            and other.status in TAKES_TIME
            and self.starts_at < other.ends_at
            and other.starts_at < self.ends_at
        )


def conflicts(slot: Slot, others: Iterable[Slot]) -> list[Slot]:
    """The other appointments of the same clinician that overlap `slot`, in start order."""
    found = [other for other in others if slot.overlaps(other)]
    return sorted(found, key=lambda s: (s.starts_at, s.encounter_id))


def double_booked(slots: Sequence[Slot]) -> dict[int, list[Slot]]:
    """{encounter id: the slots it overlaps} for every slot that overlaps another."""
    by_clinician: dict[int, list[Slot]] = defaultdict(list)
    for slot in slots:
        by_clinician[slot.clinician_id].append(slot)
    found: dict[int, list[Slot]] = {}
    for own in by_clinician.values():
        own.sort(key=lambda s: (s.starts_at, s.encounter_id))
        for index, slot in enumerate(own):
            for other in own[index + 1 :]:
                if other.starts_at >= slot.ends_at:
                    break
                if slot.overlaps(other):
                    found.setdefault(slot.encounter_id, []).append(other)
                    found.setdefault(other.encounter_id, []).append(slot)
    return found


def future_visit(starts_at: datetime, now: datetime) -> bool:
    """Whether a visit has not started yet (both naive UTC)."""
    return starts_at > now


def early_keep_label(local_start: datetime) -> str:
    """What the person ticks to keep a visit before it starts: it names the date."""
    return f"Yes, mark the appointment of {format_day(local_start.date())} Kept before it starts"


def early_keep_refusal(
    starts_at: datetime, now: datetime, local_start: datetime, confirmed: str | None
) -> str | None:
    """Why a visit cannot be marked Kept yet, or None.

    `starts_at` and `now` are naive UTC; `local_start` the start in the
    organization's zone; `confirmed` the date (ISO) the person confirmed. A visit
    that has started needs nothing; a future one needs its own date confirmed.
    """
    if not future_visit(starts_at, now) or confirmed == local_start.date().isoformat():
        return None
    return (
        f"This appointment is on {format_day(local_start.date())} at {local_start:%-I:%M %p} "
        "and has not started yet. To mark it Kept now, confirm its date."
    )


def calendar_range_refusal(start: date, end: date) -> str | None:
    """Why the calendar cannot ask for [start, end) (end exclusive, as FullCalendar
    sends it), or None: the end after the start, at most MAX_CALENDAR_DAYS days."""
    if end <= start:
        return "The end date must be after the start date."
    if (end - start).days > MAX_CALENDAR_DAYS:
        return f"Ask for at most {MAX_CALENDAR_DAYS} days at a time."
    return None


def calendar_first_day(week_start: int) -> int:
    """The calendar's first day of the week (JavaScript's 0 Sunday … 6 Saturday) from the
    organization's `week_start` (Python's 0 Monday … 6 Sunday)."""
    return (week_start + 1) % 7


def move_refusal(status: str, status_label: str) -> str | None:
    """Why an appointment in `status` cannot be moved on the calendar, or None."""
    if status == UPCOMING:
        return None
    return (
        f"Only an upcoming appointment can be moved; this one is {status_label}. "
        "Correct it from its own page."
    )


def closes_with_day(status: str, starts_at: datetime, now: datetime) -> bool:
    """Whether Mark day as kept closes this appointment: Upcoming and started
    (both times naive UTC)."""
    return status == UPCOMING and not future_visit(starts_at, now)


def appointment_minutes(duration_minutes: int | None, line_minutes: Iterable[int | None]) -> int:
    """How long an appointment takes the clinician, in minutes: the duration when one is
    set; otherwise the sum of its service lines' minutes (a 60-minute session and a
    15-minute check-in book 75 minutes). The booking form fills the same sum in as the
    services change (static/app.js, data-duration-from) until someone types a duration.

    Raises:
        ValueError: no duration and no minutes on any line (nothing to follow).
    """
    if duration_minutes:
        return duration_minutes
    total = sum(minutes or 0 for minutes in line_minutes)
    if total <= 0:
        raise ValueError("no duration and no service minutes")
    return total
