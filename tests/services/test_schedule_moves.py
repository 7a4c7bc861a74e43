"""Moving an appointment from the calendar goes through Edit appointment's path
(services.schedule_moves): the same warnings, the same hold moves, saved only once what
it carries has been confirmed, refused with nothing written.

Each kind of consequence a move can carry — an authorization warning, a saved visit
pushed over, a double booking, a scheduled hold moving, a held hold kept or replaced —
needs the confirmation; a move that carries none is saved at once.
"""

from datetime import date, datetime, time, timedelta

import pytest
from sqlalchemy import func, select

from tests import factories
from tests.preauth_support import add_card, book, practice, preauth_of, work
from webapp.domain.windows import to_local, to_utc_naive
from webapp.extensions import db
from webapp.models import AuditEvent, Encounter, Payment
from webapp.services import booking, schedule_moves
from webapp.services.schedule_moves import MoveRefused, MoveUnconfirmed

MONDAY = date(2026, 12, 14)  # inside the factories' authorization (all of 2026)
AFTER_AUTHORIZATION = date(2027, 1, 4)


@pytest.fixture
def visit(world):
    """Ada's Upcoming visit, Dec 14 at 10:00 (the practice's wall time), messaging on."""
    org = world.org
    client = factories.client(org, first_name="Ada", last_name="Lovelace",
                              primary_clinician_id=world.clinician.id)  # fmt: skip
    payer = factories.payer(org, messaging_enabled=True)
    policy = factories.insurance(org, client, payer)
    therapy = factories.service_type(org, cpt_code="90837")
    factories.authorization(org, policy, [therapy], allowed=2)
    starts = to_utc_naive(datetime.combine(MONDAY, time(10)), org.timezone)
    encounter = factories.encounter(org, client, world.clinician, policy, [therapy],
                                    starts_at=starts, service_date=MONDAY)  # fmt: skip
    db.session.commit()
    return encounter


def _at(day: date, hour: int = 10, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute))


def _changes(encounter) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.action == "encounter.changed", AuditEvent.entity_id == encounter.id)
    )


def _local_start(world, encounter) -> datetime:
    db.session.expire_all()
    row = db.session.get(Encounter, encounter.id)
    return to_local(row.starts_at, world.org.timezone).replace(tzinfo=None)


def test_a_move_that_carries_nothing_is_saved_at_once(world, visit):
    result = schedule_moves.move(world.org, visit, _at(MONDAY + timedelta(days=1), 14),
                                 actor=world.clinician, acknowledged=None)  # fmt: skip
    assert result.sentences == [] and not result.needs_confirmation
    assert _local_start(world, visit) == _at(MONDAY + timedelta(days=1), 14)
    assert _changes(visit) == 1


def test_an_authorization_warning_is_saved_only_once_confirmed(world, visit):
    target = _at(AFTER_AUTHORIZATION)
    with pytest.raises(MoveUnconfirmed) as unconfirmed:
        schedule_moves.move(world.org, visit, target, actor=world.biller, acknowledged=None)
    check = unconfirmed.value.check
    assert any("No authorization covers" in s for s in check.sentences)
    assert _local_start(world, visit) == _at(MONDAY) and _changes(visit) == 0  # nothing written

    with pytest.raises(MoveUnconfirmed):  # a confirmation of something else confirms nothing
        schedule_moves.move(world.org, visit, target, actor=world.biller, acknowledged="x" * 32)
    assert _changes(visit) == 0

    schedule_moves.move(world.org, visit, target, actor=world.biller,
                        acknowledged=check.acknowledgement)  # fmt: skip
    assert _local_start(world, visit) == target
    assert _changes(visit) == 1


def test_the_confirmation_names_the_start_so_it_does_not_carry_over(world, visit):
    first = schedule_moves.check_move(world.org, visit, _at(AFTER_AUTHORIZATION), actor=world.admin)
    later = schedule_moves.check_move(
        world.org, visit, _at(AFTER_AUTHORIZATION + timedelta(days=1)), actor=world.admin
    )
    assert first.acknowledgement != later.acknowledgement
    with pytest.raises(MoveUnconfirmed):
        schedule_moves.move(world.org, visit, later.start_local, actor=world.admin,
                            acknowledged=first.acknowledgement)  # fmt: skip


def test_a_visit_pushed_over_needs_the_confirmation_too(world, visit):
    """Two allowed; Dec 14 and Dec 21 covered, Dec 28 over. Moving Dec 28 to Dec 13 puts it
    first: it is covered, and Dec 21 (covered until now) is pushed over."""
    client, policy = visit.client, visit.client_insurance
    therapy = visit.lines[0].service_type
    later = [
        factories.encounter(
            world.org,
            client,
            world.clinician,
            policy,
            [therapy],
            starts_at=to_utc_naive(_at(day), world.org.timezone),
            service_date=day,
        )  # fmt: skip
        for day in (MONDAY + timedelta(days=7), MONDAY + timedelta(days=14))
    ]
    db.session.commit()
    result = schedule_moves.check_move(world.org, later[1], _at(MONDAY - timedelta(days=1)),
                                       actor=world.biller)  # fmt: skip
    assert [p.encounter.id for p in result.check.pushed_over] == [later[0].id]
    pushed = [w.message for p in result.check.pushed_over for w in p.warnings]
    assert pushed and set(pushed) <= set(result.sentences) and result.needs_confirmation


def test_a_double_booking_needs_the_confirmation(world, visit):
    other = factories.client(world.org, primary_clinician_id=world.clinician.id)
    factories.encounter(world.org, other, world.clinician, None, [visit.lines[0].service_type],
                        starts_at=to_utc_naive(_at(MONDAY, 14), world.org.timezone),
                        service_date=MONDAY)  # fmt: skip
    db.session.commit()
    result = schedule_moves.check_move(world.org, visit, _at(MONDAY, 14, 30), actor=world.biller)
    assert [s for s in result.sentences if "already booked" in s]
    with pytest.raises(MoveUnconfirmed):
        schedule_moves.move(world.org, visit, _at(MONDAY, 14, 30), actor=world.biller,
                            acknowledged=None)  # fmt: skip


@pytest.mark.parametrize("status", ["kept", "cancelled", "late_cancelled", "no_show"])
def test_a_closed_visit_is_refused_and_left_as_it_is(world, visit, status):
    visit.status = status
    db.session.commit()
    with pytest.raises(MoveRefused, match="Only an upcoming appointment can be moved"):
        schedule_moves.move(world.org, visit, _at(MONDAY, 12), actor=world.admin,
                            acknowledged=None)  # fmt: skip
    assert _local_start(world, visit) == _at(MONDAY) and _changes(visit) == 0


def test_a_move_to_its_own_start_is_refused(world, visit):
    with pytest.raises(MoveRefused, match="already starts then"):
        schedule_moves.move(world.org, visit, _at(MONDAY), actor=world.admin, acknowledged=None)


@pytest.mark.parametrize("role", ["clinician", "biller"])
def test_block_over_scheduling_refuses_the_move_for_everyone_but_an_admin(world, visit, role):
    world.org.block_overscheduling = True
    db.session.commit()
    result = schedule_moves.check_move(world.org, visit, _at(AFTER_AUTHORIZATION),
                                       actor=world.user(role))  # fmt: skip
    assert result.refusal and "blocks over-scheduling" in result.refusal
    with pytest.raises(MoveRefused):
        schedule_moves.move(world.org, visit, _at(AFTER_AUTHORIZATION), actor=world.user(role),
                            acknowledged=result.acknowledgement)  # fmt: skip
    assert _changes(visit) == 0


def test_an_admin_moves_a_blocked_visit_only_with_a_reason(world, visit):
    world.org.block_overscheduling = True
    db.session.commit()
    target = _at(AFTER_AUTHORIZATION)
    result = schedule_moves.check_move(world.org, visit, target, actor=world.admin)
    assert result.refusal is None and result.needs_override
    with pytest.raises(MoveRefused, match="give a reason"):
        schedule_moves.move(world.org, visit, target, actor=world.admin,
                            acknowledged=result.acknowledgement, override_reason="  ")  # fmt: skip
    assert _changes(visit) == 0
    schedule_moves.move(world.org, visit, target, actor=world.admin,
                        acknowledged=result.acknowledgement,
                        override_reason="Payer confirmed by phone")  # fmt: skip
    overridden = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "encounter.overbooking_overridden")
    )
    assert overridden.reason == "Payer confirmed by phone"
    assert _local_start(world, visit) == target


def test_the_edit_judged_again_under_the_lock_still_refuses(world, visit, monkeypatch):
    """Block over-scheduling switched on between the check and the save: edit refuses."""
    world.org.block_overscheduling = True
    db.session.commit()
    real_check = schedule_moves.check_move

    def stale_check(*args, **kwargs):
        result = real_check(*args, **kwargs)
        result.refusal, result.needs_override = None, False
        return result

    monkeypatch.setattr(schedule_moves, "check_move", stale_check)
    result = stale_check(world.org, visit, _at(AFTER_AUTHORIZATION), actor=world.biller)
    with pytest.raises(booking.BookingRefused):
        schedule_moves.move(world.org, visit, _at(AFTER_AUTHORIZATION), actor=world.biller,
                            acknowledged=result.acknowledgement)  # fmt: skip
    assert _local_start(world, visit) == _at(MONDAY) and _changes(visit) == 0


# --- the card hold moves as on Edit appointment ----------------------------------------


@pytest.fixture
def p(world, app):
    app.config["PREAUTH_RETRY_INTERVALS"] = [0]
    return practice(world, hours=72, copay=4000)


def _moved_start(encounter, world, by: timedelta) -> datetime:
    return to_local(encounter.starts_at + by, world.org.timezone).replace(tzinfo=None)


def test_a_scheduled_hold_moves_with_the_start_once_confirmed(world, p):
    encounter = book(p, world.biller, starts_in=timedelta(days=10))
    row = preauth_of(encounter)
    assert row.state == "scheduled"
    target = _moved_start(encounter, world, timedelta(days=2))
    with pytest.raises(MoveUnconfirmed) as unconfirmed:
        schedule_moves.move(p.org, encounter, target, actor=world.biller, acknowledged=None)
    check = unconfirmed.value.check
    assert check.hold.kind == "move" and check.hold.sentence in check.sentences
    assert preauth_of(encounter).run_at == row.run_at  # not moved yet
    schedule_moves.move(p.org, encounter, target, actor=world.biller,
                        acknowledged=check.acknowledgement)  # fmt: skip
    db.session.refresh(encounter)
    assert preauth_of(encounter).run_at == encounter.starts_at - timedelta(hours=72)
    assert preauth_of(encounter).run_at == check.hold.run_at


@pytest.mark.parametrize(
    ("by", "kind", "releases"),
    [(timedelta(hours=2), "keep", []), (timedelta(days=9), "replace", [(4000, "pending")])],
)
def test_a_held_hold_stays_or_is_replaced_as_previewed(world, p, strict_gateway, by, kind,
                                                       releases):  # fmt: skip
    add_card(strict_gateway, p.client)
    encounter = book(p, world.biller, starts_in=timedelta(hours=3))
    work()
    assert preauth_of(encounter).state == "held"
    target = _moved_start(encounter, world, by)
    check = schedule_moves.check_move(p.org, encounter, target, actor=world.biller)
    assert check.hold.kind == kind and check.needs_confirmation
    schedule_moves.move(p.org, encounter, target, actor=world.biller,
                        acknowledged=check.acknowledgement)  # fmt: skip
    db.session.expire_all()
    written = [
        (payment.amount_cents, payment.status)
        for payment in db.session.scalars(
            select(Payment).where(Payment.encounter_id == encounter.id,
                                  Payment.kind == "hold_release")
        )
    ]  # fmt: skip
    assert written == releases
    assert preauth_of(encounter).state == ("held" if kind == "keep" else "scheduled")
