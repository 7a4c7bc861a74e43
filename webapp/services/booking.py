"""Book encounters (one or a weekly series), with authorization warnings and blocking.

1. Every booking first bumps the client's `booking_version`: a row lock that
   makes two bookings of the same client wait for each other.
2. The warnings are then computed again inside that transaction, so the second
   of two racing bookings sees the first one's encounter.
3. With "Block over-scheduling" on, a booking with warnings is refused unless an
   admin gives a reason; the reason and the warnings go to the audit log.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from uuid import uuid4

from sqlalchemy import select, update
from sqlalchemy.orm import joinedload

from webapp.domain import authorization_rules, schedule_rules
from webapp.domain.windows import format_day, to_local, to_utc_naive
from webapp.extensions import db
from webapp.models import Client, ClientInsurance, Encounter, EncounterService, ServiceType, User
from webapp.models.base import utcnow
from webapp.models.organization import ADMIN, Organization
from webapp.services import allocation, audit, hold_checks, preauth
from webapp.services.coverage import Coverage, load_coverage, visit_warnings
from webapp.services.errors import Refused

MAX_OCCURRENCES = 52
MAX_DURATION_MINUTES = 600  # the booking form's limit: how far back an overlap can start
REPEAT_STEPS = {"none": None, "weekly": 7, "biweekly": 14}


@dataclass
class BookingRequest:
    clinician_id: int
    start_local: datetime  # wall time in the organization's zone
    duration_minutes: int
    lines: list[tuple[int, int]]  # (service type id, minutes)
    billing_type: str
    client_insurance_id: int | None
    repeat: str = "none"
    repeat_count: int | None = None
    repeat_until: date | None = None

    def local_starts(self) -> list[datetime]:
        step = REPEAT_STEPS[self.repeat]
        if step is None:
            return [self.start_local]
        starts, current = [], self.start_local
        while len(starts) < MAX_OCCURRENCES:
            if self.repeat_count is not None and len(starts) >= self.repeat_count:
                break
            if self.repeat_until is not None and current.date() > self.repeat_until:
                break
            starts.append(current)
            current += timedelta(days=step)
        return starts


@dataclass
class Occurrence:
    """One appointment of a booking (or the one being edited) and what it would carry."""

    number: int
    local_start: datetime
    day: date
    warnings: list[authorization_rules.CoverageWarning] = field(default_factory=list)
    conflicts: list[authorization_rules.CoverageWarning] = field(
        default_factory=list
    )  # double booking


@dataclass
class PushedOver:
    """A saved appointment this booking or edit would leave over its authorization."""

    encounter: Encounter
    warnings: list[authorization_rules.CoverageWarning]


@dataclass
class BookingCheck:
    """Every occurrence's authorization warnings (each judged with the earlier ones of
    the same booking placed first, exactly as they will be once saved), the saved
    appointments the booking would push over, and clinician double bookings."""

    occurrences: list[Occurrence]
    messaging_on: bool
    pushed_over: list[PushedOver] = field(default_factory=list)

    @property
    def affected(self) -> list[Occurrence]:
        """The occurrences with authorization warnings, all of them, in date order."""
        return [o for o in self.occurrences if o.warnings]

    @property
    def first_problem(self) -> Occurrence | None:
        return next(iter(self.affected), None)

    @property
    def shows_warnings(self) -> bool:
        """Authorization warnings show (and Block over-scheduling applies) where the
        payer's messaging is on."""
        return self.messaging_on and bool(self.affected or self.pushed_over)

    @property
    def conflicts(self) -> list[Occurrence]:
        return [o for o in self.occurrences if o.conflicts]


class BookingRefused(Refused):
    """Block over-scheduling is on and the booking has warnings (`check` lists them)."""

    def __init__(self, check: BookingCheck):
        super().__init__("This booking would over-schedule an authorization.")
        self.check = check


def draft_encounter(
    org: Organization, client: Client, booking_request: BookingRequest, local_start: datetime
) -> Encounter:
    """An unsaved encounter built from the request (not added to the session)."""
    services = {
        s.id: s
        for s in db.session.scalars(
            select(ServiceType).where(
                ServiceType.organization_id == org.id,
                ServiceType.id.in_([service_id for service_id, _ in booking_request.lines]),
            )
        )
    }
    insurance = (
        db.session.get(ClientInsurance, booking_request.client_insurance_id)
        if booking_request.billing_type == "insurance" and booking_request.client_insurance_id
        else None
    )
    encounter = Encounter(
        organization_id=org.id,
        client_id=client.id,
        clinician_id=booking_request.clinician_id,
        starts_at=to_utc_naive(local_start, org.timezone),
        service_date=local_start.date(),
        duration_minutes=booking_request.duration_minutes,
        status=authorization_rules.UPCOMING,
        billing_type=booking_request.billing_type,
        client_insurance_id=insurance.id if insurance else None,
    )
    encounter.client_insurance = insurance
    encounter.lines = [
        EncounterService(
            service_type_id=service_id, minutes=minutes, service_type=services[service_id]
        )
        for service_id, minutes in booking_request.lines
    ]
    return encounter


def judge(
    org: Organization,
    client: Client,
    drafts: list[Encounter],
    local_starts: list[datetime],
) -> BookingCheck:
    """Place the drafts with the client's saved appointments and read what each would carry.

    The same allocation run as after saving (`allocation.plan`), so the warnings
    on the form are the warnings the saved appointments show.
    """
    coverage = load_coverage(org, [client.id])
    plan = allocation.plan(org, client.id, drafts=drafts)
    occurrences = []
    messaging_on = False
    for number, (draft, local_start) in enumerate(zip(drafts, local_starts, strict=True), 1):
        if draft.client_insurance is not None:
            messaging_on = draft.client_insurance.payer.messaging_enabled
        result = plan[draft.id]
        occurrence = Occurrence(number, local_start, draft.service_date)
        occurrence.warnings = visit_warnings(
            coverage, draft, list(result.placements.values()), result.uncovered
        )
        occurrence.conflicts = clinician_conflicts(org, draft, drafts)
        occurrences.append(occurrence)
    return BookingCheck(occurrences, messaging_on, _pushed_over(coverage, plan, drafts))


def _pushed_over(coverage: Coverage, plan, drafts: list[Encounter]) -> list[PushedOver]:
    """Saved appointments over after the change that were not over before it."""
    draft_ids = {d.id for d in drafts}
    was_over = {
        row.usage.encounter_id
        for summary in coverage.summaries
        for row in summary.ledger.rows
        if row.over
    }
    pushed = []
    for encounter_id, result in sorted(plan.items(), key=lambda item: item[1].visit.order):
        if encounter_id in draft_ids or encounter_id in was_over or not result.over:
            continue
        encounter = db.session.get(Encounter, encounter_id)
        warnings = visit_warnings(
            coverage, encounter, list(result.placements.values()), result.uncovered
        )
        if warnings:
            pushed.append(PushedOver(encounter, warnings))
    return pushed


def clinician_conflicts(
    org: Organization, encounter: Encounter, drafts: list[Encounter] = ()
) -> list[authorization_rules.CoverageWarning]:
    """Warnings for the clinician's other appointments overlapping this one (saved, or
    other drafts of the same booking)."""
    if encounter.status not in schedule_rules.TAKES_TIME:
        return []
    slot = _slot(encounter)
    longest = timedelta(minutes=MAX_DURATION_MINUTES)
    saved = db.session.scalars(
        select(Encounter)
        .where(
            Encounter.organization_id == org.id,
            Encounter.clinician_id == encounter.clinician_id,
            Encounter.starts_at < slot.ends_at,
            Encounter.starts_at > slot.starts_at - longest,
            Encounter.status.in_(schedule_rules.TAKES_TIME),
        )
        .options(joinedload(Encounter.client))
    ).all()
    others = {e.id: e for e in saved if e.id != encounter.id}
    others.update({d.id: d for d in drafts if d.id != encounter.id})
    found = schedule_rules.conflicts(slot, [_slot(e) for e in others.values()])
    return [_conflict_warning(org, others[s.encounter_id]) for s in found]


def _slot(encounter: Encounter) -> schedule_rules.Slot:
    return schedule_rules.Slot(
        encounter.id,
        encounter.clinician_id,
        encounter.starts_at,
        encounter.duration_minutes,
        encounter.status,
    )


def _conflict_warning(org: Organization, other: Encounter) -> authorization_rules.CoverageWarning:
    start = to_local(other.starts_at, org.timezone)
    end = to_local(other.ends_at, org.timezone)
    when = f"{format_day(start.date())}, {start:%-I:%M %p}–{end:%-I:%M %p}"
    if other.id >= allocation.DRAFT_IDS_FROM:
        text = f"The clinician is booked twice: this series also has {when}."
    else:
        who = other.client.full_name if other.client else "another client"
        text = f"The clinician is already booked {when} (with {who})."
    return authorization_rules.CoverageWarning(schedule_rules.DOUBLE_BOOKED, text)


def check_booking(
    org: Organization, client: Client, booking_request: BookingRequest
) -> BookingCheck:
    """Warnings for every occurrence, each judged with the earlier ones placed first."""
    starts = booking_request.local_starts()
    drafts = [draft_encounter(org, client, booking_request, start) for start in starts]
    return judge(org, client, drafts, starts)


def lock_client_bookings(client_id: int) -> None:
    """Bump the client's booking_version at the start of a booking transaction.

    That row update serializes two bookings (or edits) of the same client, so the
    warnings computed after it see every earlier booking: two can't take the last unit.
    """
    db.session.execute(
        update(Client)
        .where(Client.id == client_id)
        .values(booking_version=Client.booking_version + 1)
    )


def refuse_unless_overridden(
    org: Organization, check: BookingCheck, *, actor: User, override_reason: str | None
) -> bool:
    """Whether an admin's override applies (to be kept in the audit log).

    Raises:
        BookingRefused: over-scheduling is blocked and no admin overrode it.
    """
    overridden = bool(override_reason) and actor.role == ADMIN
    if check.shows_warnings and org.block_overscheduling and not overridden:
        db.session.rollback()
        raise BookingRefused(check)
    return overridden


def book(
    org: Organization,
    client: Client,
    booking_request: BookingRequest,
    *,
    actor: User,
    override_reason: str | None = None,
) -> list[Encounter]:
    """Book every occurrence in one transaction, or raise BookingRefused."""
    lock_client_bookings(client.id)
    check = check_booking(org, client, booking_request)
    overridden = refuse_unless_overridden(org, check, actor=actor, override_reason=override_reason)
    series_id = uuid4().hex if len(check.occurrences) > 1 else None
    encounters = []
    for occurrence in check.occurrences:
        encounter = draft_encounter(org, client, booking_request, occurrence.local_start)
        encounter.series_id = series_id
        db.session.add(encounter)
        encounters.append(encounter)
    db.session.flush()
    allocation.reallocate_client(org, client.id)
    for encounter in encounters:
        audit.record(
            organization_id=org.id,
            user_id=actor.id,
            action="encounter.booked",
            row=encounter,
            after=audit.snapshot(encounter),
        )
    if check.shows_warnings and overridden:
        problem = check.first_problem
        audit.record(
            organization_id=org.id,
            user_id=actor.id,
            action="encounter.overbooking_overridden",
            entity_type="encounters",
            entity_id=encounters[0].id,
            after={
                "occurrence": problem.number if problem else None,
                "date": problem.day.isoformat() if problem else None,
                "occurrences": [
                    {
                        "number": o.number,
                        "date": o.day.isoformat(),
                        "warnings": [w.message for w in o.warnings],
                    }
                    for o in check.affected
                ],
                "pushed_over": [
                    {"encounter_id": p.encounter.id, "warnings": [w.message for w in p.warnings]}
                    for p in check.pushed_over
                ],
                "warnings": [w.message for w in problem.warnings] if problem else [],
            },
            reason=override_reason,
        )
    preauth.sync_encounters(org, encounters, actor=actor)
    db.session.commit()
    return encounters


class StatusRefused(Refused):
    """A correction to Kept of a visit that has not started, its date not confirmed."""


def set_status(
    encounter: Encounter, status: str, *, actor: User, confirm_early: str | None = None
) -> None:
    """Correct a closed appointment's status; the client's ledger is placed again and
    its pre-authorization follows (services.preauth).

    Marking a visit Kept before it starts needs its local date (ISO) in
    `confirm_early`, as Finalize does. A pre-authorization that may have an untracked
    hold is checked at the gateway first (services.hold_checks), before the client's
    booking lock is taken.

    Raises:
        ValueError: an unknown status.
        StatusRefused: an early Kept whose date was not confirmed.
    """
    if status not in authorization_rules.ENCOUNTER_STATUSES:
        raise ValueError(f"Unknown status {status!r}")
    if status == authorization_rules.KEPT:
        local_start = to_local(encounter.starts_at, actor.organization.timezone)
        problem = schedule_rules.early_keep_refusal(
            encounter.starts_at, utcnow(), local_start.replace(tzinfo=None), confirm_early
        )
        if problem:
            raise StatusRefused(problem)
    row = preauth.for_encounter(encounter.id)
    hold_checks.check_if_needed(
        row, found_by="a status change", wants_hold=status == authorization_rules.KEPT
    )
    db.session.refresh(encounter)
    lock_client_bookings(encounter.client_id)
    before = audit.snapshot(encounter)
    encounter.status = status
    allocation.reallocate_client(actor.organization, encounter.client_id)
    audit.record(
        organization_id=actor.organization_id,
        user_id=actor.id,
        action="encounter.status_changed",
        row=encounter,
        before=before,
        after=audit.snapshot(encounter),
    )
    preauth.sync_encounters(actor.organization, [encounter], actor=actor)
    db.session.commit()
