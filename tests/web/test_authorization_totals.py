"""The Insurance Authorizations table from sums in SQL (services/authorization_totals):
the same figures as the full ledgers, in a number of queries that does not grow with
authorizations or visits. (The page against the ledger page, the report and the CSV:
tests/web/test_figures_agree.py.)"""

from datetime import date, datetime, time, timedelta

import pytest
from sqlalchemy import event, select

from tests import factories
from tests.web.test_figures_agree import TODAY, _build
from webapp.extensions import db
from webapp.models import Encounter
from webapp.services.authorization_totals import load_for_visits, load_totals
from webapp.services.coverage import load_coverage, visit_warnings


def _figures(summary) -> dict:
    ledger = summary.ledger
    return {
        "kept": ledger.kept,
        "upcoming": ledger.upcoming,
        "counted": ledger.counted,
        "total": ledger.total,
        "remaining": ledger.remaining,
        "over_by": ledger.over_by,
        "bar": ledger.bar,
        "percents": (ledger.kept_percent, ledger.upcoming_percent, ledger.booked_percent),
        # Windows with something in them (the table's sums leave out empty ones).
        "windows": [
            (w.window, w.kept, w.upcoming, w.remaining)
            for w in ledger.windows
            if w.kept or w.upcoming or w.remaining != w.allowed
        ],
        "windows_over": [w.window for w in ledger.windows_over],
        "status": summary.status,
    }


@pytest.mark.parametrize("seed", range(8))
def test_the_sums_give_every_figure_of_the_full_ledgers(world, seed):
    authorizations = _build(seed, world)
    client_ids = sorted({a.client_insurance.client_id for a in authorizations})
    full = load_coverage(world.org, client_ids, today=TODAY).summaries
    summed = load_totals(world.org, client_ids, today=TODAY).summaries
    assert [s.authorization.id for s in summed] == [s.authorization.id for s in full]
    for whole, sums in zip(full, summed, strict=True):
        assert _figures(sums) == _figures(whole), f"authorization {whole.authorization.number}"
        kept_rows = [r for r in whole.ledger.rows if r.usage.status == "kept"]
        assert sums.kept_visits == len(kept_rows)
        assert sums.ledger.rows == []  # no ledger rows are built for the table


def _client_with(world, number: int, visits_each: int):
    """A client with `number` authorizations (sessions, and weekly and daily capped
    units), each with `visits_each` kept and upcoming visits allocated to it."""
    org = world.org
    therapy = factories.service_type(org, cpt_code=f"9{number:04d}")
    client = factories.client(org, first_name="Many", last_name=f"Auths{number}")
    policy = factories.insurance(org, client, factories.payer(org))
    frequencies = [(None, "sessions"), ("week", "units"), ("day", "units"), ("period", "units")]
    for n in range(number):
        frequency, kind = frequencies[n % len(frequencies)]
        start = date(2026, 1, 1) + timedelta(days=40 * n)
        factories.authorization(
            org, policy, [therapy], number=f"Q{number}-{n}", kind=kind, start_date=start,
            end_date=start + timedelta(days=39), allowed=3, frequency=frequency,
        )  # fmt: skip
        for k in range(visits_each):
            factories.encounter(
                org, client, world.clinician, policy, [therapy],
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


@pytest.mark.parametrize("seed", range(6))
def test_a_page_of_visits_gets_the_warnings_the_full_ledgers_give(world, seed):
    """The schedule loads sums and only its visits' ledger rows (`load_for_visits`): every
    visit's warnings are those of the full ledgers."""
    authorizations = _build(seed, world)
    client_ids = sorted({a.client_insurance.client_id for a in authorizations})
    encounters = db.session.scalars(
        select(Encounter).where(Encounter.client_id.in_(client_ids)).order_by(Encounter.id)
    ).all()
    shown = encounters[::2]  # a page shows some of the visits
    full = load_coverage(world.org, client_ids, today=TODAY)
    page = load_for_visits(world.org, client_ids, [e.id for e in shown], today=TODAY)
    for encounter in shown:
        assert visit_warnings(page, encounter) == visit_warnings(full, encounter), encounter.id
