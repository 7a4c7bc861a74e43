"""Card holds against the gateway's truth: which holds to adopt, keep or release, and
when a hold must be renewed or moved so that it never lapses before its visit.

Rule (seed: pre-authorization.md, "No untracked hold, ever"): before a new attempt,
a Retry, a cancel, a release, a reschedule, or writing "failed" after a transient
error, the gateway is asked for every hold carrying this pre-authorization's
reference (`preauth-<id>-<attempt>`, every attempt's), and `plan` says what to do
with each:

- the row is **held**: its own hold is kept; any other live hold is released;
- the visit **wants a hold now** (a due attempt, a Retry, a finalized visit, the
  last try of a job) and the row is scheduled, processing or failed: the newest
  live hold of the *current* attempt is adopted (the
  row becomes held with it, as if the lost answer had arrived; if it lapses before
  the visit, the lapse watcher renews it like any other); every other live hold is
  released;
- otherwise (cancelled, rescheduled, released, charged, …): every live hold is
  released.

So after a plan is carried out there is at most one live hold per visit, and none
when the visit wants none. A hold of ours that took money without the row knowing
(captured) cannot be undone here: it is reported. The one deliberate overlap is the
renewal of a hold about to lapse (seed: "new hold first, then release the old
one"), for the seconds between the two gateway calls.

No flask or sqlalchemy here; times are naive UTC and passed in.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from webapp.domain.money import format_cents

LIVE = "requires_capture"
CAPTURED = ("succeeded", "processing")
# States whose row can take on a hold found at the gateway (its answer was lost).
ADOPTING_STATES = frozenset({"scheduled", "processing", "failed"})

# How long before a hold lapses the watcher places its replacement; several runs of
# the watcher (every few minutes) fit in it, so a transient error is retried.
RENEW_AHEAD = timedelta(hours=12)
# Holds younger than this are left to the job that is placing them (the periodic
# reconciliation would otherwise race a worker between its gateway call and its commit).
RECONCILE_GRACE = timedelta(minutes=10)


@dataclass(frozen=True)
class GatewayHold:
    """One payment intent of a pre-authorization, as the gateway reports it.

    `attempt` is parsed from our reference; `releasing` is true when a release of it
    is already written down (a pending or settled hold_release payment)."""

    reference: str
    attempt: int
    status: str
    amount_cents: int
    lapses_at: datetime | None = None
    releasing: bool = False

    @property
    def live(self) -> bool:
        return self.status == LIVE


@dataclass(frozen=True)
class HoldPlan:
    """What to do with a pre-authorization's holds at the gateway.

    `adopt`: the hold the row takes on (None: none); `keep`: the row's own hold,
    still live; `release`: live holds to let go; `report`: (hold, why) for what
    cannot be fixed here; `own_status`: for a held row, its hold's status at the
    gateway ("missing" when the gateway does not list it)."""

    adopt: GatewayHold | None = None
    keep: GatewayHold | None = None
    release: tuple[GatewayHold, ...] = ()
    report: tuple[tuple[GatewayHold, str], ...] = ()
    own_status: str | None = None

    @property
    def live_after(self) -> int:
        """Live holds once the plan is carried out (releases succeed)."""
        return int(self.adopt is not None) + int(self.keep is not None)


def plan(
    *,
    state: str,
    attempt: int,
    own_reference: str | None,
    holds: Sequence[GatewayHold],
    wants_hold: bool,
) -> HoldPlan:
    """What to do with every hold of one pre-authorization (see the module's rule).

    `state` is the row's state, `attempt` its current attempt, `own_reference` the
    hold it tracks (`pi_…`, held rows only), `wants_hold` whether the visit should
    have a hold right now (the caller's action decides). Raises ValueError when a
    hold is not one of this pre-authorization's (an attempt below 1).
    """
    for hold in holds:
        if hold.attempt < 1:
            raise ValueError(f"{hold.reference} is not an attempt of this pre-authorization")
    live = [h for h in holds if h.live]
    reports = tuple(
        (h, f"{format_cents(h.amount_cents)} was captured at the card processor "
            "but Covered shows no charge for it.")
        for h in holds
        if h.status in CAPTURED and h.reference != own_reference
    )  # fmt: skip
    if state == "held":
        own = next((h for h in holds if h.reference == own_reference), None)
        keep = own if own is not None and own.live else None
        release = tuple(h for h in live if h is not keep)
        return HoldPlan(None, keep, release, reports, own.status if own else "missing")
    adopt = None
    if wants_hold and state in ADOPTING_STATES:
        candidates = [h for h in live if h.attempt == attempt and not h.releasing]
        # The newest (it lapses last); a gateway that ignores keys may have placed two.
        adopt = max(candidates, key=lambda h: (h.lapses_at or datetime.min, h.reference),
                    default=None)  # fmt: skip
    release = tuple(h for h in live if h is not adopt)
    return HoldPlan(adopt, None, release, reports)


# --- moving a visit, and holds that would lapse before it ---------------------------


@dataclass(frozen=True)
class MoveDecision:
    """What moving a visit does to its pre-authorization, in words for the page.

    kind: "none" (nothing changes), "move" (the scheduled hold moves), "keep" (the
    placed hold still covers the visit), "replace" (the placed hold is released and
    a new one scheduled)."""

    kind: str
    run_at: datetime | None = None
    hours_before: int | None = None
    sentence: str = ""


def held_move(
    *,
    lapses_at: datetime | None,
    new_starts_at: datetime,
    hours_before: int,
    now: datetime,
) -> str:
    """A held visit moves to `new_starts_at`: "keep" its hold, or "replace" it.

    Replace (release it, schedule a new hold at the new start − `hours_before`)
    when the hold lapses before the new start, or when the new start is further
    out than the hours-before window (the new hold's time is still to come);
    otherwise the hold keeps covering the visit.
    """
    run_at = new_starts_at - timedelta(hours=hours_before)
    if lapses_at is not None and lapses_at <= new_starts_at:
        return "replace"
    if run_at > now:
        return "replace"
    return "keep"


def needs_renewal(*, lapses_at: datetime | None, visit_ends_at: datetime, now: datetime) -> bool:
    """A placed hold lapses before its visit is over and its lapse is near
    (within RENEW_AHEAD), and it has not lapsed yet: renew it now."""
    if lapses_at is None or lapses_at > visit_ends_at:
        return False
    return now < lapses_at <= now + RENEW_AHEAD


def renewal_time(lapses_at: datetime) -> datetime:
    """When the watcher places the replacement of a hold lapsing at `lapses_at`."""
    return lapses_at - RENEW_AHEAD


# --- the gateway's words, for staff -------------------------------------------------

_STAFF_WORDING = {
    "card_declined": "The card was declined.",
    "generic_decline": "The card was declined.",
    "do_not_honor": "The card was declined.",
    "insufficient_funds": "The card has insufficient funds.",
    "expired_card": "The card has expired.",
    "incorrect_cvc": "The card's security code is incorrect.",
    "incorrect_number": "The card number is incorrect.",
    "lost_card": "The card was declined (reported lost).",
    "stolen_card": "The card was declined (reported stolen).",
    "authentication_required": (
        "The card needs the cardholder to authenticate; ask the client for another card."
    ),
}
_YOUR = re.compile(r"\b([Yy])our\b")


def staff_message(code: str | None, message: str | None) -> str:
    """A gateway's answer as staff should read it: about *the* card, not "your card".

    Known decline codes get our sentence; anything else is the gateway's message
    with "Your"/"your" turned into "The"/"the" (Stripe writes to cardholders)."""
    if code in _STAFF_WORDING:
        return _STAFF_WORDING[code]
    text = (message or "").strip() or "The card processor refused the payment."
    return _YOUR.sub(lambda m: "The" if m[1] == "Y" else "the", text)


@dataclass(frozen=True)
class HoldMoney:
    """What became of a hold: captured from it, released from it, charged on top."""

    held_cents: int
    captured_cents: int = 0
    released_cents: int = 0
    extra_cents: int = 0
    pending: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)

    def sentence(self) -> str:
        """'Captured $15.00 of the $40.00 hold and released $25.00.' and the like."""
        held = format_cents(self.held_cents)
        if self.pending:
            return f"The hold of {held} is being settled with the card processor."
        if self.captured_cents == self.held_cents and not self.released_cents:
            text = f"The whole hold of {held} was captured"
        elif self.captured_cents and self.released_cents:
            text = (
                f"Captured {format_cents(self.captured_cents)} of the {held} hold and "
                f"released {format_cents(self.released_cents)}"
            )
        elif self.captured_cents:
            text = f"Captured {format_cents(self.captured_cents)} of the {held} hold"
        elif self.released_cents:
            text = f"The hold of {held} was released; nothing was captured from it"
        else:
            text = f"Nothing was captured from the hold of {held}"
        if self.extra_cents:
            text += f", and charged {format_cents(self.extra_cents)} more to the card"
        return text + "."
