"""A payer's decision on an authorization and on each of its lines, and the decision clock.

States (issue 16 part 2; the same words `webapp.domain.pas_terms` reads from a PAS
review action): requested / pending (X12 306 A4), approved (A1), partly approved
(A2), modified (A6), denied (A3), cancelled (C).

- **Only approved quantities count**: a line counts (covers visits, has an allowance,
  takes visits in the allocation) when its own decision grants something (approved,
  partly approved, modified) and its authorization's decision does not take it
  back (denied, cancelled, still pending). A visit whose only covering lines do not
  count is judged as if nothing covered it.
- **Decision clock** (CMS-0057-F, 42 CFR 422.568/438.210/457.495 and 45 CFR
  156.223 as amended): a payer must decide an expedited request within 72 hours
  and a standard one within 7 calendar days of receiving it.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from webapp.domain.pas_terms import (
    APPROVED,
    CANCELLED,
    DENIED,
    MODIFIED,
    PARTLY_APPROVED,
    PENDED,
)

DECISIONS = (PENDED, APPROVED, PARTLY_APPROVED, MODIFIED, DENIED, CANCELLED)
DECISION_LABELS = {
    PENDED: "Requested / pending",
    APPROVED: "Approved",
    PARTLY_APPROVED: "Partly approved",
    MODIFIED: "Modified",
    DENIED: "Denied",
    CANCELLED: "Cancelled",
}
GRANTING = frozenset({APPROVED, PARTLY_APPROVED, MODIFIED})
# An authorization's own decision that stops every line from counting.
WITHHOLDING = frozenset({PENDED, DENIED, CANCELLED})

STANDARD, EXPEDITED = "standard", "expedited"
URGENCIES = (STANDARD, EXPEDITED)
URGENCY_LABELS = {STANDARD: "Standard", EXPEDITED: "Expedited"}
DECISION_CLOCK = {EXPEDITED: timedelta(hours=72), STANDARD: timedelta(days=7)}


def line_counts(authorization_decision: str, line_decision: str) -> bool:
    """Whether a line's quantity counts: its decision grants, its authorization's does not
    withhold.

    Raises ValueError for a state outside DECISIONS.
    """
    for state in (authorization_decision, line_decision):
        if state not in DECISIONS:
            raise ValueError(f"Unknown decision {state!r}.")
    return line_decision in GRANTING and authorization_decision not in WITHHOLDING


def decision_due(requested_at: datetime, urgency: str) -> datetime:
    """When the payer's answer is due: 72 hours (expedited) or 7 calendar days (standard)
    after the request (CMS-0057-F).

    Raises ValueError for an urgency outside URGENCIES.
    """
    if urgency not in DECISION_CLOCK:
        raise ValueError(f"Unknown urgency {urgency!r}.")
    return requested_at + DECISION_CLOCK[urgency]


def _span_text(delta: timedelta) -> str:
    hours = int(delta.total_seconds() // 3600)
    if hours < 48:
        return f"{hours} hour" + ("" if hours == 1 else "s")
    days = hours // 24
    return f"{days} days"


@dataclass(frozen=True)
class Clock:
    """A pending request against the payer's decision clock.

    `age` is how long it has waited; `due` when the answer is due; `overdue` True once
    `now` is past `due`.
    """

    requested_at: datetime
    urgency: str
    now: datetime

    @property
    def due(self) -> datetime:
        return decision_due(self.requested_at, self.urgency)

    @property
    def age(self) -> timedelta:
        return max(self.now - self.requested_at, timedelta(0))

    @property
    def overdue(self) -> bool:
        return self.now > self.due

    @property
    def text(self) -> str:
        """'Waiting 30 hours of 72 (expedited)' or 'Waiting 9 days of 7 (standard): overdue by
        2 days'."""
        limit = "72 hours" if self.urgency == EXPEDITED else "7 days"
        said = f"Waiting {_span_text(self.age)} of {limit} ({self.urgency})"
        if self.overdue:
            return f"{said}: overdue by {_span_text(self.now - self.due)}"
        return f"{said}: due in {_span_text(self.due - self.now)}"
