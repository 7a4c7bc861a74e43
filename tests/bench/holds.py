"""Card holds due at one instant: placed by the app's own processes, measured at the gateway.

One phase (`run_phase`) is a fresh world: localstripe, the gateway proxy in front of it
(a delay per call and a rate of transient errors, tests/bench/gateway_proxy.py), a
database (a SQLite file, or a new PostgreSQL database), a Redis, and the app's
processes (`N × python -m jobs.worker` and `python -m jobs.cron`, tests/bench/topology.py)
pointed at the proxy by STRIPE_API_BASE. The bench's own app then books `holds`
appointments through `services.preauth.sync_encounters` (the booking path), all with
their hold due at the same instant, and waits until no hold is scheduled or processing.

What is measured, all from outside the app:
- at the gateway (localstripe, read directly): each pre-authorization's holds and when
  each was created (whole seconds): lateness = created − due; placed early beyond the
  lead = created before due − lead; created twice; live twice (two holds awaiting
  capture for one pre-authorization); live holds no row points at;
- on the rows: the final states and when each row was written held (its updated_at):
  throughput = holds / (last written − due or first written, whichever is earlier);
- the floor: as many empty RQ jobs due at one instant through the same workers.

The app under test may change how holds are placed (batches, threads, placing ahead
of time); the phase only needs: booking schedules the hold, a pre-authorization
ends `held` with its hold's payment intent id in `gateway_reference`, and its hold at
the gateway carries `metadata.covered_reference = preauth-<id>-<attempt>`.
"""

import statistics
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import stripe
from rq import Queue
from rq.job import Job
from sqlalchemy import insert, select

from tests import factories
from tests.bench import gateway_proxy
from tests.bench.topology import GatewayProxyProcess, RedisProcess, Topology, tail
from tests.servers import LocalstripeServer, RedisServer
from webapp import create_app
from webapp.extensions import db
from webapp.models import Encounter, EncounterService, PreAuthorization
from webapp.models.base import utcnow
from webapp.payments import current_gateway
from webapp.services.preauth import sync_encounters

VISA = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2031, "cvc": "123"}
HOURS_BEFORE = 24
API_KEY = "sk_test_covered"
ADMIN_EMAIL = "holds-bench-admin@example.com"
EMPTY_JOB = "tests.bench.noop.run"
FINAL_POLL_SECONDS = 1.0
HOLD_REFERENCE_PREFIX = "preauth-"


# --- one world -------------------------------------------------------------------------------


@dataclass
class World:
    """localstripe, the proxy, a Redis, the bench's app and the app's processes."""

    folder: Path
    localstripe: LocalstripeServer
    proxy: GatewayProxyProcess
    redis: object  # RedisServer (unix socket, as `make run`) or RedisProcess (TCP)
    app: object
    topology: Topology
    org_id: int = 0
    clinician_id: int = 0
    service_type_id: int = 0
    client_ids: list[int] = field(default_factory=list)

    def stop(self) -> None:
        self.topology.stop()
        with self.app.app_context():
            db.engine.dispose()
        self.proxy.stop()
        self.localstripe.stop()
        self.redis.stop()


def open_world(
    folder: Path,
    database_url: str,
    *,
    delay: float,
    error_rate: float,
    errors=gateway_proxy.ERROR_KINDS,
    tcp_redis: bool = False,
    clients: int = 100,
    seed: int | None = 14,
) -> World:
    """Start everything but the app's processes; the schema and `clients` clients with a
    gateway customer and a default Visa card (set up directly at localstripe)."""
    folder.mkdir(parents=True, exist_ok=True)
    localstripe = LocalstripeServer()
    proxy = GatewayProxyProcess(
        localstripe.url, delay=delay, error_rate=error_rate, errors=errors, seed=seed
    )
    redis = RedisProcess(folder / "redis") if tcp_redis else RedisServer()
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "REDIS_URL": redis.url,
            "STRIPE_API_BASE": localstripe.url,
            "STRIPE_JS_URL": localstripe.js_url,
        }
    )
    with app.app_context():
        db.create_all()
    topology = Topology(
        folder=folder / "processes",
        database_url=database_url,
        redis_url=redis.url,
        gateway_url=proxy.url,
        stripe_js_url=localstripe.js_url,
    )
    world = World(folder, localstripe, proxy, redis, app, topology)
    _setup_practice(world, clients)
    return world


def _setup_practice(world: World, count: int) -> None:
    raw = stripe.StripeClient(API_KEY, base_addresses={"api": world.localstripe.url})
    with world.app.app_context():
        org = factories.organization(
            name="Holds Bench Practice", preauth_active=True, preauth_hours_before=HOURS_BEFORE
        )
        factories.user(org, "admin", email=ADMIN_EMAIL)
        clinician = factories.user(org, "clinician")
        therapy = factories.service_type(org, cpt_code="90837", price_cents=15000)
        db.session.commit()
        for number in range(count):
            client = factories.client(org, first_name="Bench", last_name=f"Client{number:03d}")
            client.gateway_customer_id = current_gateway().create_customer(
                name=client.full_name, email=None, reference=f"client-{client.id}"
            )
            method = raw.v1.payment_methods.create({"type": "card", "card": VISA})
            details = current_gateway().attach_card(
                customer_id=client.gateway_customer_id, payment_method_id=method.id
            )
            factories.card_from_gateway(client, details)
            world.client_ids.append(client.id)
        db.session.commit()
        world.org_id, world.clinician_id, world.service_type_id = org.id, clinician.id, therapy.id


def book(world: World, dues: list[datetime]) -> list[int]:
    """One self-pay $150 appointment per due time (naive UTC), booked through the
    pre-authorization path of booking; returns the pre-authorization ids."""
    from webapp.models import Organization

    with world.app.app_context():
        org = db.session.get(Organization, world.org_id)
        rows = []
        for n, due in enumerate(dues):
            starts_at = due + timedelta(hours=HOURS_BEFORE)
            rows.append(
                {
                    "organization_id": world.org_id,
                    "client_id": world.client_ids[n % len(world.client_ids)],
                    "clinician_id": world.clinician_id,
                    "starts_at": starts_at,
                    "service_date": starts_at.date(),
                    "duration_minutes": 60,
                    "status": "upcoming",
                    "billing_type": "self_pay",
                }
            )
        ids = db.session.scalars(
            insert(Encounter).returning(Encounter.id, sort_by_parameter_order=True), rows
        ).all()
        db.session.execute(
            insert(EncounterService),
            [
                {"encounter_id": i, "service_type_id": world.service_type_id, "minutes": 60}
                for i in ids
            ],
        )
        db.session.commit()
        for start in range(0, len(ids), 200):
            chunk = db.session.scalars(
                select(Encounter).where(Encounter.id.in_(ids[start : start + 200]))
            ).all()
            sync_encounters(org, list(chunk), actor=None)
            db.session.commit()  # the hold jobs are sent after each commit
        preauth_ids = db.session.scalars(
            select(PreAuthorization.id)
            .where(PreAuthorization.encounter_id.in_(ids))
            .order_by(PreAuthorization.encounter_id)
        ).all()
        db.session.remove()
    if len(preauth_ids) != len(dues):
        raise RuntimeError(f"booking scheduled {len(preauth_ids)} holds for {len(dues)} visits")
    return list(preauth_ids)


def wait_until_final(world: World, preauth_ids: list[int], timeout: float) -> int:
    """Until none of these pre-authorizations is scheduled or processing, or `timeout`
    seconds; returns how many are still pending."""
    deadline = time.monotonic() + timeout
    pending = len(preauth_ids)
    with world.app.app_context():
        while time.monotonic() < deadline:
            pending = 0
            for start in range(0, len(preauth_ids), 500):
                pending += len(
                    db.session.scalars(
                        select(PreAuthorization.id).where(
                            PreAuthorization.id.in_(preauth_ids[start : start + 500]),
                            PreAuthorization.state.in_(("scheduled", "processing")),
                        )
                    ).all()
                )
            db.session.commit()
            if pending == 0:
                break
            time.sleep(FINAL_POLL_SECONDS)
        db.session.remove()
    return pending


# --- what happened ---------------------------------------------------------------------------


@dataclass
class GatewayHold:
    intent_id: str
    preauth_id: int
    attempt: int
    status: str
    created: datetime  # naive UTC, whole seconds (localstripe's `created`)


def gateway_holds(localstripe_url: str) -> list[GatewayHold]:
    """Every payment intent at localstripe that carries a hold reference (read directly,
    not through the proxy)."""
    raw = stripe.StripeClient(API_KEY, base_addresses={"api": localstripe_url})
    holds = []
    for found in raw.v1.payment_intents.list({"limit": 100}).auto_paging_iter():
        intent = found.to_dict()
        reference = (intent.get("metadata") or {}).get("covered_reference") or ""
        parts = reference.removeprefix(HOLD_REFERENCE_PREFIX).split("-")
        if not reference.startswith(HOLD_REFERENCE_PREFIX) or len(parts) != 2:
            continue
        created = datetime.fromtimestamp(intent["created"], UTC).replace(tzinfo=None)
        holds.append(
            GatewayHold(intent["id"], int(parts[0]), int(parts[1]), intent["status"], created)
        )
    return holds


@dataclass
class Outcome:
    """What became of a set of pre-authorizations, from the rows and the gateway."""

    due: dict[int, datetime]  # preauth id → due (naive UTC)
    states: Counter
    written: dict[int, datetime]  # preauth id → when its row was written held
    placed: dict[int, datetime]  # preauth id → its first hold's creation at the gateway
    created_twice: int  # pre-authorizations with more than one hold created
    live_twice: int  # … with more than one hold awaiting capture now
    rows_not_live: int  # rows held whose gateway_reference is not a live hold
    live_untracked: int  # live holds no row points at
    gateway_calls: dict
    pending: int = 0

    def lateness(self) -> list[float]:
        """Seconds from due to the hold's creation at the gateway, per placed hold."""
        return [(at - self.due[pid]).total_seconds() for pid, at in self.placed.items()]

    def early_beyond(self, lead_seconds: float) -> int:
        return sum(1 for late in self.lateness() if late < -lead_seconds)

    def throughput(self) -> float:
        """Holds written held per second, from the due time (or the first, if earlier)."""
        if not self.written:
            return 0.0
        first = min(min(self.written.values()), min(self.due[p] for p in self.written))
        seconds = (max(self.written.values()) - first).total_seconds()
        return len(self.written) / seconds if seconds > 0 else float("inf")


def outcome(world: World, preauth_ids: list[int], pending: int = 0) -> Outcome:
    wanted = set(preauth_ids)
    with world.app.app_context():
        rows = []
        for start in range(0, len(preauth_ids), 500):
            rows += db.session.execute(
                select(
                    PreAuthorization.id,
                    PreAuthorization.state,
                    PreAuthorization.run_at,
                    PreAuthorization.updated_at,
                    PreAuthorization.gateway_reference,
                ).where(PreAuthorization.id.in_(preauth_ids[start : start + 500]))
            ).all()
        db.session.remove()
    holds = [h for h in gateway_holds(world.localstripe.url) if h.preauth_id in wanted]
    by_preauth: dict[int, list[GatewayHold]] = defaultdict(list)
    for hold in holds:
        by_preauth[hold.preauth_id].append(hold)
    live = {h.intent_id: h for h in holds if h.status == "requires_capture"}
    held_rows = [r for r in rows if r.state == "held"]
    referenced = {r.gateway_reference for r in held_rows}
    return Outcome(
        due={r.id: r.run_at for r in rows},
        states=Counter(r.state for r in rows),
        written={r.id: r.updated_at for r in held_rows},
        placed={pid: min(h.created for h in found) for pid, found in by_preauth.items()},
        created_twice=sum(1 for found in by_preauth.values() if len(found) > 1),
        live_twice=sum(
            1
            for found in by_preauth.values()
            if sum(h.status == "requires_capture" for h in found) > 1
        ),
        rows_not_live=sum(1 for r in held_rows if r.gateway_reference not in live),
        live_untracked=sum(1 for intent_id in live if intent_id not in referenced),
        gateway_calls=gateway_proxy.fetch_stats(world.proxy.url),
        pending=pending,
    )


# --- the floor: empty jobs -------------------------------------------------------------------


@dataclass
class Floor:
    jobs: int
    per_second: float
    lateness: list[float]  # seconds from due to each job's end


def empty_jobs(redis_url: str, count: int, lead: float = 5.0, timeout: float = 600) -> Floor:
    """`count` empty RQ jobs due at one instant through the running workers."""
    from redis import Redis

    connection = Redis.from_url(redis_url)
    queue = Queue("default", connection=connection)
    due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=lead)
    tag = f"{time.monotonic_ns()}"
    ids = []
    with connection.pipeline() as pipe:
        for n in range(count):
            job = queue.enqueue_at(
                due, EMPTY_JOB, job_id=f"bench-empty-{tag}-{n}", result_ttl=600, pipeline=pipe
            )
            ids.append(job.id)
        pipe.execute()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = Job.fetch_many(ids, connection=connection)
        if all(j is not None and j.get_status(refresh=False) == "finished" for j in jobs):
            break
        time.sleep(0.5)
    else:
        raise RuntimeError("the empty jobs did not all finish")
    ends = [j.ended_at.replace(tzinfo=UTC) for j in jobs]
    seconds = (max(ends) - due).total_seconds()
    return Floor(
        jobs=count,
        per_second=count / seconds if seconds > 0 else float("inf"),
        lateness=[(end - due).total_seconds() for end in ends],
    )


# --- a phase ---------------------------------------------------------------------------------


@dataclass
class Phase:
    label: str
    holds: int
    workers: int
    delay: float
    error_rate: float
    lead: float
    due_in: float
    outcome: Outcome
    floor: Floor | None
    book_seconds: float
    restarts: dict


def run_phase(
    folder: Path,
    database_url: str,
    *,
    label: str,
    holds: int,
    workers: int,
    delay: float,
    error_rate: float,
    lead: float,
    due_in: float,
    timeout: float,
    extra_env: dict[str, str],
    tcp_redis: bool = False,
    floor: bool = True,
    clients: int = 100,
    log=print,
) -> Phase:
    """Book `holds` appointments whose holds fall due `due_in` seconds after booking
    starts, with `workers` workers and cron running; wait; measure."""
    world = open_world(
        folder,
        database_url,
        delay=delay,
        error_rate=error_rate,
        tcp_redis=tcp_redis,
        clients=min(clients, holds),
    )
    world.topology.extra_env = extra_env
    try:
        world.topology.start_workers(workers)
        world.topology.start_cron()
        started = time.monotonic()
        due = (utcnow() + timedelta(seconds=due_in)).replace(microsecond=0)
        preauth_ids = book(world, [due] * holds)
        book_seconds = time.monotonic() - started
        if utcnow() >= due - timedelta(seconds=lead if lead < due_in else 0):
            log(f"    (booking took {book_seconds:.0f} s, past the due time's margin)")
        pending = wait_until_final(world, preauth_ids, timeout + due_in)
        if pending:
            log(f"    {pending} holds still pending after {timeout:.0f} s; measuring the rest")
        result = outcome(world, preauth_ids, pending)
        empty = empty_jobs(world.redis.url, holds) if floor else None
        return Phase(
            label=label,
            holds=holds,
            workers=workers,
            delay=delay,
            error_rate=error_rate,
            lead=lead,
            due_in=due_in,
            outcome=result,
            floor=empty,
            book_seconds=book_seconds,
            restarts=world.topology.restarts(),
        )
    except Exception:
        for process in world.topology.processes.values():
            log(f"--- {process.name} log:\n{tail(process.log)}")
        raise
    finally:
        world.stop()


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile of `values` (pct in 0–100)."""
    ordered = sorted(values)
    rank = max(0, -(-int(pct * len(ordered)) // 100) - 1)
    return ordered[min(rank, len(ordered) - 1)]


def spread(values: list[float]) -> str:
    """'median 1.2 s  p99 3.4 s  max 5.6 s' (or 'none')."""
    if not values:
        return "none"
    return (
        f"median {statistics.median(values):.1f} s  p99 {percentile(values, 99):.1f} s"
        f"  max {max(values):.1f} s"
    )
