"""Billing rules: what an encounter costs, how a hold is charged or released,
which automation rule runs, and the ledger invariants.

Decisions where the seed is silent:
- **Insurance**: the client's share of a visit is the copay of the client's
  insurance, once per encounter whatever the number of services (the payer is
  billed the service prices, not the client). This is also what the hold is
  placed for, so charging an unchanged encounter captures exactly the hold.
- **Self-pay / Unknown**: the sum of the service prices, one line per service. A
  timed service (one with a unit length) is priced per unit: its line is
  units × price per unit (seed: "a timed service priced per unit"); an untimed one
  is priced per visit (1 × price). The units come from `webapp.domain.units`.
- **Cancellation fee**: the sum of the services' cancellation fees, one line per
  service with a fee, whatever the billing type (insurance never pays for a
  missed visit). A fee is per visit unless the service type sets it per unit.
- A cost of zero captures nothing: the whole hold is released.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from webapp.domain.authorization_rules import CANCELLED, KEPT, LATE_CANCELLED, NO_SHOW, UPCOMING
from webapp.domain.ledger import (  # noqa: F401 (the ledger's names, kept for callers)
    ADDITIONAL_CHARGE,
    BALANCE_PAYMENT,
    CANCELLATION_FEE,
    COLLECTING_KINDS,
    HOLD_CAPTURE,
    HOLD_RELEASE,
    INVOICE_OPEN,
    INVOICE_PAID,
    INVOICE_PARTLY_REFUNDED,
    INVOICE_REFUNDED,
    INVOICE_STATUS_LABELS,
    INVOICE_VOID,
    PAYMENT_KIND_LABELS,
    REFUND,
    REFUND_REASONS,
    Movement,
    balance_refusal,
    collected,
    gross_paid,
    hold_mismatch,
    invoice_mismatch,
    invoice_status,
    refund_refusal,
    refunded,
    void_refusal,
)
from webapp.domain.money import format_cents

# --- events, actions, dispositions ---------------------------------------------------

ENCOUNTER_FINALIZED, ENCOUNTER_CANCELLED = "encounter_finalized", "encounter_cancelled"
EVENTS = (ENCOUNTER_FINALIZED, ENCOUNTER_CANCELLED)
EVENT_LABELS = {
    ENCOUNTER_FINALIZED: "Encounter Finalized",
    ENCOUNTER_CANCELLED: "Encounter Cancelled",
}

CHARGE_PREAUTH = "charge_preauth"
CHARGE_CANCELLATION_FEE = "charge_cancellation_fee"
RELEASE_PREAUTH = "release_preauth"
ACTIONS = (CHARGE_PREAUTH, CHARGE_CANCELLATION_FEE, RELEASE_PREAUTH)
ACTION_LABELS = {
    CHARGE_PREAUTH: "Charge Pre-authorization",
    CHARGE_CANCELLATION_FEE: "Charge Cancellation Fee",
    RELEASE_PREAUTH: "Release Pre-authorization",
}
# The seed's table: what each event may do.
ACTIONS_FOR_EVENT = {
    ENCOUNTER_FINALIZED: (CHARGE_PREAUTH,),
    ENCOUNTER_CANCELLED: (CHARGE_CANCELLATION_FEE, RELEASE_PREAUTH),
}

# Dispositions of a cancellation, each with the encounter status it leads to.
LATE_CANCELLATION = "late_cancellation"
NO_SHOW_DISPOSITION = "no_show"
CANCELLED_BY_CLIENT = "cancelled_by_client"
CANCELLED_BY_PRACTICE = "cancelled_by_practice"
DISPOSITIONS = (LATE_CANCELLATION, NO_SHOW_DISPOSITION, CANCELLED_BY_CLIENT, CANCELLED_BY_PRACTICE)
DISPOSITION_LABELS = {
    LATE_CANCELLATION: "Late cancellation",
    NO_SHOW_DISPOSITION: "No-show",
    CANCELLED_BY_CLIENT: "Cancelled by client (in time)",
    CANCELLED_BY_PRACTICE: "Cancelled by practice",
}
STATUS_FOR_DISPOSITION = {
    LATE_CANCELLATION: LATE_CANCELLED,
    NO_SHOW_DISPOSITION: NO_SHOW,
    CANCELLED_BY_CLIENT: CANCELLED,
    CANCELLED_BY_PRACTICE: CANCELLED,
}
FINALIZED_STATUS = KEPT
LATE_NOTICE = timedelta(hours=24)


def suggested_disposition(starts_at: datetime, now: datetime) -> str:
    """What the Cancel dialog preselects: after the start a no-show, within
    24 hours of it a late cancellation, otherwise a cancellation in time."""
    if now >= starts_at:
        return NO_SHOW_DISPOSITION
    if starts_at - now < LATE_NOTICE:
        return LATE_CANCELLATION
    return CANCELLED_BY_CLIENT


def correction_refusal(current_status: str, new_status: str) -> str | None:
    """The Status form corrects a closed appointment; it never closes an upcoming one.

    Closing goes through Finalize or Cancel, which run the automation rules and
    settle the hold; a plain status change would skip both.
    """
    if current_status == UPCOMING and new_status != UPCOMING:
        return (
            "Use Finalize or Cancel to close an upcoming appointment: "
            "they run your automation rules and settle any card hold."
        )
    return None


def event_refusal(event: str, encounter_status: str) -> str | None:
    """Why an encounter in this status cannot be finalized or cancelled, or None."""
    if encounter_status == UPCOMING:
        return None
    verb = "finalized" if event == ENCOUNTER_FINALIZED else "cancelled"
    return f"This appointment is no longer upcoming ({encounter_status}); it cannot be {verb}."


# --- what an encounter costs ---------------------------------------------------------


@dataclass(frozen=True)
class ServiceCharge:
    """One service line of an encounter with what it costs.

    `price_cents` is per unit when the service is timed (`unit_minutes` set), else per
    visit; `units` are the line's billable units (1 for an untimed service). The
    cancellation fee is per visit unless `fee_per_unit`.
    """

    service_type_id: int | None
    code: str
    name: str
    price_cents: int
    cancellation_fee_cents: int = 0
    units: int = 1
    unit_minutes: int | None = None
    fee_per_unit: bool = False

    @property
    def per_unit(self) -> bool:
        return self.unit_minutes is not None

    @property
    def quantity(self) -> int:
        """What the price is multiplied by: the units of a timed service, else 1."""
        return self.units if self.per_unit else 1

    @property
    def amount_cents(self) -> int:
        """Price × units for a timed service; the price for an untimed one (cents)."""
        return self.price_cents * self.quantity

    @property
    def fee_quantity(self) -> int:
        return self.units if self.per_unit and self.fee_per_unit else 1

    @property
    def fee_cents(self) -> int:
        return self.cancellation_fee_cents * self.fee_quantity


@dataclass(frozen=True)
class Line:
    """An invoice line: `quantity` × `unit_price_cents` = `amount_cents`."""

    service_type_id: int | None
    description: str
    amount_cents: int
    quantity: int = 1
    unit_price_cents: int | None = None

    @property
    def unit_price(self) -> int:
        return self.amount_cents if self.unit_price_cents is None else self.unit_price_cents


def cost_lines(
    billing_type: str,
    services: Sequence[ServiceCharge],
    *,
    copay_cents: int | None = None,
    payer_name: str | None = None,
) -> list[Line]:
    """The client's share of an encounter, as invoice lines.

    Insurance with a policy → one copay line; Self-pay, Unknown, or Insurance
    without a policy → one line per service: units × price per unit for a timed
    service, 1 × price per visit for an untimed one.
    """
    if billing_type == "insurance" and copay_cents is not None:
        codes = ", ".join(s.code for s in services)
        payer = f" ({payer_name})" if payer_name else ""
        description = f"Copay{payer}" + (f" for {codes}" if codes else "")
        return [Line(None, description, copay_cents, 1, copay_cents)]
    return [
        Line(s.service_type_id, _service_description(s), s.amount_cents, s.quantity, s.price_cents)
        for s in services
    ]


def _service_description(s: ServiceCharge) -> str:
    if not s.per_unit:
        return f"{s.code} · {s.name}"
    return f"{s.code} · {s.name} ({units_label(s.units, s.unit_minutes)})"


def units_label(units: int, unit_minutes: int | None) -> str:
    """'4 units of 15 min', '1 unit of 15 min'."""
    return f"{units} unit{'' if units == 1 else 's'} of {unit_minutes} min"


def cancellation_fee_lines(
    services: Sequence[ServiceCharge], disposition: str | None
) -> list[Line]:
    """One line per service that has a cancellation fee (per visit, or × units when
    the service type charges it per unit)."""
    reason = DISPOSITION_LABELS.get(disposition or "", "Cancellation")
    lines = []
    for s in services:
        if s.fee_cents <= 0:
            continue
        description = f"{reason} fee · {s.code} {s.name}"
        if s.per_unit and s.fee_per_unit:
            description += f" ({units_label(s.units, s.unit_minutes)})"
        lines.append(
            Line(s.service_type_id, description, s.fee_cents, s.fee_quantity,
                 s.cancellation_fee_cents)
        )  # fmt: skip
    return lines


def total(lines: Iterable[Line]) -> int:
    return sum(line.amount_cents for line in lines)


# --- what to do with a hold ----------------------------------------------------------


@dataclass(frozen=True)
class MoneyPlan:
    """Gateway actions for one encounter: capture from the hold, charge the card
    for more, release the rest of the hold. All in cents, none negative."""

    held_cents: int  # 0 when there is no hold
    owed_cents: int
    capture_cents: int = 0
    charge_cents: int = 0
    release_cents: int = 0

    @property
    def collected_cents(self) -> int:
        return self.capture_cents + self.charge_cents

    @property
    def moves_money(self) -> bool:
        return self.collected_cents > 0 or self.release_cents > 0

    def describe(self, card_label: str | None = None) -> list[str]:
        """The steps in words, for the confirmation dialog and the audit log."""
        card = card_label or "the card on file"
        steps = []
        if self.capture_cents:
            whole = " (the whole hold)" if self.capture_cents == self.held_cents else ""
            steps.append(f"Capture {format_cents(self.capture_cents)} from the hold{whole}.")
        if self.charge_cents:
            steps.append(f"Charge {format_cents(self.charge_cents)} more to {card}.")
        if self.release_cents:
            steps.append(f"Release {format_cents(self.release_cents)} back to the client.")
        if not steps:
            steps.append("Nothing to charge or release.")
        return steps


def charge_plan(held_cents: int, cost_cents: int) -> MoneyPlan:
    """Charge a held encounter for its current cost.

    equal → capture all; more → capture the hold and charge the difference;
    less → capture the new cost and release the rest (zero → release it all).
    """
    _check_amounts(held_cents, cost_cents)
    if cost_cents >= held_cents:
        return MoneyPlan(held_cents, cost_cents, held_cents, cost_cents - held_cents, 0)
    return MoneyPlan(held_cents, cost_cents, cost_cents, 0, held_cents - cost_cents)


def cancellation_fee_plan(held_cents: int | None, fee_cents: int) -> MoneyPlan:
    """Take the fee from the hold where it covers it, release the rest; else
    capture the hold and charge the rest; with no hold, charge the card."""
    held = held_cents or 0
    _check_amounts(held, fee_cents)
    if fee_cents <= held:
        return MoneyPlan(held, fee_cents, fee_cents, 0, held - fee_cents)
    return MoneyPlan(held, fee_cents, held, fee_cents - held, 0)


def release_plan(held_cents: int) -> MoneyPlan:
    _check_amounts(held_cents, 0)
    return MoneyPlan(held_cents, 0, 0, 0, held_cents)


def _check_amounts(*amounts: int) -> None:
    for amount in amounts:
        if not isinstance(amount, int) or amount < 0:
            raise ValueError(f"Amounts are whole, non-negative cents, not {amount!r}")


# --- automation rules ----------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    id: int
    event: str
    action: str
    disposition: str | None = None
    active: bool = True


def rule_refusal(event: str, action: str, disposition: str | None) -> str | None:
    """Why a rule cannot be saved, or None."""
    if event not in EVENTS:
        return "Choose an event from the list."
    if action not in ACTIONS:
        return "Choose an action from the list."
    if action not in ACTIONS_FOR_EVENT[event]:
        fits = " or ".join(ACTION_LABELS[a] for a in ACTIONS_FOR_EVENT[event])
        return (
            f"{ACTION_LABELS[action]} does not fit {EVENT_LABELS[event]}: "
            f"that event can only {fits}."
        )
    if disposition and event != ENCOUNTER_CANCELLED:
        return "Only cancellations have a disposition; leave it on Any for this event."
    if disposition and disposition not in DISPOSITIONS:
        return "Choose a disposition from the list."
    return None


def rule_label(rule: Rule) -> str:
    when = EVENT_LABELS[rule.event]
    if rule.disposition:
        when += f" · {DISPOSITION_LABELS.get(rule.disposition, rule.disposition)}"
    return f"{when} → {ACTION_LABELS.get(rule.action, rule.action)}"


def rule_matches(rule: Rule, event: str, disposition: str | None) -> bool:
    return (
        rule.active
        and rule.event == event
        and (rule.disposition is None or rule.disposition == disposition)
    )


@dataclass(frozen=True)
class Match:
    """The rule that runs (first listed among the matching ones) and the others
    that matched too, each with its number in the list (1-based)."""

    winner: Rule | None
    number: int | None
    also: tuple[tuple[int, Rule], ...] = field(default_factory=tuple)

    def explanation(self) -> str:
        """Which rule applies, by its description (staff read rules by what they do)."""
        if self.winner is None:
            return "No automation rule matches."
        text = f"“{rule_label(self.winner)}” applies"
        if self.also:
            labels = [f"“{rule_label(rule)}”" for _, rule in self.also]
            others = (
                labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + f" and {labels[-1]}"
            )
            verb = "matches" if len(labels) == 1 else "match"
            text += f"; {others} also {verb}, but the first listed wins"
        return text + "."


def match_rule(rules: Sequence[Rule], event: str, disposition: str | None) -> Match:
    """Rules in list order; the first active one for this event (and disposition,
    when the rule names one) wins."""
    matching = [(n, r) for n, r in enumerate(rules, start=1) if rule_matches(r, event, disposition)]
    if not matching:
        return Match(None, None)
    (number, winner), *others = matching
    return Match(winner, number, tuple(others))


def shadowing(rules: Sequence[Rule]) -> dict[int, int]:
    """Rule id → number of the earlier active rule that always wins instead of it
    (same event, and no disposition or the same one)."""
    shadowed: dict[int, int] = {}
    for index, rule in enumerate(rules):
        if not rule.active:
            continue
        for number, earlier in enumerate(rules[:index], start=1):
            if (
                earlier.active
                and earlier.event == rule.event
                and earlier.disposition in (None, rule.disposition)
            ):
                shadowed[rule.id] = number
                break
    return shadowed
