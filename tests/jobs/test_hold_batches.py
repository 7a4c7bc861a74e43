"""Placing every due hold at once (services/hold_batches): exactly one hold per
pre-authorization, against the strict gateway (Stripe's rules, tests/gateways.py) and
localstripe through StripeGateway, on SQLite and PostgreSQL.

Each case books a dozen self-pay visits whose holds are due, then places them the way
the worker does (`place_due_holds`, threads), with runs side by side, answers lost,
the gateway down, and a run that dies in the middle of a batch; what the gateway holds
is then counted per reference. Nothing here is timed.
"""

import random
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from jobs import preauth as job
from tests.bench.topology import GatewayProxyProcess, Topology
from tests.jobs.test_preauth_localstripe import VISA, _card_on_file
from tests.preauth_support import add_card, book, practice, preauth_of, work
from tests.servers import wait_until
from webapp.config import PREAUTH_STUCK_MINUTES
from webapp.extensions import db
from webapp.models import PreAuthorization
from webapp.models.base import utcnow
from webapp.services import hold_batches, preauth_runs, preauth_state
from webapp.services.hold_batches import place_due_holds
from webapp.services.queue import queue

DUE = 12


class WorkerKilled(BaseException):
    """The process running the batch died (SIGKILL): nothing after this point runs."""


@pytest.fixture(params=["strict", "localstripe"])
def gateway(request, app):
    """The strict gateway, or StripeGateway on the session's localstripe."""
    app.config["PREAUTH_RETRY_INTERVALS"] = [0, 0, 0]
    app.config["PREAUTH_GATEWAY_THREADS"] = 4
    app.config["PREAUTH_BATCH_SIZE"] = 5  # several batches per run
    if request.param == "strict":
        return request.getfixturevalue("strict_gateway")
    return request.getfixturevalue("app_stripe_gateway")


@pytest.fixture
def p(world, gateway):
    practice_ = practice(world, hours=24, copay=2500)
    if hasattr(gateway, "go_down"):  # the strict gateway
        add_card(gateway, practice_.client)
    else:
        _card_on_file(gateway, practice_.client, VISA)
    return practice_


def _book_due(p, world, count: int = DUE) -> list[tuple[int, int]]:
    """`count` visits within the day: holds already due (24 hours before). Each gets an
    attempt number no other test used, so references are unique at localstripe."""
    rows = []
    for n in range(count):
        encounter = book(
            p, world.biller, starts_in=timedelta(hours=1, minutes=70 * n), billing_type="self_pay"
        )
        row = preauth_of(encounter)
        attempt = random.randrange(10**6, 10**9)
        db.session.execute(
            update(PreAuthorization).where(PreAuthorization.id == row.id).values(attempt=attempt)
        )
        rows.append((row.id, attempt))
    db.session.commit()
    return rows


def _holds_per_row(gateway, p, rows) -> dict[int, list]:
    """Every hold the gateway created for each (id, attempt), by our reference."""
    customer = p.client.gateway_customer_id
    found = gateway.holds_for(customer_id=customer, reference_prefix="preauth-")
    return {
        row_id: [h for h in found if h.our_reference == f"preauth-{row_id}-{attempt}"]
        for row_id, attempt in rows
    }


def _assert_each_held_once(gateway, p, rows) -> None:
    db.session.expire_all()
    states = dict(
        db.session.execute(
            select(PreAuthorization.id, PreAuthorization.state).where(
                PreAuthorization.id.in_([r for r, _ in rows])
            )
        ).all()
    )
    assert set(states.values()) == {"held"}
    holds = _holds_per_row(gateway, p, rows)
    assert {row_id: len(found) for row_id, found in holds.items()} == {r: 1 for r, _ in rows}
    references = {
        r.id: r.gateway_reference
        for r in db.session.scalars(
            select(PreAuthorization).where(PreAuthorization.id.in_([r for r, _ in rows]))
        )
    }
    assert all(holds[row_id][0].reference == references[row_id] for row_id, _ in rows)
    assert all(holds[row_id][0].status == "requires_capture" for row_id, _ in rows)


def test_one_run_places_every_due_hold_once(world, p, gateway):
    rows = _book_due(p, world)
    later = book(p, world.biller, starts_in=timedelta(hours=24, minutes=30))
    own, outcome_of = rows[0], {}

    outcome, run = place_due_holds(own)

    assert str(outcome) == "held"
    outcome_of.update(run.outcomes)
    assert set(outcome_of) == {r for r, _ in rows}  # not the visit whose hold is not due
    _assert_each_held_once(gateway, p, rows)
    assert preauth_of(later).state == "scheduled"


def test_a_hold_is_placed_no_more_than_the_lead_early(world, p, gateway, app):
    """Due 30 s from now is within the 2-minute lead; due in 10 minutes is not."""
    soon = book(p, world.biller, starts_in=timedelta(hours=25), billing_type="self_pay")
    row = preauth_of(soon)
    now = utcnow()
    for run_at, placed in (
        (now + timedelta(minutes=10), False),
        (now + timedelta(seconds=30), True),
    ):
        db.session.execute(
            update(PreAuthorization).where(PreAuthorization.id == row.id).values(run_at=run_at)
        )
        db.session.commit()
        place_due_holds(now=now)
        assert (preauth_of(soon).state == "held") is placed
    assert app.config["PREAUTH_LEAD_SECONDS"] == 120
    assert preauth_state.starts_at(row.run_at) == row.run_at - timedelta(seconds=120)


def test_runs_side_by_side_place_each_hold_once(world, p, gateway, app):
    """Three runs at once (three workers), each with its own threads, over the same rows,
    while the worker's own jobs run too."""
    rows = _book_due(p, world)
    start = threading.Barrier(3)
    failures = []

    def one_run():
        with app.app_context():
            try:
                start.wait(10)
                place_due_holds()
            except Exception as error:  # reported below, not lost in the thread
                failures.append(error)
            finally:
                db.session.remove()

    runs = [threading.Thread(target=one_run) for _ in range(3)]
    for thread in runs:
        thread.start()
    for thread in runs:
        thread.join(120)
    assert failures == []
    work()  # the booked jobs find their rows held: nothing more is placed
    _assert_each_held_once(gateway, p, rows)


def test_lost_answers_and_a_gateway_outage_in_a_batch_still_place_one_hold_each(
    world, strict_gateway, app
):
    app.config.update(PREAUTH_RETRY_INTERVALS=[0, 0, 0], PREAUTH_GATEWAY_THREADS=4)
    p = practice(world, hours=24, copay=2500)
    add_card(strict_gateway, p.client)
    rows = _book_due(p, world)
    strict_gateway.lose_answers(3)  # placed, but the answer never came back

    _, run = place_due_holds()

    assert len(run.sent_back) == 3  # put back, marked for a check, own job sent again
    strict_gateway.go_down(2)  # and the first retries find the gateway down
    for _ in range(4):
        work()
    _assert_each_held_once(strict_gateway, p, rows)
    assert len(strict_gateway.live()) == DUE


def test_a_run_killed_in_the_middle_of_a_batch_leaves_one_hold_each(world, p, gateway, monkeypatch):
    """The process dies after four holds: rows it had claimed are in processing (some
    with a hold at the gateway that was never written), the rest untouched. The sweeper
    settles the first from the gateway; the jobs place the rest."""
    rows = _book_due(p, world)
    killed = threading.Event()
    written = iter(range(DUE * 2))
    record_held, place = preauth_runs._record_held, hold_batches._place

    def record_or_die(*args, **kwargs):
        if next(written) >= 4:
            killed.set()
        if killed.is_set():
            raise WorkerKilled
        return record_held(*args, **kwargs)

    def start_or_die(*args, **kwargs):
        if killed.is_set():
            raise WorkerKilled
        return place(*args, **kwargs)

    monkeypatch.setattr(preauth_runs, "_record_held", record_or_die)
    monkeypatch.setattr(hold_batches, "_place", start_or_die)
    with pytest.raises(WorkerKilled):
        place_due_holds()
    monkeypatch.undo()
    db.session.expire_all()
    states = db.session.scalars(select(PreAuthorization.state)).all()
    assert states.count("held") == 4 and "processing" in states

    later = utcnow() + timedelta(minutes=PREAUTH_STUCK_MINUTES + 1)
    report = preauth_runs.sweep(now=later)
    assert report.settled_held  # holds placed but never written are adopted, not placed again
    work()
    _assert_each_held_once(gateway, p, rows)


def test_the_hold_job_answers_for_its_own_row(world, p, gateway):
    rows = _book_due(p, world, count=3)
    row_id, attempt = rows[1]
    assert job.run(row_id, attempt) == "held"
    assert job.run(row_id, attempt) == "not scheduled"
    _assert_each_held_once(gateway, p, rows)


def test_the_jobs_of_the_holds_a_run_placed_are_deleted_while_they_wait(world, strict_gateway, app):
    p = practice(world, hours=24, copay=2500)
    add_card(strict_gateway, p.client)
    encounters = [
        book(p, world.biller, starts_in=timedelta(hours=2 + n), billing_type="self_pay")
        for n in range(4)
    ]
    rows = [preauth_of(e) for e in encounters]
    assert sorted(queue().job_ids) == sorted(r.job_id for r in rows)  # due: queued at once

    _, run = place_due_holds()

    assert len(run.outcomes) == 4
    assert queue().job_ids == []  # nothing left for a worker to fork for
    assert {preauth_of(e).state for e in encounters} == {"held"}


def test_a_worker_process_killed_in_the_middle_of_a_batch_leaves_one_hold_each(
    world, app, database_url, app_stripe_gateway, localstripe_server, tmp_path
):
    """A real `python -m jobs.worker` places a batch through a slow gateway (the bench's
    proxy, 0.5 s a call) and is killed outright (SIGKILL, its whole process group) once
    a few holds are written: then the sweeper and a worker finish, one hold each."""
    p = practice(world, hours=24, copay=2500)
    _card_on_file(app_stripe_gateway, p.client, VISA)
    rows = _book_due(p, world, count=16)
    proxy = GatewayProxyProcess(localstripe_server.url, delay=0.5, error_rate=0.0, errors=("503",))
    topology = Topology(
        tmp_path / "processes",
        database_url,
        app.config["REDIS_URL"],
        proxy.url,
        localstripe_server.js_url,
        extra_env={"COVERED_ENV": "test", "PREAUTH_GATEWAY_THREADS": "4"},
    )
    try:
        topology.start_workers(1)
        wait_until(lambda: _held(rows) >= 2, 120, "the first holds of the batch")
        topology.kill("worker-1")
        topology.stop()
    finally:
        topology.stop()
        proxy.stop()
    assert _held(rows) < len(rows)  # killed in the middle: some rows never finished

    later = utcnow() + timedelta(minutes=PREAUTH_STUCK_MINUTES + 1)
    preauth_runs.sweep(now=later)  # settles what the dead batch had claimed
    work()
    _assert_each_held_once(app_stripe_gateway, p, rows)


def _held(rows) -> int:
    db.session.expire_all()
    ids = [row_id for row_id, _ in rows]
    states = db.session.scalars(
        select(PreAuthorization.state).where(PreAuthorization.id.in_(ids))
    ).all()
    db.session.commit()
    return states.count("held")
