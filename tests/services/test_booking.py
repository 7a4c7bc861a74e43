"""Booking and counting through the real database."""

from datetime import UTC, date, datetime

import pytest
import time_machine

from tests import factories
from webapp.domain import authorization_rules as rules
from webapp.extensions import db
from webapp.services import booking
from webapp.services.allocation import reallocate_client
from webapp.services.coverage import load_coverage


@pytest.fixture(autouse=True)
def _early_2026():
    """The visits below are in March 2026, inside the factories' 2026 authorizations;
    the booking warnings judge expiry by today, so today is 1 March 2026 here."""
    with time_machine.travel(datetime(2026, 3, 1, 12, tzinfo=UTC), tick=True):
        yield


@pytest.fixture
def setup(world):
    org = world.org
    client = factories.client(org, primary_clinician_id=world.clinician.id)
    payer = factories.payer(org, messaging_enabled=True)
    policy = factories.insurance(org, client, payer)
    therapy = factories.service_type(org, cpt_code="90837")
    aba = factories.service_type(org, cpt_code="97153", unit_minutes=15)
    sessions = factories.authorization(org, policy, [therapy], number="S-1", allowed=2)
    units = factories.authorization(
        org, policy, [aba], number="U-1", kind="units", allowed=8, frequency="week"
    )
    db.session.commit()
    return dict(
        world=world,
        org=org,
        client=client,
        policy=policy,
        therapy=therapy,
        aba=aba,
        sessions=sessions,
        units=units,
    )


def _request(s, when, lines, **extra):
    return booking.BookingRequest(
        clinician_id=s["world"].clinician.id,
        start_local=when,
        duration_minutes=60,
        lines=lines,
        billing_type="insurance",
        client_insurance_id=s["policy"].id,
        **extra,
    )


def _summary(s, auth):
    coverage = load_coverage(s["org"], [s["client"].id], today=date(2026, 3, 1))
    return coverage.by_id()[auth.id]


def test_it_counts_a_kept_session_and_not_an_upcoming_one_by_default(setup):
    s = setup
    first, second = (
        booking.book(
            s["org"],
            s["client"],
            _request(s, when, [(s["therapy"].id, 60)]),
            actor=s["world"].admin,
        )[0]
        for when in (datetime(2026, 3, 2, 10), datetime(2026, 3, 9, 10))
    )
    # Kept before it starts (today is Mar 1): its date confirmed.
    booking.set_status(first, rules.KEPT, actor=s["world"].admin, confirm_early="2026-03-02")
    summary = _summary(s, s["sessions"])
    assert (summary.ledger.kept, summary.ledger.upcoming, summary.ledger.remaining) == (1, 1, 1)
    assert summary.status == rules.ACTIVE


def test_it_counts_upcoming_when_the_setting_is_on(setup):
    s = setup
    s["org"].count_upcoming_for_exhaustion = True
    db.session.commit()
    for when in (datetime(2026, 3, 2, 10), datetime(2026, 3, 9, 10)):
        booking.book(
            s["org"],
            s["client"],
            _request(s, when, [(s["therapy"].id, 60)]),
            actor=s["world"].admin,
        )
    summary = _summary(s, s["sessions"])
    assert summary.ledger.remaining == 0
    assert summary.status == rules.EXHAUSTED


def test_it_rounds_units_by_the_payers_profile(setup):
    s = setup
    booking.book(
        s["org"], s["client"], _request(s, datetime(2026, 3, 2, 10), [(s["aba"].id, 38)]),
        actor=s["world"].admin,
    )  # fmt: skip
    assert _summary(s, s["units"]).ledger.upcoming == 3  # 38 min → 3 units (cms-8-minute)


def test_it_warns_about_the_first_series_occurrence_over_the_total(setup):
    s = setup
    check = booking.check_booking(
        s["org"],
        s["client"],
        _request(
            s, datetime(2026, 3, 2, 10), [(s["therapy"].id, 60)], repeat="weekly", repeat_count=4
        ),
    )
    assert len(check.occurrences) == 4
    assert check.first_problem.number == 3
    assert check.first_problem.warnings[0].code == rules.EXHAUSTED


def test_it_warns_when_a_week_cap_would_be_exceeded(setup):
    s = setup
    monday = booking.book(
        s["org"], s["client"], _request(s, datetime(2026, 3, 2, 10), [(s["aba"].id, 90)]),
        actor=s["world"].admin,
    )[0]  # fmt: skip
    booking.set_status(monday, rules.KEPT, actor=s["world"].admin, confirm_early="2026-03-02")
    check = booking.check_booking(
        s["org"], s["client"], _request(s, datetime(2026, 3, 4, 10), [(s["aba"].id, 45)])
    )
    assert [w.code for w in check.first_problem.warnings] == [rules.EXCEEDS_WINDOW]


def test_it_warns_when_nothing_covers_a_service(setup):
    s = setup
    other = factories.service_type(s["org"], cpt_code="90791")
    db.session.commit()
    check = booking.check_booking(
        s["org"], s["client"], _request(s, datetime(2026, 3, 2, 10), [(other.id, 60)])
    )
    assert check.first_problem.warnings[0].code == rules.NONE_COVERS


def test_it_refuses_an_overbooking_when_blocking_is_on_and_keeps_nothing(setup):
    s = setup
    s["org"].block_overscheduling = True
    s["org"].count_upcoming_for_exhaustion = True
    db.session.commit()
    request = _request(
        s, datetime(2026, 3, 2, 10), [(s["therapy"].id, 60)], repeat="weekly", repeat_count=3
    )
    with pytest.raises(booking.BookingRefused):
        booking.book(s["org"], s["client"], request, actor=s["world"].biller)
    assert _summary(s, s["sessions"]).ledger.upcoming == 0


def test_an_admin_overrides_the_block_with_a_reason_kept_in_the_audit_log(setup):
    from webapp.models import AuditEvent

    s = setup
    s["org"].block_overscheduling = True
    db.session.commit()
    request = _request(
        s, datetime(2026, 3, 2, 10), [(s["therapy"].id, 60)], repeat="weekly", repeat_count=3
    )
    booking.book(
        s["org"],
        s["client"],
        request,
        actor=s["world"].admin,
        override_reason="Payer approved by phone",
    )
    event = db.session.query(AuditEvent).filter_by(action="encounter.overbooking_overridden").one()
    assert event.reason == "Payer approved by phone"
    assert _summary(s, s["sessions"]).ledger.upcoming == 3


def test_an_authorization_change_moves_encounters_to_the_one_ending_first(setup):
    s = setup
    encounter = booking.book(
        s["org"], s["client"], _request(s, datetime(2026, 3, 2, 10), [(s["therapy"].id, 60)]),
        actor=s["world"].admin,
    )[0]  # fmt: skip
    sooner = factories.authorization(
        s["org"], s["policy"], [s["therapy"]], number="S-2", end_date=date(2026, 6, 30)
    )
    reallocate_client(s["org"], s["client"].id)
    db.session.commit()
    assert [r.usage.encounter_id for r in _summary(s, sooner).ledger.rows] == [encounter.id]
    assert _summary(s, s["sessions"]).ledger.rows == []


def test_status_precedence_comes_from_data(setup):
    s = setup
    s["policy"].active = False
    db.session.commit()
    assert _summary(s, s["sessions"]).status == rules.INACTIVE
