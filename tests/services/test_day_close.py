"""Mark day as kept (services.day_close): the day's started Upcoming visits, each through
Finalize itself — status, allocation, the scheduled hold called off, the audit record,
the Encounter Finalized automation — and a refusal of one leaves the others kept.
"""

from datetime import datetime, time, timedelta

import pytest
from sqlalchemy import select, update

from tests import factories
from webapp.domain.windows import to_utc_naive
from webapp.extensions import db
from webapp.models import (
    AuditEvent,
    Automation,
    AutomationRun,
    Client,
    Encounter,
    PreAuthorization,
)
from webapp.services import day_close, encounter_events

DAY = datetime(2026, 12, 14).date()
NOW = to_utc_naive(datetime.combine(DAY, time(13, 30)), "America/New_York")  # 1:30 PM


@pytest.fixture
def day(world):
    """Dec 14: two visits that have started (9:00, 11:00), one at 3 PM (not yet), one kept,
    one of another clinician, one of another practice; a rule on Encounter Finalized."""
    org = world.org
    assert org.timezone == "America/New_York"
    other_clinician = factories.user(org, "clinician")
    client = factories.client(org, primary_clinician_id=world.clinician.id)
    therapy = factories.service_type(org, cpt_code="90837")
    db.session.add(Automation(organization_id=org.id, event="encounter_finalized",
                              action="charge_preauth", position=1))  # fmt: skip

    def visit(hour, clinician=world.clinician, status="upcoming", organization=org, who=client):
        starts = to_utc_naive(datetime.combine(DAY, time(hour)), organization.timezone)
        return factories.encounter(organization, who, clinician, None, [therapy],
                                   starts_at=starts, service_date=DAY, status=status)  # fmt: skip

    outsider_client = factories.client(world.outsider_org)
    rows = {
        "nine": visit(9),
        "eleven": visit(11),
        "three": visit(15),
        "kept": visit(10, status="kept"),
        "other": visit(12, clinician=other_clinician),
        "elsewhere": visit(
            9, organization=world.outsider_org, who=outsider_client, clinician=world.outsider
        ),
    }
    db.session.add(PreAuthorization(organization_id=org.id, encounter_id=rows["eleven"].id,
                                    state="scheduled", hours_before=24,
                                    run_at=rows["eleven"].starts_at))  # fmt: skip
    db.session.commit()
    rows["other_clinician"] = other_clinician
    return rows


def _everyone(org):
    return select(Client.id).where(Client.organization_id == org.id)


def _status(row) -> str:
    db.session.expire_all()
    return db.session.get(Encounter, row.id).status


def test_it_closes_the_started_upcoming_visits_of_the_day_through_finalize(world, day):
    assert [e.id for e in day_close.closable(world.org, DAY, clinician_id=None,
                                             client_ids=_everyone(world.org), now=NOW)] == [
        day["nine"].id, day["eleven"].id, day["other"].id,
    ]  # fmt: skip
    result = day_close.mark_day_kept(world.org, DAY, actor=world.biller, clinician_id=None,
                                     client_ids=_everyone(world.org), now=NOW)  # fmt: skip
    assert [e.id for e in result.kept] == [day["nine"].id, day["eleven"].id, day["other"].id]
    assert result.refused == []
    assert result.summary == "Marked 3 appointments of Dec 14, 2026 Kept."
    for name in ("nine", "eleven", "other"):
        assert _status(day[name]) == "kept"
    assert _status(day["three"]) == "upcoming"  # not started: left for its own Finalize
    assert _status(day["elsewhere"]) == "upcoming"
    runs = db.session.scalars(select(AutomationRun).order_by(AutomationRun.encounter_id)).all()
    assert [(r.encounter_id, r.event, r.action) for r in runs] == [
        (day[name].id, "encounter_finalized", "charge_preauth")
        for name in ("nine", "eleven", "other")
    ]
    finalized = db.session.scalars(
        select(AuditEvent.entity_id).where(AuditEvent.action == "encounter.finalized")
    ).all()
    assert sorted(finalized) == sorted(day[n].id for n in ("nine", "eleven", "other"))
    hold = db.session.scalar(select(PreAuthorization))
    assert (hold.state, hold.failure_code) == ("cancelled", "encounter_finalized")


def test_a_clinician_filter_closes_only_that_clinicians_visits(world, day):
    result = day_close.mark_day_kept(world.org, DAY, actor=world.admin,
                                     clinician_id=day["other_clinician"].id,
                                     client_ids=_everyone(world.org), now=NOW)  # fmt: skip
    assert [e.id for e in result.kept] == [day["other"].id]
    assert _status(day["nine"]) == "upcoming"


def test_only_the_visible_clients_are_closed(world, day):
    nobody = select(Client.id).where(Client.id == -1)
    result = day_close.mark_day_kept(world.org, DAY, actor=world.admin, clinician_id=None,
                                     client_ids=nobody, now=NOW)  # fmt: skip
    assert result.kept == [] and result.summary == "Marked 0 appointments of Dec 14, 2026 Kept."


def test_a_visit_closed_a_moment_ago_is_reported_and_the_others_stay_kept(world, day, monkeypatch):
    """Someone cancels the 11:00 visit between the list and its Finalize: Finalize's own
    compare-and-set refuses it, with its reason; 9:00 and 12:00 are kept."""
    real = encounter_events.finalize

    def finalize(encounter, **kwargs):
        if encounter.id == day["eleven"].id:
            db.session.execute(update(Encounter).where(Encounter.id == encounter.id)
                               .values(status="cancelled"))  # fmt: skip
            db.session.commit()
        return real(encounter, **kwargs)

    monkeypatch.setattr(day_close.encounter_events, "finalize", finalize)
    result = day_close.mark_day_kept(world.org, DAY, actor=world.biller, clinician_id=None,
                                     client_ids=_everyone(world.org), now=NOW)  # fmt: skip
    assert [e.id for e in result.kept] == [day["nine"].id, day["other"].id]
    assert [(e.id, bool(reason)) for e, reason in result.refused] == [(day["eleven"].id, True)]
    assert result.summary.endswith("1 could not be marked.")
    assert _status(day["eleven"]) == "cancelled"
    assert db.session.scalar(
        select(AutomationRun).where(AutomationRun.encounter_id == day["eleven"].id)
    ) is None  # fmt: skip


@pytest.mark.parametrize(
    ("offset", "closes"),
    [(timedelta(minutes=-1), False), (timedelta(0), True), (timedelta(minutes=1), True)],
)
def test_a_visit_closes_with_the_day_once_it_has_started(world, day, offset, closes):
    found = day_close.closable(world.org, DAY, clinician_id=None,
                               client_ids=_everyone(world.org),
                               now=day["three"].starts_at + offset)  # fmt: skip
    assert (day["three"].id in [e.id for e in found]) is closes
