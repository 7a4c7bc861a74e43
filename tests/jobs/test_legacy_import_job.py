"""The legacy-import job, run by a real RQ worker against the embedded Redis."""

import pytest
from rq import SimpleWorker
from rq.job import Job, JobStatus
from sqlalchemy import func, select

from jobs import legacy_import as job
from tests import factories
from webapp.extensions import db
from webapp.models import AuditEvent, Authorization, LegacyImport
from webapp.services import legacy_import
from webapp.services.queue import queue, redis_connection

HEADER = "client,payer,authorization_number,end_date,sessions_allowed"


@pytest.fixture
def org(world):
    return factories.legacy_import_ready(world.org)


def upload(world, org, *lines: str) -> LegacyImport:
    content = "\n".join((HEADER, *lines)) + "\n"
    return legacy_import.start_upload(org, world.admin, "legacy.csv", content)


def work() -> None:
    SimpleWorker([queue()], connection=redis_connection()).work(burst=True)


def count(model) -> int:
    return db.session.scalar(select(func.count(model.id)))


def test_the_worker_imports_the_upload_and_records_the_outcome(world, org):
    lines = [f"Ana Rivera,Aetna,AET-{n},,4" for n in range(25)] + ["Nobody,Aetna,X,,1"]
    started = upload(world, org, *lines)
    assert started.status == "queued"
    assert queue().job_ids == [f"legacy-import-{started.id}"]

    work()

    db.session.expire_all()
    row = db.session.get(LegacyImport, started.id)
    assert row.status == "done"
    assert (row.total_rows, row.imported_count, row.unchanged_count) == (26, 25, 0)
    assert row.errors == [{"row": 27, "reason": "No client matches 'Nobody' (use the client's id, "
                           "'Last, First' or 'First Last')."}]  # fmt: skip
    assert row.finished_at is not None
    assert count(Authorization) == 25
    finished = Job.fetch(f"legacy-import-{started.id}", connection=redis_connection())
    assert finished.get_status() == JobStatus.FINISHED
    assert (finished.meta["done"], finished.meta["total"]) == (26, 26)


def test_running_the_job_a_second_time_does_nothing(world, org):
    started = upload(world, org, "Ana Rivera,Aetna,AET-1,,4")
    work()
    db.session.expire_all()
    finished_at = db.session.get(LegacyImport, started.id).finished_at

    assert job.run(started.id) == "already taken"

    db.session.expire_all()
    row = db.session.get(LegacyImport, started.id)
    assert (row.status, row.imported_count, row.finished_at) == ("done", 1, finished_at)
    assert count(Authorization) == 1
    assert count(AuditEvent) == 1


def test_a_failure_rolls_everything_back_and_marks_the_row_failed(world, org, monkeypatch):
    started = upload(world, org, "Ana Rivera,Aetna,AET-1,,4", "Ana Rivera,Aetna,AET-2,,4")

    def broken(_org, _client_id):
        raise RuntimeError("allocation store is down")

    monkeypatch.setattr(legacy_import, "reallocate_client", broken)
    work()

    db.session.expire_all()
    row = db.session.get(LegacyImport, started.id)
    assert row.status == "failed"
    assert row.errors == [{"row": None, "reason": "RuntimeError: allocation store is down"}]
    assert count(Authorization) == 0  # nothing half-written, SAVEPOINTs included
    assert count(AuditEvent) == 0
    failed = Job.fetch(f"legacy-import-{started.id}", connection=redis_connection())
    assert failed.get_status() == JobStatus.FAILED  # raised again, never swallowed
    assert "allocation store is down" in failed.latest_result().exc_string


def test_the_job_fails_clearly_when_the_release_date_was_removed_meanwhile(world, org):
    started = upload(world, org, "Ana Rivera,Aetna,AET-1,,4")
    org.enhanced_authorizations_release_date = None
    db.session.commit()

    with pytest.raises(legacy_import.ImportRefused):
        job.run(started.id)

    db.session.expire_all()
    row = db.session.get(LegacyImport, started.id)
    assert row.status == "failed"
    assert "release date" in row.errors[0]["reason"]
    assert count(Authorization) == 0


def test_a_bad_file_is_refused_before_anything_is_created_or_queued(world, org):
    with pytest.raises(ValueError, match="authorization_number"):
        legacy_import.start_upload(org, world.admin, "x.csv", "client,payer\nA,B\n")
    with pytest.raises(ValueError, match="no rows"):
        legacy_import.start_upload(org, world.admin, "x.csv", HEADER + "\n")
    assert count(LegacyImport) == 0
    assert queue().count == 0
