"""Pre-authorization (card hold) rules: states, transitions, amount, timing, messages.

    scheduled → processing → held → charged | released
                           ↘ failed        ↘ expired (the gateway let the hold lapse)
    scheduled → cancelled           processing → not_needed (amount $0: no hold placed)

A transition is applied by the services as a compare-and-set on the row
(`UPDATE … WHERE id = ? AND state IN (allowed)`); this module says which states
allow what, and what to tell the person who lost the race.
"""

import re
from collections.abc import Iterable
from datetime import date, datetime, timedelta

SCHEDULED, PROCESSING, HELD = "scheduled", "processing", "held"
CHARGED, RELEASED = "charged", "released"
FAILED, CANCELLED, EXPIRED = "failed", "cancelled", "expired"
NOT_NEEDED = "not_needed"
STATES = (SCHEDULED, PROCESSING, HELD, CHARGED, RELEASED, FAILED, CANCELLED, EXPIRED, NOT_NEEDED)
STATE_LABELS = {
    SCHEDULED: "Scheduled",
    PROCESSING: "Placing hold",
    HELD: "Held",
    CHARGED: "Charged",
    RELEASED: "Released",
    FAILED: "Failed",
    CANCELLED: "Cancelled",
    EXPIRED: "Expired",
    NOT_NEEDED: "No hold needed",
}
# Nothing more happens on its own from these states (the page stops polling).
FINAL_STATES = frozenset({HELD, CHARGED, RELEASED, FAILED, CANCELLED, EXPIRED, NOT_NEEDED})

# action: (states it may start from, state it leads to)
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "claim": (frozenset({SCHEDULED}), PROCESSING),
    "hold": (frozenset({PROCESSING}), HELD),
    "fail": (frozenset({PROCESSING}), FAILED),
    "skip": (frozenset({PROCESSING}), NOT_NEEDED),
    "unclaim": (frozenset({PROCESSING}), SCHEDULED),  # transient error, or hold not found
    "withdraw": (frozenset({PROCESSING}), CANCELLED),  # the appointment was cancelled meanwhile
    "cancel": (frozenset({SCHEDULED}), CANCELLED),
    "reschedule": (
        frozenset({SCHEDULED, CANCELLED, FAILED, RELEASED, EXPIRED, NOT_NEEDED}),
        SCHEDULED,
    ),
    "retry": (frozenset({FAILED}), SCHEDULED),
    # A hold found at the gateway whose answer was lost becomes the row's hold.
    "adopt": (frozenset({SCHEDULED, PROCESSING, FAILED}), HELD),
    "expire": (frozenset({HELD}), EXPIRED),
    "charge": (frozenset({HELD}), CHARGED),
    "release": (frozenset({HELD}), RELEASED),
}

MIN_HOURS, MAX_HOURS = 0, 168
# An off-session Visa authorization lasts 4 days 18 hours; past 96 hours before the
# visit, a hold may lapse before it can be captured.
WARN_ABOVE_HOURS = 96
VISA_HOLD_LIFETIME = timedelta(days=4, hours=18)
DEFAULT_HOLD_LIFETIME = timedelta(days=7)

# Failure codes (written on the row, and used to decide whether Retry can work).
NO_CARD = "no_card"
CARD_EXPIRED = "expired_card"
GATEWAY_UNAVAILABLE = "gateway_unavailable"
# Codes that name a problem with the card itself: Retry needs another default card.
CARD_PROBLEMS = frozenset(
    {
        "card_declined",
        "insufficient_funds",
        "authentication_required",
        "expired_card",
        "incorrect_cvc",
        "incorrect_number",
        "lost_card",
        "stolen_card",
        "do_not_honor",
        "generic_decline",
    }
)


def allowed(action: str, state: str) -> bool:
    return state in TRANSITIONS[action][0]


def target(action: str) -> str:
    return TRANSITIONS[action][1]


def from_states(action: str) -> frozenset[str]:
    return TRANSITIONS[action][0]


def refusal(action: str, state: str | None) -> str | None:
    """Why a person's Cancel / Retry / Reschedule cannot apply to a row in `state`.

    None when the action is allowed. Also the message for the loser of a race.
    """
    if state is None:
        return "There is no pre-authorization on this appointment."
    if allowed(action, state) or (action == "reschedule" and state == HELD):
        return None  # a held visit's Reschedule releases the hold and schedules anew
    label = STATE_LABELS.get(state, state).lower()
    if state == PROCESSING:
        return "The hold is being placed right now. Wait for the result, then try again."
    if action == "cancel":
        if state == CANCELLED:
            return "This pre-authorization is already cancelled."
        if state == HELD:
            return "The hold is already placed; it can be released, not cancelled."
        return f"Only a scheduled pre-authorization can be cancelled; this one is {label}."
    if action == "retry":
        if state == SCHEDULED:
            return "This pre-authorization is already scheduled; there is nothing to retry."
        return f"Only a failed pre-authorization can be retried; this one is {label}."
    if action == "reschedule":
        return f"A pre-authorization that is {label} cannot be rescheduled."
    return f"Not possible while the pre-authorization is {label}."


def invoice_refusal(state: str | None, amount_cents: int | None = None) -> str | None:
    """Why manual invoice creation is refused for an encounter, or None if it is allowed.

    `amount_cents` is what a scheduled hold would hold now: a $0 amount places no
    hold, so it blocks nothing (seed: "Once a pre-authorization is scheduled …
    manual invoice creation is disabled to prevent overcharging": nothing to overcharge).
    """
    if state == SCHEDULED and amount_cents == 0:
        return None
    if state in (SCHEDULED, PROCESSING):
        return (
            "A pre-authorization is scheduled for this appointment. Charge or cancel it "
            "first: invoicing now could charge the client twice."
        )
    if state == HELD:
        return (
            "Funds are held on the client's card for this appointment. Charge or release "
            "the hold instead of creating an invoice by hand."
        )
    return None


def hold_amount(billing_type: str, copay_cents: int | None, prices_cents: Iterable[int]) -> int:
    """What to hold: Insurance → the copay; Self-pay, Unknown (or no insurance) → the prices.

    An Insurance encounter without a client insurance has no copay to use, so it
    is treated as Self-pay, like Unknown.
    """
    if billing_type == "insurance" and copay_cents is not None:
        return max(0, copay_cents)
    return max(0, sum(prices_cents))


def run_at(starts_at: datetime, hours_before: int) -> datetime:
    return starts_at - timedelta(hours=hours_before)


_WHOLE = re.compile(r"(?P<whole>\d+)(?:[.,](?P<fraction>\d*))?")


def parse_hours(text: str | None) -> int:
    """Hours typed by a person: a whole number from 0 to 168. ValueError with a message."""
    value = (text or "").strip()
    if not value:
        raise ValueError("Enter the number of hours before the appointment (0–168).")
    if value.startswith(("-", "−")):
        raise ValueError("Hours cannot be negative.")
    match = _WHOLE.fullmatch(value) if value.isascii() else None
    if match is None:
        raise ValueError(f"{value!r} is not a number of hours; use a whole number such as 24.")
    if (match["fraction"] or "").strip("0"):
        raise ValueError("Use a whole number of hours, such as 24.")
    hours = int(match["whole"])
    if hours > MAX_HOURS:
        raise ValueError(f"At most {MAX_HOURS} hours (7 days) before the appointment.")
    return hours


def hours_warning(hours: int | None) -> str | None:
    if hours is None or hours <= WARN_ABOVE_HOURS:
        return None
    return (
        f"{hours} hours is more than {WARN_ABOVE_HOURS}: an off-session Visa hold lasts "
        "4 days 18 hours, so it may lapse before the appointment is charged."
    )


def hold_lapses_at(held_at: datetime, brand: str | None) -> datetime:
    """When an uncaptured hold lapses, if the gateway does not say: Visa 4 days 18 hours
    (merchant-initiated), other networks 7 days."""
    lifetime = VISA_HOLD_LIFETIME if (brand or "").lower() == "visa" else DEFAULT_HOLD_LIFETIME
    return held_at + lifetime


def card_expired(exp_month: int, exp_year: int, today: date) -> bool:
    """A card is good through the last day of its expiry month."""
    return (exp_year, exp_month) < (today.year, today.month)


def retry_refusal(
    failure_code: str | None,
    failed_card_id: int | None,
    default_card_id: int | None,
    default_card_expired: bool,
) -> str | None:
    """Why Retry would fail again now, or None when it is worth trying.

    No card on file → needs a default card; a problem with the card (declined,
    expired, authentication required) → needs a different, unexpired default card;
    other failures (the gateway was down, an unexpected answer) can be retried as is.
    """
    if failure_code == NO_CARD or failure_code in CARD_PROBLEMS:
        if default_card_id is None:
            return "Add a card for the client (Bill To & Insurance), then retry."
        if default_card_expired:
            return "The client's default card has expired. Add a new card, then retry."
        if failure_code != NO_CARD and default_card_id == failed_card_id:
            return (
                "The same card was declined. Add another card or make it the default, then retry."
            )
    return None


def should_poll(state: str, run_at_value: datetime, now: datetime) -> bool:
    """The page polls while something is about to happen: a due scheduled hold, or processing."""
    return state == PROCESSING or (state == SCHEDULED and run_at_value <= now)
