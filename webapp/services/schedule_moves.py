"""Move an appointment to a new start from the schedule's calendar (a drag, or the Move
dialog's date and time), through the same path as Edit appointment.

A move is an edit that changes only the start: the appointment keeps its duration,
services, billing type and insurance (`move_request`). So:

1. the edit's checks judge it (`encounter_edit.check_edit`: authorization warnings of
   the moved visit, the saved visits it would push over, clinician double bookings),
   and the pre-authorization's fate is previewed (`encounter_edit.move_preview`,
   services.hold_moves: a scheduled hold moves, a held one stays or is replaced);
2. a move that carries any of that is saved only once the person has confirmed what
   they were shown: `acknowledged` must equal the check's `acknowledgement`, a digest
   of every sentence shown, so a warning that appeared since is shown again first;
3. saving is `encounter_edit.edit` itself (client booking lock, warnings judged
   again inside it, Block over-scheduling, audit, allocation, hold moves) — nothing
   of it is repeated here.
"""

import hashlib
from dataclasses import dataclass
from datetime import datetime

from webapp.domain import schedule_rules
from webapp.domain.authorization_rules import ENCOUNTER_STATUS_LABELS
from webapp.domain.windows import to_local, to_utc_naive
from webapp.models import Encounter, Organization, User
from webapp.models.organization import ADMIN
from webapp.services import booking, encounter_edit, hold_moves
from webapp.services.errors import Refused


class MoveRefused(Refused):
    """The appointment cannot move there (closed, unchanged, or over-scheduling blocked)."""


class MoveUnconfirmed(Refused):
    """The move carries warnings or a hold consequence the person has not confirmed
    (`check` says what to show)."""

    status = 200

    def __init__(self, check: "MoveCheck"):
        super().__init__("Confirm the move: it carries warnings or moves a hold.")
        self.check = check


@dataclass
class MoveCheck:
    """What moving `encounter` to `start_local` (the organization's wall time) carries.

    `check`: the edit's BookingCheck; `hold`: what happens to the pre-authorization;
    `refusal`: why it cannot be saved at all (None when it can).
    """

    encounter: Encounter
    start_local: datetime
    request: booking.BookingRequest
    check: booking.BookingCheck | None
    hold: hold_moves.MovePreview
    refusal: str | None = None
    new_starts_at: datetime | None = None  # naive UTC
    needs_override: bool = False  # Block over-scheduling is on; an admin may override

    @property
    def sentences(self) -> list[str]:
        """Every warning shown with the move, and the hold sentence, in order."""
        found: list[str] = []
        if self.check is not None:
            occurrence = self.check.occurrences[0]
            if self.check.shows_warnings:
                found += [w.message for w in occurrence.warnings]
                found += [w.message for p in self.check.pushed_over for w in p.warnings]
            found += [w.message for w in occurrence.conflicts]
        if self.hold.kind != "none":
            found.append(self.hold.sentence)
        return found

    @property
    def needs_confirmation(self) -> bool:
        return bool(self.sentences)

    @property
    def acknowledgement(self) -> str:
        """A digest of the new start and every sentence shown (what a confirmation names)."""
        text = "\n".join([self.start_local.isoformat(), *self.sentences])
        return hashlib.sha256(text.encode()).hexdigest()[:32]


def move_request(encounter: Encounter, start_local: datetime) -> booking.BookingRequest:
    """The edit that moves `encounter` to `start_local` and changes nothing else."""
    return booking.BookingRequest(
        clinician_id=encounter.clinician_id,
        start_local=start_local,
        duration_minutes=encounter.duration_minutes,
        lines=[(line.service_type_id, line.minutes) for line in encounter.lines],
        billing_type=encounter.billing_type,
        client_insurance_id=encounter.client_insurance_id,
    )


def check_move(
    org: Organization,
    encounter: Encounter,
    start_local: datetime,
    *,
    actor: User,
    now: datetime | None = None,
) -> MoveCheck:
    """Judge the move as Edit appointment would, without saving anything."""
    move = move_request(encounter, start_local)
    new_starts_at = to_utc_naive(start_local, org.timezone)
    label = ENCOUNTER_STATUS_LABELS.get(encounter.status, encounter.status)
    refusal = schedule_rules.move_refusal(encounter.status, label)
    if refusal is None and new_starts_at == encounter.starts_at:
        refusal = "The appointment already starts then; nothing to move."
    if refusal:
        return MoveCheck(encounter, start_local, move, None, hold_moves.MovePreview("none"),
                         refusal, new_starts_at)  # fmt: skip
    check = encounter_edit.check_edit(org, encounter, move)
    hold = encounter_edit.move_preview(org, encounter, move, now)
    result = MoveCheck(encounter, start_local, move, check, hold, None, new_starts_at)
    if check.shows_warnings and org.block_overscheduling:
        if actor.role == ADMIN:
            result.needs_override = True
        else:
            result.refusal = (
                "Not moved: this practice blocks over-scheduling and the move has an "
                "authorization warning. Ask an admin to override it."
            )
    return result


def move(
    org: Organization,
    encounter: Encounter,
    start_local: datetime,
    *,
    actor: User,
    acknowledged: str | None,
    override_reason: str | None = None,
    now: datetime | None = None,
) -> MoveCheck:
    """Move the appointment (encounter_edit.edit), once what it carries is confirmed.

    `start_local` is the new start in the organization's zone; `acknowledged` the
    `acknowledgement` of the check the person confirmed (None: nothing confirmed yet).

    Raises:
        MoveRefused: the appointment is not Upcoming, already starts then, or
            over-scheduling is blocked (for an admin: and no reason was given).
        MoveUnconfirmed: it carries warnings or a hold consequence not confirmed
            (its `check` says what to show). Nothing is saved.
        booking.BookingRefused: the edit's own check, judged again under the
            client's booking lock, refused it.
    """
    result = check_move(org, encounter, start_local, actor=actor, now=now)
    if result.refusal:
        raise MoveRefused(result.refusal)
    if result.needs_confirmation and acknowledged != result.acknowledgement:
        raise MoveUnconfirmed(result)
    if result.needs_override and not (override_reason or "").strip():
        raise MoveRefused(
            "This practice blocks over-scheduling: give a reason to move it anyway "
            "(kept in the audit log).",
            field="override_reason",
        )
    encounter_edit.edit(
        org, encounter, result.request, actor=actor,
        override_reason=(override_reason or "").strip() or None,
    )  # fmt: skip
    return result


def local_start(org: Organization, encounter: Encounter) -> datetime:
    """The appointment's start as wall time in the organization's zone (naive)."""
    return to_local(encounter.starts_at, org.timezone).replace(tzinfo=None)
