"""Authorizations in a real browser: the Add dialog, booking against it, the red warnings.

The authorization starts on the first of next month and runs for six months, so every
booking below is in the future and inside its range, whenever the suite runs.
"""

import re
from datetime import date, timedelta

from playwright.sync_api import expect

from tests import factories
from tests.browser.conftest import screenshot, sign_in

THERAPY = "90837 · Psychotherapy, 60 min"
AUTH_NUMBER = "PA-0001"
START = (date.today().replace(day=1) + timedelta(days=32)).replace(day=1)
END = START + timedelta(days=180)
FIRST_VISIT = START + timedelta(days=7 - START.weekday())  # a Monday in the first week
SECOND_VISIT = FIRST_VISIT + timedelta(days=7)


def _heading(day: date) -> str:
    return f"{day:%a %b} {day.day}, {day.year} · 10:00 AM"


def _seed_practice(live_server, world):
    with live_server.seed():
        client = factories.client(
            world.org,
            first_name="Ada",
            last_name="Lovelace",
            primary_clinician_id=world.clinician.id,
        )
        payer = factories.payer(world.org, name="Blue Harbor", messaging_enabled=True)
        factories.insurance(world.org, client, payer, active=True)
        factories.service_type(world.org, cpt_code="90837", name="Psychotherapy, 60 min")
        factories.service_type(
            world.org, cpt_code="97153", name="Adaptive behavior treatment", unit_minutes=15
        )
    return client


def _tab_count(page, status: str):
    return page.locator(f'#auth-section .tabs [data-status="{status}"] .count')


def _fill_booking(page, day: date) -> None:
    """Fill the booking form for one 60-minute 90837 visit, billed to the insurance."""
    page.get_by_label("Date", exact=True).fill(day.isoformat())
    page.get_by_label("Start time").fill("10:00")
    page.locator("#lines-0-service_type_id").select_option(label=THERAPY)
    page.locator("#lines-0-minutes").fill("60")
    # Billing type and insurance default to the client's active insurance.
    expect(page.get_by_label("Billing type")).to_have_value("insurance")


def test_biller_adds_an_authorization_books_against_it_and_sees_warnings(
    page, live_server, live_world
):
    client = _seed_practice(live_server, live_world)
    insurance_url = f"{live_server.url}/clients/{client.id}/insurance"

    sign_in(page, live_server, live_world.biller)
    page.goto(insurance_url)
    section = page.locator("#auth-section")
    expect(section.locator("#auth-table")).to_have_text("No authorizations yet.")

    # --- The Add dialog: an error first, then a valid Sessions authorization. ---
    page.get_by_role("button", name="Add authorization").click()
    dialog = page.locator("dialog#authorization-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("heading", name="Add authorization")).to_be_visible()
    dialog.get_by_label("Authorization #").fill(AUTH_NUMBER)
    dialog.get_by_label("Sessions", exact=True).check()
    dialog.get_by_label("Start date").fill(START.isoformat())
    dialog.get_by_label("End date").fill(
        (START - timedelta(days=1)).isoformat()
    )  # before the start
    dialog.get_by_label("Sessions / units allowed").fill("1")
    dialog.get_by_label(THERAPY).check()
    dialog.get_by_role("button", name="Add authorization").click()

    dialog = page.locator("dialog#authorization-dialog")
    expect(dialog.locator("#end_date-error")).to_have_text("The end date is before the start date.")
    expect(dialog.get_by_role("alert")).to_contain_text("Nothing was saved.")
    # What was typed survives the round trip.
    expect(dialog.get_by_label("Authorization #")).to_have_value(AUTH_NUMBER)
    expect(dialog.get_by_label(THERAPY)).to_be_checked()
    screenshot(page, "authorization-dialog-errors")

    dialog.get_by_label("End date").fill(END.isoformat())
    with page.expect_navigation(url=insurance_url):  # HX-Redirect: a full page load
        dialog.get_by_role("button", name="Add authorization").click()

    expect(page.get_by_role("status").filter(has_text="Authorization added.")).to_be_visible()
    expect(page.locator("dialog")).to_have_count(0)
    row = section.locator("#auth-table tbody tr")
    expect(row).to_have_count(1)
    expect(row.get_by_role("link", name=AUTH_NUMBER)).to_be_visible()
    expect(row.locator("td.services")).to_have_text("90837")
    expect(row.locator("td.remaining")).to_have_text("1")
    expect(row.locator(".badge")).to_have_text("Active")
    expect(_tab_count(page, "all")).to_have_text("1")
    expect(_tab_count(page, "active")).to_have_text("1")
    expect(_tab_count(page, "exhausted")).to_have_text("0")
    screenshot(page, "authorizations-section")

    # --- Book one visit and keep it: the authorization's only session is used. ---
    page.get_by_role("button", name="Book appointment").click()
    expect(page.get_by_role("heading", name="Book appointment")).to_be_visible()
    _fill_booking(page, FIRST_VISIT)
    with page.expect_navigation(url=re.compile(r"/encounters/\d+$")):
        page.get_by_role("button", name="Book appointment").click()
    expect(page.get_by_role("status").filter(has_text="Booked 1 appointment.")).to_be_visible()
    expect(page.get_by_role("heading", name=_heading(FIRST_VISIT))).to_be_visible()
    expect(page.locator("#authorization-warning")).to_have_count(0)

    page.get_by_role("button", name="Finalize").click()
    dialog = page.locator("#close-dialog")
    expect(dialog.get_by_text("The appointment will be marked")).to_be_visible()
    # The visit is next month: finalizing it now asks to confirm its date.
    dialog.get_by_label(re.compile(r"Kept before it starts")).check()
    with page.expect_navigation():
        dialog.get_by_role("button", name="Finalize").click()
    expect(page.get_by_role("status").filter(has_text="Appointment finalized.")).to_be_visible()
    expect(page.locator(".page-head .badge.big")).to_have_text("Kept")

    page.goto(insurance_url)
    row = section.locator("#auth-table tbody tr")
    expect(row.locator("td.remaining")).to_have_text("0")
    expect(row.locator(".badge")).to_have_text("Exhausted")
    expect(_tab_count(page, "exhausted")).to_have_text("1")
    expect(_tab_count(page, "active")).to_have_text("0")

    # The Exhausted tab filters in place (HTMX) and pushes its URL.
    page.evaluate("window.__stillSamePage = true")
    section.locator('.tabs [data-status="exhausted"]').click()
    expect(page).to_have_url(f"{insurance_url}?status=exhausted")
    expect(section.locator('.tabs [data-status="exhausted"]')).to_have_attribute(
        "aria-selected", "true"
    )
    expect(section.locator("#auth-table tbody tr")).to_have_count(1)
    expect(section.get_by_role("link", name=AUTH_NUMBER)).to_be_visible()
    assert page.evaluate("window.__stillSamePage") is True

    # --- A second visit over-schedules it: red warning live, then on the encounter. ---
    page.get_by_role("button", name="Book appointment").click()
    expect(page.get_by_role("heading", name="Book appointment")).to_be_visible()
    _fill_booking(page, SECOND_VISIT)
    warning = page.locator("#booking-warnings .warning-box")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text(f"Authorization {AUTH_NUMBER} is exhausted")
    expect(warning.locator('li[data-code="exhausted"]')).to_have_count(1)
    screenshot(page, "booking-warning")

    with page.expect_navigation(url=re.compile(r"/encounters/\d+$")):
        page.get_by_role("button", name="Book appointment").click()
    expect(page.get_by_role("heading", name=_heading(SECOND_VISIT))).to_be_visible()
    encounter_warning = page.locator("#authorization-warning")
    expect(encounter_warning).to_be_visible()
    expect(encounter_warning).to_contain_text("exhausted")
    expect(encounter_warning.locator('li[data-code="exhausted"]')).to_have_count(1)
    screenshot(page, "encounter-warning")

    # --- The ledger, through the authorization # link in the section. ---
    page.goto(insurance_url)
    with page.expect_navigation(url=re.compile(r"/authorizations/\d+$")):
        section.get_by_role("link", name=AUTH_NUMBER).click()
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_contain_text(f"Authorization {AUTH_NUMBER}")
    expect(heading.locator(".badge")).to_have_text("Exhausted")
    # 1 kept + 1 booked of 1 allowed: the ledger says how far over, as the report does.
    expect(page.locator("#ledger-remaining")).to_have_text("over by 1")
    ledger_rows = page.locator("section.panel", has_text="Every appointment").locator("tbody tr")
    expect(ledger_rows).to_have_count(2)
    # Only the Kept visit counts; the Upcoming one is listed but not counted.
    expect(ledger_rows.nth(0).locator("td").nth(2)).to_have_text("Kept")
    expect(ledger_rows.nth(0).locator("td").nth(4)).to_have_text("Yes")
    expect(ledger_rows.nth(1).locator("td").nth(2)).to_have_text("Upcoming")
    expect(ledger_rows.nth(1).locator("td").nth(4)).to_have_text("No")
    screenshot(page, "authorization-ledger")
