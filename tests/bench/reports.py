"""The Authorizations Report on 10,000 authorizations and 500,000 encounters in one organization.

`build_organization()` writes the practice in bulk (executemany on SQLite, COPY on
PostgreSQL; allocations computed by the real rules in `webapp.domain.authorization_rules`).
`run()` prints, for a 12-month range:
- the report's median server time (the HTMX table through the WSGI stack) beside
  the floor: one plain SQL aggregate over the same rows (kept and upcoming per
  authorization touching the range), timed in alternating blocks;
- the peak Python memory (tracemalloc) of full CSV exports of growing sizes (one
  row per authorization, then one row per week over 6 and over 12 months), to
  show it does not grow with the rows: it is bounded by one batch of rows.
Encounters get no service lines: the report never reads them.
"""

import random
import statistics
import time
import tracemalloc
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, insert, select, text

from tests import factories
from webapp.domain import allocation_rules
from webapp.domain import authorization_rules as rules
from webapp.domain.windows import to_utc_naive
from webapp.extensions import db
from webapp.models import (
    Allocation,
    Authorization,
    Client,
    ClientInsurance,
    Encounter,
    Organization,
    Payer,
    ServiceType,
    User,
)
from webapp.models.authorizations import AuthorizationLine, line_service_types

CLIENTS = 2_500
AUTHORIZATIONS_PER_CLIENT = 4  # 10,000
ENCOUNTERS_PER_CLIENT = 200  # 500,000
TIMEZONE = "America/New_York"
FIRST_DAY, LAST_DAY = date(2025, 1, 1), date(2026, 12, 31)
PIVOT_DAY = date(2026, 7, 1)  # the bench's "today": kept before, upcoming after
RANGE = (date(2026, 1, 1), date(2026, 12, 31))  # the 12-month report
# Full CSV exports at growing sizes: every authorization once; then a row per week
# over 6 months and over 12 months (twice the rows, the same kind of rows).
EXPORTS = (
    ("period", (FIRST_DAY, LAST_DAY)),
    ("week", (date(2026, 1, 1), date(2026, 6, 30))),
    ("week", RANGE),
)
ADMIN_EMAIL = "report-bench-admin@example.com"
FREQUENCIES = (("day", 4, 9), ("week", 10, 30), ("month", 40, 120), ("period", 100, 400))
# Goals (issue 14): keep the report within 2× one SQL aggregate, and the CSV export's
# memory flat (peak traced memory of the largest export at most 1.5× the smallest's).
REPORT_GOAL_RATIO = 2.0
CSV_GOAL_GROWTH = 1.5


@dataclass
class Built:
    org_id: int
    authorizations: int
    encounters: int
    allocations: int
    seconds: float


def build_organization(
    seed: int = 2026,
    *,
    clients: int = CLIENTS,
    encounters_per_client: int = ENCOUNTERS_PER_CLIENT,
    name: str = "Report Bench Practice",
    admin_email: str = ADMIN_EMAIL,
) -> Built:
    """One practice: `clients` clients with 4 authorizations and `encounters_per_client`
    encounters each, 20 clinicians, 5 payers; committed and analyzed."""
    started = time.perf_counter()
    rng = random.Random(seed)
    tag = "report" if admin_email == ADMIN_EMAIL else admin_email.split("@")[0]
    org = Organization(name=name, timezone=TIMEZONE, week_start=6)
    db.session.add(org)
    db.session.flush()
    admin = User(
        organization_id=org.id,
        email=admin_email,
        name="Report Admin",
        role="admin",
        password_hash=factories.PASSWORD_HASH,
    )
    clinicians = [
        User(
            organization_id=org.id,
            email=f"{tag}-clinician-{n}@example.com",
            name=f"Clinician {n:02d}",
            role="clinician",
            password_hash=factories.PASSWORD_HASH,
        )
        for n in range(20)
    ]
    payers = [Payer(organization_id=org.id, name=f"Payer {n}") for n in range(5)]
    therapy = ServiceType(
        organization_id=org.id, cpt_code="90837", name="Psychotherapy", unit_minutes=None
    )
    aba = ServiceType(organization_id=org.id, cpt_code="97153", name="ABA", unit_minutes=15)
    db.session.add_all([admin, *clinicians, *payers, therapy, aba])
    db.session.flush()

    client_ids = _insert_returning_ids(
        Client,
        [
            {
                "organization_id": org.id,
                "first_name": f"First{n}",
                "last_name": f"Last{n:05d}",
                "primary_clinician_id": clinicians[n % len(clinicians)].id,
                "booking_version": 0,
            }
            for n in range(clients)
        ],
    )
    policy_ids = _insert_returning_ids(
        ClientInsurance,
        [
            {
                "organization_id": org.id,
                "client_id": client_id,
                "payer_id": payers[n % len(payers)].id,
                "member_id": f"M{n:06d}",
                "copay_cents": 2500,
                "active": rng.random() > 0.05,
            }
            for n, client_id in enumerate(client_ids)
        ],
    )
    terms_by_client = _authorizations(rng, org, policy_ids, therapy.id, aba.id)
    encounters, allocations = _encounters(
        rng,
        org,
        client_ids,
        policy_ids,
        clinicians,
        terms_by_client,
        therapy,
        aba,
        encounters_per_client,
    )
    _bulk(Encounter.__table__, encounters)
    _bulk(Allocation.__table__, allocations)
    db.session.commit()
    _analyze()
    built = Built(
        org_id=org.id,
        authorizations=sum(len(t) for t in terms_by_client.values()),
        encounters=len(encounters),
        allocations=len(allocations),
        seconds=time.perf_counter() - started,
    )
    db.session.remove()
    return built


def _insert_returning_ids(model, rows: list[dict]) -> list[int]:
    return db.session.scalars(
        insert(model).returning(model.id, sort_by_parameter_order=True), rows
    ).all()


def _authorizations(rng, org, policy_ids, therapy_id, aba_id) -> dict[int, list]:
    """Four per client: two Sessions (therapy) one after the other over 2025–2026, and
    two Units (ABA) the same way, each chain with small gaps and overlaps."""
    rows, services, terms_by_policy = [], [], {}
    for policy_id in policy_ids:
        for chain in ("sessions", "units"):
            start = FIRST_DAY + timedelta(days=rng.randrange(30))
            for n in range(AUTHORIZATIONS_PER_CLIENT // 2):
                end = min(start + timedelta(days=rng.randrange(300, 400)), LAST_DAY)
                if chain == "sessions":
                    kind, frequency, allowed = "sessions", None, rng.randrange(20, 60)
                    service_ids = (therapy_id,)
                else:
                    frequency, low, high = rng.choice(FREQUENCIES)
                    kind, allowed, service_ids = "units", rng.randrange(low, high), (aba_id,)
                rows.append(
                    {
                        "organization_id": org.id,
                        "client_insurance_id": policy_id,
                        "number": f"PA-{policy_id}-{chain[0].upper()}{n}",
                        "kind": kind,
                        "start_date": start,
                        "end_date": end,
                        "allowed": allowed,
                        "frequency": frequency,
                    }
                )
                services.append(service_ids)
                start = end + timedelta(days=rng.randrange(-10, 15))
    line_keys = ("kind", "allowed", "frequency")
    ids = _insert_returning_ids(
        Authorization,
        [
            {k: v for k, v in row.items() if k not in line_keys} | {"converted": False}
            for row in rows
        ],
    )
    line_ids = _insert_returning_ids(
        AuthorizationLine,
        [
            {"organization_id": org.id, "authorization_id": auth_id, "position": 0}
            | {k: row[k] for k in line_keys}
            for auth_id, row in zip(ids, rows, strict=True)
        ],
    )
    links = []
    for auth_id, line_id, row, service_ids in zip(ids, line_ids, rows, services, strict=True):
        links += [{"line_id": line_id, "service_type_id": s} for s in service_ids]
        terms_by_policy.setdefault(row["client_insurance_id"], []).append(
            rules.AuthorizationTerms(
                id=line_id,
                authorization_id=auth_id,
                client_insurance_id=row["client_insurance_id"],
                kind=row["kind"],
                start=row["start_date"],
                end=row["end_date"],
                allowed=row["allowed"],
                frequency=row["frequency"],
                service_type_ids=frozenset(service_ids),
                week_start=org.week_start,
            )
        )
    db.session.execute(insert(line_service_types), links)
    return terms_by_policy


def _encounters(
    rng, org, client_ids, policy_ids, clinicians, terms_by_policy, therapy, aba, per_client
):
    """`per_client` encounters per client with explicit ids, and their allocations by the
    real rules."""
    span = (LAST_DAY - FIRST_DAY).days + 1
    next_id = (db.session.scalar(select(func.max(Encounter.id))) or 0) + 1
    next_allocation = (db.session.scalar(select(func.max(Allocation.id))) or 0) + 1
    encounters, allocations = [], []
    now = datetime(2026, 6, 30, 12)
    for client_id, policy_id in zip(client_ids, policy_ids, strict=True):
        candidates = terms_by_policy[policy_id]
        parents = {t.id: t.parent_id for t in candidates}
        clinician_id = clinicians[client_id % len(clinicians)].id
        visits = []
        for _ in range(per_client):
            day = FIRST_DAY + timedelta(days=rng.randrange(span))
            service, minutes = (
                (therapy, 60) if rng.random() < 0.45 else (aba, rng.choice((60, 120, 180)))
            )
            if day < PIVOT_DAY:
                status = rng.choices(("kept", "cancelled", "no_show"), (88, 8, 4))[0]
            else:
                status = rng.choices(("upcoming", "cancelled"), (92, 8))[0]
            encounters.append(
                {
                    "id": next_id,
                    "organization_id": org.id,
                    "client_id": client_id,
                    "clinician_id": clinician_id,
                    "starts_at": to_utc_naive(datetime(day.year, day.month, day.day, 10), TIMEZONE),
                    "service_date": day,
                    "duration_minutes": minutes,
                    "status": status,
                    "billing_type": "insurance",
                    "client_insurance_id": policy_id,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            visits.append(
                allocation_rules.Visit(
                    encounter_id=next_id,
                    starts_at=encounters[-1]["starts_at"],
                    day=day,
                    status=status,
                    client_insurance_id=policy_id,
                    rounding_profile="cms-8-minute",
                    lines=(allocation_rules.VisitLine(service.id, minutes, service.unit_minutes),),
                )
            )
            next_id += 1
        for encounter_id, result in allocation_rules.allocate_visits(candidates, visits).items():
            for line_id, placement in result.placements.items():
                allocations.append(
                    {
                        "id": next_allocation,
                        "organization_id": org.id,
                        "authorization_id": parents[line_id],
                        "line_id": line_id,
                        "encounter_id": encounter_id,
                        "amount": placement.amount,
                        "reason": placement.reason,
                        "room_before": placement.room_before,
                        "window_room_before": placement.window_room_before,
                    }
                )
                next_allocation += 1
    return encounters, allocations


def _bulk(table, rows: list[dict]) -> None:
    """COPY on PostgreSQL (then move the id sequence past the explicit ids); else executemany."""
    if db.session.get_bind().dialect.name != "postgresql":
        for start in range(0, len(rows), 50_000):
            db.session.execute(insert(table), rows[start : start + 50_000])
        return
    columns = list(rows[0])
    connection = db.session.connection().connection.driver_connection
    with connection.cursor() as cursor:
        statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
        with cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row([row[c] for c in columns])
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
            f"(SELECT max(id) FROM {table.name}))"
        )


def _analyze() -> None:
    with db.engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
        else:
            connection.execute(text("ANALYZE"))
            connection.commit()


# --- Measurements ------------------------------------------------------------------------------

FLOOR_SQL = text(
    """
    SELECT al.line_id,
           SUM(CASE WHEN e.status = 'kept' THEN al.amount ELSE 0 END),
           SUM(CASE WHEN e.status = 'upcoming' THEN al.amount ELSE 0 END)
      FROM allocations al
      JOIN encounters e ON e.id = al.encounter_id
      JOIN authorizations a ON a.id = al.authorization_id
     WHERE a.organization_id = :org AND a.start_date <= :end AND a.end_date >= :start
     GROUP BY al.line_id
    """
)


def _report_path(by: str, days: tuple[date, date] = RANGE) -> str:
    start, end = days
    suffix = "" if by == "period" else f"&by={by}"
    return f"/reports/authorizations?start={start}&end={end}{suffix}"


def _time_floor(app, org_id: int) -> tuple[float, int]:
    with app.app_context():
        started = time.perf_counter()
        rows = db.session.execute(
            FLOOR_SQL, {"org": org_id, "start": RANGE[0], "end": RANGE[1]}
        ).all()
        elapsed = time.perf_counter() - started
        db.session.remove()
    return elapsed, len(rows)


def _time_report(http, path: str) -> float:
    started = time.perf_counter()
    response = http.get(path, headers={"HX-Request": "true"})
    elapsed = time.perf_counter() - started
    if response.status_code != 200 or b"data-auth-id=" not in response.data:
        raise RuntimeError(f"{path} answered HTTP {response.status_code} without rows")
    return elapsed


def measure(
    app, org_id: int, *, runs: int, warmups: int = 2, block: int = 5
) -> dict[str, list[float]]:
    """Samples (seconds) of the floor and of the report per breakdown, in alternating blocks."""
    http = app.test_client()
    sign_in_as(http)
    timers = {
        "floor": lambda: _time_floor(app, org_id)[0],
        "period": lambda: _time_report(http, _report_path("period")),
        "month": lambda: _time_report(http, _report_path("month")),
        "week": lambda: _time_report(http, _report_path("week")),
    }
    for timer in timers.values():
        for _ in range(warmups):
            timer()
    samples: dict[str, list[float]] = {name: [] for name in timers}
    while len(samples["floor"]) < runs:
        size = min(block, runs - len(samples["floor"]))
        for name, timer in timers.items():
            samples[name].extend(timer() for _ in range(size))
    return samples


def sign_in_as(http) -> None:
    response = http.post("/login", data={"email": ADMIN_EMAIL, "password": factories.PASSWORD})
    if response.status_code != 302:
        raise RuntimeError(f"sign-in failed with HTTP {response.status_code}")


def export_memory(app, by: str, days: tuple[date, date]) -> tuple[int, int, int, float]:
    """(rows, bytes, peak traced bytes, seconds) of one full CSV export, read as it streams."""
    http = app.test_client()
    sign_in_as(http)
    path = _report_path(by, days).replace(
        "/reports/authorizations?", "/reports/authorizations.csv?"
    )
    tracemalloc.start()
    tracemalloc.reset_peak()
    started = time.perf_counter()
    response = http.get(path)
    size = lines = 0
    for chunk in response.response:
        size += len(chunk)
        lines += chunk.count(b"\n") if isinstance(chunk, bytes) else chunk.count("\n")
    response.close()
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    if response.status_code != 200:
        raise RuntimeError(f"the CSV export answered HTTP {response.status_code}")
    return lines - 1, size, peak, elapsed


def run(app, *, runs: int) -> list[str]:
    """Build, then the report's lines (printing.row) for the backend's heading."""
    from tests.bench.printing import milliseconds, row, three

    with app.app_context():
        built = build_organization()
    lines = [
        f"  report build: {built.authorizations:,} authorizations, {built.encounters:,} "
        f"encounters, {built.allocations:,} allocations in {built.seconds:.1f} s"
    ]
    _, floor_rows = _time_floor(app, built.org_id)
    samples = measure(app, built.org_id, runs=runs)
    floor = statistics.median(samples["floor"])
    start, end = RANGE
    lines.append(
        row(
            f"floor: SQL aggregate, {floor_rows:,} auths",
            three(samples["floor"], milliseconds),
        )
    )
    for by, label in (("period", "entire period"), ("month", "by month"), ("week", "by week")):
        ratio = statistics.median(samples[by]) / floor
        lines.append(
            row(
                f"report {start.year}, {label}, page 1",
                three(samples[by], milliseconds),
                f"{floor * 1000:.1f} ms ({ratio:.2f}×)",
                f"≤ {REPORT_GOAL_RATIO:.0f}× floor",
                ratio <= REPORT_GOAL_RATIO,
            )
        )
    peaks = []
    for by, days in EXPORTS:
        rows, size, peak, seconds = export_memory(app, by, days)
        peaks.append(peak)
        name = f"CSV {days[0]}..{days[1]}, {'whole' if by == 'period' else 'by ' + by}"
        lines.append(
            row(
                name,
                f"peak {peak / 1_048_576:.2f} MB, {rows:,} rows",
                goal=f"flat (≤ {CSV_GOAL_GROWTH}× smallest)",
                met=peak <= CSV_GOAL_GROWTH * min(peaks),
            )
            + f"  ({size / 1_048_576:.1f} MB in {seconds:.1f} s)"
        )
    return lines
