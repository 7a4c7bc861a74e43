"""A hold never lapses silently before its visit (issue 11 part 2).

- A moved visit's hold time comes from the Payments Settings in force now.
- A held visit that moves beyond its hold's lapse, or beyond the hours-before
  window, has the hold released and a new one scheduled (and the page says so first).
- The lapse watcher renews a hold that would lapse before its visit: new hold first,
  then the old one released; where that fails, billers are told why.
Through the strict gateway (Stripe's rules) and a real RQ worker.
"""

from datetime import timedelta

import pytest
from sqlalchemy import select

from jobs import hold_lapses
from tests.preauth_support import add_card, book, edit, practice, preauth_of, work
from webapp.domain import hold_rules
from webapp.domain.windows import to_local
from webapp.extensions import db
from webapp.models import Notification, Payment
from webapp.models.base import utcnow
from webapp.services import booking, encounter_edit, hold_moves, hold_reconciliation, hold_renewal
from webapp.services import preauth as service
from webapp.services.queue import queue

SOON = timedelta(hours=3)


@pytest.fixture
def p(world, app):
    app.config["PREAUTH_RETRY_INTERVALS"] = [0]
    return practice(world, hours=72, copay=4000)


def _held(p, world, gateway, *, starts_in=SOON):
    add_card(gateway, p.client)
    encounter = book(p, world.biller, starts_in=starts_in)
    work()
    row = preauth_of(encounter)
    assert row.state == "held"
    return encounter, row


def _releases(encounter) -> list[tuple[int, str]]:
    db.session.expire_all()
    return [
        (payment.amount_cents, payment.status)
        for payment in db.session.scalars(
            select(Payment).where(
                Payment.encounter_id == encounter.id, Payment.kind == "hold_release"
            )
        )
    ]


# --- a moved visit takes the hours in force now ---------------------------------------


def test_a_moved_visit_takes_the_hours_of_the_settings_in_force_now(world, p):
    """The issue's case: booked at 48 hours; settings changed to 72; the visit moves."""
    p.org.preauth_hours_before = 48
    db.session.commit()
    encounter = book(p, world.biller, starts_in=timedelta(days=6))
    assert preauth_of(encounter).hours_before == 48
    p.org.preauth_hours_before = 72
    db.session.commit()

    edit(p, encounter, world.biller, moves_by=timedelta(days=1))

    row = preauth_of(encounter)
    assert (row.state, row.hours_before) == ("scheduled", 72)
    assert row.run_at == encounter.starts_at - timedelta(hours=72)


def test_the_edit_page_preview_names_the_new_hold_time(world, p):
    p.org.preauth_hours_before = 48
    db.session.commit()
    encounter = book(p, world.biller, starts_in=timedelta(days=6))
    p.org.preauth_hours_before = 72
    db.session.commit()
    new_start = encounter.starts_at + timedelta(days=1)
    preview = hold_moves.preview(p.org, encounter, new_start, utcnow())
    assert preview.kind == "move" and preview.run_at == new_start - timedelta(hours=72)
    assert "72 hours before the new time, from Payments Settings" in preview.sentence


# --- a held visit that moves ---------------------------------------------------------


def test_a_held_visit_moved_past_its_lapse_is_released_and_a_new_hold_scheduled(
    world, p, strict_gateway
):
    """Dec 1 → Dec 10 with a hold lapsing Dec 4: released, and held again 72 h before."""
    encounter, row = _held(p, world, strict_gateway)
    old_reference, old_attempt = row.gateway_reference, row.attempt
    new_start = encounter.starts_at + timedelta(days=9)
    preview = hold_moves.preview(p.org, encounter, new_start, utcnow())
    assert preview.kind == "replace"
    assert "before the new time. Saving releases it and places a new hold on" in preview.sentence

    edit(p, encounter, world.biller, moves_by=timedelta(days=9))

    row = preauth_of(encounter)
    assert (row.state, row.attempt) == ("scheduled", old_attempt + 1)
    assert row.run_at == encounter.starts_at - timedelta(hours=72) == preview.run_at
    assert _releases(encounter) == [(4000, "pending")]
    work()  # the settle job releases the old hold; the new one is not due yet
    assert _releases(encounter) == [(4000, "succeeded")]
    assert strict_gateway.intents[old_reference].status == "canceled"
    assert strict_gateway.live() == []
    assert f"preauth-{row.id}-{row.attempt}" in queue().scheduled_job_registry.get_job_ids()


def test_a_held_visit_moved_beyond_the_window_is_replaced_too(world, p, strict_gateway):
    encounter, row = _held(p, world, strict_gateway)
    edit(p, encounter, world.biller, moves_by=timedelta(days=3, hours=1))  # lapse 4d18h away
    assert preauth_of(encounter).state == "scheduled"
    work()
    assert strict_gateway.live() == []


def test_a_small_move_keeps_the_hold(world, p, strict_gateway):
    encounter, row = _held(p, world, strict_gateway)
    reference = row.gateway_reference
    new_start = encounter.starts_at + timedelta(hours=2)
    assert hold_moves.preview(p.org, encounter, new_start, utcnow()).kind == "keep"
    edit(p, encounter, world.biller, moves_by=timedelta(hours=2))
    row = preauth_of(encounter)
    assert (row.state, row.gateway_reference) == ("held", reference)
    assert _releases(encounter) == []


def test_a_move_into_the_window_places_the_new_hold_at_once(world, p, strict_gateway):
    p.org.preauth_hours_before = 2
    db.session.commit()
    encounter, row = _held(p, world, strict_gateway, starts_in=timedelta(hours=1))
    edit(p, encounter, world.biller, moves_by=timedelta(days=1))  # 2 h window: replace
    assert preauth_of(encounter).state == "scheduled"
    edit(p, encounter, world.biller, moves_by=timedelta(hours=-23))  # back inside it: due now
    work()
    row = preauth_of(encounter)
    assert row.state == "held"
    assert [i.id for i in strict_gateway.live()] == [row.gateway_reference]


# --- the lapse watcher ---------------------------------------------------------------


def _lapsing(p, world, gateway):
    """Held 7 days ahead (168 hours before): a Visa hold lapses 4 days 18 hours later,
    before the visit."""
    p.org.preauth_hours_before = 168
    db.session.commit()
    encounter, row = _held(p, world, gateway, starts_in=timedelta(days=6))
    assert row.lapses_at < encounter.starts_at
    return encounter, row


def test_a_hold_that_would_lapse_before_its_visit_is_renewed_new_hold_first(
    world, p, strict_gateway
):
    encounter, row = _lapsing(p, world, strict_gateway)
    old_reference, attempt, lapses = row.gateway_reference, row.attempt, row.lapses_at
    too_early = lapses - hold_rules.RENEW_AHEAD - timedelta(minutes=5)
    assert hold_renewal.renew_lapsing(now=too_early).renewed == []

    report = hold_renewal.renew_lapsing(now=lapses - timedelta(hours=11))

    assert report.renewed == [row.id]
    row = preauth_of(encounter)
    assert (row.state, row.attempt, row.amount_cents) == ("held", attempt + 1, 4000)
    assert row.gateway_reference != old_reference and row.lapses_at > lapses
    assert strict_gateway.intents[old_reference].status == "canceled"
    assert [i.id for i in strict_gateway.live()] == [row.gateway_reference]
    assert _releases(encounter) == [(4000, "succeeded")]
    placed = [i.id for i in strict_gateway.holds()]
    assert placed.index(row.gateway_reference) > placed.index(old_reference)


def test_the_watcher_runs_as_a_job_from_the_cron_schedule(world, p, strict_gateway):
    from jobs.periodic import PERIODIC_JOBS

    assert (hold_lapses.run, 300) in PERIODIC_JOBS
    encounter, row = _lapsing(p, world, strict_gateway)
    queue().enqueue(hold_lapses.run)
    work()
    assert preauth_of(encounter).attempt == row.attempt  # not due yet at the real clock


def test_a_renewal_that_fails_keeps_the_old_hold_and_tells_billers_why(world, p, strict_gateway):
    encounter, row = _lapsing(p, world, strict_gateway)
    strict_gateway.decline(row.card.gateway_payment_method_id)
    lapses = row.lapses_at

    report = hold_renewal.renew_lapsing(now=lapses - timedelta(hours=11))

    assert report.failed == [row.id]
    row = preauth_of(encounter)
    assert (row.state, row.failure_code) == ("held", "renewal_failed")
    assert "could not be renewed: The card was declined." in row.failure_reason
    assert "After it lapses no money is held for this visit." in row.failure_reason
    titles = db.session.scalars(select(Notification.title)).all()
    assert titles == [f"Hold could not be renewed for {p.client.full_name}"] * 2
    assert len(strict_gateway.live()) == 1  # the old hold still covers until it lapses
    # Not retried by itself (a declined card would be declined again)…
    assert hold_renewal.renew_lapsing(now=lapses - timedelta(hours=10)).failed == []
    # …but Renew now works once another card is the default.
    add_card(strict_gateway, p.client, last4="1881")
    outcome = hold_renewal.renew_now(encounter, actor=world.biller)
    assert outcome == "renewed", preauth_of(encounter).failure_reason
    row = preauth_of(encounter)
    assert (row.failure_code, row.card_label) == (None, "Visa •••• 1881")
    assert [i.id for i in strict_gateway.live()] == [row.gateway_reference]


def test_a_renewal_whose_answer_was_lost_places_one_new_hold(world, p, strict_gateway):
    encounter, row = _lapsing(p, world, strict_gateway)
    lapses = row.lapses_at
    strict_gateway.lose_answers(1)
    assert hold_renewal.renew_lapsing(now=lapses - timedelta(hours=11)).later == [row.id]
    assert len(strict_gateway.live()) == 2  # the new hold exists, unheard of
    assert preauth_of(encounter).gateway_check_due is True

    report = hold_renewal.renew_lapsing(now=lapses - timedelta(hours=10))

    assert report.renewed == [row.id]
    row = preauth_of(encounter)
    assert [i.id for i in strict_gateway.live()] == [row.gateway_reference]
    assert strict_gateway.calls["place_hold"] == 2  # the first hold and one renewal


def test_a_hold_that_lapsed_anyway_is_found_expired_by_the_reconciliation(world, p, strict_gateway):
    encounter, row = _held(p, world, strict_gateway)
    strict_gateway.lapse(row.gateway_reference)
    report = hold_reconciliation.reconcile(now=utcnow() + timedelta(minutes=11))
    assert report.expired == 1
    row = preauth_of(encounter)
    assert (row.state, row.failure_code) == ("expired", "hold_lapsed")


def test_reschedule_of_a_held_visit_releases_and_schedules(world, p, strict_gateway):
    encounter, row = _held(p, world, strict_gateway, starts_in=timedelta(hours=40))
    service.reschedule(encounter, "24", actor=world.biller)
    row = preauth_of(encounter)
    assert (row.state, row.hours_before) == ("scheduled", 24)
    work()
    assert strict_gateway.live() == [] and _releases(encounter) == [(4000, "succeeded")]


def test_move_preview_through_the_edit_service(world, p, strict_gateway):
    encounter, _row = _held(p, world, strict_gateway)
    start_local = to_local(encounter.starts_at + timedelta(days=9), p.org.timezone)
    request = booking.BookingRequest(
        clinician_id=encounter.clinician_id,
        start_local=start_local.replace(tzinfo=None),
        duration_minutes=60,
        lines=[(p.therapy.id, 60)],
        billing_type="insurance",
        client_insurance_id=p.policy.id,
    )
    assert encounter_edit.move_preview(p.org, encounter, request).kind == "replace"
