"""`make bench`: issue 14's figures, each beside its floor and its goal.

    python -m tests.bench                      # SQLite parts only
    python -m tests.bench --postgres           # everything (what `make bench` runs)
    python -m tests.bench --postgres --only holds,failover --holds 200
    python -m tests.bench --app-env PREAUTH_BATCH_SIZE=50   # a knob for the app's processes

Parts (`--only` / `--skip`, comma-separated):
  client    the Insurance Authorizations partial (50 authorizations, 5,000 encounters)
            against a bare route, and its SQL queries for 5 vs 50 authorizations;
            SQLite, and PostgreSQL with --postgres (tests/bench/authorizations.py)
  report    the Authorizations Report against one SQL aggregate, and the CSV export's
            peak memory; 10,000 authorizations, 500,000 encounters (tests/bench/reports.py)
  load      50 signed-in users on the client page, schedule and report, gunicorn with
            2 workers, PostgreSQL only (tests/bench/load.py)
  holds     1,000 holds due at one instant, the `make run` processes (one worker, cron),
            SQLite, at localstripe's latency and at 300 ms (tests/bench/holds.py)
  scale     the same with PostgreSQL and a Redis server, 1, 2 and 4 workers
  failover  holds due while the scheduler's worker is killed, then while Redis restarts;
            what the System page says (tests/bench/failover.py)

Every app process of the bench reaches localstripe through the gateway proxy
(tests/bench/gateway_proxy.py: a delay per call and transient errors). Figures are
from one run on a shared machine: noisy; repeated timings print min / median / max.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

PARTS = ("client", "report", "load", "holds", "scale", "failover")
POSTGRES_ONLY = ("load", "scale")
GOAL_HOLD_P99 = 10.0
GOAL_CLIENT_RATIO = 10.0
GOAL_LOAD_P99 = 0.2
GOAL_FAILOVER = 60.0


def _csv(kind):
    def parse(text: str):
        return [kind(part) for part in text.split(",") if part.strip()]

    return parse


def _parts(text: str) -> set[str]:
    chosen = {p.strip() for p in text.split(",") if p.strip()}
    unknown = chosen - set(PARTS)
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown part(s) {sorted(unknown)}; parts: {PARTS}")
    return chosen


def _app_env(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return name, value


def parser() -> argparse.ArgumentParser:
    from tests.bench import gateway_proxy

    p = argparse.ArgumentParser(
        prog="python -m tests.bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--postgres",
        action="store_true",
        default=os.environ.get("BENCH_POSTGRES") == "1",
        help="also PostgreSQL (a throwaway cluster); needed by load and scale",
    )
    p.add_argument("--only", type=_parts, help="run only these parts")
    p.add_argument("--skip", type=_parts, default=set(), help="skip these parts")
    p.add_argument(
        "--app-env",
        type=_app_env,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="environment for the app's processes and the bench's own app (repeatable)",
    )
    gateway = p.add_argument_group("gateway proxy")
    gateway.add_argument(
        "--latencies-ms",
        type=_csv(float),
        default=[0.0, 300.0],
        help="delay per gateway call for the holds part, one phase each (default 0,300)",
    )
    gateway.add_argument("--error-rate", type=float, default=0.01, help="default 0.01")
    gateway.add_argument(
        "--errors",
        type=gateway_proxy.parse_errors,
        default=gateway_proxy.ERROR_KINDS,
        help="kinds of injected errors (default 503,drop-before,drop-after)",
    )
    hold = p.add_argument_group("holds, scale, failover")
    hold.add_argument("--holds", type=int, default=1000, help="holds due at once (1000)")
    hold.add_argument(
        "--lead", type=float, default=120.0, help="seconds early a hold may be placed (120)"
    )
    hold.add_argument(
        "--due-in",
        type=float,
        default=None,
        help="seconds from booking to the due time (default: the lead + 30)",
    )
    hold.add_argument(
        "--hold-timeout", type=float, default=1800.0, help="seconds to wait for all holds"
    )
    hold.add_argument("--workers", type=_csv(int), default=[1, 2, 4], help="scale (1,2,4)")
    hold.add_argument(
        "--scale-latency-ms", type=float, default=300.0, help="gateway delay for scale (300)"
    )
    hold.add_argument("--gap-holds", type=int, default=12, help="holds due in the gap (12)")
    hold.add_argument("--gap", type=float, default=180.0, help="seconds they span (180)")
    hold.add_argument("--redis-down", type=float, default=15.0, help="seconds Redis is down")
    hold.add_argument(
        "--gap-timeout",
        type=float,
        default=900.0,
        help="seconds after the gap to wait for its holds (900)",
    )
    page = p.add_argument_group("client page, report, load")
    page.add_argument("--runs", type=int, default=30, help="timed requests per route (30)")
    page.add_argument("--warmups", type=int, default=3, help="untimed requests first (3)")
    page.add_argument("--profile", action="store_true", help="cProfile the partial")
    page.add_argument("--report-runs", type=int, default=10, help="per report breakdown (10)")
    page.add_argument("--users", type=int, default=50, help="load: concurrent users (50)")
    page.add_argument("--load-seconds", type=float, default=60.0, help="load: duration (60)")
    page.add_argument("--think", type=float, default=1.0, help="load: think time, s (1.0)")
    page.add_argument("--load-clients", type=int, default=300, help="load: clients (300)")
    page.add_argument(
        "--load-visits", type=int, default=170, help="load: encounters per client (170)"
    )
    # Older spellings.
    p.add_argument("--no-report", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--no-preauth", action="store_true", help=argparse.SUPPRESS)
    return p


class Run:
    """One bench run: its folder, its PostgreSQL server (started on first use), its parts."""

    def __init__(self, args, folder: Path):
        self.args, self.folder = args, folder
        self.extra_env = dict(args.app_env)
        self.pg_server = None
        self.pg_missing = False
        wanted = set(args.only or PARTS) - args.skip
        if args.no_report:
            wanted.discard("report")
        if args.no_preauth:
            wanted -= {"holds", "scale", "failover"}
        self.wanted = wanted

    def postgres(self, name: str) -> str | None:
        """A new database on the run's PostgreSQL server (None without --postgres)."""
        from tests.servers import PostgresServer, find_pg_bin

        if not self.args.postgres or self.pg_missing:
            return None
        if self.pg_server is None:
            bin_dir = find_pg_bin()
            if bin_dir is None:
                self.pg_missing = True
                print("PostgreSQL: server binaries not installed (`make system-deps`)")
                return None
            self.pg_server = PostgresServer(bin_dir)
        return self.pg_server.create_database(name)

    def hold_env(self) -> dict[str, str]:
        """The app processes' environment for the hold parts: the app places holds up to
        the bench's `--lead` early (PREAUTH_LEAD_SECONDS) unless `--app-env` says else."""
        return {"PREAUTH_LEAD_SECONDS": f"{self.args.lead:.0f}", **self.extra_env}

    def stop(self) -> None:
        if self.pg_server is not None:
            self.pg_server.stop()


def heading(text: str) -> None:
    print(f"\n{text}", flush=True)


def pages_on(run: Run, name: str, database_url: str) -> None:
    """client, report and load parts on one database."""
    from tests.servers import RedisServer
    from webapp import create_app
    from webapp.extensions import db

    redis = RedisServer()  # sign-in counts failures there
    try:
        app = create_app(
            {
                "TESTING": True,
                "WTF_CSRF_ENABLED": False,
                "SQLALCHEMY_DATABASE_URI": database_url,
                "REDIS_URL": redis.url,
            }
        )
        with app.app_context():
            db.create_all()
        _pages(run, name, app, database_url)
        with app.app_context():
            db.engine.dispose()
    finally:
        redis.stop()


def _pages(run: Run, name: str, app, database_url: str) -> None:
    from tests.bench import authorizations as client_bench
    from tests.bench import load as load_bench
    from tests.bench import printing
    from tests.bench import reports as report_bench

    args = run.args
    if "client" in run.wanted:
        heading(f"Client page, {name}")
        with app.app_context():
            built = client_bench.build_organization()
        print(
            f"  build: {built.authorizations} authorizations, {built.encounters:,} encounters,"
            f" {built.lines:,} service lines, {built.allocations:,} allocations"
            f" in {built.seconds:.1f} s (and a client with 5 authorizations)"
        )
        shown = client_bench.rows_in_partial(app, built.client_id)
        if shown != built.authorizations:
            raise RuntimeError(f"the partial shows {shown} rows, expected {built.authorizations}")
        partial, bare = client_bench.measure(
            app, built.client_id, runs=args.runs, warmups=args.warmups
        )
        small = client_bench.queries_per_request(app, built.small_client_id)
        for line in printing.client_section(partial, bare, small, GOAL_CLIENT_RATIO):
            print(line)
        print(
            f"      ({args.runs} runs per route, alternating blocks of 10, {args.warmups} warm-ups)"
        )
        if args.profile:
            print(client_bench.profile_partial(app, built.client_id))
    if "report" in run.wanted:
        heading(f"Authorizations Report and CSV export, {name}")
        for line in report_bench.run(app, runs=args.report_runs):
            print(line, flush=True)
    if "load" in run.wanted and database_url.startswith("postgresql"):
        heading(f"Load: {args.users} users on gunicorn (2 workers), {name}")
        data, pages, floor = load_bench.run(
            app,
            database_url,
            run.folder / "load",
            users=args.users,
            seconds=args.load_seconds,
            think=args.think,
            clients=args.load_clients,
            encounters_per_client=args.load_visits,
            extra_env=run.extra_env,
        )
        for line in printing.load_section(data, pages, floor, GOAL_LOAD_P99):
            print(line)


def holds_part(run: Run) -> None:
    from tests.bench import holds, printing

    args = run.args
    due_in = args.due_in if args.due_in is not None else args.lead + 30
    heading(
        f"Holds due at one instant: {args.holds:,} holds, the `make run` processes"
        " (1 × python -m jobs.worker, python -m jobs.cron), SQLite, embedded-style Redis"
        f" (unix socket); goal p99 ≤ {GOAL_HOLD_P99:.0f} s, none more than {args.lead:.0f} s"
        " early, none twice"
    )
    for latency in args.latencies_ms:
        name = f"holds-{latency:.0f}ms"
        gateway = "localstripe's own latency" if latency == 0 else f"+{latency:.0f} ms per call"
        phase = holds.run_phase(
            run.folder / name,
            f"sqlite:///{run.folder / name / 'holds.sqlite3'}",
            label=f"gateway: {gateway}, {args.error_rate:.0%} transient errors",
            holds=args.holds,
            workers=1,
            delay=latency / 1000,
            error_rate=args.error_rate,
            lead=args.lead,
            due_in=due_in,
            timeout=args.hold_timeout,
            extra_env=run.hold_env(),
        )
        for line in printing.holds_section(phase, goal_p99=GOAL_HOLD_P99):
            print(line, flush=True)


def scale_part(run: Run) -> None:
    from tests.bench import holds, printing

    args = run.args
    due_in = args.due_in if args.due_in is not None else args.lead + 30
    heading(
        f"Scale-out: {args.holds:,} holds due at one instant, PostgreSQL, redis-server on TCP,"
        f" N workers + cron, gateway +{args.scale_latency_ms:.0f} ms per call,"
        f" {args.error_rate:.0%} errors; goal: holds/s grows with N, none twice"
    )
    phases = []
    for workers in args.workers:
        url = run.postgres(f"covered_scale_{workers}")
        phase = holds.run_phase(
            run.folder / f"scale-{workers}",
            url,
            label=f"{workers} workers",
            holds=args.holds,
            workers=workers,
            delay=args.scale_latency_ms / 1000,
            error_rate=args.error_rate,
            lead=args.lead,
            due_in=due_in,
            timeout=args.hold_timeout,
            extra_env=run.hold_env(),
            tcp_redis=True,
        )
        phases.append(phase)
        print(printing.scale_section(phases)[-2], flush=True)
        print(printing.scale_section(phases)[-1], flush=True)


def failover_part(run: Run) -> None:
    from tests.bench import failover, printing

    args = run.args
    url = run.postgres("covered_failover")
    database = "PostgreSQL" if url else "SQLite"
    url = url or f"sqlite:///{run.folder / 'failover.sqlite3'}"
    heading(
        f"When a part dies: {args.gap_holds} holds due over {args.gap:.0f} s after T, two workers,"
        f" cron, gunicorn, {database}, redis-server on TCP, gateway +300 ms; goal: each placed"
        f" ≤ {GOAL_FAILOVER:.0f} s after due, the System page shows the scheduler and the oldest"
        " overdue hold"
    )
    scenarios = failover.run(
        run.folder / "failover",
        url,
        delay=0.3,
        error_rate=args.error_rate,
        count=args.gap_holds,
        gap=args.gap,
        redis_down=args.redis_down,
        timeout=args.gap_timeout,
        extra_env=run.hold_env(),
    )
    for line in printing.failover_section(scenarios, GOAL_FAILOVER):
        print(line)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="covered-bench-"))
    os.environ["COVERED_INSTANCE_PATH"] = str(folder)
    for name, value in args.app_env:  # the bench's own app reads them too (enqueue options)
        os.environ[name] = value
    run = Run(args, folder)
    started = time.perf_counter()
    load = os.getloadavg()
    print(
        f"Covered bench, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores"
        f" (load average {load[0]:.1f} at start); one run: figures are noisy"
    )
    parts = ", ".join(p for p in PARTS if p in run.wanted)
    print(f"parts: {parts}; app env: {args.app_env or 'none'}")
    try:
        if run.wanted & {"client", "report"}:
            pages_on(run, "SQLite", f"sqlite:///{folder / 'bench.sqlite3'}")
        if run.wanted & {"client", "report", "load"}:
            url = run.postgres("covered_bench")
            if url:
                pages_on(run, f"PostgreSQL ({run.pg_server.bin_dir.parent.name})", url)
        if "holds" in run.wanted:
            holds_part(run)
        if "scale" in run.wanted and args.postgres:
            scale_part(run)
        if "failover" in run.wanted:
            failover_part(run)
        skipped = [p for p in POSTGRES_ONLY if p in run.wanted and not args.postgres]
        if skipped:
            print(f"\nskipped without --postgres: {', '.join(skipped)}")
    finally:
        run.stop()
        shutil.rmtree(folder, ignore_errors=True)
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
