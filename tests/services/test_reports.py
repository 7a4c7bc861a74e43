"""The Authorizations Report's queries on SQLite and PostgreSQL, checked against the pure rules."""

import csv
import io
import random
from dataclasses import replace
from datetime import date, datetime, timedelta
from fractions import Fraction

import pytest
from sqlalchemy import insert

from tests import factories
from webapp.domain import report_rules
from webapp.extensions import db
from webapp.models import Allocation, Authorization, Encounter
from webapp.services import report_csv, reports
from webapp.services.coverage import load_coverage, terms_of

D = date
TODAY = D(2026, 3, 17)  # a Tuesday
MARCH = (D(2026, 3, 1), D(2026, 3, 31))


def visit(practice, client, policy, day: date, status: str, services=None):
    return factories.encounter(
        practice.org,
        client,
        practice.clinician,
        policy,
        services or [practice.therapy],
        starts_at=datetime(day.year, day.month, day.day, 15),
        status=status,
    )


class Practice:
    """Harbor Therapy with three clients, two payers and five authorizations around March 2026."""

    def __init__(self, world):
        org = self.org = world.org
        self.clinician = world.clinician
        other_clinician = factories.user(org, "clinician", name="Other Clinician")
        self.blue = factories.payer(org, name="Blue Harbor")
        self.aetna = factories.payer(org, name="Aetna")
        self.therapy = factories.service_type(org, cpt_code="90837")
        self.aba = factories.service_type(org, cpt_code="97153", unit_minutes=15)
        self.ada = factories.client(
            org, first_name="Ada", last_name="Lovelace", primary_clinician_id=world.clinician.id
        )
        self.grace = factories.client(
            org, first_name="Grace", last_name="Hopper", primary_clinician_id=other_clinician.id
        )
        self.alan = factories.client(org, first_name="Alan", last_name="Turing")
        ada_policy = factories.insurance(org, self.ada, self.blue)
        grace_policy = factories.insurance(org, self.grace, self.aetna)
        alan_policy = factories.insurance(org, self.alan, self.blue, active=False)
        self.sessions = factories.authorization(
            org, ada_policy, [self.therapy], number="ADA-S", start_date=D(2026, 1, 1),
            end_date=D(2026, 6, 30), allowed=24,
        )  # fmt: skip
        self.weekly = factories.authorization(
            org, ada_policy, [self.aba], number="ADA-W", kind="units", frequency="week",
            start_date=D(2026, 3, 4), end_date=D(2026, 4, 30), allowed=8,
        )  # fmt: skip
        self.exhausted = factories.authorization(
            org, grace_policy, [self.therapy], number="GRACE-X", start_date=D(2026, 2, 1),
            end_date=D(2026, 5, 31), allowed=2,
        )  # fmt: skip
        self.expired = factories.authorization(
            org, grace_policy, [self.therapy], number="GRACE-OLD", start_date=D(2025, 9, 1),
            end_date=D(2026, 1, 31), allowed=10,
        )  # fmt: skip
        self.inactive = factories.authorization(
            org, alan_policy, [self.therapy], number="ALAN-I", start_date=D(2026, 3, 1),
            end_date=D(2026, 8, 31), allowed=12,
        )  # fmt: skip
        self.outside = factories.authorization(
            org, ada_policy, [self.therapy], number="ADA-LATER", start_date=D(2026, 7, 1),
            end_date=D(2026, 12, 31), allowed=5,
        )  # fmt: skip
        for day, status in [
            (D(2026, 2, 24), "kept"),
            (D(2026, 3, 3), "kept"),
            (D(2026, 3, 10), "kept"),
            (D(2026, 3, 12), "no_show"),
            (D(2026, 3, 24), "upcoming"),
            (D(2026, 3, 31), "upcoming"),
        ]:
            visit(self, self.ada, ada_policy, day, status)
        for day, status in [
            (D(2026, 3, 5), "kept"),
            (D(2026, 3, 9), "kept"),
            (D(2026, 3, 19), "upcoming"),
        ]:
            visit(self, self.ada, ada_policy, day, status, [self.aba])  # 60 min = 4 units
        for day in (D(2026, 2, 10), D(2026, 3, 2)):
            visit(self, self.grace, grace_policy, day, "kept")
        visit(self, self.grace, grace_policy, D(2026, 1, 15), "kept")
        visit(self, self.alan, alan_policy, D(2026, 3, 16), "kept")
        db.session.commit()


@pytest.fixture
def practice(world):
    return Practice(world)


def query(**values) -> reports.ReportQuery:
    values.setdefault("start", MARCH[0])
    values.setdefault("end", MARCH[1])
    return reports.ReportQuery(**values)


def page_of(practice, **values) -> reports.ReportPage:
    return reports.report_page(practice.org, query(**values), today=TODAY)


def numbers(page) -> list[str]:
    return [row.number for row in page.rows]


def test_it_lists_authorizations_touching_the_range_period_end_newest_first(practice):
    page = page_of(practice)
    assert numbers(page) == ["ALAN-I", "ADA-S", "GRACE-X", "ADA-W"]
    assert (page.row_count, page.authorization_count, page.page_count) == (4, 4, 1)
    january = page_of(practice, start=D(2026, 1, 1), end=D(2026, 1, 31))
    assert numbers(january) == ["ADA-S", "GRACE-OLD"]


@pytest.mark.parametrize("count_upcoming", [False, True])
def test_statuses_and_figures_agree_with_the_clients_authorization_section(
    practice, count_upcoming
):
    practice.org.count_upcoming_for_exhaustion = count_upcoming
    db.session.commit()
    rows = page_of(practice, start=D(2025, 1, 1), end=D(2027, 12, 31)).rows
    client_ids = [practice.ada.id, practice.grace.id, practice.alan.id]
    coverage = load_coverage(practice.org, client_ids, today=TODAY).by_id()
    assert len(rows) == len(coverage) == 6
    for row in rows:
        summary = coverage[row.authorization_id]
        assert row.status == summary.status, row.number
        assert (row.figures.allowed, row.figures.kept, row.figures.upcoming) == (
            summary.ledger.total,
            summary.ledger.kept,
            summary.ledger.upcoming,
        )
    by_number = {row.number: row for row in rows}
    assert by_number["GRACE-X"].status == "exhausted"
    assert by_number["GRACE-OLD"].status == "expired"
    assert by_number["ALAN-I"].status == "inactive"
    # Counting Upcoming changes nothing here but the weekly authorization's remaining.
    assert by_number["ADA-W"].figures == report_rules.Figures(72, 8, 4)


def test_the_total_allowed_in_sql_matches_the_rules_for_any_dates_and_week_start(world):
    """Many random authorizations: SQL's allowed × windows equals `AuthorizationTerms.total`."""
    rng = random.Random(4)
    client = factories.client(world.org)
    policy = factories.insurance(world.org, client, factories.payer(world.org))
    service = factories.service_type(world.org)
    made = []
    for number in range(120):
        start = D(2024, 1, 1) + timedelta(days=rng.randrange(900))
        frequency = rng.choice([None, "day", "week", "month", "period"])
        made.append(
            factories.authorization(
                world.org,
                policy,
                [service],
                number=f"R{number}",
                kind="units" if frequency else "sessions",
                frequency=frequency,
                start_date=start,
                end_date=start + timedelta(days=rng.randrange(0, 500)),
                allowed=rng.randrange(1, 50),
            )
        )
    for week_start in (6, 0, 3):
        world.org.week_start = week_start
        db.session.commit()
        rows = reports.report_page(
            world.org, query(start=D(2024, 1, 1), end=D(2026, 12, 31)), today=TODAY
        )
        assert rows.authorization_count == len(made)
        allowed = {row.authorization_id: row.figures.allowed for row in _all_rows(world.org, rows)}
        assert allowed == {a.id: terms_of(a, world.org).total for a in made}


def _all_rows(org, first_page) -> list:
    return list(reports.iter_rows(org, first_page.query, today=TODAY))


@pytest.mark.parametrize("week_start", [6, 0])
@pytest.mark.parametrize("by", ["day", "week", "month"])
def test_window_rows_count_the_encounters_of_their_window(practice, by, week_start):
    practice.org.week_start = week_start
    db.session.commit()
    rows = list(reports.iter_rows(practice.org, query(by=by), today=TODAY))
    encounters = db.session.execute(
        _usage_rows(),
    ).all()
    for row in rows:
        inside = [e for e in encounters if e.authorization_id == row.authorization_id
                  and row.window.contains(e.service_date)]  # fmt: skip
        assert row.figures.kept == sum(e.amount for e in inside if e.status == "kept")
        assert row.figures.upcoming == sum(e.amount for e in inside if e.status == "upcoming")
    # Every authorization's windows tile its span with no gap, newest first.
    for auth_id in {row.authorization_id for row in rows}:
        windows = [row.window for row in rows if row.authorization_id == auth_id]
        assert all(
            a.start == b.end + timedelta(days=1) for a, b in zip(windows, windows[1:], strict=False)
        )


def _usage_rows():
    from sqlalchemy import select

    return select(
        Allocation.authorization_id, Allocation.amount, Encounter.service_date, Encounter.status
    ).join(Encounter, Encounter.id == Allocation.encounter_id)


def test_weekly_rows_show_the_weekly_cap_and_pro_rate_sessions(practice):
    rows = list(reports.iter_rows(practice.org, query(by="week"), today=TODAY))
    weekly = [row for row in rows if row.number == "ADA-W"]
    # Mar 4 (Wed) – Mar 7 is a clipped first week (the authorization starts on Mar 4);
    # the last week is clipped to the range: Mar 29 – Mar 31, nothing from April.
    assert [(row.window.start, row.window.end) for row in weekly] == [
        (D(2026, 3, 29), D(2026, 3, 31)), (D(2026, 3, 22), D(2026, 3, 28)),
        (D(2026, 3, 15), D(2026, 3, 21)), (D(2026, 3, 8), D(2026, 3, 14)),
        (D(2026, 3, 4), D(2026, 3, 7)),
    ]  # fmt: skip
    assert [row.figures.allowed for row in weekly] == [Fraction(24, 7), 8, 8, 8, 8]
    assert [(row.figures.kept, row.figures.upcoming) for row in weekly] == [
        (0, 0), (0, 0), (0, 4), (4, 0), (4, 0),
    ]  # fmt: skip
    assert [row.first_of_authorization for row in weekly] == [True, False, False, False, False]
    assert [row.figures.whole_share for row in weekly] == [False, True, True, True, True]
    sessions = [row for row in rows if row.number == "ADA-S"]
    assert sessions[0].figures.allowed == report_rules.allowance_between(
        terms_of(practice.sessions, practice.org), D(2026, 3, 29), D(2026, 3, 31)
    )
    assert str(report_rules.as_decimal(sessions[0].figures.allowed)) == "0.4"  # 24 × 3 / 181
    assert not sessions[0].figures.whole_share


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"status": "active"}, ["ADA-S", "ADA-W"]),
        ({"status": "exhausted"}, ["GRACE-X"]),
        ({"status": "inactive"}, ["ALAN-I"]),
        ({"status": "expired"}, []),
        ({"kind": "units"}, ["ADA-W"]),
        ({"kind": "sessions"}, ["ALAN-I", "ADA-S", "GRACE-X"]),
        ({"client": "hopper"}, ["GRACE-X"]),
        ({"client": "lovelace, ada"}, ["ADA-S", "ADA-W"]),
        ({"client": "ada love"}, ["ADA-S", "ADA-W"]),
        ({"client": "%"}, []),
    ],
)
def test_it_filters(practice, filters, expected):
    assert numbers(page_of(practice, **filters)) == expected


def test_it_filters_by_payer_and_by_the_clients_primary_clinician(practice):
    assert numbers(page_of(practice, payer_id=practice.aetna.id)) == ["GRACE-X"]
    assert numbers(page_of(practice, payer_id=practice.blue.id)) == ["ALAN-I", "ADA-S", "ADA-W"]
    assert numbers(page_of(practice, clinician_id=practice.clinician.id)) == ["ADA-S", "ADA-W"]


def test_expired_shows_when_the_range_reaches_back(practice):
    page = page_of(practice, start=D(2026, 1, 1), status="expired")
    assert numbers(page) == ["GRACE-OLD"]


@pytest.mark.parametrize(
    ("sort", "descending", "expected"),
    [
        ("client", False, ["GRACE-X", "ADA-S", "ADA-W", "ALAN-I"]),
        ("end", False, ["ADA-W", "GRACE-X", "ADA-S", "ALAN-I"]),
        ("allowed", True, ["ADA-W", "ADA-S", "ALAN-I", "GRACE-X"]),
        ("kept_percent", True, ["GRACE-X", "ADA-S", "ADA-W", "ALAN-I"]),
        ("available", False, ["GRACE-X", "ALAN-I", "ADA-S", "ADA-W"]),
        ("status", False, ["ADA-S", "ADA-W", "GRACE-X", "ALAN-I"]),
        ("number", False, ["ADA-S", "ADA-W", "ALAN-I", "GRACE-X"]),
        ("payer", False, ["GRACE-X", "ADA-S", "ADA-W", "ALAN-I"]),
    ],
)
def test_it_sorts_in_the_database(practice, sort, descending, expected):
    assert numbers(page_of(practice, sort=sort, descending=descending)) == expected


def test_pages_of_window_rows_join_up_to_the_whole_report(practice):
    whole = list(reports.iter_rows(practice.org, query(by="day"), today=TODAY))
    first = page_of(practice, by="day")
    assert first.row_count == len(whole) > reports.PAGE_SIZE
    assert first.authorization_count == 4
    pages = [page_of(practice, by="day", page=n) for n in range(1, first.page_count + 1)]
    joined = [(row.authorization_id, row.window) for page in pages for row in page.rows]
    assert joined == [(row.authorization_id, row.window) for row in whole]
    assert [len(page.rows) for page in pages[:-1]] == [reports.PAGE_SIZE] * (len(pages) - 1)
    assert pages[1].first_row_number == reports.PAGE_SIZE + 1
    # Past the last page: the last page.
    beyond = page_of(practice, by="day", page=99)
    assert beyond.query.page == first.page_count and beyond.rows == pages[-1].rows


@pytest.mark.parametrize("by", ["period", "month", "week", "day"])
def test_totals_sum_every_row_of_every_page_by_type(practice, by):
    page = page_of(practice, by=by)
    rows = list(reports.iter_rows(practice.org, query(by=by), today=TODAY))
    for kind in ("sessions", "units"):
        expected = report_rules.NO_FIGURES
        for row in rows:
            if row.kind == kind:
                expected = expected + row.figures
        assert page.totals[kind] == expected
    assert list(page.totals) == ["sessions", "units"]


def test_the_forecast_uses_booked_appointments_and_the_recent_pace(practice):
    rows = {row.number: row for row in page_of(practice).rows}
    # ADA-S: 3 kept in the 28 days to Mar 17, 2 booked (the last on Mar 31), 24 allowed:
    # 19 left; 91 days from Mar 31 to Jun 30 at 3/28 a day use 9.75, so 9 go unused.
    sessions = rows["ADA-S"].forecast
    assert sessions.pace == Fraction(3, 28)
    assert (sessions.state, sessions.unused_at_end, sessions.expires_unused) == (
        report_rules.LASTS,
        9,
        True,
    )
    assert rows["GRACE-X"].forecast.state == report_rules.USED_UP
    assert rows["ALAN-I"].forecast.state == report_rules.NOT_APPLICABLE


def test_a_booked_schedule_that_reaches_the_total_runs_out_on_its_day(practice):
    for day in (D(2026, 3, 18), D(2026, 3, 19)):
        policy = practice.exhausted.client_insurance
        practice.exhausted.allowed = 4
        visit(practice, practice.grace, policy, day, "upcoming")
    db.session.commit()
    row = next(r for r in page_of(practice).rows if r.number == "GRACE-X")
    assert (row.status, row.forecast.state, row.forecast.run_out) == (
        "active",
        report_rules.RUNS_OUT,
        D(2026, 3, 19),
    )


def test_the_csv_has_the_tables_columns_and_exactly_the_filtered_rows(practice):
    wanted = query(by="week", kind="units")
    text = "".join(report_csv.csv_chunks(reports.iter_rows(practice.org, wanted, today=TODAY)))
    records = list(csv.reader(io.StringIO(text)))
    assert records[0] == list(report_csv.CSV_COLUMNS)
    assert records[1] == [
        "Lovelace, Ada", "Blue Harbor", "ADA-W", "Units", "2026-03-29", "2026-03-31",
        "3.4", "yes", "0", "0", "3.4", "", "0", "0", "0", "Active", "",
        "36 unused at end", "", "36",
    ]  # fmt: skip
    assert len(records) == 1 + 5
    assert report_csv.csv_filename(wanted) == (
        "authorizations-report_2026-03-01_to_2026-03-31_by-week.csv"
    )


def test_the_csv_defuses_spreadsheet_formulas(practice):
    practice.ada.last_name = "=HYPERLINK(1)"
    practice.sessions.number = "+1"
    db.session.commit()
    rows = reports.iter_rows(practice.org, query(client="hyperlink"), today=TODAY)
    records = list(csv.reader(io.StringIO("".join(report_csv.csv_chunks(rows)))))
    assert {tuple(r[:3]) for r in records[1:]} == {
        ("'=HYPERLINK(1), Ada", "Blue Harbor", "'+1"),
        ("'=HYPERLINK(1), Ada", "Blue Harbor", "ADA-W"),
    }


def test_it_never_shows_another_organizations_authorizations(practice, world):
    stranger = factories.client(world.outsider_org)
    policy = factories.insurance(world.outsider_org, stranger, factories.payer(world.outsider_org))
    factories.authorization(world.outsider_org, policy, [], number="THEIRS")
    db.session.commit()
    wide = dict(start=D(2020, 1, 1), end=D(2022, 12, 31))
    assert numbers(page_of(practice, **wide)) == []
    assert "THEIRS" not in numbers(page_of(practice, start=D(2026, 1, 1), end=D(2026, 12, 31)))


def test_a_big_export_is_read_in_batches(practice, monkeypatch):
    """More authorizations than a batch: every one is exported once, in order."""
    monkeypatch.setattr(reports, "BATCH_SIZE", 3)
    policy = practice.weekly.client_insurance
    db.session.execute(
        insert(Authorization),
        [
            dict(organization_id=practice.org.id, client_insurance_id=policy.id,
                 number=f"BULK-{n:02d}", kind="sessions", start_date=D(2026, 3, 1),
                 end_date=D(2026, 3, 1) + timedelta(days=n), allowed=5, converted=False)
            for n in range(10)
        ],
    )  # fmt: skip
    db.session.commit()
    rows = list(reports.iter_rows(practice.org, query(), today=TODAY))
    assert len(rows) == 14
    assert [row.window.end for row in rows] == sorted(
        (row.window.end for row in rows), reverse=True
    )
    assert replace(query(), page=2).page == 2
