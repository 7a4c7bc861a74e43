"""The Insurance Authorizations table from sums in SQL (services/authorization_totals):
for random practices with multi-line authorizations (every kind and frequency, lines
with their own dates, lines and authorizations the payer has not granted), every figure,
status and roll-up the full ledgers give, the same rendered table, and a number of
queries that does not grow with authorizations or visits; the schedule's warnings from
sums and its visits' rows only are the full ledgers' warnings. SQLite and PostgreSQL.
(The page against the ledger page, the report and the CSV: tests/web/test_figures_agree.py.)
"""

import random
from datetime import UTC, date, datetime, time, timedelta

import pytest
import time_machine
from sqlalchemy import event, select

from tests import factories
from webapp.domain import authorization_rules as rules
from webapp.domain.pas_terms import APPROVED, CANCELLED, DENIED, MODIFIED, PARTLY_APPROVED, PENDED
from webapp.domain.windows import to_utc_naive
from webapp.extensions import db
from webapp.models import Allocation, Encounter, EncounterService
from webapp.services.allocation import reallocate_client
from webapp.services.authorization_totals import load_for_visits, load_totals
from webapp.services.coverage import load_coverage, visit_warnings

TODAY = date(2026, 6, 15)
LINE_DECISIONS = (APPROVED,) * 5 + (PARTLY_APPROVED, MODIFIED, PENDED, DENIED, CANCELLED)
AUTHORIZATION_DECISIONS = (APPROVED,) * 10 + (PENDED, DENIED)


@pytest.fixture(autouse=True)
def _mid_2026():
    with time_machine.travel(datetime(2026, 6, 15, 16, tzinfo=UTC), tick=False):
        yield


def _practice(seed: int, world) -> list[int]:
    """A random practice: 1–3 clients, each with 1–4 authorizations of 1–3 lines (Sessions
    or Units, every frequency, some with dates of their own, some pending, denied or
    cancelled, some under a withholding authorization), 10–60 visits in every status,
    allocated by the app's own rule. Returns the client ids."""
    rng = random.Random(seed)
    org = world.org
    org.count_upcoming_for_exhaustion = rng.random() < 0.5
    org.week_start = rng.choice((0, 6))
    services = [
        factories.service_type(org, cpt_code="90837"),
        factories.service_type(org, cpt_code="97153", unit_minutes=15),
        factories.service_type(org, cpt_code="97155", unit_minutes=15),
    ]
    client_ids = []
    for n in range(rng.randint(1, 3)):
        client = factories.client(org, first_name=f"C{seed}", last_name=f"N{n}")
        payer = factories.payer(
            org, rounding_profile=rng.choice(("cms-8-minute", "midpoint-min-1"))
        )
        policy = factories.insurance(org, client, payer, active=rng.random() < 0.9)
        first = date(2026, 1, 1) + timedelta(days=rng.randint(0, 200))
        last = first
        for k in range(rng.randint(1, 4)):
            start = first + timedelta(days=rng.randint(0, 40))
            end = start + timedelta(days=rng.randint(0, 120))
            last = max(last, end)
            lines = []
            for _ in range(rng.randint(1, 3)):
                kind = rng.choice((rules.SESSIONS, rules.UNITS))
                line = {
                    "kind": kind,
                    "allowed": rng.randint(1, 6),
                    "frequency": (
                        rng.choice(("day", "week", "month", "period"))
                        if kind == rules.UNITS
                        else None
                    ),
                    "decision": rng.choice(LINE_DECISIONS),
                    "services": rng.sample(services, rng.randint(1, 2)),
                }
                if rng.random() < 0.3:  # dates of its own, inside the authorization's
                    own_start = start + timedelta(days=rng.randint(0, (end - start).days))
                    line["start_date"] = own_start
                    line["end_date"] = own_start + timedelta(
                        days=rng.randint(0, (end - own_start).days)
                    )
                lines.append(line)
            factories.authorization(
                org, policy, [], lines=lines, number=f"A{seed}-{n}-{k}", start_date=start,
                end_date=end, decision=rng.choice(AUTHORIZATION_DECISIONS),
            )  # fmt: skip
        for _ in range(rng.randint(10, 60)):
            day = first + timedelta(days=rng.randint(0, (last - first).days) // rng.choice((1, 7)))
            status = (
                rng.choice((rules.KEPT, rules.KEPT, rules.CANCELLED, rules.NO_SHOW))
                if day < TODAY
                else rng.choice((rules.UPCOMING, rules.UPCOMING, rules.LATE_CANCELLED))
            )
            db.session.add(
                Encounter(
                    organization_id=org.id,
                    client_id=client.id,
                    clinician_id=world.clinician.id,
                    starts_at=to_utc_naive(
                        datetime.combine(day, time(rng.randint(8, 17))), org.timezone
                    ),
                    service_date=day,
                    duration_minutes=60,
                    status=status,
                    billing_type="insurance",
                    client_insurance_id=policy.id,
                    lines=[
                        EncounterService(
                            service_type_id=s.id, minutes=rng.choice((7, 15, 23, 33, 60))
                        )
                        for s in rng.sample(services, rng.randint(1, 3))
                    ],
                )  # fmt: skip
            )
        db.session.flush()
        reallocate_client(org, client.id)
        client_ids.append(client.id)
    db.session.commit()
    return client_ids


def _figures(summary) -> dict:
    """Every figure of a line the table shows, and what it is computed from."""
    ledger = summary.ledger
    return {
        "terms": summary.terms,
        "counts": summary.counts,
        "status": summary.status,
        "kept": ledger.kept,
        "upcoming": ledger.upcoming,
        "counted": ledger.counted,
        "total": ledger.total,
        "remaining": ledger.remaining,
        "over_by": ledger.over_by,
        "bar": ledger.bar,
        "percents": (ledger.kept_percent, ledger.upcoming_percent, ledger.booked_percent),
        # Windows with something in them (the sums leave out the empty ones).
        "windows": [
            (w.window, w.kept, w.upcoming, w.remaining)
            for w in ledger.windows
            if w.kept or w.upcoming or w.remaining != w.allowed
        ],
        "windows_over": [(w.window, w.over_by) for w in ledger.windows_over],
    }


@pytest.mark.parametrize("seed", range(10))
def test_the_sums_give_every_figure_status_and_roll_up_of_the_full_ledgers(world, seed):
    client_ids = _practice(seed, world)
    full = load_coverage(world.org, client_ids, today=TODAY)
    summed = load_totals(world.org, client_ids, today=TODAY)
    assert [s.line.id for s in summed.summaries] == [s.line.id for s in full.summaries]
    for whole, sums in zip(full.summaries, summed.summaries, strict=True):
        assert _figures(sums) == _figures(whole), f"line {whole.line.id} of {whole.label}"
        assert sums.ledger.rows == []  # no ledger rows are built for the table
    assert len(summed.rollups) == len(full.rollups)
    for whole, sums in zip(full.rollups, summed.rollups, strict=True):
        assert sums.authorization.id == whole.authorization.id
        assert sums.status == whole.status
        assert [s.line.id for s in sums.lines] == [s.line.id for s in whole.lines]
        kept = {
            row.usage.encounter_id
            for line in whole.lines
            for row in line.ledger.rows
            if row.usage.status == rules.KEPT
        }
        assert sums.kept_visits == whole.kept_visits == len(kept)
    for client_id in client_ids:
        assert summed.counts_by_status(client_id) == full.counts_by_status(client_id)


def test_withheld_lines_and_stale_rows_count_as_the_full_ledgers_say(world):
    """A pending line and a denied authorization count nothing; a row the database still
    holds for a line since withheld sums as the ledger reads it, and a visit on two lines
    of one authorization is one kept visit."""
    org = world.org
    aba = factories.service_type(org, cpt_code="97153", unit_minutes=15)
    supervision = factories.service_type(org, cpt_code="97155", unit_minutes=15)
    client = factories.client(org, first_name="Two", last_name="Lines")
    policy = factories.insurance(org, client, factories.payer(org))
    both = factories.authorization(
        org, policy, [], number="B-1", start_date=date(2026, 6, 1), end_date=date(2026, 6, 30),
        lines=[
            {"kind": "units", "allowed": 8, "frequency": "week", "services": [aba]},
            {"kind": "units", "allowed": 4, "frequency": "week", "services": [supervision]},
            {"kind": "units", "allowed": 9, "frequency": "period", "services": [supervision],
             "decision": PENDED},
        ],
    )  # fmt: skip
    denied = factories.authorization(
        org, policy, [aba], number="D-1", kind="units", allowed=40, frequency="period",
        start_date=date(2026, 6, 1), end_date=date(2026, 6, 30), decision=DENIED,
    )  # fmt: skip
    for day in (2, 3, 10, 16, 17):
        factories.encounter(
            org, client, world.clinician, policy, [aba, supervision],
            starts_at=datetime.combine(date(2026, 6, day), time(15)),
            status=rules.KEPT if day < 15 else rules.UPCOMING,
        )  # fmt: skip
    pending = both.lines[2]
    visit = db.session.scalars(select(Encounter).where(Encounter.client_id == client.id)).first()
    db.session.add(
        Allocation(
            organization_id=org.id, authorization_id=both.id, line_id=pending.id,
            encounter_id=visit.id, amount=3,
        )
    )  # fmt: skip
    db.session.commit()
    full = load_coverage(org, [client.id], today=TODAY)
    summed = load_totals(org, [client.id], today=TODAY)
    for whole, sums in zip(full.summaries, summed.summaries, strict=True):
        assert _figures(sums) == _figures(whole), whole.label
    rollup = summed.rollup_of(both.id)
    assert rollup.kept_visits == 3  # three kept visits, each on two lines (and one on three)
    assert [s.counts for s in rollup.lines] == [True, True, False]
    assert summed.rollup_of(denied.id).status == rules.DENIED
    assert summed.by_id()[denied.lines[0].id].ledger.kept == 0


@pytest.mark.parametrize("seed", range(4))
def test_the_table_rendered_from_sums_is_the_table_from_full_ledgers(
    client, auth, world, monkeypatch, seed
):
    from webapp.views import clients

    client_ids = _practice(100 + seed, world)
    auth.login(world.biller)
    for client_id in client_ids:
        for status in ("", "?status=exhausted"):
            path = f"/clients/{client_id}/insurance{status}"
            summed = client.get(path, headers={"HX-Request": "true"}).get_data(as_text=True)
            monkeypatch.setattr(clients, "load_totals", load_coverage)
            full = client.get(path, headers={"HX-Request": "true"}).get_data(as_text=True)
            monkeypatch.undo()
            assert summed == full
            assert 'id="auth-section"' in summed


def _client_with(world, number: int, visits_each: int):
    """A client with `number` authorizations of two lines (sessions, and weekly, daily
    and period units), each line with `visits_each` kept and upcoming visits."""
    org = world.org
    therapy = factories.service_type(org, cpt_code=f"9{number:04d}")
    aba = factories.service_type(org, cpt_code=f"8{number:04d}", unit_minutes=15)
    client = factories.client(org, first_name="Many", last_name=f"Auths{number}")
    policy = factories.insurance(org, client, factories.payer(org))
    frequencies = [(None, "sessions"), ("week", "units"), ("day", "units"), ("period", "units")]
    for n in range(number):
        frequency, kind = frequencies[n % len(frequencies)]
        start = date(2026, 1, 1) + timedelta(days=40 * n)
        factories.authorization(
            org, policy, [], number=f"Q{number}-{n}", start_date=start,
            end_date=start + timedelta(days=39),
            lines=[
                {"kind": kind, "allowed": 3, "frequency": frequency, "services": [therapy]},
                {"kind": "units", "allowed": 5, "frequency": "week", "services": [aba]},
            ],
        )  # fmt: skip
        for k in range(visits_each):
            factories.encounter(
                org, client, world.clinician, policy, [therapy, aba],
                starts_at=datetime.combine(start + timedelta(days=k), time(15)),
                status="kept" if k % 2 else "upcoming",
            )  # fmt: skip
    db.session.commit()
    return client


def _queries(client, path: str) -> int:
    statements = []

    def count(*_args):
        statements.append(1)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        response = client.get(path, headers={"HX-Request": "true"})
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert response.status_code == 200
    return len(statements)


def test_the_table_takes_the_same_queries_for_one_authorization_as_for_many(client, auth, world):
    one = _client_with(world, 1, visits_each=2)
    many = _client_with(world, 12, visits_each=6)
    auth.login(world.biller)
    for who in (one, many):  # warm: the first request loads what every request shares
        _queries(client, f"/clients/{who.id}/insurance")
    counts = {who.id: _queries(client, f"/clients/{who.id}/insurance") for who in (one, many)}
    assert counts[one.id] == counts[many.id]
    page = client.get(f"/clients/{many.id}/insurance", headers={"HX-Request": "true"}).data
    assert page.decode().count("data-auth-id=") == 12
    assert page.decode().count('class="line-row"') == 12  # each one's second line


@pytest.mark.parametrize("seed", range(6))
def test_a_page_of_visits_gets_the_warnings_the_full_ledgers_give(world, seed):
    """The schedule loads sums and only its visits' ledger rows (`load_for_visits`): every
    visit's warnings are those of the full ledgers."""
    client_ids = _practice(200 + seed, world)
    encounters = db.session.scalars(
        select(Encounter).where(Encounter.client_id.in_(client_ids)).order_by(Encounter.id)
    ).all()
    shown = encounters[::2]  # a page shows some of the visits
    full = load_coverage(world.org, client_ids, today=TODAY)
    page = load_for_visits(world.org, client_ids, [e.id for e in shown], today=TODAY)
    for encounter in shown:
        assert visit_warnings(page, encounter) == visit_warnings(full, encounter), encounter.id
