"""The practice's Holds and Invoices pages: filters, totals and CSV agree with each other,
with the database, and with the client's Billing page and the visit's page (both DBs)."""

import csv
import io
import random
import re
from datetime import date, datetime, timedelta

import pytest

from tests import factories
from webapp.domain.money import format_cents
from webapp.domain.windows import to_utc_naive
from webapp.extensions import db
from webapp.models import Invoice, Payment, PreAuthorization
from webapp.services import invoices

TZ = "America/New_York"


def _local(day: date, hour: int) -> datetime:
    return to_utc_naive(datetime(day.year, day.month, day.day, hour), TZ)


@pytest.fixture
def books(world):
    """Three clients, invoices in every state over March 2026, holds in every state."""
    rng = random.Random(7)
    org = world.org
    therapy = factories.service_type(org, cpt_code="90837", price_cents=15000)
    people = [factories.client(org, first_name=n, last_name="Test") for n in ("Ana", "Ben", "Cy")]
    made = []
    for n in range(18):
        person = people[n % 3]
        day = date(2026, 3, 1) + timedelta(days=n * 2)
        visit = factories.encounter(
            org, person, world.clinician, None, [therapy], starts_at=_local(day, 10),
            service_date=day, billing_type="self_pay",
        )  # fmt: skip
        invoice = Invoice(
            organization_id=org.id, client_id=person.id, encounter_id=visit.id,
            total_cents=rng.choice((2500, 15000, 4000)),
            created_at=_local(day, rng.choice((0, 12, 23))),  # local midnight to 11 PM
        )  # fmt: skip
        db.session.add(invoice)
        db.session.flush()
        paid = rng.choice((0, invoice.total_cents // 2, invoice.total_cents))
        for k, (kind, amount, status) in enumerate(
            [("balance_payment", paid, "succeeded")] * bool(paid)
            + [("balance_payment", 1000, "failed")] * (n % 4 == 0)
            + [("refund", paid // 3, "succeeded")] * (paid == invoice.total_cents and n % 2 == 0)
        ):
            db.session.add(
                Payment(
                    organization_id=org.id, client_id=person.id, encounter_id=visit.id,
                    invoice_id=invoice.id, kind=kind, amount_cents=amount, status=status,
                    idempotency_key=f"test-{invoice.id}-{k}",
                )
            )  # fmt: skip
        db.session.flush()
        db.session.refresh(invoice)
        invoices.refresh_status(invoice)
        if n == 5 and not paid:
            invoice.status = "void"
        made.append(invoice)
        state = ("scheduled", "held", "failed", "charged", "released", "processing")[n % 6]
        db.session.add(
            PreAuthorization(
                organization_id=org.id, encounter_id=visit.id, state=state, hours_before=24,
                run_at=visit.starts_at - timedelta(hours=24),
                amount_cents=None if state in ("scheduled", "processing") else 4000 + n,
                card_label="Visa •••• 4242", failure_reason="The card was declined."
                if state == "failed" else None,
                lapses_at=visit.starts_at + timedelta(days=2) if state == "held" else None,
            )
        )  # fmt: skip
    db.session.commit()
    assert {"open", "paid", "void", "partly_refunded"} <= {inv.status for inv in made}
    return {"clients": people, "invoices": made, "therapy": therapy}


def _money(cents: int) -> str:
    return format_cents(cents)


def _invoice_rows(html: str) -> dict[str, list[str]]:
    rows = {}
    for number, body in re.findall(r'<tr data-invoice="([^"]+)">(.*?)</tr>', html, re.S):
        rows[number] = re.findall(r'<td class="num[^"]*">([^<]*)</td>', body)
    return rows


@pytest.mark.parametrize(
    ("query", "pick"),
    [
        ("", lambda inv, books: True),
        ("state=open", lambda inv, books: inv.status == "open"),
        ("state=paid", lambda inv, books: inv.status == "paid"),
        ("state=void", lambda inv, books: inv.status == "void"),
        ("state=partly_refunded", lambda inv, books: inv.status == "partly_refunded"),
        # local days, both ends included: created at 11 PM on Mar 10 counts on Mar 10
        ("from=2026-03-05&to=2026-03-11",
         lambda inv, books: "2026-03-05" <= _day(inv) <= "2026-03-11"),
        ("from=2026-03-31", lambda inv, books: _day(inv) >= "2026-03-31"),
        ("to=2026-03-01", lambda inv, books: _day(inv) <= "2026-03-01"),
        ("client={ben}", lambda inv, books: inv.client_id == books["clients"][1].id),
        ("client={ben}&state=open",
         lambda inv, books: inv.client_id == books["clients"][1].id and inv.status == "open"),
    ],
)  # fmt: skip
def test_invoice_filters_totals_and_csv_agree(client, auth, world, books, query, pick):
    auth.login(world.biller)
    query = query.format(ben=books["clients"][1].id)
    expected = [inv for inv in books["invoices"] if pick(inv, books)]
    html = client.get(f"/invoices?{query}").get_data(as_text=True)
    rows = _invoice_rows(html)
    assert sorted(rows) == sorted(inv.number for inv in expected)
    summaries = [invoices.summarize(inv) for inv in expected]
    for s in summaries:  # each row says what summarize (the client's page) says
        assert rows[s.invoice.number] == [
            _money(s.invoice.total_cents), _money(s.paid_cents),
            _money(s.refunded_cents), _money(s.due_cents),
        ]  # fmt: skip
    if expected:
        for name, cents in (
            ("total", sum(s.invoice.total_cents for s in summaries)),
            ("paid", sum(s.paid_cents for s in summaries)),
            ("refunded", sum(s.refunded_cents for s in summaries)),
            ("due", sum(s.due_cents for s in summaries)),
        ):
            assert f'data-total="{name}">{_money(cents)}<' in html
    assert f'data-total="count">{len(expected)}<' in html
    exported = list(
        csv.DictReader(io.StringIO(client.get(f"/invoices.csv?{query}").get_data(as_text=True)))
    )
    assert sorted(r["Invoice"] for r in exported) == sorted(rows)
    for record in exported:
        assert [_money(_cents(record[c])) for c in ("Total", "Paid", "Refunded", "Due")] == rows[
            record["Invoice"]
        ]


def _day(invoice) -> str:
    from webapp.domain.windows import local_date

    return local_date(invoice.created_at, TZ).isoformat()


def _cents(text: str) -> int:
    dollars, cents = text.split(".")
    return int(dollars) * 100 + (int(cents) if not dollars.startswith("-") else -int(cents))


def test_the_invoices_list_says_what_each_clients_billing_page_says(client, auth, world, books):
    auth.login(world.biller)
    listed = _invoice_rows(client.get("/invoices").get_data(as_text=True))
    for person in books["clients"]:
        page = client.get(f"/clients/{person.id}/billing").get_data(as_text=True)
        own = {number: cells for number, cells in _client_rows(page).items()}
        for number, (total, paid, refunded, _fees, due) in own.items():
            assert listed[number] == [total, paid, refunded, due]
        by_client = _invoice_rows(
            client.get(f"/invoices?client={person.id}").get_data(as_text=True)
        )
        assert sorted(by_client) == sorted(own)


def _client_rows(html: str) -> dict[str, list[str]]:
    rows = {}
    for number, body in re.findall(r'<tr data-invoice="([^"]+)">(.*?)</tr>', html, re.S):
        rows[number] = re.findall(r'<td class="num[^"]*">([^<]*)</td>', body)
    return rows


@pytest.mark.parametrize(
    "query",
    [
        "",
        "state=held",
        "state=scheduled",
        "state=failed",
        "from=2026-03-10&to=2026-03-20",
        "client={cy}",
    ],
)
def test_hold_filters_totals_csv_and_the_visit_pages_agree(client, auth, world, books, query):
    auth.login(world.biller)
    query = query.format(cy=books["clients"][2].id)
    html = client.get(f"/holds?{query}").get_data(as_text=True)
    rows = re.findall(
        r'<tr data-hold="(\d+)" data-state="(\w+)">.*?<a href="/encounters/(\d+)">'
        r'.*?data-amount="(\d+)">([^<]*)<',
        html, re.S,
    )  # fmt: skip
    holds = db.session.scalars(db.select(PreAuthorization)).all()
    wanted = {
        h.id for h in holds
        if (f"state={h.state}" in query or "state=" not in query)
        and ("client=" not in query or h.encounter.client_id == books["clients"][2].id)
        and ("from=" not in query
             or date(2026, 3, 10) <= h.encounter.service_date <= date(2026, 3, 20))
    }  # fmt: skip
    assert {int(r[0]) for r in rows} == wanted
    assert f'data-total="count">{len(wanted)}<' in html
    total = sum(int(r[3]) for r in rows)
    if rows:
        assert f'data-total="amount">{_money(total)}<' in html
    for hold_id, state, encounter_id, _cents_text, shown in rows:
        if state in ("scheduled", "held"):  # the visit's page states the same amount
            visit = client.get(f"/encounters/{encounter_id}").get_data(as_text=True)
            message = re.search(r'id="preauth-message">([^<]*)<', visit)[1]
            assert shown in message, (hold_id, message)
    exported = list(
        csv.DictReader(io.StringIO(client.get(f"/holds.csv?{query}").get_data(as_text=True)))
    )
    assert sorted(_cents(r["Amount"]) for r in exported) == sorted(int(r[3]) for r in rows)


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("from=2026-13-01", "from", "Enter the date as YYYY-MM-DD."),
        ("from=9999-01-01", "from", None),
        ("from=2026-03-10&to=2026-03-01", "to", "The end date is before the start date."),
        ("state=bogus", "state", "Choose a state from the list."),
        ("client=99999", "client", "Choose a client from the list."),
        ("client=abc", "client", "Choose a client from the list."),
        ("client=99999999999999999999", "client", "Choose a client from the list."),
    ],
)
@pytest.mark.parametrize("path", ["/invoices", "/holds"])
def test_bad_filters_are_named_next_to_their_field(
    client, auth, world, books, path, query, field, message
):
    auth.login(world.biller)
    response = client.get(f"{path}?{query}")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f'id="filter-{field}-error"' in html
    if message:
        assert message in html
    assert client.get(f"{path}.csv?{query}").status_code == 200


def test_another_practice_sees_none_of_it(client, auth, world, books):
    auth.login(world.outsider)
    assert 'data-total="count">0<' in client.get("/invoices").get_data(as_text=True)
    assert 'data-total="count">0<' in client.get("/holds").get_data(as_text=True)
    assert client.get("/invoices.csv").get_data(as_text=True).count("\n") == 1


@pytest.mark.parametrize("path", ["/invoices", "/holds", "/invoices.csv", "/holds.csv"])
def test_a_list_reads_a_fixed_number_of_queries(client, auth, world, path):
    from sqlalchemy import event

    therapy = factories.service_type(world.org, cpt_code="90837", price_cents=15000)
    auth.login(world.biller)

    def count(visits: int) -> int:
        for n in range(visits):
            person = factories.client(world.org, first_name=f"Q{visits}-{n}")
            policy = factories.insurance(world.org, person, factories.payer(world.org))
            day = date(2026, 3, 2) + timedelta(days=n)
            visit = factories.encounter(
                world.org, person, world.clinician, policy, [therapy], starts_at=_local(day, 10),
                service_date=day,
            )  # fmt: skip
            invoice = Invoice(
                organization_id=world.org.id, client_id=person.id, encounter_id=visit.id,
                total_cents=2500,
            )  # fmt: skip
            db.session.add(invoice)
            db.session.flush()
            db.session.add(
                Payment(
                    organization_id=world.org.id, client_id=person.id, encounter_id=visit.id,
                    invoice_id=invoice.id, kind="balance_payment", amount_cents=1000,
                    status="succeeded", idempotency_key=f"count-{invoice.id}",
                )
            )  # fmt: skip
            db.session.add(
                PreAuthorization(
                    organization_id=world.org.id, encounter_id=visit.id, hours_before=24,
                    state="scheduled" if n % 2 else "held", run_at=visit.starts_at,
                    amount_cents=None if n % 2 else 2500,
                )
            )  # fmt: skip
        db.session.commit()
        statements = []

        def record(*_args):
            statements.append(1)

        event.listen(db.engine, "before_cursor_execute", record)
        try:
            response = client.get(path)
            response.get_data()
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
        assert response.status_code == 200
        return len(statements)

    assert count(2) == count(10)
