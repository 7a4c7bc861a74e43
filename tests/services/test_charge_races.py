"""Exactly once: racing people, an automation racing a person, and jobs retried after
a crash each end in one capture or one release, a clear message for the loser, and a
ledger that adds up. Threads use their own app context (their own connection); the
strict gateway enforces Stripe's rules and counts every call."""

import threading

import pytest
import time_machine
from rq import SimpleWorker
from sqlalchemy import func, select

from jobs import charges as charges_job
from tests.billing_support import (
    add_service,
    assert_ledger_adds_up,
    invoices_of,
    kinds,
    place_hold,
    utc,
    visit,
    visit_day,
)
from webapp.extensions import db
from webapp.models import Automation, AutomationRun, Encounter, PreAuthorization, User
from webapp.services import automations, charges, encounter_events, settlement
from webapp.services.queue import queue, redis_connection


def race(app, *actions) -> list[tuple[str, str]]:
    """Run each `action(encounter_id)` in its own thread, all released at once.

    Returns (name, "won: <message>" | "lost: <message>") per action.
    """
    barrier = threading.Barrier(len(actions))
    results: list[tuple[str, str]] = []

    def run(action):
        with app.app_context():
            try:
                barrier.wait(10)
                results.append((action.__name__, f"won: {action()}"))
            except charges.ChargeRefused as refused:
                results.append((action.__name__, f"lost: {refused.message}"))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(a,)) for a in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(results) == len(actions), "a racer did not finish"
    return sorted(results, key=lambda r: r[1])  # lost… before won…


def person(verb: str, encounter_id: int, user_id: int):
    def act():
        encounter = db.session.get(Encounter, encounter_id)
        actor = db.session.get(User, user_id)
        return getattr(charges, verb)(encounter, actor=actor).message

    act.__name__ = f"{verb}-by-{user_id}"
    return act


def gateway_moves(gateway) -> int:
    return gateway.calls["capture"] + gateway.calls["release"]


def test_a_double_click_on_charge_captures_once(app, world, strict_gateway):
    v = visit(world, strict_gateway)
    row = place_hold(strict_gateway, v)
    add_service(v.encounter, v.testing)

    results = race(
        app,
        person("charge", v.encounter.id, world.biller.id),
        person("charge", v.encounter.id, world.biller.id),
    )

    (_, lost), (_, won) = results
    assert won == "won: Captured $150.00 from the hold; charged $40.00 to the card."
    assert lost.startswith(f"lost: This hold was already charged by {world.biller.name} on ")
    assert strict_gateway.calls["capture"] == 1 and strict_gateway.calls["charge"] == 1
    assert strict_gateway.intents[row.gateway_reference].captured_cents == 15000
    assert len(invoices_of(v.encounter.id)) == 1
    assert kinds(v.encounter.id) == [
        ("hold_capture", 15000, "succeeded"),
        ("additional_charge", 4000, "succeeded"),
    ]
    assert_ledger_adds_up(v.encounter.id)


def test_charge_and_release_at_the_same_moment_do_one_thing(app, world, strict_gateway):
    v = visit(world, strict_gateway)
    row = place_hold(strict_gateway, v)

    results = race(
        app,
        person("charge", v.encounter.id, world.biller.id),
        person("release", v.encounter.id, world.admin.id),
    )

    (loser, lost), (winner, won) = results
    assert gateway_moves(strict_gateway) == 1
    db.session.expire_all()
    state = db.session.get(PreAuthorization, row.id).state
    if winner.startswith("charge"):
        assert state == "charged" and won == "won: Captured $150.00 from the hold."
        assert f"already charged by {world.biller.name}" in lost
        assert lost.endswith("It can no longer be released.")
    else:
        assert state == "released" and won == "won: Released $150.00."
        assert f"already released by {world.admin.name}" in lost
    assert len(kinds(v.encounter.id)) == 1
    assert_ledger_adds_up(v.encounter.id)


def finalized_with_rule(world, v) -> AutomationRun:
    db.session.add(Automation(organization_id=world.org.id, event="encounter_finalized",
                              action="charge_preauth", position=1))  # fmt: skip
    db.session.commit()
    return encounter_events.finalize(
        v.encounter, actor=world.clinician, confirm_early=visit_day(v.encounter)
    )


def test_an_automation_racing_a_person_charges_once_and_says_who_won(app, world, strict_gateway):
    v = visit(world, strict_gateway)
    place_hold(strict_gateway, v)
    run = finalized_with_rule(world, v)
    queue().empty()  # the job runs in the race below, not in a worker

    def automation():
        try:
            return automations.carry_out(v.encounter.id, "encounter_finalized")
        except settlement.InProgress as busy:  # the person's charge is under way: RQ retries
            return f"retry later: {busy.message}"

    results = race(app, automation, person("charge", v.encounter.id, world.biller.id))
    if dict(results)["automation"].startswith("won: retry later"):
        automations.carry_out(v.encounter.id, "encounter_finalized")  # the retry

    assert strict_gateway.calls["capture"] == 1
    db.session.expire_all()
    run = db.session.get(AutomationRun, run.id)
    names = dict(results)
    if names["automation"].startswith("won: done"):
        assert run.status == "done" and run.outcome == "Captured $150.00 from the hold."
        person_result = names[f"charge-by-{world.biller.id}"]
        assert (
            "already charged by the automation (Encounter Finalized → Charge Pre-authorization)"
            in person_result
        )
    else:
        assert run.status == "skipped"
        assert run.outcome.startswith(f"This hold was already charged by {world.biller.name}")
    assert len(invoices_of(v.encounter.id)) == 1
    assert_ledger_adds_up(v.encounter.id)


def work() -> None:
    SimpleWorker([queue()], connection=redis_connection()).work(burst=True)


def crash_once_after_the_gateway(monkeypatch):
    """The first write after a gateway call dies, as a worker killed right there would."""
    real, crashed = settlement._succeed, []

    def succeed(*args, **kwargs):
        if not crashed:
            crashed.append(True)
            raise RuntimeError("worker died after the gateway answered")
        return real(*args, **kwargs)

    monkeypatch.setattr(settlement, "_succeed", succeed)
    return crashed


def test_a_job_retried_after_a_crash_finishes_the_same_charge(
    app, world, strict_gateway, monkeypatch
):
    app.config["AUTOMATION_RETRY_INTERVALS"] = [0]  # retried at once by the same worker
    v = visit(world, strict_gateway)
    row = place_hold(strict_gateway, v)
    add_service(v.encounter, v.testing)
    run = finalized_with_rule(world, v)
    crashed = crash_once_after_the_gateway(monkeypatch)

    work()

    assert crashed == [True]
    db.session.expire_all()
    run = db.session.get(AutomationRun, run.id)
    assert (run.status, run.attempts) == ("done", 2)
    assert run.outcome == "Captured $150.00 from the hold; charged $40.00 to the card."
    assert strict_gateway.calls["capture"] == 1 and strict_gateway.calls["charge"] == 1
    assert strict_gateway.intents[row.gateway_reference].captured_cents == 15000
    assert [s for _, _, s in kinds(v.encounter.id)] == ["succeeded", "succeeded"]
    assert_ledger_adds_up(v.encounter.id)


def test_a_job_killed_mid_charge_is_settled_by_the_sweep_and_reports_once(
    app, world, strict_gateway, monkeypatch
):
    app.config["AUTOMATION_RETRY_INTERVALS"] = []  # no retry: as if the worker was killed
    v = visit(world, strict_gateway)
    row = place_hold(strict_gateway, v)
    run = finalized_with_rule(world, v)
    crash_once_after_the_gateway(monkeypatch)
    work()
    db.session.expire_all()
    assert db.session.get(AutomationRun, run.id).status == "running"
    assert kinds(v.encounter.id) == [("hold_capture", 15000, "pending")]

    # A minute later the sweep leaves it alone: its owner might still be at the gateway.
    with time_machine.travel(utc(minutes=1), tick=False):
        assert charges_job.sweep() == "settled 0, busy 0, automation runs requeued 0"
    with time_machine.travel(utc(minutes=6), tick=False):
        report = charges_job.sweep()
        work()

    assert report == "settled 1, busy 0, automation runs requeued 1"
    db.session.expire_all()
    run = db.session.get(AutomationRun, run.id)
    assert (run.status, run.outcome) == ("done", "Captured $150.00 from the hold.")
    assert strict_gateway.calls["capture"] == 1  # the sweep asked the gateway, did not redo it
    assert strict_gateway.intents[row.gateway_reference].captured_cents == 15000
    assert kinds(v.encounter.id) == [("hold_capture", 15000, "succeeded")]
    assert_ledger_adds_up(v.encounter.id)


@pytest.mark.parametrize("racers", [3])
def test_many_settlers_of_one_stale_payment_call_the_gateway_once(
    app, world, strict_gateway, racers
):
    v = visit(world, strict_gateway)
    row = place_hold(strict_gateway, v)
    strict_gateway.go_down(1)
    assert charges.release(v.encounter, actor=world.biller).pending

    def settle():
        outcome = settlement.settle_encounter(v.encounter.id)
        return outcome.message if outcome else "nothing pending"

    barrier = threading.Barrier(racers)
    results: list[str] = []

    def run():
        with app.app_context():
            barrier.wait(10)
            try:
                results.append(settle())
            except settlement.InProgress:
                results.append("in progress")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run) for _ in range(racers)]
    with time_machine.travel(utc(minutes=3), tick=False):  # the pending row is stale now
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)

    assert results.count("Released $150.00.") == 1
    assert strict_gateway.calls["release"] == 2  # the one that was down, and one more
    assert strict_gateway.intents[row.gateway_reference].status == "canceled"
    assert db.session.scalar(select(func.count()).select_from(AutomationRun)) == 0
    assert_ledger_adds_up(v.encounter.id)
