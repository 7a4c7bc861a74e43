"""The Today list: what needs doing now, per role, in a fixed number of queries.

A clinician sees their own visits (and the authorizations and holds of those visits);
a biller or an admin the whole practice. Four sections
(`webapp.domain.worklist_rules` says where each edge lies):

1. **Visits today**: every visit on today's service date, with the authorizations it
   counts against (or its warnings) and its hold's state;
2. **Holds in trouble**: Upcoming visits whose hold failed or lapses before the visit;
3. **Authorizations running short**: expiring within 30 days, or fewer than 2 left,
   while the client has visits booked;
4. **Visits with no covering authorization**.

Queries, whatever the practice's size: the visits (1, plus 1 for their services), their
holds (1) and `coverage.load_coverage` for their clients (3). Other lanes extend the
sections here (authorization lines and decision states add their own reasons).
"""

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import joinedload, selectinload

from webapp.domain import worklist_rules
from webapp.domain.authorization_rules import KEPT, UPCOMING
from webapp.domain.preauth_rules import STATE_LABELS
from webapp.extensions import db
from webapp.models import (
    ClientInsurance,
    Encounter,
    EncounterService,
    Organization,
    PreAuthorization,
    User,
)
from webapp.services import authorizations, coverage
from webapp.services.authorizations import PendingRequest


@dataclass
class TodayVisit:
    """A visit on today's list: its authorizations (numbers), warnings and hold."""

    encounter: Encounter
    authorizations: list[coverage.AuthorizationSummary]
    warnings: list
    hold: PreAuthorization | None

    @property
    def hold_label(self) -> str:
        return STATE_LABELS.get(self.hold.state, self.hold.state) if self.hold else "No hold"


@dataclass
class HoldTrouble:
    encounter: Encounter
    hold: PreAuthorization
    problem: str  # worklist_rules.HOLD_FAILED or HOLD_LAPSES


@dataclass
class ShortAuthorization:
    summary: coverage.AuthorizationSummary
    problems: list[str]  # worklist_rules.EXPIRING and/or FEW
    next_visit: Encounter  # the first Upcoming visit waiting on it


@dataclass
class UncoveredVisit:
    encounter: Encounter
    services: list[str]  # CPT codes of the lines nothing covers


@dataclass
class Today:
    day: date
    practice_wide: bool
    visits: list[TodayVisit] = field(default_factory=list)
    holds: list[HoldTrouble] = field(default_factory=list)
    authorizations: list[ShortAuthorization] = field(default_factory=list)
    uncovered: list[UncoveredVisit] = field(default_factory=list)
    # Requests waiting for the payer's decision (billers and admins), oldest due first.
    pending: list[PendingRequest] = field(default_factory=list)


def _encounters(org: Organization, user: User, today: date) -> list[Encounter]:
    """Today's visits, every Upcoming visit, and the Kept ones of the look-back."""
    query = (
        select(Encounter)
        .where(
            Encounter.organization_id == org.id,
            or_(
                Encounter.service_date == today,
                Encounter.status == UPCOMING,
                and_(
                    Encounter.status == KEPT,
                    Encounter.service_date >= worklist_rules.lookback_start(today),
                ),
            ),
        )
        .options(
            joinedload(Encounter.client),
            joinedload(Encounter.clinician),
            joinedload(Encounter.client_insurance).joinedload(ClientInsurance.payer),
            selectinload(Encounter.lines).joinedload(EncounterService.service_type),
        )
        .order_by(Encounter.starts_at, Encounter.id)
    )
    if user.is_clinician:
        query = query.where(Encounter.clinician_id == user.id)
    return list(db.session.scalars(query).unique())


def _holds(encounter_ids: list[int]) -> dict[int, PreAuthorization]:
    if not encounter_ids:
        return {}
    rows = db.session.scalars(
        select(PreAuthorization).where(PreAuthorization.encounter_id.in_(encounter_ids))
    )
    return {row.encounter_id: row for row in rows}


def today_list(org: Organization, user: User, *, today: date, now: datetime) -> Today:
    """The sections for `user` (see the module docstring); `today` is the practice's
    date, `now` naive UTC (for the payer's decision clock of pending requests, which
    billers and admins see). Times on the rows are naive UTC."""
    encounters = _encounters(org, user, today)
    holds = _holds([e.id for e in encounters])
    covering = coverage.load_coverage(org, sorted({e.client_id for e in encounters}), today=today)
    found = Today(today, practice_wide=not user.is_clinician)
    by_id = covering.by_id()
    counted_on: dict[int, list[int]] = {}
    for summary in covering.summaries:
        for row in summary.ledger.rows:
            counted_on.setdefault(row.usage.encounter_id, []).append(summary.line.id)
    waiting: dict[int, Encounter] = {}  # client insurance id: its first booked visit
    for encounter in encounters:
        booked = encounter.status == UPCOMING and encounter.service_date >= today
        if booked and encounter.client_insurance_id is not None:
            waiting.setdefault(encounter.client_insurance_id, encounter)
        if encounter.service_date == today:
            found.visits.append(
                TodayVisit(
                    encounter,
                    [by_id[i] for i in counted_on.get(encounter.id, [])],
                    coverage.visit_warnings(covering, encounter),
                    holds.get(encounter.id),
                )
            )
        hold = holds.get(encounter.id)
        if encounter.status == UPCOMING and hold is not None:
            problem = worklist_rules.hold_problem(hold.state, hold.lapses_at, encounter.ends_at)
            if problem:
                found.holds.append(HoldTrouble(encounter, hold, problem))
        if encounter.status in (UPCOMING, KEPT):
            missing = coverage.uncovered_lines(covering, encounter)
            if missing:
                codes = [encounter.lines[i].service_type.cpt_code for i in missing]
                found.uncovered.append(UncoveredVisit(encounter, codes))
    for summary in covering.summaries:  # per authorization line
        if not summary.counts:  # pending, denied or cancelled: nothing counts against it
            continue
        auth = summary.authorization
        next_visit = waiting.get(auth.client_insurance_id)
        problems = worklist_rules.authorization_problems(
            status=summary.status,
            end=summary.terms.end,
            remaining=summary.ledger.remaining,
            today=today,
            booked=next_visit is not None,
        )
        if problems:
            found.authorizations.append(ShortAuthorization(summary, problems, next_visit))
    found.authorizations.sort(key=lambda s: (s.summary.terms.end, s.summary.line.id))
    if user.can_bill:
        found.pending = authorizations.pending_requests(org, now)
    return found
