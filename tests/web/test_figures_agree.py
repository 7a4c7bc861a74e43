"""For random practices, every figure the client page, the ledger, the report and its CSV
show for the same authorization agrees — with each other and with the database.

Each seed builds a practice (clients, Sessions and Units authorizations with every
frequency, visits in every status, either counting setting), then parses the
rendered pages and the CSV and compares allowed, kept, upcoming, remaining or
"over by", the three percentages, the status and the capped windows over.
"""

import csv
import io
import random
import re
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from html.parser import HTMLParser

import pytest
import time_machine
from sqlalchemy import select

from tests import factories
from webapp.domain import authorization_rules as rules
from webapp.domain.figures import over_by, percent_text
from webapp.domain.windows import to_utc_naive
from webapp.extensions import db
from webapp.models import Allocation, Encounter, EncounterService
from webapp.services.allocation import reallocate_client
from webapp.services.coverage import load_coverage

TODAY = date(2026, 6, 15)
YEAR = (date(2026, 1, 1), date(2026, 12, 31))


@pytest.fixture(autouse=True)
def _mid_2026():
    with time_machine.travel(datetime(2026, 6, 15, 16, tzinfo=UTC), tick=True):
        yield


class Figures(HTMLParser):
    """The text (and data-value) of every element with a data-figure attribute."""

    def __init__(self, html: str):
        super().__init__()
        self.found: dict[str, str] = {}
        self.values: dict[str, str] = {}
        self._open: list[tuple[str, int, list[str]]] = []
        self._depth = 0
        self.feed(html)

    VOID = {"br", "hr", "img", "input", "meta", "link", "col", "source", "wbr"}

    def handle_starttag(self, tag, attrs):
        if tag in self.VOID:
            return
        self._depth += 1
        attrs = dict(attrs)
        if "data-figure" in attrs:
            name = attrs["data-figure"]
            if "data-value" in attrs:
                self.values[name] = plain(attrs["data-value"])
            self._open.append((name, self._depth, []))

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        if self._open and self._open[-1][1] == self._depth:
            name, _depth, parts = self._open.pop()
            self.found.setdefault(name, plain(" ".join("".join(parts).split())))
        self._depth -= 1

    def handle_data(self, data):
        for _name, _depth, parts in self._open:
            parts.append(data)


def plain(text: str) -> str:
    """A figure as the CSV writes it: no thousands separators."""
    return text.replace(",", "")


def _row(html: str, auth_id: int) -> str:
    match = re.search(rf'<tr data-auth-id="{auth_id}"[^>]*>(.*?)</tr>', html, re.S)
    assert match, f"no row for authorization {auth_id}"
    return match[1]


def _build(seed: int, world):
    rng = random.Random(seed)
    org = world.org
    org.count_upcoming_for_exhaustion = rng.random() < 0.5
    org.week_start = rng.choice((0, 6))
    therapy = factories.service_type(org, cpt_code="90837")
    aba = factories.service_type(org, cpt_code="97153", unit_minutes=15)
    supervision = factories.service_type(org, cpt_code="97155", unit_minutes=15)
    services = [therapy, aba, supervision]
    authorizations = []
    for n in range(rng.randint(1, 3)):
        client = factories.client(org, first_name=f"C{seed}", last_name=f"N{n}")
        payer = factories.payer(
            org, rounding_profile=rng.choice(("cms-8-minute", "midpoint-min-1"))
        )
        policy = factories.insurance(org, client, payer, active=rng.random() < 0.9)
        first = date(2026, 1, 1) + timedelta(days=rng.randint(0, 200))
        own = []
        for k in range(rng.randint(1, 4)):
            start = first + timedelta(days=rng.randint(0, 40))
            end = start + timedelta(days=rng.randint(0, 120))
            kind = rng.choice((rules.SESSIONS, rules.UNITS))
            frequency = (
                rng.choice(("day", "week", "month", "period")) if kind == rules.UNITS else None
            )
            covered = rng.sample(services, rng.randint(1, 3))
            own.append(
                factories.authorization(
                    org, policy, covered, number=f"A{seed}-{n}-{k}", kind=kind, start_date=start,
                    end_date=end, allowed=rng.randint(1, 6), frequency=frequency,
                )
            )  # fmt: skip
        authorizations += own
        span = (max(a.end_date for a in own) - first).days
        for _ in range(rng.randint(5, 30)):
            day = first + timedelta(days=rng.randint(0, span) // rng.choice((1, 7)))
            status = (
                rng.choice((rules.KEPT, rules.KEPT, rules.CANCELLED, rules.NO_SHOW))
                if day < TODAY
                else rng.choice((rules.UPCOMING, rules.UPCOMING, rules.CANCELLED))
            )
            start = to_utc_naive(datetime.combine(day, time(rng.randint(8, 17))), org.timezone)
            lines = [
                EncounterService(service_type_id=s.id, minutes=rng.choice((7, 15, 23, 33, 60)))
                for s in rng.sample(services, rng.randint(1, 2))
            ]
            db.session.add(
                Encounter(
                    organization_id=org.id,
                    client_id=client.id,
                    clinician_id=world.clinician.id,
                    starts_at=start,
                    service_date=day,
                    duration_minutes=60,
                    status=status,
                    billing_type="insurance",
                    client_insurance_id=policy.id,
                    lines=lines,
                )  # fmt: skip
            )
        db.session.flush()
        reallocate_client(org, client.id)
    db.session.commit()
    return authorizations


def _truth(org, auth):
    """What the database says, worked out here without the app's figure code."""
    kept = upcoming = 0
    rows = db.session.execute(
        select(Allocation.amount, Encounter.status)
        .join(Encounter, Encounter.id == Allocation.encounter_id)
        .where(Allocation.authorization_id == auth.id)
    )
    for amount, status in rows:
        kept += amount if status == rules.KEPT else 0
        upcoming += amount if status == rules.UPCOMING else 0
    summary = load_coverage(org, [auth.client_insurance.client_id], today=TODAY).by_id()[auth.id]
    total = summary.ledger.total
    counted = kept + upcoming if org.count_upcoming_for_exhaustion else kept
    windows_over = 0
    if summary.terms.cap_frequency:
        booked = defaultdict(int)
        for amount, day, status in db.session.execute(
            select(Allocation.amount, Encounter.service_date, Encounter.status)
            .join(Encounter, Encounter.id == Allocation.encounter_id)
            .where(Allocation.authorization_id == auth.id)
        ):
            if status in (rules.KEPT, rules.UPCOMING):
                booked[summary.terms.window_for(day)] += amount
        windows_over = sum(1 for amount in booked.values() if amount > auth.allowed)
    return {
        "total": str(total),
        "kept": str(kept),
        "upcoming": str(upcoming),
        "over_by": str(over_by(total, kept, upcoming)),
        "remaining": str(total - counted),
        "available": str(total - kept - upcoming),
        "kept_percent": percent_text(kept, total),
        "upcoming_percent": percent_text(upcoming, total),
        "booked_percent": percent_text(kept + upcoming, total),
        "status": rules.STATUS_LABELS[summary.status],
        "windows_over": str(windows_over),
    }


def _client_page(client, auth):
    html = client.get(f"/clients/{auth.client_insurance.client_id}/insurance").get_data(
        as_text=True
    )
    return Figures(_row(html, auth.id))


def _csv_rows(client, query: str) -> dict[str, dict[str, str]]:
    text = client.get(f"/reports/authorizations.csv?{query}").get_data(as_text=True)
    records = list(csv.DictReader(io.StringIO(text)))
    return {record["Authorization #"]: record for record in records}


@pytest.mark.parametrize("seed", range(6))
def test_every_page_and_the_csv_show_the_same_figures(client, auth, world, seed):
    authorizations = _build(seed, world)
    auth.login(world.biller)
    query = f"start={YEAR[0]}&end={YEAR[1]}"
    report = client.get(f"/reports/authorizations?{query}").get_data(as_text=True)
    exported = _csv_rows(client, query)
    seen = set()
    for row in authorizations:
        truth = _truth(world.org, row)
        seen |= {
            "over" if truth["over_by"] != "0" else "fits",
            f"cap-{truth['windows_over'] != '0'}",
        }
        over = truth["over_by"] != "0"
        page = _client_page(client, row)
        ledger = Figures(client.get(f"/authorizations/{row.id}").get_data(as_text=True))
        listed = Figures(_row(report, row.id))
        record = exported[row.number]
        adjective = {"day": "daily", "week": "weekly", "month": "monthly"}.get(row.frequency)

        # allowed (the whole authorization's total)
        assert page.found.get("total", page.found["allowed"].split(" ")[0]) == truth["total"]
        assert (
            ledger.found["total"] == listed.found["allowed"] == record["Allowed"] == truth["total"]
        )
        # kept and upcoming
        for name in ("kept", "upcoming"):
            title = name.title()
            assert (
                page.found[name]
                == ledger.found[name]
                == listed.found[name]
                == record[title]
                == truth[name]
            )
        # remaining, or over by
        if over:
            assert page.values["over-by"] == ledger.values["over-by"] == truth["over_by"]
            assert listed.found["over-by"] == f"over by {truth['over_by']}"
            assert (
                record["Over by"] == truth["over_by"] and record["Available"] == truth["available"]
            )
        else:
            assert page.found["remaining"] == ledger.found["remaining"] == truth["remaining"]
            assert listed.found["available"] == record["Available"] == truth["available"]
            assert record["Over by"] == ""
        # percentages, one rule
        assert ledger.found["kept-percent"] == listed.found["kept-percent"] == truth["kept_percent"]
        assert (
            ledger.found["upcoming-percent"]
            == listed.found["upcoming-percent"]
            == truth["upcoming_percent"]
        )
        assert (
            page.found["booked-percent"]
            == ledger.found["booked-percent"]
            == listed.found["booked-percent"]
            == truth["booked_percent"]
        )
        for name, column in (
            ("kept_percent", "% Kept"),
            ("upcoming_percent", "% Upcoming"),
            ("booked_percent", "% Booked"),
        ):
            assert record[column] == ("" if truth[name] == "—" else truth[name].rstrip("%"))
        # status
        assert page.found["status"] == ledger.found["status"] == truth["status"]
        assert listed.found["status"] == record["Status"] == truth["status"]
        # capped windows booked past their cap
        windows = truth["windows_over"]
        assert (
            page.values.get("windows-over", "0")
            == ledger.values.get("windows-over", "0")
            == windows
        )
        assert listed.values.get("windows-over", "0") == windows
        if windows == "0":
            assert record["Over cap"] == ""
        else:
            unit = row.frequency if windows == "1" else f"{row.frequency}s"
            assert record["Over cap"] == f"Over the {adjective} cap in {windows} {unit}"
    if seed in (3, 5):  # these practices (fixed seeds) hold both kinds of over-use
        assert {"over", "fits", "cap-True", "cap-False"} <= seen


@pytest.mark.parametrize(("seed", "by"), [(11, "week"), (12, "month"), (13, "day")])
def test_every_breakdown_row_of_the_report_is_the_row_of_the_csv(client, auth, world, seed, by):
    _build(seed, world)
    auth.login(world.biller)
    start, end = date(2026, 3, 4), date(2026, 4, 27)
    query = f"start={start}&end={end}&by={by}"
    csv_text = client.get(f"/reports/authorizations.csv?{query}").get_data(as_text=True)
    records = list(csv.DictReader(io.StringIO(csv_text)))
    shown = []
    page = 1
    while True:
        html = client.get(f"/reports/authorizations?{query}&page={page}").get_data(as_text=True)
        rows = re.findall(r'<tr data-auth-id="\d+"[^>]*>(.*?)</tr>', html, re.S)
        shown += [
            (Figures(r), re.search(r'data-start="([^"]+)" data-end="([^"]+)"', r).groups())
            for r in rows
        ]
        if 'rel="next"' not in html:
            break
        page += 1
    assert len(shown) == len(records)
    for (figures, (first, last)), record in zip(shown, records, strict=True):
        assert (first, last) == (record["Period start"], record["Period end"])
        assert start.isoformat() <= first <= last <= end.isoformat()  # clipped to the range
        allowed = figures.found["allowed"]
        assert allowed.lstrip("≈").replace(",", "") == record["Allowed"]
        assert allowed.startswith("≈") == (record["Pro-rated"] == "yes")
        assert (
            figures.found["kept"] == record["Kept"]
            and figures.found["upcoming"] == record["Upcoming"]
        )
        for name, column in (
            ("kept-percent", "% Kept"),
            ("upcoming-percent", "% Upcoming"),
            ("booked-percent", "% Booked"),
        ):
            assert figures.found[name] == ("—" if record[column] == "" else record[column] + "%")
        if "over-by" in figures.found:
            assert figures.found["over-by"] == f"over by {record['Over by']}"
        else:
            assert figures.found["available"].lstrip("≈").replace(",", "") == record["Available"]
        assert figures.found["status"] == record["Status"]
