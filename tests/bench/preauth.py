"""1,000 pre-authorization holds due in the same minute, one worker, against localstripe.

Everything is real and separate, as under `make run`: the embedded redis-server,
localstripe (our launcher, on 127.0.0.1), a SQLite file, and one worker process with
RQ's scheduler. The holds are scheduled with `enqueue_at` for one instant a little
ahead, the worker is started before it, and a phase ends when every row is final.
Printed per worker:

- throughput: holds placed per second, from the due time to the last hold;
- lateness (actual − due) of the claim and of the hold, median and p99;
- the floor: as many empty RQ jobs through the same worker, jobs per second.

Two workers are measured, each with its own 1,000 holds: `python -m jobs.worker` as
shipped (RQ's Worker, which forks a work horse per job) and RQ's SimpleWorker (no fork),
to show what the fork costs.
"""

import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select

from tests import factories
from tests.servers import LocalstripeServer, RedisServer
from webapp import PROJECT_ROOT, create_app
from webapp.extensions import db
from webapp.models import Encounter, EncounterService, PreAuthorization
from webapp.models.base import utcnow

VISA = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2031, "cvc": "123"}
HOLDS = 1_000
CLIENTS = 100  # each with a card on file; ten appointments each
LEAD_SECONDS = 20  # the holds fall due this long after scheduling starts (worker started)
WORKERS = {
    "python -m jobs.worker (RQ Worker: a forked work horse per job)": ["-m", "jobs.worker"],
    "RQ SimpleWorker (no fork), for comparison": [
        "-m", "rq.cli", "worker", "--worker-class", "rq.worker.SimpleWorker",
        "--with-scheduler", "--quiet", "default",
    ],
}  # fmt: skip
TIMEOUT_SECONDS = 900


# The floor: a job that does nothing, in a module that imports nothing (so the forked
# work horse spends its time on RQ itself, not on importing this file).
EMPTY_JOB = "tests.bench.noop.run"


@dataclass
class Figures:
    worker: str
    holds: int
    held: int
    seconds: float
    claim_lateness: list[float]
    hold_lateness: list[float]
    empty_jobs_per_second: float

    @property
    def per_second(self) -> float:
        return self.held / self.seconds if self.seconds else 0.0


def _percentile(values: list[float], pct: int) -> float:
    ordered = sorted(values)
    rank = max(0, -(-pct * len(ordered) // 100) - 1)  # nearest rank
    return ordered[rank]


def _setup_clients(app, localstripe_url: str, count: int) -> list[tuple[int, int]]:
    """Clients with a gateway customer and a default Visa card: [(client id, card id)]."""
    import stripe

    from webapp.payments import current_gateway

    raw = stripe.StripeClient("sk_test_covered", base_addresses={"api": localstripe_url})
    pairs = []
    with app.app_context():
        org = factories.organization(
            name="Bench Practice", preauth_active=True, preauth_hours_before=24
        )
        clinician = factories.user(org, "clinician")
        therapy = factories.service_type(org, cpt_code="90837", price_cents=15000)
        db.session.commit()
        for number in range(count):
            client = factories.client(org, first_name="Bench", last_name=f"Client{number}")
            client.gateway_customer_id = current_gateway().create_customer(
                name=client.full_name, email=None, reference=f"client-{client.id}"
            )
            method = raw.v1.payment_methods.create({"type": "card", "card": VISA})
            details = current_gateway().attach_card(
                customer_id=client.gateway_customer_id, payment_method_id=method.id
            )
            card = factories.card_from_gateway(client, details)
            pairs.append((client.id, card.id))
        db.session.commit()
        app.config["BENCH_IDS"] = (org.id, clinician.id, therapy.id)
    return pairs


def _schedule_holds(app, pairs, count: int) -> datetime:
    """`count` new encounters (self-pay, $150) whose holds are all due at one instant."""
    from webapp.services import preauth as service

    org_id, clinician_id, therapy_id = app.config["BENCH_IDS"]
    with app.app_context():
        due = (utcnow() + timedelta(seconds=LEAD_SECONDS)).replace(microsecond=0)
        starts_at = due + timedelta(hours=24)
        encounter = {
            "organization_id": org_id,
            "clinician_id": clinician_id,
            "starts_at": starts_at,
            "service_date": starts_at.date(),
            "duration_minutes": 60,
            "status": "upcoming",
            "billing_type": "self_pay",
        }
        encounters = [{**encounter, "client_id": pairs[n % len(pairs)][0]} for n in range(count)]
        db.session.execute(insert(Encounter), encounters)
        ids = db.session.scalars(
            select(Encounter.id).where(Encounter.starts_at == starts_at).order_by(Encounter.id)
        ).all()
        db.session.execute(
            insert(EncounterService),
            [{"encounter_id": i, "service_type_id": therapy_id, "minutes": 60} for i in ids],
        )
        hold = {"organization_id": org_id, "state": "scheduled", "hours_before": 24, "attempt": 1}
        db.session.execute(
            insert(PreAuthorization), [{**hold, "encounter_id": i, "run_at": due} for i in ids]
        )
        db.session.commit()
        rows = db.session.execute(
            select(PreAuthorization.id, PreAuthorization.attempt).where(
                PreAuthorization.run_at == due
            )
        ).all()
        for row_id, attempt in rows:
            service.enqueue(row_id, attempt, due)
    return due


def _start_worker(app, localstripe: LocalstripeServer, args: list[str]) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": app.config["REDIS_URL"],
        "STRIPE_API_BASE": localstripe.url,
        "STRIPE_JS_URL": localstripe.js_url,
    }
    log = (Path(os.environ["COVERED_INSTANCE_PATH"]) / "preauth-bench" / "worker.log").open("w")
    if args[:2] == ["-m", "rq.cli"]:
        args = [*args[:-1], "--url", app.config["REDIS_URL"], args[-1]]
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _wait_until_final(app, due: datetime) -> None:
    deadline = time.monotonic() + TIMEOUT_SECONDS
    with app.app_context():
        while time.monotonic() < deadline:
            pending = db.session.scalar(
                select(func.count(PreAuthorization.id)).where(
                    PreAuthorization.run_at == due,
                    PreAuthorization.state.in_(("scheduled", "processing")),
                )
            )
            db.session.commit()
            if pending == 0:
                return
            time.sleep(0.5)
    raise RuntimeError(f"the holds were not all placed within {TIMEOUT_SECONDS} s")


def _empty_jobs_per_second(app, count: int, prefix: str) -> float:
    """Throughput of `count` empty jobs through the running worker (its own start/end times)."""
    from rq import Queue
    from rq.job import Job

    from webapp.services.queue import queue

    with app.app_context():
        q = queue()
        batch = [
            Queue.prepare_data(EMPTY_JOB, job_id=f"bench-empty-{prefix}-{n}", result_ttl=600)
            for n in range(count)
        ]
        ids = [job.id for job in q.enqueue_many(batch)]  # one pipeline: all queued at once
        deadline = time.monotonic() + TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            done = Job.fetch_many(ids, connection=q.connection)
            statuses = {j.get_status(refresh=False) if j else None for j in done}
            if statuses - {"queued", "started", "finished"}:
                raise RuntimeError(f"an empty job ended otherwise: {statuses}")
            if statuses == {"finished"}:
                break
            time.sleep(0.2)
        else:
            raise RuntimeError("the empty jobs did not finish")
        started = min(j.started_at for j in done)
        ended = max(j.ended_at for j in done)
    return count / (ended - started).total_seconds()


def _phase(app, localstripe, pairs, count: int, label: str, args: list[str]) -> Figures:
    worker = _start_worker(app, localstripe, args)
    try:
        due = _schedule_holds(app, pairs, count)
        _wait_until_final(app, due)
        with app.app_context():
            rows = db.session.execute(
                select(
                    PreAuthorization.state,
                    PreAuthorization.processing_started_at,
                    PreAuthorization.updated_at,
                ).where(PreAuthorization.run_at == due)
            ).all()
        held = [r for r in rows if r.state == "held"]
        last = max(r.updated_at for r in held)
        return Figures(
            worker=label,
            holds=count,
            held=len(held),
            seconds=(last - due).total_seconds(),
            claim_lateness=[(r.processing_started_at - due).total_seconds() for r in held],
            hold_lateness=[(r.updated_at - due).total_seconds() for r in held],
            empty_jobs_per_second=_empty_jobs_per_second(app, count, str(worker.pid)),
        )
    finally:
        worker.terminate()
        worker.wait(30)


def run(count: int = HOLDS, clients: int = CLIENTS) -> list[Figures]:
    folder = Path(os.environ["COVERED_INSTANCE_PATH"]) / "preauth-bench"
    folder.mkdir(parents=True, exist_ok=True)
    redis, localstripe = RedisServer(), LocalstripeServer()
    try:
        app = create_app(
            {
                "TESTING": True,
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'bench.sqlite3'}",
                "REDIS_URL": redis.url,
                "STRIPE_API_BASE": localstripe.url,
                "STRIPE_JS_URL": localstripe.js_url,
            }
        )
        with app.app_context():
            db.create_all()
        pairs = _setup_clients(app, localstripe.url, clients)
        figures = [
            _phase(app, localstripe, pairs, count, label, args) for label, args in WORKERS.items()
        ]
        with app.app_context():
            db.engine.dispose()
        return figures
    finally:
        localstripe.stop()
        redis.stop()


def report(all_figures: list[Figures]) -> str:
    first = all_figures[0]
    lines = [
        f"Pre-authorizations: {first.holds:,} holds due at the same instant, one worker, "
        "localstripe, SQLite"
    ]
    for figures in all_figures:
        claim, hold = figures.claim_lateness, figures.hold_lateness
        lines += [
            f"  {figures.worker}",
            f"    placed: {figures.held:,} held, the last {figures.seconds:.1f} s after the due "
            f"time  → {figures.per_second:.1f} holds/s",
            f"    lateness of the claim (actual − due): median {statistics.median(claim):.2f} s"
            f"  p99 {_percentile(claim, 99):.2f} s",
            f"    lateness of the hold  (actual − due): median {statistics.median(hold):.2f} s"
            f"  p99 {_percentile(hold, 99):.2f} s",
            f"    floor: {figures.holds:,} empty RQ jobs through the same worker: "
            f"{figures.empty_jobs_per_second:.1f} jobs/s",
        ]
    return "\n".join(lines)


if __name__ == "__main__":  # python -m tests.bench.preauth [count]
    import tempfile

    os.environ.setdefault("COVERED_INSTANCE_PATH", tempfile.mkdtemp(prefix="covered-bench-"))
    started = datetime.now(UTC)
    print(report(run(int(sys.argv[1]) if len(sys.argv) > 1 else HOLDS)))
    print(f"total {(datetime.now(UTC) - started).total_seconds():.1f} s")
