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

from webapp.domain import authorizations as rules
from webapp.domain.windows import to_utc_naive
from webapp.extensions import db
from webapp.models import Client, ClientInsurance, Encounter, EncounterService, ServiceType, User
from webapp.models.organization import ADMIN, Organization
from webapp.services import audit, hold_checks, preauth
from webapp.services.allocation import allocation_for, reallocate
from webapp.services.coverage import Coverage, load_coverage

MAX_OCCURRENCES = 52
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
    number: int
    local_start: datetime
    day: date
    warnings: list[rules.CoverageWarning] = field(default_factory=list)


@dataclass
class BookingCheck:
    occurrences: list[Occurrence]
    messaging_on: bool

    @property
    def first_problem(self) -> Occurrence | None:
        return next((o for o in self.occurrences if o.warnings), None)

    @property
    def shows_warnings(self) -> bool:
        return self.messaging_on and self.first_problem is not None


class BookingRefused(Exception):
    """Block over-scheduling is on and the booking has warnings."""

    def __init__(self, check: BookingCheck):
        super().__init__("This booking would over-schedule an authorization.")
        self.check = check


def _draft_encounter(
    org: Organization, client: Client, request: BookingRequest, local_start: datetime
) -> Encounter:
    """An unsaved encounter built from the request (not added to the session)."""
    services = {
        s.id: s
        for s in db.session.scalars(
            select(ServiceType).where(
                ServiceType.organization_id == org.id,
                ServiceType.id.in_([service_id for service_id, _ in request.lines]),
            )
        )
    }
    insurance = (
        db.session.get(ClientInsurance, request.client_insurance_id)
        if request.billing_type == "insurance" and request.client_insurance_id
        else None
    )
    encounter = Encounter(
        organization_id=org.id,
        client_id=client.id,
        clinician_id=request.clinician_id,
        starts_at=to_utc_naive(local_start, org.timezone),
        service_date=local_start.date(),
        duration_minutes=request.duration_minutes,
        status=rules.UPCOMING,
        billing_type=request.billing_type,
        client_insurance_id=insurance.id if insurance else None,
    )
    encounter.client_insurance = insurance
    encounter.lines = [
        EncounterService(
            service_type_id=service_id, minutes=minutes, service_type=services[service_id]
        )
        for service_id, minutes in request.lines
    ]
    return encounter


def encounter_warnings(
    encounter: Encounter, coverage: Coverage, *, extra_usages=None
) -> list[rules.CoverageWarning]:
    """Warnings for one encounter (saved or draft), judged against `coverage`."""
    if encounter.billing_type != "insurance" or encounter.client_insurance is None:
        return []
    summaries = coverage.for_client(encounter.client_id)
    candidates = [s.terms for s in summaries]
    amounts, uncovered = allocation_for(encounter, candidates)
    ledgers = {}
    for summary in summaries:
        extra = (extra_usages or {}).get(summary.authorization.id)
        ledgers[summary.authorization.id] = (
            rules.build_ledger(
                summary.terms,
                [row.usage for row in summary.ledger.rows] + extra,
                count_upcoming=coverage.org.count_upcoming_for_exhaustion,
            )
            if extra
            else summary.ledger
        )
    names = {line.service_type_id: line.service_type.cpt_code for line in encounter.lines}
    numbers = {s.authorization.id: s.authorization.display_number for s in summaries}
    warnings = [
        rules.uncovered_warning(
            candidates,
            number_by_auth=numbers,
            client_insurance_id=encounter.client_insurance_id,
            service_type_id=line.service_type_id,
            service_name=names[line.service_type_id],
            day=encounter.service_date,
        )
        for line in uncovered
    ]
    warnings += rules.booking_warnings(
        ledger_by_auth=ledgers,
        status_by_auth={s.authorization.id: s.status for s in summaries},
        number_by_auth=numbers,
        allocation=amounts,
        uncovered=[],
        day=encounter.service_date,
        exclude_encounter_id=encounter.id,
    )
    return warnings


def check_booking(org: Organization, client: Client, request: BookingRequest) -> BookingCheck:
    """Warnings for every occurrence, each judged with the earlier ones counted."""
    coverage = load_coverage(org, [client.id])
    extra: dict[int, list[rules.Usage]] = {}
    occurrences = []
    messaging_on = False
    candidates = coverage.terms_for_client(client.id)
    for number, local_start in enumerate(request.local_starts(), start=1):
        draft = _draft_encounter(org, client, request, local_start)
        if draft.client_insurance is not None:
            messaging_on = draft.client_insurance.payer.messaging_enabled
        occurrence = Occurrence(number, local_start, draft.service_date)
        occurrence.warnings = encounter_warnings(draft, coverage, extra_usages=extra)
        occurrences.append(occurrence)
        amounts, _ = allocation_for(draft, candidates)
        for auth_id, amount in amounts.items():
            # The booking's own earlier occurrences count as if kept, whatever the
            # setting, just as the booked encounter's own amount always does.
            usage = rules.Usage(-number, draft.service_date, rules.KEPT, amount, draft.starts_at)
            extra.setdefault(auth_id, []).append(usage)
    return BookingCheck(occurrences, messaging_on)


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
    """Raise BookingRefused where over-scheduling is blocked and no admin overrode it.

    Returns whether an admin's override applies (to be kept in the audit log)."""
    overridden = bool(override_reason) and actor.role == ADMIN
    if check.shows_warnings and org.block_overscheduling and not overridden:
        db.session.rollback()
        raise BookingRefused(check)
    return overridden


def book(
    org: Organization,
    client: Client,
    request: BookingRequest,
    *,
    actor: User,
    override_reason: str | None = None,
) -> list[Encounter]:
    """Book every occurrence in one transaction, or raise BookingRefused."""
    lock_client_bookings(client.id)
    check = check_booking(org, client, request)
    overridden = refuse_unless_overridden(org, check, actor=actor, override_reason=override_reason)
    series_id = uuid4().hex if len(check.occurrences) > 1 else None
    encounters = []
    for occurrence in check.occurrences:
        encounter = _draft_encounter(org, client, request, occurrence.local_start)
        encounter.series_id = series_id
        db.session.add(encounter)
        encounters.append(encounter)
    db.session.flush()
    reallocate(org, client.id, encounters)
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
                "occurrence": problem.number,
                "date": problem.day.isoformat(),
                "warnings": [w.message for w in problem.warnings],
            },
            reason=override_reason,
        )
    preauth.sync_encounters(org, encounters, actor=actor)
    db.session.commit()
    return encounters


def set_status(encounter: Encounter, status: str, *, actor: User) -> None:
    """Correct an encounter's status; its pre-authorization follows (services.preauth).

    A pre-authorization that may have an untracked hold is checked at the gateway
    first (services.hold_checks). Raises ValueError for an unknown status.
    """
    if status not in rules.ENCOUNTER_STATUSES:
        raise ValueError(f"Unknown status {status!r}")
    row = preauth.for_encounter(encounter.id)
    hold_checks.check_if_needed(row, found_by="a status change", wants_hold=status == rules.KEPT)
    db.session.refresh(encounter)
    before = audit.snapshot(encounter)
    encounter.status = status
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
