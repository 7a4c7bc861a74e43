"""Charts and work lists in a real browser (issue 15 parts 3 and 4).

- The ledger's burn-down is drawn from the ledger's numbers: the SVG's own labels and the
  table beside it say what the ledger's figures say.
- After booking a visit no authorization covers, Today lists it with a link that leads
  to the fix; adding the authorization there takes it off the list.
- The report's chart loads after the table and follows the filters; Holds and Invoices
  filter in place. Screenshots at 390 and 1280 px go to SHOTS for people to look at.
"""

import os
import re
from datetime import date, datetime, timedelta
from pathlib import Path

from playwright.sync_api import expect

from tests import factories
from tests.browser.conftest import sign_in
from tests.browser.test_report import _seed as seed_report
from webapp.domain.windows import format_day, local_date, to_utc_naive
from webapp.models import Invoice, Payment, PreAuthorization
from webapp.models.base import utcnow

SHOTS = Path(os.environ.get("SURFACES_SHOTS", "/work/wt/shots/surfaces"))
TZ = "America/New_York"
THERAPY = "90837 · Psychotherapy, 60 min"


def _today() -> date:
    return local_date(utcnow(), TZ)


def _at(day: date, hour: int = 10) -> datetime:
    return to_utc_naive(datetime(day.year, day.month, day.day, hour), TZ)


def _shots(page, name: str) -> None:
    """Full-page PNGs of the current page at 390 and 1280 px wide."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in (390, 1280):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def _number(text: str) -> int:
    return int(text.replace(",", "").strip())


def test_the_burn_down_is_drawn_from_the_ledgers_numbers(page, live_server, live_world):
    today = _today()
    day = lambda offset: today + timedelta(days=offset)  # noqa: E731
    with live_server.seed():
        org = live_world.org
        therapy = factories.service_type(org, cpt_code="90837", name="Psychotherapy, 60 min")
        aba = factories.service_type(org, cpt_code="97153", name="ABA", unit_minutes=15)
        ada = factories.client(org, first_name="Ada", last_name="Lovelace")
        policy = factories.insurance(org, ada, factories.payer(org, name="Blue Harbor"))
        sessions = factories.authorization(
            org, policy, [therapy], number="BURN-1", start_date=day(-60), end_date=day(60),
            allowed=10,
        )  # fmt: skip
        weekly = factories.authorization(
            org, policy, [aba], number="WEEK-1", kind="units", frequency="week",
            start_date=day(-20), end_date=day(30), allowed=4,
        )  # fmt: skip
        for offset, status in ((-40, "kept"), (-20, "kept"), (-6, "kept"), (5, "upcoming"),
                               (12, "upcoming"), (-13, "cancelled")):  # fmt: skip
            factories.encounter(
                org, ada, live_world.clinician, policy, [therapy], starts_at=_at(day(offset)),
                service_date=day(offset), status=status,
            )  # fmt: skip
        for offset, status in ((-8, "kept"), (-7, "kept"), (2, "upcoming"), (3, "upcoming")):
            factories.encounter(
                org, ada, live_world.clinician, policy, [aba], starts_at=_at(day(offset)),
                service_date=day(offset), status=status,
            )  # fmt: skip

    sign_in(page, live_server, live_world.biller)
    page.goto(f"{live_server.url}/authorizations/{sessions.id}")
    figures = {
        name: _number(page.locator(f'#ledger-figures [data-figure="{name}"]').inner_text())
        for name in ("total", "kept", "upcoming")
    }
    assert figures == {"total": 10, "kept": 3, "upcoming": 2}
    chart = page.locator("#burn-down")
    svg = chart.locator("svg[data-chart=burn-down]")
    expect(svg).to_be_visible()
    left_after_kept = figures["total"] - figures["kept"]
    left_after_both = left_after_kept - figures["upcoming"]
    # The lines' own labels, read in the drawing.
    expect(svg.locator('[data-chart-label="kept"]')).to_have_text(f"Kept: {left_after_kept} left")
    expect(svg.locator('[data-chart-label="booked"]')).to_have_text(
        f"+ Upcoming: {left_after_both} left"
    )
    expect(svg.locator('[data-chart-label="allowed"]')).to_have_text(f"Allowed {figures['total']}")
    expect(svg.locator('[data-chart-label="today"]')).to_have_text("Today")
    expect(svg.locator('[data-chart-label="end"]')).to_have_text(f"Ends {format_day(day(60))}")
    # The table beside it: the same figures, and days that add up to them.
    for name in ("total", "kept", "upcoming"):
        expect(chart.locator(f'[data-chart-figure="{name}"]')).to_have_text(str(figures[name]))
    expect(chart.locator('[data-chart-figure="left"]')).to_have_text(str(left_after_both))
    rows = chart.locator("table[data-chart-table=burn-down] tbody tr")
    expect(rows).to_have_count(5)  # the cancelled visit never counts
    cells = [r.locator("td").all_inner_texts() for r in rows.all()]
    assert sum(int(c[1]) for c in cells) == figures["kept"]
    assert sum(int(c[2]) for c in cells) == figures["upcoming"]
    assert cells[-1][4] == str(left_after_both)
    # The forecast run-out, where the report would say it.
    forecast = chart.locator('[data-chart-figure="forecast"]').inner_text()
    if forecast.startswith("Runs out"):
        expect(svg.locator('[data-chart-label="run-out"]')).to_have_text(forecast)
    _shots(page, "ledger-burn-down")

    # A weekly cap: one bar per week with a visit, as the Windows table lists them.
    page.goto(f"{live_server.url}/authorizations/{weekly.id}")
    bars = page.locator("#window-bars")
    expect(bars.locator("svg g.chart-bar")).to_have_count(
        page.locator("#window-bars table tbody tr").count()
    )
    for row in bars.locator("table tbody tr").all():
        label, cap, kept, upcoming, caption = row.locator("td").all_inner_texts()
        booked = int(kept) + int(upcoming)
        assert caption == (
            f"over by {booked - int(cap)}" if booked > int(cap) else f"{booked}/{cap}"
        )
    _shots(page, "ledger-window-bars")


def _add_sessions_authorization(page, start: date, end: date) -> None:
    page.get_by_role("button", name="Add authorization").click()
    dialog = page.locator("dialog#authorization-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Authorization #").fill("FIX-1")
    dialog.get_by_label("Sessions", exact=True).check()
    dialog.get_by_label("Start date").fill(start.isoformat())
    dialog.get_by_label("End date").fill(end.isoformat())
    dialog.get_by_label("Sessions / units allowed").fill("12")
    dialog.get_by_label(THERAPY).check()
    with page.expect_navigation():
        dialog.get_by_role("button", name="Add authorization").click()


def test_today_lists_an_uncovered_visit_with_a_link_to_the_fix(page, live_server, live_world):
    today = _today()
    visit_day = today + timedelta(days=3)
    with live_server.seed():
        org = live_world.org
        client = factories.client(
            org,
            first_name="Grace",
            last_name="Hopper",
            primary_clinician_id=live_world.clinician.id,
        )
        factories.insurance(org, client, factories.payer(org, name="Aetna"), active=True)
        factories.service_type(org, cpt_code="90837", name="Psychotherapy, 60 min")

    sign_in(page, live_server, live_world.biller)
    expect(page.get_by_role("heading", name="Today", exact=True)).to_be_visible()  # home page
    uncovered = page.locator("#today-uncovered tbody tr[data-encounter-id]")
    expect(uncovered).to_have_count(0)

    # Book a visit no authorization covers, through the booking form.
    page.goto(f"{live_server.url}/clients/{client.id}/insurance")
    page.get_by_role("button", name="Book appointment").click()
    expect(page.get_by_role("heading", name="Book appointment")).to_be_visible()
    page.get_by_label("Date", exact=True).fill(visit_day.isoformat())
    page.get_by_label("Start time").fill("10:00")
    page.locator("#lines-0-service_type_id").select_option(label=THERAPY)
    page.locator("#lines-0-minutes").fill("60")
    with page.expect_navigation(url=re.compile(r"/encounters/\d+$")):
        page.get_by_role("button", name="Book appointment").click()
    encounter_id = int(page.url.rsplit("/", 1)[1])

    with page.expect_navigation():
        page.get_by_role("link", name="Today", exact=True).click()
    row = page.locator(f'#today-uncovered tr[data-encounter-id="{encounter_id}"]')
    expect(row).to_be_visible()
    expect(row).to_contain_text("Grace Hopper")
    expect(row).to_contain_text("90837")
    expect(page.locator('[data-count="uncovered"]')).to_have_text("1")
    _shots(page, "today")

    # The link leads to where it is fixed: the client's authorizations.
    with page.expect_navigation():
        row.get_by_role("link", name="Add an authorization").click()
    expect(page).to_have_url(f"{live_server.url}/clients/{client.id}/insurance")
    _add_sessions_authorization(page, today - timedelta(days=1), today + timedelta(days=90))
    page.goto(f"{live_server.url}/")
    expect(page.locator(f'#today-uncovered tr[data-encounter-id="{encounter_id}"]')).to_have_count(
        0
    )
    expect(page.locator('[data-count="uncovered"]')).to_have_text("0")

    # A clinician's Today shows their own visit, linking to the visit itself.
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, live_server, live_world.clinician)
    expect(page.get_by_text("Your visits")).to_be_visible()


def test_report_chart_holds_and_invoices(page, live_server, live_world):
    today = _today()
    seed_report(live_server, live_world, today)
    with live_server.seed() as session:
        org = live_world.org
        therapy = factories.service_type(org, cpt_code="90791", name="Intake", price_cents=20000)
        people = [factories.client(org, first_name=n, last_name="Rivera") for n in ("Ana", "Luis")]
        for n in range(6):
            person = people[n % 2]
            when = today + timedelta(days=n - 3)
            visit = factories.encounter(
                org, person, live_world.clinician, None, [therapy], starts_at=_at(when),
                service_date=when, billing_type="self_pay",
            )  # fmt: skip
            invoice = Invoice(
                organization_id=org.id, client_id=person.id, encounter_id=visit.id,
                total_cents=20000, status="paid" if n % 3 == 0 else "open",
            )  # fmt: skip
            session.add(invoice)
            session.flush()
            if n % 3 == 0:
                session.add(
                    Payment(
                        organization_id=org.id, client_id=person.id, encounter_id=visit.id,
                        invoice_id=invoice.id, kind="balance_payment", amount_cents=20000,
                        status="succeeded", idempotency_key=f"shot-{invoice.id}",
                    )
                )  # fmt: skip
            state = ("held", "failed", "scheduled")[n % 3]
            session.add(
                PreAuthorization(
                    organization_id=org.id, encounter_id=visit.id, state=state, hours_before=24,
                    run_at=visit.starts_at - timedelta(hours=24),
                    amount_cents=20000 if state == "held" else None,
                    card_label="Visa •••• 4242",
                    failure_reason="The card was declined." if state == "failed" else None,
                    lapses_at=visit.starts_at + timedelta(days=3) if state == "held" else None,
                )
            )  # fmt: skip

    sign_in(page, live_server, live_world.biller)
    # Today, practice-wide: today's visit with its hold, the failed holds of booked visits.
    expect(page.locator("#today-visits tbody tr[data-encounter-id]")).to_have_count(1)
    expect(page.locator("#today-visits tbody tr[data-encounter-id]")).to_contain_text("Held")
    failed = page.locator('#today-holds tr[data-problem="failed"]')
    expect(failed).to_have_count(2)
    expect(failed.first.get_by_role("link", name="Retry the hold")).to_be_visible()
    _shots(page, "today-practice")
    start, end = today - timedelta(days=30), today + timedelta(days=30)
    page.goto(f"{live_server.url}/reports/authorizations?start={start}&end={end}&by=week")
    chart = page.locator("#report-chart")
    expect(chart.locator("svg[data-chart=bars]").first).to_be_visible()
    expect(chart.get_by_role("heading", name="Sessions")).to_be_visible()
    rows = chart.locator("#utilization-sessions table tbody tr")
    expect(rows.first).to_be_visible()
    assert rows.count() == len(page.locator("#utilization-sessions svg g.chart-bar").all())
    _shots(page, "report-chart")
    # A filter redraws the chart with the table.
    page.get_by_label("Type").select_option(label="Units")
    expect(chart.get_by_role("heading", name="Units")).to_be_visible()
    expect(chart.get_by_role("heading", name="Sessions")).to_have_count(0)

    with page.expect_navigation():
        page.get_by_role("link", name="Invoices", exact=True).click()
    expect(page.locator("#invoice-list tbody tr[data-invoice]")).to_have_count(6)
    expect(page.locator('[data-total="due"]')).to_have_text("$800.00")
    _shots(page, "invoices")
    page.get_by_label("State").select_option(label="Open")
    with page.expect_navigation():
        page.get_by_role("button", name="Show").click()
    expect(page.locator("#invoice-list tbody tr[data-invoice]")).to_have_count(4)
    expect(page.locator('[data-total="total"]')).to_have_text("$800.00")

    with page.expect_navigation():
        page.get_by_role("link", name="Holds", exact=True).click()
    expect(page.locator("#hold-list tbody tr[data-hold]")).to_have_count(6)
    _shots(page, "holds")
    page.get_by_label("State").select_option(label="Failed")
    page.get_by_label("Client").select_option(label="Rivera, Ana")
    with page.expect_navigation():
        page.get_by_role("button", name="Show").click()
    expect(page.locator("#hold-list tbody tr[data-hold]")).to_have_count(1)
    expect(page.locator("#hold-list tbody tr[data-hold]")).to_contain_text("The card was declined.")
