"""`make bench`: build a synthetic organization and print server-time figures.

    python -m tests.bench               # SQLite
    python -m tests.bench --postgres    # also a throwaway PostgreSQL (or BENCH_POSTGRES=1)
    python -m tests.bench --profile     # plus a cProfile of the partial

The Insurance Authorizations partial (HTMX GET /clients/<id>/insurance) for a
client with 50 authorizations and 5,000 encounters is timed beside a bare route
(`/`, which only loads the signed-in user and redirects) in the same run, and
the ratio of their medians is printed.

Then the Authorizations Report (tests/bench/reports.py): 10,000 authorizations and
500,000 encounters in one organization, a 12-month report beside one plain SQL
aggregate (the floor), and the peak memory of full CSV exports (`--no-report` skips it).

Last, pre-authorizations (tests/bench/preauth.py): 1,000 holds due in the same minute,
one `python -m jobs.worker` against localstripe; throughput, lateness median and p99,
and 1,000 empty RQ jobs as the floor (`--no-preauth` skips it).
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

INSTANCE = Path(tempfile.mkdtemp(prefix="covered-bench-"))
os.environ["COVERED_INSTANCE_PATH"] = str(INSTANCE)

from tests.bench import authorizations as bench  # noqa: E402
from tests.bench import preauth as preauth_bench  # noqa: E402
from tests.bench import reports as report_bench  # noqa: E402
from tests.servers import PostgresServer, find_pg_bin  # noqa: E402
from webapp import create_app  # noqa: E402
from webapp.extensions import db  # noqa: E402

LABEL_WIDTH = 64


def _config(database_url: str) -> dict:
    return {
        "TESTING": True,
        "WTF_CSRF_ENABLED": False,
        "SQLALCHEMY_DATABASE_URI": database_url,
        # Nothing timed here touches Redis; point it at a socket that need not exist.
        "REDIS_URL": f"unix://{INSTANCE / 'redis.sock'}",
    }


def run_backend(name: str, database_url: str, args) -> None:
    app = create_app(_config(database_url))
    with app.app_context():
        db.create_all()
        built = bench.build_organization()
    print(f"{name}")
    print(
        f"  build: {built.authorizations} authorizations, {built.encounters:,} encounters, "
        f"{built.lines:,} service lines, {built.allocations:,} allocations "
        f"in {built.seconds:.1f} s"
    )
    shown = bench.rows_in_partial(app, built.client_id)
    if shown != built.authorizations:
        raise RuntimeError(f"the partial shows {shown} rows, expected {built.authorizations}")
    partial, bare = bench.measure(app, built.client_id, runs=args.runs, warmups=args.warmups)
    for timing in (partial, bare):
        print(
            f"  {timing.label + ':':<{LABEL_WIDTH}} median {timing.median_ms:7.1f} ms"
            f"  p95 {timing.p95_ms:7.1f} ms  min {timing.min_ms:7.1f} ms"
            f"  queries {timing.queries:>2}  size {timing.size / 1024:5.1f} KB"
        )
    print(
        f"  ratio: {partial.median_ms / bare.median_ms:.1f}x"
        f"  (medians; {args.runs} runs each in alternating blocks of 10, {args.warmups} warm-ups)"
    )
    if args.profile:
        print(bench.profile_partial(app, built.client_id))
    if not args.no_report:
        report_bench.run(app, runs=args.report_runs)
    with app.app_context():
        db.engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--postgres",
        action="store_true",
        default=os.environ.get("BENCH_POSTGRES") == "1",
        help="also run on a throwaway PostgreSQL (default from BENCH_POSTGRES=1)",
    )
    parser.add_argument("--runs", type=int, default=30, help="timed requests per route")
    parser.add_argument("--warmups", type=int, default=3, help="untimed requests first")
    parser.add_argument("--profile", action="store_true", help="cProfile the partial")
    parser.add_argument(
        "--report-runs", type=int, default=10, help="timed requests per report breakdown"
    )
    parser.add_argument(
        "--no-report", action="store_true", help="skip the Authorizations Report (500k encounters)"
    )
    parser.add_argument(
        "--no-preauth", action="store_true", help="skip the 1,000 pre-authorization holds"
    )
    args = parser.parse_args(argv)

    started = time.perf_counter()
    try:
        run_backend("SQLite", f"sqlite:///{INSTANCE / 'bench.sqlite3'}", args)
        if args.postgres:
            bin_dir = find_pg_bin()
            if bin_dir is None:
                print("PostgreSQL: skipped (server binaries not installed; `make system-deps`)")
            else:
                server = PostgresServer(bin_dir)
                try:
                    url = server.create_database("covered_bench")
                    run_backend(f"PostgreSQL ({bin_dir.parent.name})", url, args)
                finally:
                    server.stop()
        if not args.no_preauth:
            print(preauth_bench.report(preauth_bench.run()))
    finally:
        shutil.rmtree(INSTANCE, ignore_errors=True)
    print(f"total {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
