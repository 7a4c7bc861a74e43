"""Issue 10's overlapping case in a real browser.

A: Jan 1 – Mar 31, 2 sessions, both kept. B: Mar 1 – Jun 30, 10 sessions, the same
service. A visit on Mar 16 counts against B with no warning, even with Block
over-scheduling on. The year is next year's, so the dates never pass.
"""

import re
from datetime import date, datetime, time

from playwright.sync_api import expect

from tests import factories
from tests.browser.conftest import screenshot, sign_in
from webapp.domain.windows import to_utc_naive
from webapp.models import Encounter, EncounterService
from webapp.services.allocation import reallocate_client

YEAR = date.today().year + 1
THERAPY = "90837 · Psychotherapy, 60 min"


def _seed(live_server, world):
    with live_server.seed() as session:
        org = world.org
        org.block_overscheduling = True
        client = factories.client(org, first_name="Ada", last_name="Lovelace",
                                  primary_clinician_id=world.clinician.id)  # fmt: skip
        payer = factories.payer(org, name="Blue Harbor", messaging_enabled=True)
        policy = factories.insurance(org, client, payer)
        therapy = factories.service_type(org, cpt_code="90837", name="Psychotherapy, 60 min")
        a = factories.authorization(org, policy, [therapy], number="AUTH-A", allowed=2,
                                    start_date=date(YEAR, 1, 1),
                                    end_date=date(YEAR, 3, 31))  # fmt: skip
        b = factories.authorization(org, policy, [therapy], number="AUTH-B", allowed=10,
                                    start_date=date(YEAR, 3, 1),
                                    end_date=date(YEAR, 6, 30))  # fmt: skip
        for day in (date(YEAR, 1, 12), date(YEAR, 2, 9)):
            session.add(
                Encounter(organization_id=org.id, client_id=client.id,
                          clinician_id=world.clinician.id,
                          starts_at=to_utc_naive(datetime.combine(day, time(10)), org.timezone),
                          service_date=day, duration_minutes=60, status="kept",
                          billing_type="insurance", client_insurance_id=policy.id,
                          lines=[EncounterService(service_type_id=therapy.id, minutes=60)])
            )  # fmt: skip
        session.flush()
        reallocate_client(org, client.id)
    return client, a, b


def test_a_visit_in_the_overlap_counts_against_the_authorization_with_room(
    page, live_server, live_world
):
    client, a, b = _seed(live_server, live_world)
    sign_in(page, live_server, live_world.biller)
    insurance_url = f"{live_server.url}/clients/{client.id}/insurance"
    page.goto(insurance_url)
    row_a = page.locator(f'#auth-table tr[data-auth-id="{a.id}"]')
    expect(row_a.locator('[data-figure="status"]')).to_have_text("Exhausted")

    page.get_by_role("button", name="Book appointment").click()
    expect(page.get_by_role("heading", name="Book appointment")).to_be_visible()
    page.get_by_label("Date", exact=True).fill(f"{YEAR}-03-16")
    page.get_by_label("Start time").fill("10:00")
    page.locator("#lines-0-service_type_id").select_option(label=THERAPY)
    with page.expect_response(re.compile(r"/encounters/check$")):
        page.locator("#lines-0-minutes").fill("60")
        page.locator("#lines-0-minutes").blur()
    expect(page.locator("#booking-warnings .warning-box")).to_have_count(0)
    screenshot(page, "overlap-booking")

    with page.expect_navigation(url=re.compile(r"/encounters/\d+$")):
        page.get_by_role("button", name="Book appointment").click()
    expect(page.get_by_role("status").filter(has_text="Booked 1 appointment.")).to_be_visible()
    expect(page.locator("#authorization-warning")).to_have_count(0)
    use = page.locator("#authorization-use li")
    expect(use).to_have_count(1)
    expect(use).to_have_attribute("data-auth-id", str(b.id))
    expect(use).to_contain_text("Authorization AUTH-B")
    expect(use.locator(".why")).to_have_text(
        f"Why: The next to end with room for it; AUTH-A (ends Mar 31, {YEAR}): "
        "no sessions were left."
    )
    screenshot(page, "overlap-encounter")

    page.goto(insurance_url)
    row_b = page.locator(f'#auth-table tr[data-auth-id="{b.id}"]')
    expect(row_b.locator('[data-figure="upcoming"]')).to_have_text("1")
    expect(row_b.locator('[data-figure="status"]')).to_have_text("Active")
    expect(row_a.locator('[data-figure="kept"]')).to_have_text("2")
    expect(row_a.locator('[data-figure="upcoming"]')).to_have_text("0")
    screenshot(page, "overlap-client-page")

    with page.expect_navigation(url=re.compile(rf"/authorizations/{b.id}$")):
        row_b.get_by_role("link", name="AUTH-B").click()
    rows = page.locator("#ledger-rows tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first.locator("td.why")).to_contain_text("The next to end with room for it")
    screenshot(page, "overlap-ledger")
