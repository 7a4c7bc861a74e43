"""How a payer's decision on one item becomes an authorization line (issue 16 part 3).

Pure rules over what `webapp.domain.payer_decisions.read_decisions` read; the service
`webapp.services.decision_import` matches them to rows and writes them.

- **Line**: one line per decided item, named by the request's item sequence (PAS
  spec-34: the same sequence across the pended and the final decision). Its services
  are the approved codes (A1/A2: the authorized detail; A6: the payer's added item),
  else, for a pended or denied item, the requested ones; its quantity the approved
  one (`allowed`), with the requested one kept when less was granted (`requested`).
- **Quantity**: a PASQuantity counting units is Units; visits (or sessions) are
  Sessions. Days, hours and months are not what Covered counts: refused. A quantity
  must be a whole number. Units per day/week/month come from the ServiceRequest's
  timing (`Frequency.window`); units without one are for the entire period.
  Sessions carry no frequency in Covered, so visits per week are refused.
- **Order**: decisions are ordered by the response's `created`. A newer decision for
  the same request and item replaces the older; the same one changes nothing; an
  older one is refused.
- **Authorization decision** from its lines': every line approved → approved; all
  granting with a modification → modified; some granting → partly approved; none
  granting → pended before denied before cancelled.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from webapp.domain.authorization_rules import SESSIONS, UNITS
from webapp.domain.decision_rules import (
    APPROVED,
    CANCELLED,
    DENIED,
    GRANTING,
    MODIFIED,
    PARTLY_APPROVED,
    PENDED,
)
from webapp.domain.pas_terms import ItemDecision, PayerResponse, ServiceLine

NEW, NEWER, SAME, OLDER = "new", "newer", "same", "older"


class ItemProblem(ValueError):
    """An item Covered cannot turn into a line; `message` says why, for the person."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class LineDraft:
    """What one item's decision makes of its line.

    `codes` are the CPT/HCPCS codes it covers; `allowed` 0 for a line that grants
    nothing (pended, denied: the requested quantity, when known, is in `requested`);
    `start`/`end` the item's dates when the file gives them.
    """

    item_sequence: int
    decision: str
    codes: tuple[str, ...]
    kind: str
    allowed: int
    frequency: str | None
    requested: int | None
    start: date | None
    end: date | None


def decided_at(response: PayerResponse) -> datetime:
    """The response's `created` as naive UTC, how Covered stores times."""
    return response.created.astimezone(UTC).replace(tzinfo=None)


def _whole(value: Decimal, sequence: int) -> int:
    if value != value.to_integral_value() or value <= 0:
        raise ItemProblem(f"Item {sequence}: the quantity {value} is not a whole number above 0.")
    return int(value)


def _kind_and_frequency(service: ServiceLine, sequence: int) -> tuple[str, str | None]:
    measure = service.quantity.measure if service.quantity else None
    window = service.frequency.window if service.frequency else None
    if service.frequency is not None and window is None:
        raise ItemProblem(
            f"Item {sequence} ({service.code.code}): a quantity per "
            f"{service.frequency.period} {service.frequency.period_unit} is not a day, week "
            "or month; Covered cannot count it."
        )
    if measure == "units":
        return UNITS, window or "period"
    if measure == "visits":
        if window is not None:
            raise ItemProblem(
                f"Item {sequence} ({service.code.code}): visits per {window} — Covered counts "
                "sessions for the whole period only; enter this authorization by hand."
            )
        return SESSIONS, None
    unit = service.quantity.unit if service.quantity else "no unit"
    raise ItemProblem(
        f"Item {sequence} ({service.code.code}): the quantity counts {measure or unit}; "
        "Covered counts sessions (visits) or units."
    )


def line_draft(item: ItemDecision) -> LineDraft:
    """The line an item's decision makes (module docstring).

    Raises ItemProblem for several approved services with different quantities, a
    quantity that is not whole, or one that counts days, hours or months.
    """
    granting = item.state in GRANTING
    services = item.approved if granting else item.requested
    codes = tuple(dict.fromkeys(s.code.code for s in services))
    quantities = {s.quantity.value for s in services if s.quantity is not None}
    if len(quantities) > 1:
        raise ItemProblem(
            f"Item {item.item_sequence}: several services with their own quantities; "
            "Covered reads one quantity per item."
        )
    sized = next((s for s in services if s.quantity is not None), None)
    if granting and sized is None:
        raise ItemProblem(f"Item {item.item_sequence}: approved, but the file states no quantity.")
    kind, frequency = _kind_and_frequency(sized, item.item_sequence) if sized else (UNITS, None)
    amount = _whole(sized.quantity.value, item.item_sequence) if sized else None
    requested = None
    asked = next((s for s in item.requested if s.quantity is not None), None)
    if asked is not None:
        requested = _whole(asked.quantity.value, item.item_sequence)
    if granting and requested is not None and requested <= (amount or 0):
        requested = None  # granted what was asked: nothing to remember
    period = item.period or next((s.period for s in services if s.period), None)
    if kind == UNITS and frequency is None and granting:
        frequency = "period"
    return LineDraft(
        item_sequence=item.item_sequence,
        decision=item.state,
        codes=codes,
        kind=kind,
        allowed=amount if granting else 0,
        frequency=frequency if kind == UNITS else None,
        requested=requested if granting else amount,
        start=period.start if period else None,
        end=period.end if period else None,
    )


def order(incoming: datetime, stored: datetime | None) -> str:
    """NEW (nothing stored), NEWER, SAME or OLDER: `incoming` against the stored decision."""
    if stored is None:
        return NEW
    if incoming > stored:
        return NEWER
    if incoming == stored:
        return SAME
    return OLDER


def overall_decision(states) -> str:
    """The authorization's decision from its lines' (module docstring).

    Raises ValueError when there is no line.
    """
    states = list(states)
    if not states:
        raise ValueError("An authorization has at least one line.")
    if all(s == APPROVED for s in states):
        return APPROVED
    if all(s in GRANTING for s in states):
        return MODIFIED if MODIFIED in states and PARTLY_APPROVED not in states else PARTLY_APPROVED
    if any(s in GRANTING for s in states):
        return PARTLY_APPROVED
    for state in (PENDED, DENIED, CANCELLED):
        if state in states:
            return state
    return PENDED
