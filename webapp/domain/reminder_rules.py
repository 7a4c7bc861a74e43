"""Reminder rules: which thresholds an authorization has crossed, and who hears about it.

Expiration thresholds are days before the end date (60, 30, 7, 0); exhaustion
thresholds are sessions/units remaining (1, 0). Decisions where the seed is silent:

- Only the most urgent threshold crossed is due. An authorization first seen 5
  days before its end gets the 7-day reminder, not the 60-, 30- and 7-day ones
  at once. (If its end date is later pushed back, the thresholds it never sent
  can still come due; one already sent is never sent again.)
- Authorizations of inactive insurance get no reminders at all.
- Expired authorizations: the 0-day reminder ("expires today") may still go out
  up to `EXPIRED_GRACE_DAYS` after the end date, so a worker that was down over
  a weekend catches up; after that, nothing (no flood of old history after an
  import). Exhaustion reminders stop once an authorization has expired.
- "Remaining" is the status computation's: the total (for Units with a
  frequency, allowed × windows) minus what counts under the organization's "Use
  Kept and Upcoming" setting. A per-day/week/month cap being used up is not a
  reminder: caps reset each window and booking warnings already cover them.
- Recipients: active users whose preferences ask for that kind, by email and/or
  in the app; admins and billers for every client, clinicians only for clients
  whose primary clinician they are.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from webapp.domain.authorization_rules import (
    ENCOUNTER_STATUSES,
    SESSIONS,
    counts_toward,
)
from webapp.domain.windows import format_day

EXPIRATION, EXHAUSTION = "expiration", "exhaustion"
REMINDER_KINDS = (EXPIRATION, EXHAUSTION)
EXPIRATION_DAYS = (60, 30, 7, 0)
EXHAUSTION_REMAINING = (1, 0)
EXPIRED_GRACE_DAYS = 7

ADMIN, BILLER, CLINICIAN = "admin", "biller", "clinician"


def counted_statuses(count_upcoming: bool) -> tuple[str, ...]:
    """The encounter statuses that use up an authorization under the setting."""
    return tuple(s for s in ENCOUNTER_STATUSES if counts_toward(s, count_upcoming))


def expiration_threshold(end: date, today: date) -> int | None:
    """The most urgent expiration threshold crossed, or None.

    Days left = end − today; threshold t is crossed once days left ≤ t. Past the
    end, the 0-day threshold stays due for `EXPIRED_GRACE_DAYS`.
    """
    days_left = (end - today).days
    if days_left > max(EXPIRATION_DAYS) or days_left < -EXPIRED_GRACE_DAYS:
        return None
    return min(t for t in EXPIRATION_DAYS if days_left <= t) if days_left >= 0 else 0


def exhaustion_threshold(remaining: int, end: date, today: date) -> int | None:
    """The most urgent exhaustion threshold crossed (remaining ≤ t), or None once expired."""
    if today > end:
        return None
    crossed = [t for t in EXHAUSTION_REMAINING if remaining <= t]
    return min(crossed) if crossed else None


def still_due(kind: str, threshold: int, *, end: date, remaining: int, today: date) -> bool:
    """Whether the condition a sent reminder warned about still holds today.

    Expiration at t days: the end date is at most t days away (or past). Exhaustion
    at t: at most t remain. When it no longer holds — the end date was moved later,
    more was allowed, visits were cancelled — the reminder's notification is
    marked resolved (and open again if the condition comes back).
    """
    if kind == EXPIRATION:
        return (end - today).days <= threshold
    if kind == EXHAUSTION:
        return remaining <= threshold
    raise ValueError(f"Unknown reminder kind {kind!r}")


@dataclass(frozen=True)
class Due:
    kind: str  # EXPIRATION | EXHAUSTION
    threshold: int


def due_reminders(*, insurance_active: bool, end: date, remaining: int, today: date) -> list[Due]:
    """The reminders an authorization has come due for today (at most one per kind)."""
    if not insurance_active:
        return []
    due = []
    expiration = expiration_threshold(end, today)
    if expiration is not None:
        due.append(Due(EXPIRATION, expiration))
    exhaustion = exhaustion_threshold(remaining, end, today)
    if exhaustion is not None:
        due.append(Due(EXHAUSTION, exhaustion))
    return due


@dataclass(frozen=True)
class Preferences:
    """A user as the reminder rules see them: role, active flag, four checkboxes."""

    user_id: int
    role: str
    active: bool
    expiration_email: bool = False
    expiration_in_app: bool = False
    exhaustion_email: bool = False
    exhaustion_in_app: bool = False

    def channels(self, kind: str) -> tuple[bool, bool]:
        """(by email, in the app) for one reminder kind."""
        if kind == EXPIRATION:
            return self.expiration_email, self.expiration_in_app
        if kind == EXHAUSTION:
            return self.exhaustion_email, self.exhaustion_in_app
        raise ValueError(f"Unknown reminder kind {kind!r}")


@dataclass(frozen=True)
class Recipient:
    user_id: int
    email: bool
    in_app: bool


def recipients(
    users: Iterable[Preferences], *, kind: str, primary_clinician_id: int | None
) -> list[Recipient]:
    """Who hears about a reminder of `kind` for a client with this primary clinician."""
    chosen = []
    for user in users:
        if not user.active:
            continue
        if user.role == CLINICIAN and user.user_id != primary_clinician_id:
            continue
        if user.role not in (ADMIN, BILLER, CLINICIAN):
            continue
        email, in_app = user.channels(kind)
        if email or in_app:
            chosen.append(Recipient(user.user_id, email, in_app))
    return chosen


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def headline(
    *, kind: str, threshold: int, end: date, today: date, remaining: int, auth_kind: str
) -> str:
    """What a reminder says, worded for the day it is read.

    A reminder can be emailed a little after it was claimed (SMTP retries), so the
    wording follows today's facts: "expires in 6 days", "expired on Mar 3, 2026".
    """
    noun = "session" if auth_kind == SESSIONS else "unit"
    if kind == EXPIRATION:
        days_left = (end - today).days
        if days_left > 1:
            return f"expires in {days_left} days, on {format_day(end)}"
        if days_left == 1:
            return f"expires tomorrow, {format_day(end)}"
        if days_left == 0:
            return f"expires today, {format_day(end)}"
        return f"expired on {format_day(end)}"
    if kind == EXHAUSTION:
        if remaining <= 0:
            return f"is exhausted: no {noun}s left"
        return f"has {_plural(remaining, noun)} left"
    raise ValueError(f"Unknown reminder kind {kind!r}")
