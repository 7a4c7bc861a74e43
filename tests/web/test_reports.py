"""The Authorizations Report through HTTP: the page, its HTMX table, URLs, bad input and CSV."""

import csv
import io
import re
from datetime import date, datetime

import pytest
import time_machine

from tests import factories
from webapp.extensions import db

REPORT = "/reports/authorizations"
CSV = "/reports/authorizations.csv"
HTMX = {"HX-Request": "true"}
# 10:00 in New York on Tuesday, March 17, 2026.
NOW = datetime(2026, 3, 17, 14, 0)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def practice(world):
    org = world.org
    payer = factories.payer(org, name="Blue Harbor")
    factories.payer(org, name="Aetna")
    therapy = factories.service_type(org, cpt_code="90837")
    ada = factories.client(
        org, first_name="Ada", last_name="Lovelace", primary_clinician_id=world.clinician.id
    )
    grace = factories.client(org, first_name="Grace", last_name="Hopper")
    ada_policy = factories.insurance(org, ada, payer)
    grace_policy = factories.insurance(org, grace, payer)
    ada_auth = factories.authorization(
        org, ada_policy, [therapy], number="ADA-1", start_date=date(2026, 1, 1),
        end_date=date(2026, 6, 30), allowed=24,
    )  # fmt: skip
    factories.authorization(
        org, grace_policy, [therapy], number="GRACE-1", start_date=date(2026, 3, 1),
        end_date=date(2026, 4, 30), allowed=2,
    )  # fmt: skip
    for day, status in [(3, "kept"), (10, "kept"), (24, "upcoming")]:
        factories.encounter(
            org, ada, world.clinician, ada_policy, [therapy],
            starts_at=datetime(2026, 3, day, 15), status=status,
        )  # fmt: skip
    db.session.commit()
    return {"payer": payer, "ada": ada, "ada_auth": ada_auth}


def rows_of(html: str) -> list[str]:
    """The authorization # of each table row, in order."""
    return re.findall(r'/authorizations/\d+">([^<]+)</a>', html)


def test_it_shows_this_month_by_default_period_end_newest_first(client, auth, world, practice):
    auth.login(world.biller)
    response = client.get(REPORT)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'value="2026-03-01"' in html and 'value="2026-03-31"' in html
    assert rows_of(html) == ["ADA-1", "GRACE-1"]
    assert "Authorizations Report" in html and '<nav class="pagination"' not in html
    # The totals row sums the sessions: 24 + 2 allowed, 2 kept, 1 upcoming.
    totals = re.search(r'<tr class="totals" data-kind="sessions">(.*?)</tr>', html, re.S)[1]
    cells = re.findall(r'<td class="num">([^<]*)</td>', totals)
    assert cells == ["26", "2", "1", "23", "7%", "3%"]
    assert "11% booked" in totals  # 3 of 26: its own sum, not 7% + 3%


def test_the_nav_links_the_report_for_billers_and_admins_only(client, auth, world):
    auth.login(world.admin)
    assert REPORT in client.get("/clients").get_data(as_text=True)
    auth.logout()
    auth.login(world.clinician)
    assert REPORT not in client.get("/clients").get_data(as_text=True)


def test_a_filter_change_renders_only_the_table_and_pushes_a_short_url(
    client, auth, world, practice
):
    auth.login(world.admin)
    query = (
        "start=2026-03-01&end=2026-03-31&by=period&status=&payer=&clinician=&type=&client=grace"
        "&sort=end&dir=desc"
    )
    response = client.get(f"{REPORT}?{query}", headers=HTMX)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in html and 'id="report-filters"' not in html
    assert rows_of(html) == ["GRACE-1"]
    assert (
        response.headers["HX-Push-Url"] == f"{REPORT}?start=2026-03-01&end=2026-03-31&client=grace"
    )
    assert "HX-Request" in response.headers["Vary"]
    # Field messages are cleared out of band.
    assert 'id="report-end-error" hx-swap-oob="true"></small>' in html


def test_a_pushed_url_reloads_as_the_same_report(client, auth, world, practice):
    auth.login(world.biller)
    url = f"{REPORT}?start=2026-03-01&end=2026-03-31&by=week&client=lovelace&sort=client"
    html = client.get(url).get_data(as_text=True)
    assert re.search(r'<input checked [^>]*value="week"', html)
    assert 'value="lovelace"' in html
    assert rows_of(html) == ["ADA-1"] * 5  # five weeks touch March (Sunday starts)
    assert '<input type="hidden" name="sort" value="client" form="report-filters">' in html
    # Export and sort links carry the same filters.
    assert (
        f"{CSV}?start=2026-03-01&amp;end=2026-03-31&amp;by=week&amp;client=lovelace&amp;sort=client"
        in html
    )


def test_sort_headers_flip_direction_and_reset_the_page(client, auth, world, practice):
    auth.login(world.biller)
    html = client.get(f"{REPORT}?start=2026-03-01&end=2026-03-31&sort=client&page=2").get_data(
        as_text=True
    )
    links = dict(re.findall(r'href="([^"]+)" data-sort="(\w+)"', html)[i][::-1] for i in range(13))
    assert links["client"].endswith("sort=client&amp;dir=desc")
    assert links["kept"].endswith("sort=kept")  # numbers start largest first
    assert links["end"] == f"{REPORT}?start=2026-03-01&amp;end=2026-03-31"  # the default
    assert 'aria-sort="ascending"' in html


def test_it_paginates_window_rows(client, auth, world, practice):
    auth.login(world.biller)
    html = client.get(f"{REPORT}?start=2026-03-01&end=2026-03-31&by=day").get_data(as_text=True)
    assert len(rows_of(html)) == 50
    assert "Rows 1–50 of 62 · page 1 of 2" in html  # 31 days × 2 authorizations
    assert (
        f'href="{REPORT}?start=2026-03-01&amp;end=2026-03-31&amp;by=day&amp;page=2" rel="next"'
        in html
    )
    second = client.get(f"{REPORT}?start=2026-03-01&end=2026-03-31&by=day&page=2", headers=HTMX)
    assert len(rows_of(second.get_data(as_text=True))) == 12


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("start=2026-03-31&end=2026-03-01", "end", "The end date is before the start date."),
        ("start=2023-01-01&end=2026-01-01", "end", "Choose a range of at most 3 years."),
        ("start=&end=2026-03-01", "start", "Enter a start date."),
        ("start=2026-13-01&end=2026-03-01", "start", "Enter the start date as YYYY-MM-DD."),
        ("status=bogus", "status", "Unknown status"),
        ("type=minutes", "type", "Unknown type"),
        ("by=year", "by", "Unknown breakdown"),
        ("payer=abc", "payer", "Unknown payer"),
        ("clinician=999999", "clinician", "Unknown clinician"),
    ],
)
def test_bad_input_is_answered_on_the_form_never_with_an_error_page(
    client, auth, world, practice, query, field, message
):
    auth.login(world.biller)
    page = client.get(f"{REPORT}?{query}")
    html = page.get_data(as_text=True)
    assert page.status_code == 422
    assert re.search(rf'id="report-{field}-error">[^<]*{re.escape(message)}', html)
    assert 'id="report-filters"' in html and rows_of(html) == []
    partial = client.get(f"{REPORT}?{query}", headers=HTMX)
    fragment = partial.get_data(as_text=True)
    assert partial.status_code == 422 and "<html" not in fragment
    assert re.search(
        rf'id="report-{field}-error" hx-swap-oob="true">[^<]*{re.escape(message)}', fragment
    )
    assert "The report cannot be shown with these filters." in fragment
    csv_response = client.get(f"{CSV}?{query}")
    assert csv_response.status_code == 302
    assert csv_response.headers["Location"].startswith(REPORT + "?")


def test_a_payer_of_another_organization_is_an_unknown_payer(client, auth, world, practice):
    theirs = factories.payer(world.outsider_org, name="Their Payer")
    db.session.commit()
    auth.login(world.biller)
    response = client.get(f"{REPORT}?payer={theirs.id}")
    assert response.status_code == 422
    assert "Unknown payer" in response.get_data(as_text=True)
    ours = client.get(f"{REPORT}?payer={practice['payer'].id}")
    assert ours.status_code == 200 and rows_of(ours.get_data(as_text=True)) == ["ADA-1", "GRACE-1"]


def test_unknown_sort_and_page_fall_back_quietly(client, auth, world, practice):
    auth.login(world.biller)
    for query in ("sort=bogus&dir=sideways&page=-3", "page=0", "page=99999999999999999999"):
        response = client.get(f"{REPORT}?{query}")
        assert response.status_code == 200
        assert rows_of(response.get_data(as_text=True)) == ["ADA-1", "GRACE-1"]


def test_the_csv_streams_exactly_the_filtered_rows_with_the_tables_columns(
    client, auth, world, practice
):
    auth.login(world.biller)
    query = "start=2026-03-01&end=2026-03-31&by=week&client=lovelace"
    response = client.get(f"{CSV}?{query}")
    assert response.status_code == 200
    assert response.is_streamed
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="authorizations-report_2026-03-01_to_2026-03-31_by-week.csv"'
    )
    records = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert records[0][:6] == [
        "Client",
        "Payer",
        "Authorization #",
        "Type",
        "Period start",
        "Period end",
    ]
    # The last week is clipped to the range: no April days.
    assert max(r[5] for r in records[1:]) == "2026-03-31"
    assert [r[4] for r in records[1:]] == [
        "2026-03-29", "2026-03-22", "2026-03-15", "2026-03-08", "2026-03-01",
    ]  # fmt: skip
    # The page shows the same rows in the same order.
    html = client.get(f"{REPORT}?{query}").get_data(as_text=True)
    assert len(records) - 1 == len(rows_of(html))
    assert [(r[8], r[9]) for r in records[1:]] == [
        ("0", "0"),
        ("0", "1"),
        ("0", "0"),
        ("1", "0"),
        ("1", "0"),
    ]


def test_the_csv_ignores_the_page(client, auth, world, practice):
    auth.login(world.biller)
    response = client.get(f"{CSV}?start=2026-03-01&end=2026-03-31&by=day&page=2")
    assert len(list(csv.reader(io.StringIO(response.get_data(as_text=True))))) == 1 + 62
