"""Placing holds with a real RQ worker on the embedded Redis, against the strict gateway.

The strict gateway (tests/gateways.py) replays idempotency keys as Stripe does and
counts the holds it really placed, so "exactly one hold" means something.
"""

from datetime import timedelta

import pytest
from rq.job import Job
from sqlalchemy import select

from jobs import preauth as job
from tests.preauth_support import add_card, book, practice, preauth_of, work
from tests.services.test_preauth_scheduling import _edit
from webapp.extensions import db
from webapp.models import AuditEvent, Notification
from webapp.models.base import utcnow
from webapp.payments.gateway import TransientGatewayError
from webapp.services import cards
from webapp.services import preauth as service
from webapp.services.preauth_runs import place_hold
from webapp.services.queue import queue, redis_connection

SOON = timedelta(hours=3)  # inside the 24-hour window: the hold is due at once


@pytest.fixture
def p(world, app):
    app.config["PREAUTH_RETRY_INTERVALS"] = [0, 0, 0]  # RQ retries at once in tests
    return practice(world, hours=24, copay=2500)


def _audit_actions(row_id) -> list[str]:
    return db.session.scalars(
        select(AuditEvent.action)
        .where(AuditEvent.entity_type == "pre_authorizations", AuditEvent.entity_id == row_id)
        .order_by(AuditEvent.id)
    ).all()


def test_the_worker_places_the_copay_hold_on_the_default_card(world, p, strict_gateway):
    card = add_card(strict_gateway, p.client, brand="visa", last4="4242")
    encounter = book(p, world.biller, starts_in=SOON)

    work()

    row = preauth_of(encounter)
    assert row.state == "held"
    assert (row.amount_cents, row.card_id, row.card_label) == (2500, card.id, "Visa •••• 4242")
    (hold,) = strict_gateway.holds(f"preauth-{row.id}-1")
    assert row.gateway_reference == hold.id and hold.amount_cents == 2500
    assert row.held_at is not None
    assert row.lapses_at == hold.lapses_at  # Visa off-session: 4 days 18 hours
    assert hold.lapses_at - hold.created_at == timedelta(days=4, hours=18)
    assert _audit_actions(row.id) == ["preauth.scheduled", "preauth.held"]
    finished = Job.fetch(f"preauth-{row.id}-1", connection=redis_connection())
    assert finished.return_value() == "held"


def test_self_pay_holds_the_sum_of_the_service_prices(world, p, strict_gateway):
    add_card(strict_gateway, p.client)
    encounter = book(p, world.biller, starts_in=SOON, billing_type="self_pay",
                     services=[p.therapy, p.testing])  # fmt: skip
    work()
    assert preauth_of(encounter).amount_cents == 15000 + 20000


def test_the_amount_comes_from_the_services_when_the_hold_runs(world, p, strict_gateway):
    """Booked as Insurance three days out; changed to Self-pay later; the hold runs then."""
    add_card(strict_gateway, p.client)
    encounter = book(p, world.biller, starts_in=timedelta(days=3))
    _edit(p, encounter, world.biller, starts_in=SOON, billing_type="unknown",
          services=[p.testing])  # fmt: skip
    work()
    assert preauth_of(encounter).amount_cents == 20000


def test_a_zero_amount_places_no_hold_and_says_so(world, strict_gateway):
    p = practice(world, copay=0)
    add_card(strict_gateway, p.client)
    encounter = book(p, world.biller, starts_in=SOON)
    work()
    row = preauth_of(encounter)
    assert (row.state, row.amount_cents) == ("not_needed", 0)
    assert strict_gateway.calls["place_hold"] == 0
    assert _audit_actions(row.id)[-1] == "preauth.not_needed"


def test_the_job_run_twice_places_one_hold(world, p, strict_gateway):
    add_card(strict_gateway, p.client)
    encounter = book(p, world.biller, starts_in=SOON)
    row = preauth_of(encounter)
    # The same job enqueued a second time (a double enqueue, a sweeper racing the worker).
    service.enqueue(row.id, 1, row.run_at)
    work()
    assert job.run(row.id, 1) == "not scheduled"  # and once more, by hand

    assert preauth_of(encounter).state == "held"
    assert strict_gateway.calls["place_hold"] == 1
    assert len(strict_gateway.holds()) == 1


def test_no_card_on_file_fails_and_retry_works_once_a_card_is_added(world, p, strict_gateway):
    encounter = book(p, world.biller, starts_in=SOON)
    work()
    row = preauth_of(encounter)
    assert (row.state, row.failure_code) == ("failed", "no_card")
    assert row.failure_reason == "No card on file for the client."
    assert service.retry_refusal(row, utcnow().date()).startswith("Add a card")
    titles = db.session.scalars(select(Notification.title).order_by(Notification.user_id)).all()
    assert titles == ["Pre-authorization failed for Ada Lovelace"] * 2  # admin and biller

    add_card(strict_gateway, p.client)
    assert service.retry_refusal(preauth_of(encounter), utcnow().date()) is None
    service.retry(encounter, actor=world.biller)
    work()
    row = preauth_of(encounter)
    assert (row.state, row.attempt) == ("held", 2)
    assert len(strict_gateway.holds()) == 1


def test_a_declined_card_fails_at_once_and_retry_waits_for_another_card(world, p, strict_gateway):
    declining = add_card(strict_gateway, p.client, last4="0002", declines=True)
    encounter = book(p, world.biller, starts_in=SOON)
    work()

    row = preauth_of(encounter)
    assert (row.state, row.failure_code, row.card_id) == ("failed", "card_declined", declining.id)
    assert row.failure_reason == "The card was declined."  # staff wording
    assert strict_gateway.calls["place_hold"] == 1  # permanent: no retries
    with pytest.raises(service.ActionRefused) as refused:
        service.retry(encounter, actor=world.biller)
    assert refused.value.message.startswith("The same card was declined.")

    good = add_card(strict_gateway, p.client, last4="4242", default=False)
    assert preauth_of(encounter).state == "failed"  # a second card alone changes nothing
    cards.set_default(good, today=utcnow().date(), actor=world.biller)
    service.retry(encounter, actor=world.biller)
    work()

    row = preauth_of(encounter)
    assert (row.state, row.card_id, row.attempt) == ("held", good.id, 2)
    assert len(strict_gateway.holds()) == 1


def test_a_gateway_down_for_a_while_ends_in_held_after_retries(world, p, strict_gateway):
    add_card(strict_gateway, p.client)
    encounter = book(p, world.biller, starts_in=SOON)
    strict_gateway.go_down(2)

    work()

    row = preauth_of(encounter)
    assert row.state == "held"
    assert strict_gateway.calls["place_hold"] == 3
    assert len(strict_gateway.holds()) == 1
    finished = Job.fetch(f"preauth-{row.id}-1", connection=redis_connection())
    assert finished.retries_left == 1


def test_a_gateway_down_longer_than_the_retries_fails_with_retry_enabled(world, p, strict_gateway):
    add_card(strict_gateway, p.client)
    encounter = book(p, world.biller, starts_in=SOON)
    strict_gateway.go_down(4)  # the first try and all 3 retries

    work()

    row = preauth_of(encounter)
    assert (row.state, row.failure_code) == ("failed", "gateway_unavailable")
    assert strict_gateway.calls["place_hold"] == 4  # the first try and 3 retries
    assert service.retry_refusal(row, utcnow().date()) is None
    service.retry(encounter, actor=world.biller)
    work()
    assert preauth_of(encounter).state == "held"


def test_a_lost_answer_is_retried_with_the_same_key_and_gives_one_hold(world, p, strict_gateway):
    """The gateway placed the hold but the answer never came back (a timeout)."""
    add_card(strict_gateway, p.client)
    encounter = book(p, world.biller, starts_in=SOON)
    strict_gateway.lose_answers(1)

    work()

    row = preauth_of(encounter)
    assert row.state == "held"
    assert strict_gateway.calls["place_hold"] == 2
    (hold,) = strict_gateway.holds()
    assert row.gateway_reference == hold.id


def test_services_changed_between_a_crash_and_the_rerun_ask_for_the_same_hold(
    world, p, strict_gateway
):
    """The amount is fixed on the row before the gateway call, so the same key carries
    the same parameters (Stripe refuses a key reused with other ones)."""
    add_card(strict_gateway, p.client)
    encounter = book(p, world.biller, starts_in=SOON)
    strict_gateway.lose_answers(1)
    row_id = preauth_of(encounter).id
    with pytest.raises(TransientGatewayError):
        place_hold(row_id, 1, can_retry=True)
    assert preauth_of(encounter).state == "scheduled"
    encounter.client_insurance.copay_cents = 4000
    db.session.commit()

    queue().empty()
    assert job.run(row_id, 1) == "held"
    row = preauth_of(encounter)
    assert row.amount_cents == 2500
    assert len(strict_gateway.holds()) == 1


def test_an_appointment_cancelled_while_the_job_was_queued_places_nothing(world, p, strict_gateway):
    add_card(strict_gateway, p.client)
    encounter = book(p, world.biller, starts_in=SOON)
    encounter.status = "cancelled"  # as if changed behind the service's back
    db.session.commit()
    work()
    row = preauth_of(encounter)
    assert (row.state, row.failure_code) == ("cancelled", "encounter_cancelled")
    assert strict_gateway.calls["place_hold"] == 0


def test_an_expired_default_card_fails_without_calling_the_gateway(world, p, strict_gateway):
    add_card(strict_gateway, p.client, exp_month=1, exp_year=2020)
    encounter = book(p, world.biller, starts_in=SOON)
    work()
    row = preauth_of(encounter)
    assert (row.state, row.failure_code) == ("failed", "expired_card")
    assert row.failure_reason == "The default card (Visa •••• 4242) expired 01/2020."
    assert strict_gateway.calls["place_hold"] == 0


def test_a_failure_notice_from_a_worker_links_to_the_encounter(world, p, app):
    app.config["SERVER_NAME"] = None  # as in production: jobs run outside any request
    encounter = book(p, world.biller, starts_in=SOON)
    work()
    assert preauth_of(encounter).state == "failed"
    links = db.session.scalars(select(Notification.link)).all()
    assert links == [f"/encounters/{encounter.id}"] * 2
