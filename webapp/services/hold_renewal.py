"""Holds never lapse silently before their visit: the lapse watcher renews them.

A card hold placed off-session lasts days, not weeks (Visa: 4 days 18 hours). A
held visit whose hold lapses before the visit is over is re-authorized shortly
before the lapse (`webapp.domain.hold_rules.needs_renewal`, RENEW_AHEAD), seed:
"new hold first, then release the old one", so the client's share stays secured:

1. claim the row (`renewal_started_at`, compare-and-set on state held and attempt A);
2. a replacement left by an earlier try whose answer was lost (reference of attempt
   A+1) is taken as it is; otherwise place the new hold for the same amount on the
   client's default card (the hold's card if there is no default; never an expired
   one), with the idempotency key of attempt A+1;
3. compare-and-set the row onto attempt A+1 with the new hold, and write the old
   hold's release as a pending payment in the same transaction; then release it
   (the settle job finishes it if the gateway does not answer);
4. a permanent failure (declined, no usable card) leaves the old hold until it
   lapses, writes the reason on the row (the page says it) and tells the billers,
   who can Renew now once the card is fixed; a transient one is tried again by the
   next run of the watcher.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update

from webapp.domain import hold_rules, preauth_rules
from webapp.domain.money import format_cents
from webapp.domain.preauth_rules import HELD
from webapp.domain.windows import local_date, to_local
from webapp.extensions import db
from webapp.models import Encounter, Organization, PaymentCard, PreAuthorization, User
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
from webapp.services import hold_moves, preauth_state, settlement
from webapp.services.cards import card_label
from webapp.services.notifications import notify

log = logging.getLogger(__name__)

CLAIM_TIMEOUT = timedelta(minutes=10)  # a renewal claimed longer ago died with its worker
BATCH = 200
RENEWAL_FAILED = "renewal_failed"


@dataclass
class RenewalReport:
    renewed: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    later: list[int] = field(default_factory=list)  # transient: the next run tries again

    @property
    def summary(self) -> str:
        return (
            f"renewed {len(self.renewed)}, failed {len(self.failed)}, "
            f"to try again {len(self.later)}"
        )


def due(now: datetime) -> list[int]:
    """Held rows of upcoming visits whose hold lapses before the visit ends, within
    RENEW_AHEAD from now, with no renewal failure waiting for a person."""
    rows = db.session.execute(
        select(PreAuthorization.id, PreAuthorization.lapses_at, Encounter.starts_at,
               Encounter.duration_minutes)
        .join(Encounter, Encounter.id == PreAuthorization.encounter_id)
        .where(
            PreAuthorization.state == HELD,
            PreAuthorization.failure_code.is_(None),
            PreAuthorization.lapses_at > now,
            PreAuthorization.lapses_at <= now + hold_rules.RENEW_AHEAD,
            or_(
                PreAuthorization.renewal_started_at.is_(None),
                PreAuthorization.renewal_started_at < now - CLAIM_TIMEOUT,
            ),
            Encounter.status == "upcoming",
        )
        .order_by(PreAuthorization.lapses_at)
        .limit(BATCH)
    ).all()  # fmt: skip
    db.session.commit()
    return [
        r.id
        for r in rows
        if hold_rules.needs_renewal(
            lapses_at=r.lapses_at,
            visit_ends_at=r.starts_at + timedelta(minutes=r.duration_minutes),
            now=now,
        )
    ]


def renew_lapsing(now: datetime | None = None) -> RenewalReport:
    """The watcher's run (every few minutes, jobs/hold_lapses.py)."""
    now = now or utcnow()
    report = RenewalReport()
    for row_id in due(now):
        outcome = renew(row_id, now)
        {"renewed": report.renewed, "failed": report.failed}.get(outcome, report.later).append(
            row_id
        )
    return report


def _claim(row: PreAuthorization, now: datetime) -> bool:
    result = db.session.execute(
        update(PreAuthorization)
        .where(
            PreAuthorization.id == row.id,
            PreAuthorization.state == HELD,
            PreAuthorization.attempt == row.attempt,
            or_(
                PreAuthorization.renewal_started_at.is_(None),
                PreAuthorization.renewal_started_at < now - CLAIM_TIMEOUT,
            ),
        )
        .values(renewal_started_at=now, failure_code=None, failure_reason=None),
        execution_options={"synchronize_session": False},
    )
    db.session.commit()
    return result.rowcount == 1


def _card(row: PreAuthorization, now: datetime) -> PaymentCard | None:
    """The client's default card (as for any new hold), else the hold's card if it is
    still on file; never an expired one."""
    org = db.session.get(Organization, row.organization_id)
    today = local_date(now, org.timezone)
    for card in (preauth_state.default_card(row.encounter.client_id), row.card):
        if card is not None and not preauth_rules.card_expired(
            card.exp_month, card.exp_year, today
        ):
            return card
    return None


def card_for_renewal(row: PreAuthorization, now: datetime | None = None) -> PaymentCard | None:
    """The card a renewal would hold on now (None: no usable card on file)."""
    return _card(row, now or utcnow())


def renew(row_id: int, now: datetime | None = None, *, actor: User | None = None) -> str:
    """Renew one held row's hold (see the module's steps): "renewed", "failed",
    "later" (transient), or "skipped" (someone else is renewing or it changed)."""
    now = now or utcnow()
    row = db.session.get(PreAuthorization, row_id)
    if row is None or row.state != HELD or not _claim(row, now):
        return "skipped"
    db.session.refresh(row)
    attempt, client = row.attempt, row.encounter.client
    card = _card(row, now)
    if card is None or not client.gateway_customer_id:
        return _failed(row, "No usable card on file for the client (none, or expired).")
    try:
        hold = _earlier_replacement(
            row, client.gateway_customer_id
        ) or current_gateway().place_hold(
            customer_id=client.gateway_customer_id,
            payment_method_id=card.gateway_payment_method_id,
            amount_cents=row.amount_cents,
            reference=preauth_state.job_id(row.id, attempt + 1),
            idempotency_key=idempotency_key("preauth", row.id, attempt + 1, "hold"),
            organization_id=row.organization_id,
        )
    except PermanentGatewayError as error:
        # Attempt A+1 is spent (its key answers with this refusal from now on): the
        # next try, once the card is fixed, is attempt A+2.
        return _failed(row, hold_rules.staff_message(error.code, error.message), spent=True)
    except TransientGatewayError:
        _unclaim(row, check_due=True)
        return "later"
    if not hold.live:
        return _failed(row, f"The card processor answered {hold.status!r} instead of a hold.")
    return _switch(row, attempt, hold, card, actor, now)


def _earlier_replacement(row: PreAuthorization, customer_id: str) -> Hold | None:
    """A live hold of attempt A+1 that an earlier try placed (its answer lost)."""
    try:
        found = current_gateway().holds_for(
            customer_id=customer_id, reference_prefix=f"{HOLD_REFERENCE_PREFIX}{row.id}-"
        )
    except GatewayError:
        return None  # the placement below replays the same key anyway
    for hold in found:
        parsed = parse_hold_reference(hold.our_reference)
        if hold.live and parsed == (row.id, row.attempt + 1):
            return hold
    return None


def _switch(row, attempt: int, hold: Hold, card, actor, now: datetime) -> str:
    old_amount, old_reference = row.amount_cents or 0, row.gateway_reference
    switched = db.session.execute(
        update(PreAuthorization)
        .where(
            PreAuthorization.id == row.id,
            PreAuthorization.state == HELD,
            PreAuthorization.attempt == attempt,
        )
        .values(
            attempt=attempt + 1,
            amount_cents=hold.amount_cents,
            card_id=card.id,
            card_label=card_label(card),
            gateway_reference=hold.reference,
            held_at=now,
            lapses_at=hold.lapses_at or preauth_rules.hold_lapses_at(now, card.brand),
            renewal_started_at=None,
            failure_code=None,
            failure_reason=None,
            updated_at=now,
        ),
        execution_options={"synchronize_session": False},
    ).rowcount == 1  # fmt: skip
    if not switched:  # charged or released meanwhile: the new hold is not wanted
        db.session.rollback()
        key = idempotency_key("preauth", row.id, attempt + 1, "release")
        try:
            current_gateway().release(hold_reference=hold.reference, idempotency_key=key)
        except GatewayError:
            preauth_state.set_check_due(row.id, True)
            db.session.commit()
        return "skipped"
    db.session.refresh(row)
    payment = hold_moves.write_release(row, attempt, old_amount, old_reference, actor, now)
    tz = db.session.get(Organization, row.organization_id).timezone
    reason = (
        f"Renewed before it lapsed: a new hold of {format_cents(hold.amount_cents)} lasts until "
        f"{to_local(row.lapses_at, tz).strftime('%b %-d, %-I:%M %p')}; the old one is released."
    )
    preauth_state.record(row.id, "renewed", actor, reason=reason)
    db.session.commit()
    settlement.carry_out(row.encounter, [payment.id], now)
    return "renewed"


def _unclaim(row: PreAuthorization, *, check_due: bool = False) -> None:
    db.session.rollback()
    db.session.execute(
        update(PreAuthorization)
        .where(PreAuthorization.id == row.id)
        .values(renewal_started_at=None, gateway_check_due=check_due or row.gateway_check_due),
        execution_options={"synchronize_session": False},
    )
    db.session.commit()


def _failed(row: PreAuthorization, why: str, *, spent: bool = False) -> str:
    """Keep the old hold; say why on the row and to the billers. `spent`: the
    renewal's attempt reached the gateway, so the row moves past it."""
    tz = db.session.get(Organization, row.organization_id).timezone
    lapses = to_local(row.lapses_at, tz).strftime("%a %b %-d, %-I:%M %p")
    reason = (
        f"The hold of {format_cents(row.amount_cents or 0)} lapses {lapses}, before the visit, "
        f"and could not be renewed: {why} After it lapses no money is held for this visit."
    )
    db.session.execute(
        update(PreAuthorization)
        .where(PreAuthorization.id == row.id, PreAuthorization.state == HELD)
        .values(
            renewal_started_at=None,
            failure_code=RENEWAL_FAILED,
            failure_reason=reason[:500],
            attempt=PreAuthorization.attempt + (1 if spent else 0),
        ),
        execution_options={"synchronize_session": False},
    )
    preauth_state.record(row.id, "renewal_failed", None, reason=reason[:500])
    notify(
        preauth_state.billers(row.organization_id),
        kind="preauth.renewal_failed",
        title=f"Hold could not be renewed for {row.encounter.client.full_name}",
        body=reason,
        link=preauth_state.encounter_link(row.encounter_id),
    )
    db.session.commit()
    return "failed"


OUTCOME_MESSAGES = {
    "renewed": "The hold was renewed; the old one is being released.",
    "failed": None,  # the notice shows why, in red
    "later": "The card processor could not be reached; the renewal is tried again shortly.",
}


def renew_refusal(row: PreAuthorization | None) -> str | None:
    """Why Renew now does not apply, or None."""
    if row is None or row.state != HELD:
        return "Only a placed hold can be renewed."
    return None


def renew_now(encounter: Encounter, *, actor: User, now: datetime | None = None) -> str:
    """A biller's Renew now on a held visit (after a failed renewal, a card fixed).

    Raises:
        preauth_state.ActionRefused: no held hold to renew, or it is being renewed now.
    """
    now = now or utcnow()
    row = preauth_state.for_encounter(encounter.id)
    refusal = renew_refusal(row)
    if refusal:
        raise preauth_state.ActionRefused(refusal)
    outcome = renew(row.id, now, actor=actor)
    if outcome == "skipped":
        raise preauth_state.ActionRefused(
            "The hold is being renewed right now. Reload in a moment."
        )
    return outcome
