"""Mark day as kept: close out one day's past appointments at once.

The appointments are the Upcoming ones of the day that have started
(`schedule_rules.closes_with_day`), of the clients the person may see, of one
clinician when given. Each goes through Finalize itself
(`encounter_events.finalize`: its own transaction with the status, the allocation,
the pre-authorization, the audit record and the Encounter Finalized automation, the
rule's job sent after the commit). One that Finalize refuses (someone closed it a
moment ago) is left as it is and reported with the reason; the others are not undone.
"""

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import joinedload

from webapp.domain import schedule_rules
from webapp.domain.authorization_rules import UPCOMING
from webapp.domain.windows import format_day
from webapp.extensions import db
from webapp.models import Encounter, Organization, User
from webapp.models.base import utcnow
from webapp.services import encounter_events
from webapp.services.errors import Refused


@dataclass
class DayClose:
    """The outcome: `kept` the appointments marked Kept; `refused` (appointment, reason)."""

    day: date
    kept: list[Encounter] = field(default_factory=list)
    refused: list[tuple[Encounter, str]] = field(default_factory=list)

    @property
    def summary(self) -> str:
        """ "Marked 3 appointments of Mon Nov 30, 2026 Kept. 1 could not be marked." """
        count = len(self.kept)
        text = (
            f"Marked {count} appointment{'' if count == 1 else 's'} of {format_day(self.day)} Kept."
        )
        if self.refused:
            text += f" {len(self.refused)} could not be marked."
        return text


def closable(
    org: Organization,
    day: date,
    *,
    clinician_id: int | None,
    client_ids: Select,
    now: datetime | None = None,
) -> list[Encounter]:
    """The appointments Mark day as kept would close, in start order.

    `day` is a service date (the organization's zone); `client_ids` a subquery of
    the client ids the person may see; `now` naive UTC.
    """
    now = now or utcnow()
    query = (
        select(Encounter)
        .where(
            Encounter.organization_id == org.id,
            Encounter.service_date == day,
            Encounter.status == UPCOMING,
            Encounter.starts_at <= now,
            Encounter.client_id.in_(client_ids),
        )
        .options(joinedload(Encounter.client), joinedload(Encounter.clinician))
        .order_by(Encounter.starts_at, Encounter.id)
    )
    if clinician_id:
        query = query.where(Encounter.clinician_id == clinician_id)
    return [
        e
        for e in db.session.scalars(query).all()
        if schedule_rules.closes_with_day(e.status, e.starts_at, now)
    ]


def mark_day_kept(
    org: Organization,
    day: date,
    *,
    actor: User,
    clinician_id: int | None,
    client_ids: Select,
    now: datetime | None = None,
) -> DayClose:
    """Finalize each appointment `closable` finds, one transaction each.

    Never raises a refusal: one Finalize refuses is rolled back alone and reported in
    `refused` with the reason; the kept ones stay kept.
    """
    now = now or utcnow()
    result = DayClose(day)
    ids = [e.id for e in closable(org, day, clinician_id=clinician_id, client_ids=client_ids,
                                  now=now)]  # fmt: skip
    for encounter_id in ids:
        encounter = db.session.get(Encounter, encounter_id)
        try:
            encounter_events.finalize(encounter, actor=actor, now=now)
        except Refused as refused:
            db.session.rollback()
            result.refused.append((db.session.get(Encounter, encounter_id), refused.message))
        else:
            result.kept.append(encounter)
    return result
