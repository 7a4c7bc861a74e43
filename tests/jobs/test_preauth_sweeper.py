"""The sweeper: no scheduled hold is lost with Redis, none left stuck by a killed worker,
and none placed twice."""

from datetime import timedelta

import pytest
from rq.job import Job

from jobs import preauth_sweeper
from jobs.periodic import PERIODIC_JOBS
from tests.preauth_support import (
    add_card,
    book,
    practice,
    preauth_of,
    scheduled_at,
    scheduled_job_ids,
    work,
)
from webapp.config import PREAUTH_STUCK_MINUTES
from webapp.models.base import utcnow
from webapp.services import preauth_runs
from webapp.services.preauth_state import starts_at
from webapp.services.queue import queue, redis_connection

SOON = timedelta(hours=3)
AFTER_STUCK = timedelta(minutes=PREAUTH_STUCK_MINUTES + 1)


@pytest.fixture
def p(world, app, strict_gateway):
    app.config["PREAUTH_RETRY_INTERVALS"] = [0, 0, 0]
    p = practice(world, hours=24)
    add_card(strict_gateway, p.client)
    return p


class WorkerKilled(BaseException):
    """What a SIGKILL looks like from inside: nothing after this line runs."""


def _die(*_args, **_kwargs):
    raise WorkerKilled


def test_a_worker_killed_after_the_gateway_call_leaves_one_hold_after_the_sweeper(
    world, p, strict_gateway, monkeypatch
):
    encounter = book(p, world.biller, starts_in=SOON)
    row_id = preauth_of(encounter).id
    monkeypatch.setattr(preauth_runs, "_record_held", _die)  # dies before writing "held"
    with pytest.raises(WorkerKilled):
        preauth_runs.place_hold(row_id, 1)
    monkeypatch.undo()
    assert preauth_of(encounter).state == "processing"
    assert len(strict_gateway.holds()) == 1

    early = preauth_runs.sweep()  # too soon: the worker might still be running
    assert early.settled_held == [] and preauth_of(encounter).state == "processing"

    report = preauth_runs.sweep(now=utcnow() + AFTER_STUCK)
    work()

    assert report.settled_held == [row_id]
    row = preauth_of(encounter)
    (hold,) = strict_gateway.holds()
    assert (row.state, row.gateway_reference, row.amount_cents) == ("held", hold.id, 2500)
    assert row.card_label == "Visa •••• 4242"
    assert strict_gateway.calls["place_hold"] == 1


def test_a_worker_killed_before_the_gateway_call_is_run_again_once(
    world, p, strict_gateway, monkeypatch
):
    encounter = book(p, world.biller, starts_in=SOON)
    row_id = preauth_of(encounter).id
    monkeypatch.setattr(preauth_runs, "current_gateway", _die)
    with pytest.raises(WorkerKilled):
        preauth_runs.place_hold(row_id, 1)
    monkeypatch.undo()
    queue().empty()  # RQ would mark the dead worker's job abandoned; it never runs again

    report = preauth_runs.sweep(now=utcnow() + AFTER_STUCK)
    assert report.requeued == [row_id]
    assert preauth_of(encounter).state == "scheduled"
    assert queue().job_ids == [f"preauth-{row_id}-1"]
    work()

    assert preauth_of(encounter).state == "held"
    assert strict_gateway.calls["place_hold"] == 1
    assert len(strict_gateway.holds()) == 1


def test_a_hold_placed_but_unanswered_and_then_swept_is_not_placed_again(
    world, p, strict_gateway, monkeypatch
):
    """Killed after the gateway call; the sweeper finds nothing (a gateway view lagging
    behind) and runs the hold again: the same idempotency key answers with the first hold."""
    encounter = book(p, world.biller, starts_in=SOON)
    row_id = preauth_of(encounter).id
    monkeypatch.setattr(preauth_runs, "_record_held", _die)
    with pytest.raises(WorkerKilled):
        preauth_runs.place_hold(row_id, 1)
    monkeypatch.undo()
    queue().empty()
    monkeypatch.setattr(strict_gateway, "find_hold", lambda reference: None)
    monkeypatch.setattr(strict_gateway, "holds_for", lambda **_query: [])

    preauth_runs.sweep(now=utcnow() + AFTER_STUCK)
    work()

    assert preauth_of(encounter).state == "held"
    assert strict_gateway.calls["place_hold"] == 2
    assert len(strict_gateway.holds()) == 1


def test_a_gateway_down_while_settling_leaves_the_row_for_the_next_minute(
    world, p, strict_gateway, monkeypatch
):
    encounter = book(p, world.biller, starts_in=SOON)
    row_id = preauth_of(encounter).id
    monkeypatch.setattr(preauth_runs, "_record_held", _die)
    with pytest.raises(WorkerKilled):
        preauth_runs.place_hold(row_id, 1)
    monkeypatch.undo()
    strict_gateway.go_down(1)

    report = preauth_runs.sweep(now=utcnow() + AFTER_STUCK)
    assert report.unreachable == [row_id]
    assert preauth_of(encounter).state == "processing"

    preauth_runs.sweep(now=utcnow() + AFTER_STUCK)
    assert preauth_of(encounter).state == "held"


def test_flushing_redis_loses_no_scheduled_pre_authorization(world, p, strict_gateway):
    later = [book(p, world.biller, starts_in=timedelta(days=d)) for d in (2, 3, 4)]
    due = book(p, world.biller, starts_in=SOON)
    rows = {e.id: preauth_of(e) for e in [*later, due]}
    expected = sorted(r.job_id for e, r in rows.items() if e != due.id)

    redis_connection().flushall()
    assert scheduled_job_ids() == [] and queue().job_ids == []

    report = preauth_runs.sweep()
    assert sorted(report.enqueued) == sorted(r.id for r in rows.values())
    assert sorted(scheduled_job_ids()) == expected
    for e in later:
        row = preauth_of(e)
        assert scheduled_at(row.job_id) == starts_at(row.run_at)
    assert queue().job_ids == [rows[due.id].job_id]

    assert preauth_runs.sweep().enqueued == []  # a second sweep finds every job in place
    work()
    assert preauth_of(due).state == "held"
    assert [preauth_of(e).state for e in later] == ["scheduled"] * 3
    assert len(strict_gateway.holds()) == 1


def test_a_scheduled_row_whose_job_finished_or_failed_gets_a_new_one(world, p):
    encounter = book(p, world.biller, starts_in=timedelta(days=2))
    row = preauth_of(encounter)
    Job.fetch(row.job_id, connection=redis_connection()).set_status("failed")

    report = preauth_runs.sweep()
    assert report.enqueued == [row.id]
    assert scheduled_job_ids() == [row.job_id]


def test_the_sweeper_runs_every_minute_as_a_job(world, p):
    assert (preauth_sweeper.run, 60) in PERIODIC_JOBS
    book(p, world.biller, starts_in=timedelta(days=2))
    redis_connection().flushall()
    queue().enqueue(preauth_sweeper.run, job_id="sweeper-test")
    work()
    finished = Job.fetch("sweeper-test", connection=redis_connection())
    assert finished.return_value() == (
        "enqueued 1, held 0, failed 0, requeued 0, gateway unreachable for 0"
    )
    assert len(scheduled_job_ids()) == 1
