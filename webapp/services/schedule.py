"""The schedule page's appointments: a day or a week of one organization, optionally one
clinician's, with each visit's authorization warnings and the clinicians booked twice.

The days come from the domain (`schedule_rules.schedule_days`); which clients the
person may see is the view's to say (`client_ids`, a subquery of visible client ids).
"""

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import Select, select
from sqlalchemy.orm import joinedload, selectinload

from webapp.domain import schedule_rules
from webapp.domain.preauth_rules import STATE_LABELS
from webapp.extensions import db
from webapp.models import (
    ClientInsurance,
    Encounter,
    EncounterService,
    Organization,
    PreAuthorization,
)
from webapp.services.authorization_totals import load_for_visits
from webapp.services.coverage import visit_warnings


@dataclass
class Schedule:
    """`warnings`: {encounter id: its warnings}, for visits whose payer's messaging is on;
    `double_booked`: {encounter id: the slots it overlaps} (schedule_rules.double_booked)."""

    days: list[date]
    encounters: list[Encounter]
    warnings: dict[int, list]
    double_booked: dict[int, list[schedule_rules.Slot]]


def load_schedule(
    org: Organization, days: list[date], *, clinician_id: int | None, client_ids: Select
) -> Schedule:
    """The encounters of `days` (service dates, in start order) of the clients in
    `client_ids`, of one clinician when `clinician_id` is given."""
    query = (
        select(Encounter)
        .where(
            Encounter.organization_id == org.id,
            Encounter.service_date >= days[0],
            Encounter.service_date <= days[-1],
            Encounter.client_id.in_(client_ids),
        )
        .options(
            joinedload(Encounter.client),
            joinedload(Encounter.clinician),
            joinedload(Encounter.client_insurance).joinedload(ClientInsurance.payer),
            selectinload(Encounter.lines).joinedload(EncounterService.service_type),
        )
        .order_by(Encounter.starts_at)
    )
    if clinician_id:
        query = query.where(Encounter.clinician_id == clinician_id)
    encounters = list(db.session.scalars(query).all())
    # Sums for the authorizations, stored ledger rows only for the visits shown.
    coverage = load_for_visits(
        org, sorted({e.client_id for e in encounters}), [e.id for e in encounters]
    )
    warnings = {
        e.id: visit_warnings(coverage, e)
        for e in encounters
        if e.client_insurance and e.client_insurance.payer.messaging_enabled
    }
    slots = _slots(org, days, {e.clinician_id for e in encounters})
    return Schedule(days, encounters, warnings, schedule_rules.double_booked(slots))


def _slots(org: Organization, days: list[date], clinician_ids: set[int]) -> list:
    """Every appointment of these clinicians that can overlap the shown days (any client,
    so a clinician sees a clash with a client they do not follow too). A day either
    side: an appointment lasts at most 10 hours, so it can cross midnight."""
    if not clinician_ids:
        return []
    rows = db.session.execute(
        select(
            Encounter.id,
            Encounter.clinician_id,
            Encounter.starts_at,
            Encounter.duration_minutes,
            Encounter.status,
        ).where(
            Encounter.organization_id == org.id,
            Encounter.clinician_id.in_(clinician_ids),
            Encounter.service_date >= days[0] - timedelta(days=1),
            Encounter.service_date <= days[-1] + timedelta(days=1),
            Encounter.status.in_(schedule_rules.TAKES_TIME),
        )
    )
    return [schedule_rules.Slot(*row) for row in rows]


def hold_states(encounter_ids: list[int]) -> dict[int, tuple[str, str]]:
    """{encounter id: (pre-authorization state, its label)} for the visits that have one."""
    if not encounter_ids:
        return {}
    rows = db.session.execute(
        select(PreAuthorization.encounter_id, PreAuthorization.state).where(
            PreAuthorization.encounter_id.in_(encounter_ids)
        )
    )
    return {encounter_id: (state, STATE_LABELS.get(state, state)) for encounter_id, state in rows}


def calendar_days(start: date, end: date) -> list[date]:
    """The days of [start, end) (end exclusive, as the calendar asks for them)."""
    return [start + timedelta(days=i) for i in range((end - start).days)]
