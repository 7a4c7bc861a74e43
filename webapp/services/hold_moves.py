"""A visit's pre-authorization when the visit moves, or a person reschedules a placed hold.

Seed (pre-authorization.md): "If the encounter start date changes, the
pre-authorization automatically adjusts to the new time based on the environment's
pre-authorization settings." So a moved visit's hold time is derived again from the
Payments Settings in force now (new start − the current hours before), not from the
hours it was first scheduled with:

- a **scheduled** hold moves to the new start − current hours;
- a **held** visit keeps its hold while the hold still covers the new start and the
  new start is inside the hours-before window (`webapp.domain.hold_rules.held_move`);
  otherwise the hold is released and a new one scheduled at the new time;
- Reschedule on a held visit does the same with the hours the person chose.

A release is written as a pending `hold_release` payment in the same transaction as
the move, and carried out by the settle job right after the commit (same
idempotency key on every replay), so nothing touches the gateway inside the
booking's transaction. `preview` says all this on the page before saving.
"""

from dataclasses import dataclass
from datetime import datetime

from webapp.domain import hold_rules, preauth_rules
from webapp.domain.billing_rules import HOLD_RELEASE
from webapp.domain.money import format_cents
from webapp.domain.preauth_rules import HELD, SCHEDULED
from webapp.domain.windows import to_local
from webapp.extensions import db
from webapp.models import Encounter, Organization, Payment, PreAuthorization, User
from webapp.models.base import utcnow
from webapp.payments.gateway import idempotency_key
from webapp.services import audit, preauth_state

WHEN = "%a %b %-d, %Y · %-I:%M %p"


@dataclass(frozen=True)
class MovePreview:
    """What saving a new start does to the pre-authorization, for the edit page."""

    kind: str  # none | move | keep | replace
    sentence: str = ""
    run_at: datetime | None = None


def _when(value: datetime, org: Organization) -> str:
    return to_local(value, org.timezone).strftime(WHEN)


def _hours(hours: int) -> str:
    return f"{hours} hour{'' if hours == 1 else 's'}"


def preview(
    org: Organization, encounter: Encounter, new_starts_at: datetime, now: datetime
) -> MovePreview:
    """What moving `encounter` to `new_starts_at` (naive UTC) will do to its hold."""
    row = preauth_state.for_encounter(encounter.id)
    if new_starts_at == encounter.starts_at:
        return standing_note(org, encounter)
    if row is None:
        return MovePreview("none")
    hours = org.preauth_hours_before
    run_at = preauth_rules.run_at(new_starts_at, hours)
    placed_at = (
        "as soon as you save (that time has passed)"
        if run_at <= now
        else f"on {_when(run_at, org)} ({_hours(hours)} before the new time, "
        "from Payments Settings)"
    )
    if row.state == SCHEDULED:
        return MovePreview(
            "move", f"The pre-authorization moves with the start: the hold is placed {placed_at}.",
            run_at,
        )  # fmt: skip
    if row.state != HELD:
        return MovePreview("none")
    held = f"The hold of {format_cents(row.amount_cents or 0)} on {row.card_label or 'the card'}"
    lapses = row.lapses_at
    kind = hold_rules.held_move(
        lapses_at=lapses, new_starts_at=new_starts_at, hours_before=hours, now=now
    )
    if kind == "keep":
        return MovePreview(
            "keep", f"{held} stays: it lapses {_when(lapses, org)}, after the new time.", None
        )
    if lapses is not None and lapses <= new_starts_at:
        why = f"lapses {_when(lapses, org)}, before the new time"
    else:
        why = f"would be placed more than {_hours(hours)} before the new time"
    return MovePreview(
        "replace",
        f"{held} {why}. Saving releases it and places a new hold {placed_at}.",
        run_at,
    )


def standing_note(org: Organization, encounter: Encounter) -> MovePreview:
    """What the edit page says before anything is changed: the rule for this visit."""
    row = preauth_state.for_encounter(encounter.id)
    hours = _hours(org.preauth_hours_before)
    if row is not None and row.state == SCHEDULED:
        return MovePreview(
            "move",
            "The scheduled pre-authorization moves with the start: it is placed "
            f"{hours} before the new time (Payments Settings).",
        )
    if row is not None and row.state == HELD and row.lapses_at is not None:
        return MovePreview(
            "keep",
            f"The hold of {format_cents(row.amount_cents or 0)} lapses "
            f"{_when(row.lapses_at, org)}. Moving the appointment past that, or more than "
            f"{hours} out, releases it and places a new hold {hours} before the new time.",
        )
    return MovePreview("none")


def replace_held(
    row: PreAuthorization,
    encounter: Encounter,
    hours: int,
    actor: User | None,
    reason: str,
    now: datetime | None = None,
) -> bool:
    """held → released (a pending release payment) → scheduled at start − `hours`, in the
    caller's transaction; the release is carried out after the commit. True if won."""
    now = now or utcnow()
    before, attempt = audit.snapshot(row), row.attempt
    amount, reference = row.amount_cents or 0, row.gateway_reference
    if not preauth_state.transition(row.id, "release", if_attempt=attempt, finished_at=now):
        return False
    write_release(row, attempt, amount, reference, actor, now)
    preauth_state.record(row.id, "released", actor, before=before, reason=reason)
    db.session.refresh(row)
    if not preauth_state.reschedule(row, encounter, hours, actor, "rescheduled"):
        return False
    preauth_state.after_commit("settle", encounter.id, 0)
    return True


def write_release(
    row: PreAuthorization,
    attempt: int,
    amount: int,
    reference: str | None,
    actor: User | None,
    now: datetime,
) -> Payment:
    """A pending hold_release payment of `reference` (the hold of `attempt`), for the
    settle job: untaken (no attempt yet), so the first settler takes it at once."""
    payment = Payment(
        organization_id=row.organization_id,
        client_id=row.encounter.client_id,
        encounter_id=row.encounter_id,
        pre_authorization_id=row.id,
        hold_attempt=attempt,
        kind=HOLD_RELEASE,
        amount_cents=amount,
        gateway_reference=reference,
        idempotency_key=idempotency_key("preauth", row.id, attempt, "release"),
        from_hold=True,
        status="pending",
        attempted_at=None,
        created_by_id=actor.id if actor else None,
        created_at=now,
    )
    db.session.add(payment)
    db.session.flush()
    return payment
