"""No untracked hold, ever: ask the gateway, then adopt, keep, release or report.

`check(row_id, …)` is the one place every path goes through before it acts on a
pre-authorization that may have a hold at the gateway (`may_have_holds`): a new
attempt of the hold job, the last try of a job writing "failed", a person's Retry,
Cancel, Reschedule and Release Hold, a visit that is moved, cancelled or
finalized, the webhook and the periodic reconciliation. It lists every hold of the
pre-authorization (every attempt's: reference `preauth-<id>-`) for the client's
gateway customer, lets `webapp.domain.hold_rules.plan` decide, and carries the plan out:

1. adopt (compare-and-set scheduled | processing | failed → held, for the attempt
   we read) a lost hold of the current attempt when the visit wants one now;
2. release every other live hold (idempotency key of that attempt's release, so a
   release already written down as a payment is the same gateway request);
3. report what cannot be undone (money captured that no row shows), notify billers;
4. a held row whose own hold is gone at the gateway becomes expired (billers told).

Each step writes a HoldFinding (the System page) and an audit record, and commits.
When the gateway cannot be reached the row keeps `gateway_check_due`, the caller
carries on (nothing it does moves money blindly: a new attempt checks again first)
and the hold-check job or the reconciliation asks again.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from webapp.domain import hold_rules, preauth_rules
from webapp.domain.money import format_cents
from webapp.domain.preauth_rules import FAILED, HELD, PROCESSING, SCHEDULED
from webapp.extensions import db
from webapp.models import HoldFinding, Payment, PreAuthorization
from webapp.models.base import utcnow
from webapp.payments import current_gateway
from webapp.payments.gateway import (
    HOLD_REFERENCE_PREFIX,
    GatewayError,
    Hold,
    PermanentGatewayError,
    TransientGatewayError,
    idempotency_key,
    parse_hold_reference,
)
from webapp.services import audit, preauth_state
from webapp.services.cards import card_label
from webapp.services.notifications import notify

log = logging.getLogger(__name__)

ADOPTED, RELEASED, EXPIRED, REPORTED = "adopted", "released", "expired", "reported"


@dataclass
class Check:
    """What a check found and did. `reached`: the gateway answered every call."""

    reached: bool = True
    adopted: Hold | None = None
    seen: dict[int, str] = field(default_factory=dict)  # attempt → status at the gateway
    released: list[str] = field(default_factory=list)
    reported: list[str] = field(default_factory=list)
    expired: bool = False

    @property
    def message(self) -> str | None:
        """A sentence for the person whose action ran the check, or None."""
        parts = []
        if self.adopted is not None:
            parts.append(
                f"A hold of {format_cents(self.adopted.amount_cents)} placed earlier (its "
                "answer had been lost) was found at the card processor; Covered tracks it now."
            )
        if self.released:
            count = len(self.released)
            parts.append(
                f"{count} hold{'' if count == 1 else 's'} at the card processor that this "
                f"appointment no longer needed {'was' if count == 1 else 'were'} released."
            )
        if not self.reached:
            parts.append(
                "The card processor could not be asked about earlier holds; Covered "
                "checks again shortly."
            )
        return " ".join(parts) or None


def may_have_holds(row: PreAuthorization | None) -> bool:
    """Whether the gateway may hold money for this row that the row does not show.

    Such a hold can only come from a gateway call whose answer was not heard (a
    network timeout, a crash between the call and the commit), and every such call
    marks the row (`gateway_check_due`; a crashed worker's row stays processing and
    the sweeper checks it). So a row that is not marked has nothing untracked."""
    return bool(row is not None and row.gateway_check_due)


def wants_hold_now(row: PreAuthorization, now: datetime) -> bool:
    """What the reconciliation and the hold-check job assume: a scheduled, processing
    or failed attempt that is due, for an upcoming visit yet to start, wants its hold."""
    encounter = row.encounter
    return (
        row.state in (SCHEDULED, PROCESSING, FAILED)
        and row.run_at <= now
        and encounter.status == "upcoming"
        and encounter.starts_at > now
    )


def check_by_id(row_id: int, *, found_by: str, now: datetime) -> Check:
    """`check` with what the row wants now (`wants_hold_now`), for jobs. A row being
    placed (processing) or renewed is left to the job doing it."""
    row = db.session.get(PreAuthorization, row_id)
    if row is None or row.state == PROCESSING or row.renewal_started_at is not None:
        return Check()
    return check(row_id, found_by=found_by, wants_hold=wants_hold_now(row, now), now=now)


def check_if_needed(row: PreAuthorization | None, *, found_by: str, wants_hold: bool) -> Check:
    """`check` when `may_have_holds(row)`; otherwise nothing to ask (reached)."""
    if not may_have_holds(row):
        return Check()
    return check(row.id, found_by=found_by, wants_hold=wants_hold)


def check(
    row_id: int,
    *,
    found_by: str,
    wants_hold: bool,
    now: datetime | None = None,
    owns_processing: bool = False,
) -> Check:
    """Ask the gateway for every hold of pre-authorization `row_id` and act (see the
    module's steps). Commits. Never raises for the gateway: `reached` says whether it
    answered. `found_by` names the action for the findings ("Retry", "reconciliation").
    A row being placed (processing) belongs to its job: only that job or the sweeper
    (`owns_processing`) checks it; anyone else leaves it marked."""
    now = now or utcnow()
    result = Check()
    row = db.session.get(PreAuthorization, row_id)
    customer = row.encounter.client.gateway_customer_id if row else None
    if row is None or not customer:
        return result
    if row.state == PROCESSING and not owns_processing:
        result.reached = False  # the job placing it will tell; it stays marked
        return result
    try:
        found = current_gateway().holds_for(
            customer_id=customer, reference_prefix=f"{HOLD_REFERENCE_PREFIX}{row.id}-"
        )
    except GatewayError as error:
        log.warning("could not check the holds of pre-authorization %s: %s", row_id, error)
        return _unreached(row_id, result)
    holds = _ours(row, found)
    if row.state == HELD and row.renewal_started_at is not None:
        # The lapse watcher is placing attempt A+1's hold: it is not untracked.
        holds = [h for h in holds if h[1] != row.attempt + 1]
    rank = {hold_rules.LIVE: 0, "succeeded": 1}
    for hold, attempt, _releasing in sorted(holds, key=lambda h: -rank.get(h[0].status, 9)):
        result.seen[attempt] = hold.status  # the most telling status of each attempt
    decision = hold_rules.plan(
        state=row.state,
        attempt=row.attempt,
        own_reference=row.gateway_reference if row.state == HELD else None,
        holds=[_as_rule(h, attempt, releasing) for h, attempt, releasing in holds],
        wants_hold=wants_hold,
    )
    by_reference = {h.reference: h for h, _attempt, _releasing in holds}
    if decision.adopt is not None:
        _adopt(row, by_reference[decision.adopt.reference], found_by, now, result)
    for hold in decision.release:
        _release(row, hold, by_reference[hold.reference], found_by, result)
    for hold, why in decision.report:
        _report(row, by_reference[hold.reference], found_by, why, result)
    if row.state == HELD and decision.own_status not in (None, hold_rules.LIVE):
        _own_hold_gone(row, decision.own_status, found_by, now, result)
    if not result.reached:
        return _unreached(row_id, result)
    preauth_state.set_check_due(row_id, False)
    db.session.commit()
    return result


def _unreached(row_id: int, result: Check) -> Check:
    db.session.rollback()
    preauth_state.set_check_due(row_id, True)
    db.session.commit()
    result.reached = False
    return result


def _ours(row: PreAuthorization, found: list[Hold]) -> list[tuple[Hold, int, bool]]:
    """(hold, attempt, a release is written down) for the holds that are really this
    row's: its reference, and its organization when the gateway names one."""
    mine = []
    for hold in found:
        parsed = parse_hold_reference(hold.our_reference)
        if parsed is None or parsed[0] != row.id:
            continue
        if hold.organization_id not in (None, row.organization_id):
            continue
        mine.append((hold, parsed[1]))
    releasing = set(
        db.session.scalars(
            select(Payment.gateway_reference).where(
                Payment.pre_authorization_id == row.id,
                Payment.kind == "hold_release",
                Payment.status != "failed",
                Payment.gateway_reference.in_([h.reference for h, _ in mine]),
            )
        )
    )
    return [(hold, attempt, hold.reference in releasing) for hold, attempt in mine]


def _as_rule(hold: Hold, attempt: int, releasing: bool) -> hold_rules.GatewayHold:
    return hold_rules.GatewayHold(
        hold.reference, attempt, hold.status, hold.amount_cents, hold.lapses_at, releasing
    )


def _finding(row, hold: Hold, outcome: str, found_by: str, message: str) -> None:
    db.session.add(
        HoldFinding(
            organization_id=row.organization_id,
            pre_authorization_id=row.id,
            gateway_reference=hold.reference[:100],
            our_reference=(hold.our_reference or "")[:100] or None,
            amount_cents=hold.amount_cents,
            gateway_status=hold.status[:40],
            outcome=outcome,
            found_by=found_by[:60],
            message=message[:500],
        )
    )


def _adopt(row, hold: Hold, found_by: str, now: datetime, result: Check) -> None:
    card = row.card or preauth_state.default_card(row.encounter.client_id)
    before, attempt, was = audit.snapshot(row), row.attempt, row.state
    won = preauth_state.transition(
        row.id,
        "adopt",
        if_attempt=attempt,
        amount_cents=hold.amount_cents,
        card_id=card.id if card else None,
        card_label=card_label(card) if card else row.card_label,
        gateway_reference=hold.reference,
        held_at=hold.created_at or now,
        lapses_at=hold.lapses_at
        or preauth_rules.hold_lapses_at(hold.created_at or now, card.brand if card else None),
        failure_code=None,
        failure_reason=None,
        finished_at=None,
    )
    if not won:
        result.reached = False  # someone moved the row meanwhile: ask again later
        return
    message = (
        f"The hold of {format_cents(hold.amount_cents)} ({hold.reference}) was placed but "
        f"its answer was lost; found before {found_by}, the appointment now tracks it."
    )
    preauth_state.record(row.id, "adopted", None, before=before, reason=message)
    _finding(row, hold, ADOPTED, found_by, message)
    if was == SCHEDULED:
        preauth_state.after_commit("drop", row.id, attempt)
    db.session.commit()
    result.adopted = hold


def _release(row, rule_hold, hold: Hold, found_by: str, result: Check) -> None:
    key = idempotency_key("preauth", row.id, rule_hold.attempt, "release")
    try:
        current_gateway().release(hold_reference=hold.reference, idempotency_key=key)
    except TransientGatewayError:
        result.reached = False
        return
    except PermanentGatewayError as error:
        now_there = _status(hold.reference)
        if now_there != "canceled":
            why = (
                f"It could not be released ({error.message}); the card processor says {now_there}."
            )
            _report(row, hold, found_by, why, result)
            return
    if rule_hold.releasing:
        return  # a release written down as a payment; its settlement records it
    message = (
        f"An untracked hold of {format_cents(hold.amount_cents)} ({hold.our_reference}) was "
        f"released before {found_by}."
    )
    preauth_state.record(row.id, "untracked_released", None, reason=message)
    _finding(row, hold, RELEASED, found_by, message)
    db.session.commit()
    result.released.append(hold.reference)


def _status(reference: str) -> str:
    try:
        hold = current_gateway().get_hold(reference)
    except GatewayError:
        return "unknown"
    return hold.status if hold else "missing"


def _report(row, hold: Hold, found_by: str, why: str, result: Check) -> None:
    """Written once per hold: billers are told, and the System page lists it."""
    already = db.session.scalar(
        select(HoldFinding.id).where(
            HoldFinding.gateway_reference == hold.reference, HoldFinding.outcome == REPORTED
        )
    )
    result.reported.append(hold.reference)
    if already:
        return
    message = f"{hold.reference} ({hold.our_reference}): {why}"
    _finding(row, hold, REPORTED, found_by, message)
    preauth_state.record(row.id, "hold_reported", None, reason=message)
    notify(
        preauth_state.billers(row.organization_id),
        kind="preauth.reported",
        title=f"Check a card hold of {row.encounter.client.full_name}",
        body=message,
        link=preauth_state.encounter_link(row.encounter_id),
    )
    db.session.commit()


def _own_hold_gone(row, status: str, found_by: str, now: datetime, result: Check) -> None:
    """A held row whose hold the gateway no longer holds: canceled → expired (it lapsed
    or was cancelled there); captured or missing → reported."""
    hold = Hold(row.gateway_reference, row.amount_cents or 0, status, our_reference=None)
    if status != "canceled":
        why = f"The appointment shows it held, but the card processor says {status}."
        _report(row, hold, found_by, why, result)
        return
    if expire(row, "The card processor no longer holds it", now):
        _finding(row, hold, EXPIRED, found_by, row.failure_reason or "expired")
        db.session.commit()
        result.expired = True


def expire(row: PreAuthorization, cause: str, now: datetime) -> bool:
    """held → expired (the gateway let the hold go), billers told. The caller commits."""
    reason = (
        f"The hold of {format_cents(row.amount_cents or 0)} lapsed at the card processor "
        f"before it was charged ({cause}). Reschedule to place a new hold."
    )
    lapsed = preauth_state.transition(
        row.id,
        "expire",
        if_attempt=row.attempt,
        failure_code="hold_lapsed",
        failure_reason=reason,
        finished_at=now,
    )
    if not lapsed:
        return False
    preauth_state.record(row.id, "expired", None, reason=reason)
    notify(
        preauth_state.billers(row.organization_id),
        kind="preauth.expired",
        title=f"Hold expired for {row.encounter.client.full_name}",
        body=reason,
        link=preauth_state.encounter_link(row.encounter_id),
    )
    return True
