"""Redis down when a job is sent: every kind of caller keeps its truth in a row, answers
without a 5xx, and the sweeper (or the next run) sends the job once Redis is back.

`webapp.services.queue.enqueue` is the one place that meets a Redis that is down;
these tests point the app's Redis handle at a socket nobody serves, the way a stopped
redis-server looks to the app, and then back at the real one.
"""

import io
from datetime import date, timedelta

import pytest
import time_machine
from redis import Redis
from sqlalchemy import select, update

from jobs import reminders as reminders_job
from tests import factories
from tests.billing_support import kinds, place_hold, utc, visit, visit_day
from tests.preauth_support import book, edit, practice, preauth_of
from tests.reminder_support import at_noon, build_practice
from webapp.extensions import db
from webapp.models import (
    Automation,
    AutomationRun,
    LegacyImport,
    PreAuthorization,
    ReminderDelivery,
)
from webapp.models.base import utcnow
from webapp.services import (
    automations,
    charges,
    demo,
    demo_payments,
    encounter_events,
    legacy_import,
    preauth_runs,
    settings,
    settlement,
)
from webapp.services.queue import queue, redis_connection


@pytest.fixture
def redis_down(app, tmp_path):
    """The app's Redis handle points at a socket nobody serves, until `back()`."""
    real = redis_connection()
    gone = Redis(unix_socket_path=str(tmp_path / "no-redis.sock"), socket_timeout=1)

    class Switch:
        def down(self):
            app.extensions["covered_redis"] = gone

        def back(self):
            app.extensions["covered_redis"] = real

    switch = Switch()
    switch.down()
    yield switch
    switch.back()


def job_ids() -> set[str]:
    q = queue()
    return {*q.job_ids, *q.scheduled_job_registry.get_job_ids()}


def test_a_booked_hold_stays_scheduled_and_the_sweeper_sends_its_job(world, redis_down):
    p = practice(world, hours=24)
    encounter = book(p, world.biller, starts_in=timedelta(days=3))  # no exception

    row = preauth_of(encounter)
    assert row.state == "scheduled"
    redis_down.back()
    assert job_ids() == set()

    report = preauth_runs.sweep()

    assert report.enqueued == [row.id]
    assert job_ids() == {row.job_id}


def test_a_moved_hold_keeps_its_new_attempt_for_the_sweeper(world, redis_down):
    redis_down.back()
    p = practice(world, hours=24)
    encounter = book(p, world.biller, starts_in=timedelta(days=3))
    old = preauth_of(encounter).job_id
    redis_down.down()

    edit(p, encounter, world.biller, moves_by=timedelta(hours=2))  # drop and enqueue fail

    row = preauth_of(encounter)
    assert (row.state, row.attempt) == ("scheduled", 2)
    redis_down.back()
    assert preauth_runs.sweep().enqueued == [row.id]
    assert row.job_id in job_ids()
    assert old in job_ids()  # left behind, and it claims nothing when it runs:
    assert preauth_runs.place_hold(row.id, 1) == "not scheduled"


def test_a_hold_check_the_page_asked_for_stays_due_on_the_row(world, redis_down):
    p = practice(world, hours=24)
    encounter = book(p, world.biller, starts_in=timedelta(days=3))
    row = preauth_of(encounter)
    db.session.execute(
        update(PreAuthorization).where(PreAuthorization.id == row.id).values(gateway_check_due=True)
    )
    db.session.commit()

    edit(p, encounter, world.biller, moves_by=timedelta(hours=1))  # asks for a check after commit

    assert preauth_of(encounter).gateway_check_due is True
    redis_down.back()
    assert f"hold-check-{row.id}" not in job_ids()


def test_an_automation_run_stays_queued_and_the_sweep_sends_it(world, strict_gateway, redis_down):
    v = visit(world, strict_gateway)
    place_hold(strict_gateway, v)
    db.session.add(Automation(organization_id=world.org.id, event="encounter_finalized",
                              action="charge_preauth", position=1))  # fmt: skip
    db.session.commit()

    run = encounter_events.finalize(
        v.encounter, actor=world.clinician, confirm_early=visit_day(v.encounter)
    )

    assert db.session.get(AutomationRun, run.id).status == "queued"
    redis_down.back()
    assert job_ids() == set()
    later = utcnow() + automations.LOST_AFTER + timedelta(seconds=1)
    assert automations.requeue_lost(now=later) == [run.id]
    assert run.job_id in job_ids()


def test_a_charge_the_gateway_left_pending_is_settled_by_the_sweep(
    world, strict_gateway, redis_down
):
    v = visit(world, strict_gateway)
    place_hold(strict_gateway, v)
    strict_gateway.go_down(1)

    outcome = charges.release(v.encounter, actor=world.biller)  # the settle job is not sent

    assert outcome.pending
    assert kinds(v.encounter.id) == [("hold_release", 15000, "pending")]
    redis_down.back()
    assert job_ids() == set()
    assert settlement.stale_encounter_ids(utc(minutes=3)) == [v.encounter.id]
    with time_machine.travel(utc(minutes=3), tick=False):
        settlement.settle_encounter(v.encounter.id)
    assert kinds(v.encounter.id) == [("hold_release", 15000, "succeeded")]


def test_reminder_digests_stay_pending_and_the_next_run_queues_them(world, redis_down):
    end = date(2026, 9, 30)
    build_practice(world).authorization("maya", number="LATE-1", end_date=end)

    with time_machine.travel(at_noon(end), tick=True):
        result = reminders_job.run(world.org.id)
        assert "0 digests queued" in result
        pending = {d.email_status for d in db.session.scalars(select(ReminderDelivery))}
        assert "pending" in pending
        redis_down.back()
        again = reminders_job.run(world.org.id)

    assert "0 digests queued" not in again
    assert any(i.startswith("reminder-digest-") for i in job_ids())


def test_a_setting_that_queues_a_reminders_run_is_saved_anyway(client, auth, world, redis_down):
    auth.login(world.admin)
    response = client.post(
        "/admin/organization/count_upcoming_for_exhaustion",
        data={"enabled": "on"},
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 200 and "Saved." in response.get_data(as_text=True)
    db.session.refresh(world.org)
    assert world.org.count_upcoming_for_exhaustion is True
    assert settings.set_toggle(world.org, "block_overscheduling", True, actor=world.admin)


def test_a_legacy_upload_is_marked_failed_with_a_message_not_a_5xx(client, auth, world, redis_down):
    factories.legacy_import_ready(world.org)
    db.session.commit()
    auth.login(world.admin)

    response = client.post(
        "/admin/imports",
        data={"file": (io.BytesIO(b"client,payer,authorization_number,end_date,"
                                  b"sessions_allowed\nAna Rivera,Aetna,AET-1,,4\n"), "l.csv")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )  # fmt: skip

    assert response.status_code == 200
    upload = db.session.scalars(select(LegacyImport)).one()
    assert upload.status == "failed"
    assert "The job queue could not be reached" in upload.errors[0]["reason"]
    assert "upload the file again" in response.get_data(as_text=True)
    assert legacy_import.job_id(upload.id)


def test_the_demo_cards_are_not_sent_and_say_so(app, redis_down):
    demo.seed_demo()

    assert demo_payments.enqueue_if_demo() is False
    redis_down.back()
    assert demo_payments.enqueue_if_demo() is True
    assert demo_payments.DEMO_PAYMENTS_JOB_ID in job_ids()


def test_a_sweep_while_redis_is_away_counts_only_what_it_sent(world, redis_down, monkeypatch):
    redis_down.back()
    p = practice(world, hours=24)
    encounter = book(p, world.biller, starts_in=timedelta(days=3))
    row = preauth_of(encounter)
    redis_connection().flushall()  # the job is lost …

    def look_up_then_go_away():
        connection = redis_connection()
        redis_down.down()  # … and Redis goes away between the look-up and the enqueue
        return connection

    monkeypatch.setattr(preauth_runs, "redis_connection", look_up_then_go_away)
    assert preauth_runs.sweep().enqueued == []
    monkeypatch.undo()
    redis_down.back()

    assert preauth_runs.sweep().enqueued == [row.id]
    assert job_ids() == {row.job_id}
