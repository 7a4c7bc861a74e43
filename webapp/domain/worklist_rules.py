"""What the Today list asks about: holds in trouble, authorizations running short, and
the look-back for uncovered visits. Pure: times are naive UTC, dates the practice's own.

Decisions (issue 15 part 4; the seed is silent on the thresholds' edges):
- A hold **lapses before its visit** when the card processor lets it go at or before
  the visit's end (`lapses_at <= ends_at`), the same edge as the lapse watcher
  (`hold_rules.needs_renewal`): a hold must still be there when the visit is charged.
- An authorization is **expiring** when its end date is today or within the next
  30 days (end − today ≤ 30); it has **few left** when what is left (as the status
  counts it, following the "count Upcoming" setting) is fewer than 2. Either is
  listed only while the client has an Upcoming visit booked, on or after today, on
  that authorization's insurance: otherwise nothing is waiting on it. Expired and
  inactive authorizations are not listed (nothing can be fixed on them).
- A visit with **no covering authorization** is an insurance visit, Upcoming (any
  date) or Kept in the last 30 days, with a service no authorization covers on its
  date (`services.coverage.uncovered_lines`).
"""

from datetime import date, datetime, timedelta

from webapp.domain.authorization_rules import ACTIVE, EXHAUSTED
from webapp.domain.preauth_rules import FAILED, HELD

EXPIRING_WITHIN_DAYS = 30
FEW_LEFT = 2  # fewer than this many sessions/units left
LOOKBACK_DAYS = 30  # Kept visits this far back still count as work to do

HOLD_FAILED, HOLD_LAPSES = "failed", "lapses"
EXPIRING, FEW = "expiring", "few_left"


def lookback_start(today: date) -> date:
    """The first service date the Today list looks at for Kept visits."""
    return today - timedelta(days=LOOKBACK_DAYS)


def hold_problem(state: str | None, lapses_at: datetime | None, ends_at: datetime) -> str | None:
    """HOLD_FAILED, HOLD_LAPSES or None for an Upcoming visit's hold.

    `lapses_at` and `ends_at` are naive UTC.
    """
    if state == FAILED:
        return HOLD_FAILED
    if state == HELD and lapses_at is not None and lapses_at <= ends_at:
        return HOLD_LAPSES
    return None


def authorization_problems(
    *, status: str, end: date, remaining: int, today: date, booked: bool
) -> list[str]:
    """[EXPIRING] and/or [FEW] for an authorization, or [] when nothing needs doing.

    `remaining`: the ledger's remaining (per the count setting); `booked`: the client
    has an Upcoming visit on or after today on this authorization's insurance.
    """
    if not booked or status not in (ACTIVE, EXHAUSTED):
        return []
    found = []
    if today <= end and (end - today).days <= EXPIRING_WITHIN_DAYS:
        found.append(EXPIRING)
    if remaining < FEW_LEFT:
        found.append(FEW)
    return found


def days_left_text(end: date, today: date) -> str:
    """'Ends today', 'Ends tomorrow', 'Ends in 12 days'."""
    days = (end - today).days
    if days == 0:
        return "Ends today"
    if days == 1:
        return "Ends tomorrow"
    return f"Ends in {days} days"


def left_text(remaining: int, kind: str) -> str:
    """'1 session left', '0 units left', 'over by 3'."""
    if remaining < 0:
        return f"over by {-remaining}"
    noun = kind if remaining != 1 else kind[:-1]
    return f"{remaining} {noun} left"
