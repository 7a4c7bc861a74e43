"""50 people browsing at once: the client page, the schedule and the report on gunicorn.

A practice of realistic size (tests/bench/reports.py's builder: `clients` clients with 4
authorizations each, 20 clinicians, two years of visits) in PostgreSQL; gunicorn with
2 workers (deploy/gunicorn.conf.py, as the Production section runs it), Redis, and
the gateway proxy. Each of `users` threads signs in as its own biller (loopback only),
then for `seconds` picks one of three pages at random and waits a think time
(uniform between 0.5× and 1.5× `think` seconds) before the next:

- the client page: GET /clients/<a random client>/insurance (the whole page);
- the schedule: GET /schedule?date=<a random day of June 2026> (the practice's week);
- the report: GET /reports/authorizations?start=2026-01-01&end=2026-12-31 (page 1).

Printed: requests, requests per second, p50/p95/p99 per page and overall, errors
(any answer but 200, or none); a request started before the end counts however long
it takes. Beside them, each page's time for one visitor alone (5 requests each: the
service time without queueing). The floor is the same load on the bare route (`/`, a
signed-in redirect). The load generator shares the 2 cores with the server.
"""

import random
import statistics
import threading
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import select

from tests import factories
from tests.bench import reports as report_bench
from tests.bench.holds import percentile
from tests.bench.topology import GatewayProxyProcess, Topology, tail
from tests.bench.web import Visitor
from tests.servers import LocalstripeServer, RedisServer
from webapp.extensions import db
from webapp.models import Client, Organization

LOAD_ADMIN = "load-admin@example.com"
REPORT_PATH = "/reports/authorizations?start=2026-01-01&end=2026-12-31"
JUNE = [date(2026, 6, 1) + timedelta(days=n) for n in range(30)]


@dataclass
class Sample:
    page: str
    seconds: float
    ok: bool


@dataclass
class LoadResult:
    users: int
    seconds: float
    think: float
    samples: list[Sample] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    alone: dict[str, list[float]] = field(default_factory=dict)  # one visitor, per page

    def of(self, page: str | None = None) -> list[float]:
        return [s.seconds for s in self.samples if page is None or s.page == page]

    def failed(self) -> int:
        return sum(1 for s in self.samples if not s.ok)

    @staticmethod
    def describe(values: list[float]) -> str:
        if not values:
            return "no requests"
        return (
            f"p50 {statistics.median(values) * 1000:6.0f} ms"
            f"  p95 {percentile(values, 95) * 1000:6.0f} ms"
            f"  p99 {percentile(values, 99) * 1000:6.0f} ms  max {max(values) * 1000:6.0f} ms"
            f"  ({len(values):,} requests)"
        )


def build(app, clients: int, encounters_per_client: int, users: int) -> dict:
    """The load practice and `users` billers; returns what the visitors need."""
    with app.app_context():
        built = report_bench.build_organization(
            2027,
            clients=clients,
            encounters_per_client=encounters_per_client,
            name="Load Bench Practice",
            admin_email=LOAD_ADMIN,
        )
        org = db.session.get(Organization, built.org_id)
        emails = [
            factories.user(org, "biller", email=f"load-biller-{n}@example.com").email
            for n in range(users)
        ]
        db.session.commit()
        client_ids = db.session.scalars(
            select(Client.id).where(Client.organization_id == built.org_id)
        ).all()
        db.session.remove()
    return {"built": built, "emails": emails, "client_ids": list(client_ids)}


def _pages(client_ids: list[int]) -> dict:
    return {
        "client page": lambda rng: f"/clients/{rng.choice(client_ids)}/insurance",
        "schedule": lambda rng: f"/schedule?date={rng.choice(JUNE)}",
        "report": lambda rng: REPORT_PATH,
    }


def drive(
    base_url: str, emails: list[str], pages: dict, *, seconds: float, think: float
) -> LoadResult:
    """`len(emails)` signed-in visitors browsing `pages` for `seconds` (after all signed in)."""
    result = LoadResult(users=len(emails), seconds=seconds, think=think)
    lock = threading.Lock()
    ready = threading.Barrier(len(emails) + 1)
    stop = threading.Event()

    def visit(email: str, seed: int) -> None:
        rng = random.Random(seed)
        visitor = Visitor(base_url)
        try:
            visitor.sign_in(email, factories.PASSWORD)
        except Exception as error:  # counted, and the barrier still released
            with lock:
                result.errors.append(f"sign-in {email}: {error}")
        ready.wait()
        time.sleep(rng.uniform(0, think))  # people do not all click at the same instant
        while not stop.is_set():
            page = rng.choice(list(pages))
            path = pages[page](rng)
            started = time.perf_counter()
            try:
                status, _, elapsed = visitor.get(path)
                ok = status == 200 or (page == "bare route" and status == 302)
                if not ok:
                    with lock:
                        result.errors.append(f"{path}: HTTP {status}")
            except Exception as error:
                elapsed, ok = time.perf_counter() - started, False
                visitor.close()
                with lock:
                    result.errors.append(f"{path}: {type(error).__name__}: {error}")
            with lock:  # a request started before the stop counts, however long it took
                result.samples.append(Sample(page, elapsed, ok))
            stop.wait(rng.uniform(0.5 * think, 1.5 * think))
        visitor.close()

    threads = [
        threading.Thread(target=visit, args=(email, n), daemon=True)
        for n, email in enumerate(emails)
    ]
    for thread in threads:
        thread.start()
    ready.wait()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join(300)
    return result


def one_visitor(base_url: str, email: str, pages: dict, *, each: int = 5) -> dict[str, list[float]]:
    """Seconds of `each` requests per page from one visitor alone, one after another
    (the service time, without queueing)."""
    rng = random.Random(0)
    visitor = Visitor(base_url)
    visitor.sign_in(email, factories.PASSWORD)
    times: dict[str, list[float]] = {}
    for page, path_of in pages.items():
        for _ in range(each):
            status, _, elapsed = visitor.get(path_of(rng))
            if status != 200:
                raise RuntimeError(f"{page} answered HTTP {status} to one visitor")
            times.setdefault(page, []).append(elapsed)
    visitor.close()
    return times


def run(
    app,
    database_url: str,
    folder: Path,
    *,
    users: int,
    seconds: float,
    think: float,
    clients: int,
    encounters_per_client: int,
    extra_env: dict[str, str],
    log=print,
) -> tuple[dict, LoadResult, LoadResult]:
    """Build, start gunicorn (2 workers), drive the pages, then the bare route (floor)."""
    data = build(app, clients, encounters_per_client, users)
    redis, localstripe = RedisServer(), LocalstripeServer()
    proxy = GatewayProxyProcess(localstripe.url, delay=0.3, error_rate=0.01, errors=("503",))
    topology = Topology(
        folder=folder,
        database_url=database_url,
        redis_url=redis.url,
        gateway_url=proxy.url,
        stripe_js_url=localstripe.js_url,
        extra_env=extra_env,
    )
    try:
        url = topology.start_web(workers=2)
        warm = Visitor(url)
        warm.sign_in(data["emails"][0], factories.PASSWORD)
        for path in (REPORT_PATH, f"/clients/{data['client_ids'][0]}/insurance", "/schedule"):
            warm.get(path)
        warm.close()
        alone = one_visitor(url, data["emails"][0], _pages(data["client_ids"]))
        pages = drive(url, data["emails"], _pages(data["client_ids"]), seconds=seconds, think=think)
        floor = drive(
            url,
            data["emails"],
            {"bare route": lambda rng: "/"},
            seconds=max(10.0, seconds / 3),
            think=think,
        )
        pages.alone = alone
        return data, pages, floor
    except Exception:
        log(f"--- web log:\n{tail(topology.processes['web'].log)}")
        raise
    finally:
        topology.stop()
        proxy.stop()
        localstripe.stop()
        redis.stop()
