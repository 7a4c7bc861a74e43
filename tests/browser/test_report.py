"""The Authorizations Report in a real browser: filter, break down by week, sort, export CSV.

The data sits around the real today (the live server reads the clock), so every date
below is relative to the organization's today.
"""

import csv
import re
from datetime import date, datetime, timedelta

from playwright.sync_api import expect

from tests import factories
from tests.browser.conftest import screenshot, sign_in
from webapp.domain.windows import local_date
from webapp.models.base import utcnow


def _today() -> date:
    return local_date(utcnow(), "America/New_York")


def _seed(live_server, world, today: date) -> None:
    """Three clients, two payers, four authorizations with kept and booked visits."""
    day = lambda offset: today + timedelta(days=offset)  # noqa: E731
    with live_server.seed():
        org = world.org
        blue = factories.payer(org, name="Blue Harbor")
        aetna = factories.payer(org, name="Aetna")
        therapy = factories.service_type(org, cpt_code="90837", name="Psychotherapy, 60 min")
        aba = factories.service_type(org, cpt_code="97153", name="ABA", unit_minutes=15)
        ada = factories.client(
            org, first_name="Ada", last_name="Lovelace", primary_clinician_id=world.clinician.id
        )
        grace = factories.client(org, first_name="Grace", last_name="Hopper")
        alan = factories.client(org, first_name="Alan", last_name="Turing")
        ada_policy = factories.insurance(org, ada, blue)
        grace_policy = factories.insurance(org, grace, aetna)
        alan_policy = factories.insurance(org, alan, blue, active=False)
        factories.authorization(
            org, ada_policy, [therapy], number="ADA-S", start_date=day(-90), end_date=day(90),
            allowed=24,
        )  # fmt: skip
        factories.authorization(
            org, ada_policy, [aba], number="ADA-W", kind="units", frequency="week",
            start_date=day(-25), end_date=day(35), allowed=8,
        )  # fmt: skip
        factories.authorization(
            org, grace_policy, [therapy], number="GRACE-X", start_date=day(-40), end_date=day(50),
            allowed=2,
        )  # fmt: skip
        factories.authorization(
            org, alan_policy, [therapy], number="ALAN-I", start_date=day(-10), end_date=day(120),
            allowed=12,
        )  # fmt: skip
        visits = [
            (ada, ada_policy, therapy, -21, "kept"),
            (ada, ada_policy, therapy, -7, "kept"),
            (ada, ada_policy, therapy, 7, "upcoming"),
            (ada, ada_policy, aba, -12, "kept"),
            (ada, ada_policy, aba, -5, "kept"),
            (ada, ada_policy, aba, 3, "upcoming"),
            (grace, grace_policy, therapy, -30, "kept"),
            (grace, grace_policy, therapy, -9, "kept"),
            (alan, alan_policy, therapy, -3, "kept"),
        ]
        for client, policy, service, offset, status in visits:
            when = day(offset)
            factories.encounter(
                org, client, world.clinician, policy, [service],
                starts_at=datetime(when.year, when.month, when.day, 15), status=status,
            )  # fmt: skip


def _table_rows(page) -> list[list[str]]:
    """Each body row: client, #, start, end, allowed, kept, upcoming, available, status."""
    rows = []
    for tr in page.locator("#report-table tbody tr").all():
        cells = [c.strip() for c in tr.locator("td").all_inner_texts()]
        period = tr.locator("td.date")
        dates = [period.get_attribute("data-start"), period.get_attribute("data-end")]
        rows.append([cells[0], cells[2], *dates, *cells[5:9], cells[12]])
    return rows


def _csv_rows(path) -> list[list[str]]:
    with open(path, newline="") as handle:
        records = list(csv.reader(handle))
    header = records[0]
    assert header[:4] == ["Client", "Payer", "Authorization #", "Type"]
    rows = []
    for values in records[1:]:
        r = dict(zip(header, values, strict=True))
        # A pro-rated share reads "≈0.9" on screen and 0.9 (Pro-rated: yes) in the file.
        approx = "≈" if r["Pro-rated"] == "yes" else ""
        available = f"over by {r['Over by']}" if r["Over by"] else approx + r["Available"]
        dates = [r["Period start"], r["Period end"]]
        figures = [approx + r["Allowed"], r["Kept"], r["Upcoming"], available]
        rows.append([r["Client"], r["Authorization #"], *dates, *figures, r["Status"]])
    return rows


def test_biller_filters_breaks_down_by_week_sorts_and_exports_the_same_rows(
    page, live_server, live_world, tmp_path
):
    today = _today()
    _seed(live_server, live_world, today)
    start, end = today - timedelta(days=30), today + timedelta(days=30)
    report_url = f"{live_server.url}/reports/authorizations"

    sign_in(page, live_server, live_world.biller)
    with page.expect_navigation():  # load: htmx has processed the page
        page.get_by_role("link", name="Reports").click()
    expect(page).to_have_url(report_url)
    expect(page.get_by_role("heading", name="Authorizations Report")).to_be_visible()
    first, last = today.replace(day=1), (today.replace(day=28) + timedelta(days=4)).replace(day=1)
    expect(page.get_by_label("From")).to_have_value(first.isoformat())
    expect(page.get_by_label("To")).to_have_value((last - timedelta(days=1)).isoformat())
    screenshot(page, "report-default")

    # --- Filters re-render the table in place and push a shareable URL. ---
    page.evaluate("window.__stillSamePage = true")
    page.get_by_label("From").fill(start.isoformat())
    page.get_by_label("To").fill(end.isoformat())
    expect(page).to_have_url(re.compile(rf"end={end.isoformat()}"))
    numbers = page.locator("#report-table tbody tr td:nth-child(3)")
    expect(numbers).to_have_text(["ALAN-I", "ADA-S", "GRACE-X", "ADA-W"])
    totals = page.locator("#report-table tfoot tr")
    expect(totals).to_have_count(2)

    page.get_by_label("Status").select_option(label="Active")
    expect(numbers).to_have_text(["ADA-S", "ADA-W"])
    page.get_by_label("Status").select_option(label="All statuses")
    page.get_by_label("Payer").select_option(label="Blue Harbor")
    expect(numbers).to_have_text(["ALAN-I", "ADA-S", "ADA-W"])
    page.get_by_label("Client").fill("lovelace")
    expect(numbers).to_have_text(["ADA-S", "ADA-W"])
    expect(page).to_have_url(re.compile(r"client=lovelace"))
    expect(page.locator("#report-table .badge").first).to_have_text("Active")
    screenshot(page, "report-filtered")

    # --- Break down by week: one row per week touching the range, per authorization. ---
    page.locator("fieldset.segmented").get_by_text("Week", exact=True).click()
    expect(page).to_have_url(re.compile(r"by=week"))
    expect(page.locator("#report-count")).to_contain_text("by week")
    rows = page.locator("#report-table tbody tr")
    weekly = page.locator("#report-table tbody tr", has_text="ADA-W")
    expect(weekly.first).to_be_visible()
    assert weekly.count() >= 9  # 61 days clipped to the authorization's 61 days: 9 or 10 weeks
    weekly_rows = rows.count()
    assert weekly_rows <= 50  # one page, so the CSV and the table can be compared whole
    # The newest week is clipped to the range (a pro-rated share); a whole week has the cap.
    expect(weekly.nth(1).locator("td").nth(5)).to_have_text("8")
    screenshot(page, "report-by-week")

    # --- Sort by client Z → A (twice), then change a filter: the sort is kept. ---
    header = page.locator("#report-table thead").get_by_role("link", name="Client")
    header.click()
    expect(page).to_have_url(re.compile(r"sort=client"))
    page.locator("#report-table thead").get_by_role("link", name="Client").click()
    expect(page).to_have_url(re.compile(r"sort=client&dir=desc"))
    page.get_by_label("Type").select_option(label="Units")
    expect(page).to_have_url(re.compile(r"type=units.*sort=client&dir=desc"))
    expect(page.locator("#report-table tbody tr td:nth-child(3)").first).to_have_text("ADA-W")
    page.get_by_label("Type").select_option(label="Sessions and units")
    expect(page).not_to_have_url(re.compile(r"type=units"))
    expect(page).to_have_url(re.compile(r"sort=client&dir=desc"))
    expect(rows).to_have_count(weekly_rows)
    assert page.evaluate("window.__stillSamePage") is True

    # --- Export CSV: exactly the rows on screen, in the same order. ---
    table = _table_rows(page)
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Export CSV").click()
    download = download_info.value
    assert download.suggested_filename == (
        f"authorizations-report_{start.isoformat()}_to_{end.isoformat()}_by-week.csv"
    )
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert _csv_rows(saved) == table
    assert len(table) == rows.count() >= 18

    # --- The URL is the report: reloading shows the same rows and filters. ---
    page.reload()
    expect(page.get_by_label("Client")).to_have_value("lovelace")
    expect(page.locator("fieldset.segmented input[value=week]")).to_be_checked()
    assert _table_rows(page) == table

    # --- Bad input: a message on the form, never an error page. ---
    page.get_by_label("To").fill((start - timedelta(days=1)).isoformat())
    expect(page.locator("#report-end-error")).to_have_text("The end date is before the start date.")
    expect(page.locator("#report-table [role=alert]")).to_contain_text("cannot be shown")
    screenshot(page, "report-bad-range")
    page.get_by_label("To").fill(end.isoformat())
    expect(page.locator("#report-end-error")).to_have_text("")
    expect(page.locator("#report-table tbody tr").first).to_be_visible()
