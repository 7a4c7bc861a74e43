"""The Insurance Authorizations partial on a synthetic organization, timed against a bare route.

`build_organization()` writes one practice with one client who has 50 authorizations
and 5,000 encounters (allocations computed by the real rules); `measure()` signs in
with the Flask test client and times the partial and `/` (a signed-in redirect).
"""

import random
import statistics
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import event, func, insert, select

from tests import factories
from webapp.domain.windows import to_utc_naive
from webapp.extensions import db
from webapp.models import (
    Allocation,
    Authorization,
    AuthorizationLine,
    Client,
    ClientInsurance,
    Encounter,
    EncounterService,
    Organization,
    Payer,
    ServiceType,
    User,
)
from webapp.services.allocation import reallocate_client

AUTHORIZATIONS = 50
SMALL_AUTHORIZATIONS = 5  # a second client, to see whether queries grow with authorizations
ENCOUNTERS = 5_000
TIMEZONE = "America/New_York"
FIRST_DAY, LAST_DAY = date(2025, 1, 1), date(2026, 12, 31)
# Encounters before this day were held (kept, some cancelled); later ones are booked.
# Fixed rather than today's date so the data is the same on every run.
PIVOT_DAY = date(2026, 7, 1)
ADMIN_EMAIL = "bench-admin@example.com"
UNIT_FREQUENCIES = ("day", "week", "month", "period")
UNIT_ALLOWED = {"day": (8, 16), "week": (20, 40), "month": (80, 160), "period": (400, 1200)}


@dataclass
class Built:
    client_id: int
    small_client_id: int  # SMALL_AUTHORIZATIONS authorizations, as many encounters
    authorizations: int
    encounters: int
    lines: int
    allocations: int
    seconds: float


@dataclass
class Timing:
    label: str
    samples: list[float]  # seconds
    queries: int  # SQL statements of the last timed request
    size: int  # bytes of the last response body
    status: int
    cpu: list[float] = field(default_factory=list)  # CPU seconds of the request's thread

    @property
    def cpu_median_ms(self) -> float:
        return statistics.median(self.cpu) * 1000 if self.cpu else float("nan")

    @property
    def median_ms(self) -> float:
        return statistics.median(self.samples) * 1000

    @property
    def min_ms(self) -> float:
        return min(self.samples) * 1000

    @property
    def p95_ms(self) -> float:
        ordered = sorted(self.samples)
        rank = max(0, -(-95 * len(ordered) // 100) - 1)  # nearest rank
        return ordered[rank] * 1000


def build_organization(seed: int = 2025) -> Built:
    """One organization; a client with 50 authorizations and 5,000 encounters, and one
    with 5 authorizations and 5,000 encounters; committed."""
    started = time.perf_counter()
    rng = random.Random(seed)
    org = Organization(name="Benchmark Behavioral Health", timezone=TIMEZONE, week_start=6)
    db.session.add(org)
    db.session.flush()
    admin = User(
        organization_id=org.id,
        email=ADMIN_EMAIL,
        name="Bench Admin",
        role="admin",
        password_hash=factories.PASSWORD_HASH,
    )
    clinician = User(
        organization_id=org.id,
        email="bench-clinician@example.com",
        name="Bench Clinician",
        role="clinician",
        password_hash=factories.PASSWORD_HASH,
    )
    payer = Payer(organization_id=org.id, name="Blue Harbor Health")
    therapy = ServiceType(
        organization_id=org.id,
        cpt_code="90837",
        name="Psychotherapy, 60 minutes",
        price_cents=18000,
        unit_minutes=None,
    )
    aba = ServiceType(
        organization_id=org.id,
        cpt_code="97153",
        name="Adaptive behavior treatment by protocol",
        price_cents=2000,
        unit_minutes=15,
    )
    db.session.add_all([admin, clinician, payer, therapy, aba])
    db.session.flush()
    client, lines = _client(rng, org, clinician, payer, therapy, aba, "Client", AUTHORIZATIONS)
    small, _ = _client(rng, org, clinician, payer, therapy, aba, "Small", SMALL_AUTHORIZATIONS)
    db.session.commit()
    allocations = db.session.scalar(
        select(func.count()).select_from(Allocation).join(Authorization).join(ClientInsurance)
        .where(ClientInsurance.client_id == client.id)
    )  # fmt: skip
    built = Built(
        client_id=client.id,
        small_client_id=small.id,
        authorizations=AUTHORIZATIONS,
        encounters=ENCOUNTERS,
        lines=lines,
        allocations=allocations or 0,
        seconds=time.perf_counter() - started,
    )
    db.session.remove()
    return built


def _client(rng, org, clinician, payer, therapy, aba, last_name: str, authorizations: int):
    """A client with one policy, `authorizations` authorizations and ENCOUNTERS encounters,
    allocated by the real rules; returns (client, service lines)."""
    client = Client(
        organization_id=org.id,
        first_name="Bench",
        last_name=last_name,
        primary_clinician_id=clinician.id,
    )
    db.session.add(client)
    db.session.flush()
    policy = ClientInsurance(
        organization_id=org.id,
        client_id=client.id,
        payer_id=payer.id,
        member_id=f"BH{100000 + client.id}",
    )
    db.session.add(policy)
    db.session.flush()
    db.session.add_all(_authorizations(rng, org, policy, therapy, aba, authorizations))
    db.session.flush()
    lines = _encounters(rng, org, client, clinician, policy, therapy, aba)
    reallocate_client(org, client.id)
    return client, lines


def _authorizations(rng, org, policy, therapy, aba, count: int) -> list[Authorization]:
    """Staggered, overlapping windows over 2025–2026 (for 50: 20 Sessions, 30 Units)."""
    rows = []
    for i in range(count):
        start = FIRST_DAY + timedelta(days=13 * i * AUTHORIZATIONS // count)
        end = min(start + timedelta(days=rng.randrange(90, 366)), LAST_DAY)
        if i % 5 in (0, 1):
            kind, frequency = "sessions", None
            services = [therapy, aba] if i % 4 == 0 else [therapy]
            allowed = rng.randrange(20, 121)
        else:
            kind, frequency = "units", UNIT_FREQUENCIES[i % 4]
            services = [therapy, aba] if i % 3 == 0 else [aba]
            allowed = rng.randrange(*UNIT_ALLOWED[frequency])
        rows.append(
            Authorization(
                organization_id=org.id,
                client_insurance_id=policy.id,
                number=f"PA-{policy.id}-{start:%y%m}-{i + 1:03d}",
                start_date=start,
                end_date=end,
                lines=[
                    AuthorizationLine(
                        organization_id=org.id,
                        kind=kind,
                        allowed=allowed,
                        frequency=frequency,
                        service_types=services,
                    )
                ],
            )
        )
    return rows


def _encounters(rng, org, client, clinician, policy, therapy, aba) -> int:
    """5,000 encounters in bulk, one or two service lines each; returns the line count."""
    span = (LAST_DAY - FIRST_DAY).days + 1
    encounters, plans = [], []
    for _ in range(ENCOUNTERS):
        day = FIRST_DAY + timedelta(days=rng.randrange(span))
        local_start = datetime(day.year, day.month, day.day, rng.randrange(8, 18))
        shape = rng.random()
        aba_minutes = rng.choice((30, 60, 90, 120, 180))
        if shape < 0.40:
            plan = [(therapy.id, 60)]
        elif shape < 0.75:
            plan = [(aba.id, aba_minutes)]
        else:
            plan = [(therapy.id, 60), (aba.id, aba_minutes)]
        if day < PIVOT_DAY:
            status = rng.choices(("kept", "cancelled", "late_cancelled", "no_show"), (85, 8, 4, 3))
        else:
            status = rng.choices(("upcoming", "cancelled"), (90, 10))
        encounters.append(
            {
                "organization_id": org.id,
                "client_id": client.id,
                "clinician_id": clinician.id,
                "starts_at": to_utc_naive(local_start, TIMEZONE),
                "service_date": day,
                "duration_minutes": sum(minutes for _, minutes in plan),
                "status": status[0],
                "billing_type": "insurance",
                "client_insurance_id": policy.id,
            }
        )
        plans.append(plan)
    ids = db.session.scalars(
        insert(Encounter).returning(Encounter.id, sort_by_parameter_order=True), encounters
    ).all()
    lines = [
        {"encounter_id": encounter_id, "service_type_id": service_id, "minutes": minutes}
        for encounter_id, plan in zip(ids, plans, strict=True)
        for service_id, minutes in plan
    ]
    db.session.execute(insert(EncounterService), lines)
    return len(lines)


class QueryCounter:
    """SQL statements sent on an engine, counted between `reset()` calls."""

    def __init__(self, engine):
        self.count = 0
        event.listen(engine, "before_cursor_execute", self._on_execute)
        self.engine = engine

    def _on_execute(self, *_args) -> None:
        self.count += 1

    def reset(self) -> None:
        self.count = 0

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._on_execute)


def sign_in(client) -> None:
    response = client.post("/login", data={"email": ADMIN_EMAIL, "password": factories.PASSWORD})
    if response.status_code != 302:
        raise RuntimeError(f"sign-in failed with HTTP {response.status_code}")


@dataclass
class Route:
    label: str
    path: str
    headers: dict[str, str]


def _timed_get(http, route: Route, counter: QueryCounter) -> tuple[float, float, int, int, int]:
    """(seconds, CPU seconds of this thread, SQL statements, body bytes, HTTP status) of
    one GET through the WSGI stack. The CPU time leaves out waiting for the cores other
    processes hold (and, on PostgreSQL, the server's own work)."""
    counter.reset()
    started, cpu_started = time.perf_counter(), time.thread_time()
    response = http.get(route.path, headers=route.headers)
    elapsed, cpu = time.perf_counter() - started, time.thread_time() - cpu_started
    return elapsed, cpu, counter.count, len(response.data), response.status_code


def measure(
    app, client_id: int, *, runs: int, warmups: int, block: int = 10
) -> tuple[Timing, Timing]:
    """(partial, bare route), timed in alternating blocks of `block` requests.

    Blocks rather than a strict alternation: a request right after the heavy
    partial runs on cold caches (about 1 ms more for the bare route here), so
    each block starts with one untimed request; alternating blocks still let
    both routes see the same machine load. Call outside any app context: each
    request then pushes its own, so the session starts empty as in production.
    """
    routes = [
        Route(
            f"insurance authorizations partial ({AUTHORIZATIONS} auths, {ENCOUNTERS:,} encounters)",
            f"/clients/{client_id}/insurance",
            {"HX-Request": "true"},
        ),
        Route("bare route (/ redirect)", "/", {}),
    ]
    with app.app_context():
        engine = db.engine
    counter = QueryCounter(engine)
    try:
        http = app.test_client()
        sign_in(http)
        for _ in range(warmups):
            for route in routes:
                http.get(route.path, headers=route.headers)
        results: list[list[tuple[float, float, int, int, int]]] = [[] for _ in routes]
        while len(results[0]) < runs:
            size = min(block, runs - len(results[0]))
            for route, samples in zip(routes, results, strict=True):
                http.get(route.path, headers=route.headers)  # settle after the other route
                samples.extend(_timed_get(http, route, counter) for _ in range(size))
    finally:
        counter.close()
    partial, bare = (
        Timing(route.label, [s[0] for s in samples], *samples[-1][2:], [s[1] for s in samples])
        for route, samples in zip(routes, results, strict=True)
    )
    if partial.status != 200:
        raise RuntimeError(f"the partial answered HTTP {partial.status}")
    if bare.status != 302:
        raise RuntimeError(f"the bare route answered HTTP {bare.status}")
    return partial, bare


def rows_in_partial(app, client_id: int) -> int:
    """How many authorization rows the partial shows (a sanity check on the build)."""
    http = app.test_client()
    sign_in(http)
    body = http.get(f"/clients/{client_id}/insurance", headers={"HX-Request": "true"}).data
    return body.count(b"data-auth-id=")


def profile_partial(app, client_id: int, *, runs: int = 5, top: int = 20) -> str:
    """cProfile of a few partial requests, the costliest functions first."""
    import cProfile
    import io
    import pstats

    http = app.test_client()
    sign_in(http)
    path = f"/clients/{client_id}/insurance"
    http.get(path, headers={"HX-Request": "true"})
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(runs):
        http.get(path, headers={"HX-Request": "true"})
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


def queries_per_request(app, client_id: int) -> int:
    """SQL statements of one partial request (after one untimed request)."""
    with app.app_context():
        engine = db.engine
    counter = QueryCounter(engine)
    try:
        http = app.test_client()
        sign_in(http)
        path = f"/clients/{client_id}/insurance"
        http.get(path, headers={"HX-Request": "true"})
        counter.reset()
        response = http.get(path, headers={"HX-Request": "true"})
        if response.status_code != 200:
            raise RuntimeError(f"the partial answered HTTP {response.status_code}")
        return counter.count
    finally:
        counter.close()
