"""What the encounter page shows about its pre-authorization, and when it looks again.

Every amount it states is read from the rows: what a scheduled hold would hold now
(the services priced as they are), what a placed hold holds, and, for a charged or
released hold, the payments that settled it (`hold_money`).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from webapp.domain import billing_rules, hold_rules, preauth_rules
from webapp.domain.preauth_rules import CHARGED, FAILED, HELD, RELEASED, SCHEDULED
from webapp.domain.windows import local_date
from webapp.extensions import db
from webapp.models import Encounter, Organization, Payment, PreAuthorization
from webapp.models.base import utcnow
from webapp.services import invoices
from webapp.services.hold_renewal import RENEWAL_FAILED
from webapp.services.preauth import current_amount, for_encounter, hold_refusal, retry_refusal


@dataclass
class Notice:
    """The pre-authorization notification at the top of an encounter."""

    row: PreAuthorization | None
    encounter: Encounter
    active: bool  # Payments Settings
    polls: bool
    wake_in_seconds: int | None  # scheduled, not yet due: look again when it is
    retry_refusal: str | None
    invoice_block: str | None
    schedulable: str | None  # why no hold can be scheduled (None: it can)
    amount_preview: int = 0  # what a hold would hold now (cents)
    money: hold_rules.HoldMoney | None = None  # charged / released: what became of it
    lapse_note: str | None = None  # held: what happens when the hold lapses
    renewal_failed: bool = False

    @property
    def state(self) -> str | None:
        return self.row.state if self.row else None

    @property
    def label(self) -> str:
        return preauth_rules.STATE_LABELS.get(self.state, "") if self.row else ""

    @property
    def due_now(self) -> bool:
        """Scheduled, and its time has come (booked inside the window, or moved into it)."""
        return self.state == SCHEDULED and self.polls

    @property
    def nothing_to_hold(self) -> bool:
        """Scheduled, but the visit's amount is $0.00 now: no hold would be placed."""
        return self.state == SCHEDULED and self.amount_preview == 0


WAKE_WITHIN_SECONDS = 3600


def hold_money(row: PreAuthorization) -> hold_rules.HoldMoney:
    """What the payments of the row's current hold say became of it (cents)."""
    payments = db.session.scalars(
        select(Payment).where(
            Payment.encounter_id == row.encounter_id, Payment.status != invoices.FAILED
        )
    ).all()
    of_hold = [
        p for p in payments if p.pre_authorization_id == row.id and p.hold_attempt == row.attempt
    ]
    settled = [p for p in of_hold if p.status == invoices.SUCCEEDED]
    claim_keys = {p.idempotency_key.rsplit("-", 1)[0] for p in of_hold}
    extra = [
        p
        for p in payments
        if not p.from_hold
        and p.status == invoices.SUCCEEDED
        and p.kind in (billing_rules.ADDITIONAL_CHARGE, billing_rules.CANCELLATION_FEE)
        and p.idempotency_key.rsplit("-", 1)[0] in claim_keys  # the same claim's charge
    ]
    return hold_rules.HoldMoney(
        held_cents=row.amount_cents or 0,
        captured_cents=sum(
            p.amount_cents
            for p in settled
            if p.kind in billing_rules.COLLECTING_KINDS and p.from_hold
        ),
        released_cents=sum(p.amount_cents for p in settled if p.kind == billing_rules.HOLD_RELEASE),
        extra_cents=sum(p.amount_cents for p in extra),
        pending=any(p.status == invoices.PENDING for p in of_hold),
    )


def _lapse_note(row: PreAuthorization, encounter: Encounter) -> str | None:
    """What happens when a placed hold lapses (times are formatted by the template)."""
    if row.lapses_at is None:
        return None
    ends = encounter.starts_at + timedelta(minutes=encounter.duration_minutes)
    if row.failure_code == RENEWAL_FAILED:
        return "renewal_failed"
    if row.lapses_at <= ends and encounter.status == "upcoming":
        return "renews"
    return "after_visit"


def notice(encounter: Encounter, org: Organization, now: datetime | None = None) -> Notice:
    now = now or utcnow()
    row = for_encounter(encounter.id)
    wake = None
    polls = False
    blocker = None
    money = None
    lapse_note = None
    amount = current_amount(encounter)
    if row is not None:
        polls = preauth_rules.should_poll(row.state, row.run_at, now)
        if row.state == SCHEDULED and not polls:
            seconds = int((row.run_at - now).total_seconds()) + 1
            wake = seconds if seconds <= WAKE_WITHIN_SECONDS else None
        if row.state == FAILED:
            blocker = retry_refusal(row, local_date(now, org.timezone))
        if row.state in (CHARGED, RELEASED):
            money = hold_money(row)
        if row.state == HELD:
            lapse_note = _lapse_note(row, encounter)
    state = row.state if row else None
    return Notice(
        row=row,
        encounter=encounter,
        active=org.preauth_active,
        polls=polls,
        wake_in_seconds=wake,
        retry_refusal=blocker,
        invoice_block=preauth_rules.invoice_refusal(state, amount),
        schedulable=hold_refusal(encounter, now),
        amount_preview=amount,
        money=money,
        lapse_note=lapse_note,
        renewal_failed=lapse_note == "renewal_failed",
    )


def renewal_time(row: PreAuthorization) -> datetime | None:
    return hold_rules.renewal_time(row.lapses_at) if row.lapses_at else None
