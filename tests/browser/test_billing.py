"""Charges, invoices and automations in a real browser, against localstripe.

1. A held appointment gets a second service through Edit appointment; Charge shows
   the amounts, captures the hold and charges the difference: one invoice, two
   payments.
2. An admin sets up the cancellation rules on the Automations page; an appointment
   cancelled as a late cancellation runs the fee rule in a real worker process: the
   fee is captured from the hold and the rest released, and the page says which
   rule won.
"""

import re
from datetime import timedelta

from playwright.sync_api import expect

from tests import factories
from tests.billing_support import Visit, place_hold, save_card
from tests.browser.conftest import screenshot, sign_in
from webapp.models import Organization
from webapp.models.base import utcnow

TIMEZONE = "America/New_York"
AUTOMATION_DONE_MS = 30_000


def _held_visit(live_server, world) -> Visit:
    """Ada's self-pay 90837 tomorrow at 10:00, with $150.00 held on her Visa."""
    gateway = live_server.app.extensions["payment_gateway"]
    with live_server.seed() as session:
        session.get(Organization, world.org.id).timezone = TIMEZONE
        client = factories.client(
            world.org,
            first_name="Ada",
            last_name="Lovelace",
            email="ada@example.com",
            primary_clinician_id=world.clinician.id,
        )
        therapy = factories.service_type(
            world.org,
            cpt_code="90837",
            name="Psychotherapy",
            price_cents=15000,
            cancellation_fee_cents=5000,
        )
        testing = factories.service_type(
            world.org,
            cpt_code="96130",
            name="Psychological testing",
            price_cents=4000,
            cancellation_fee_cents=2500,
        )
        starts = (utcnow() + timedelta(days=1)).replace(hour=15, minute=0, second=0, microsecond=0)
        encounter = factories.encounter(
            world.org,
            client,
            world.clinician,
            None,
            [therapy],
            starts_at=starts,
            billing_type="self_pay",
        )
        visit = Visit(encounter, therapy, testing, save_card(gateway, client))
        place_hold(gateway, visit)
    return visit


def test_a_biller_adds_a_service_to_a_held_visit_and_charges_one_invoice_with_two_payments(
    page, live_server, live_world
):
    visit = _held_visit(live_server, live_world)
    encounter_url = f"{live_server.url}/encounters/{visit.encounter.id}"
    sign_in(page, live_server, live_world.biller)
    page.goto(encounter_url)
    expect(page.locator("#preauth-message")).to_have_text("$150.00 held on Visa •••• 4242")
    expect(page.locator("#billing-hold")).to_contain_text("$150.00")

    # --- Add a service through Edit appointment. ---
    screenshot(page, "billing-encounter-held")
    page.get_by_role("button", name="Edit appointment").click()
    page.get_by_label("Service 2").select_option(label="96130 · Psychological testing")
    page.locator("#lines-1-minutes").fill("60")
    with page.expect_navigation(url=encounter_url):
        page.get_by_role("button", name="Save changes").click()
    expect(page.locator("#billing-cost")).to_contain_text("$190.00")
    expect(page.locator("#billing-hold-note")).to_have_text(
        "less than the cost now ($190.00): Charge captures it and charges $40.00 more to the card."
    )

    # --- Charge: the dialog shows the amounts first. ---
    page.locator("#billing").get_by_role("button", name="Charge", exact=True).click()
    dialog = page.locator("dialog#money-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#money-steps li")).to_have_text(
        [
            "Capture $150.00 from the hold (the whole hold).",
            "Charge $40.00 more to Visa •••• 4242.",
        ]
    )
    expect(dialog.locator("#money-total")).to_have_text("$190.00")
    screenshot(page, "billing-charge-dialog")
    with page.expect_navigation(url=re.compile(r"/invoices/\d+$")):
        dialog.get_by_role("button", name="Charge $190.00").click()

    # --- One invoice, two payments, paid in full. ---
    expect(page.get_by_role("status")).to_have_text(
        "Captured $150.00 from the hold; charged $40.00 to the card."
    )
    expect(page.locator("#invoice-status")).to_have_text("Paid")
    rows = page.locator("#invoice-payments tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("Captured from hold")
    expect(rows.nth(0)).to_contain_text("$150.00")
    expect(rows.nth(1)).to_contain_text("Additional charge")
    expect(rows.nth(1)).to_contain_text("$40.00")
    expect(page.locator("#invoice-total")).to_have_text("$190.00")
    expect(page.locator("#invoice-paid")).to_have_text("$190.00")
    expect(page.locator("#invoice-due")).to_have_text("$0.00")
    screenshot(page, "billing-invoice")

    with page.expect_navigation():  # load: htmx has processed the page
        trail = page.get_by_role("navigation", name="Breadcrumb")
        trail.get_by_role("link", name="Billing").click()  # Clients / Ada Lovelace / Billing
    expect(page.locator("#client-invoices tbody tr")).to_have_count(1)
    expect(page.locator(".tabs [aria-current=page]")).to_have_text("Billing")
    screenshot(page, "billing-client-tab")

    # --- The hold is gone: nothing left to charge or release. ---
    page.goto(encounter_url)
    expect(page.locator("#billing").get_by_role("button", name="Charge", exact=True)).to_have_count(
        0
    )
    expect(page.locator("#billing-invoice")).to_contain_text("Paid")


def _add_rule(page, number: int, event: str, action: str, disposition: str | None = None):
    """Add a rule through the form; it becomes rule `number`, the last of the list."""
    form = page.locator("form.add-rule")
    form.get_by_label("When").select_option(label=event)
    form.get_by_label("Only for disposition").select_option(label=disposition or "Any disposition")
    form.get_by_label("Do").select_option(label=action)
    form.get_by_role("button", name="Add rule").click()
    rows = page.locator(".automations-table tbody tr[data-rule]")
    expect(rows).to_have_count(number)
    expect(rows.nth(number - 1)).to_contain_text(action)
    expect(page.locator("#automations [role=status]")).to_have_text(
        "Rule added at the end of the list."
    )


def test_an_admin_sets_up_automations_and_a_late_cancellation_takes_the_fee_from_the_hold(
    page, live_server, live_world, start_worker
):
    start_worker()
    visit = _held_visit(live_server, live_world)
    sign_in(page, live_server, live_world.admin)
    page.goto(f"{live_server.url}/admin/automations")
    expect(page.get_by_role("heading", name="Automations", level=1)).to_be_visible()

    # A misfit is refused with a message next to the field; nothing is saved.
    form = page.locator("form.add-rule")
    form.get_by_label("When").select_option(label="Encounter Finalized")
    form.get_by_label("Do").select_option(label="Release Pre-authorization")
    form.get_by_role("button", name="Add rule").click()
    expect(page.locator("#action-error")).to_contain_text(
        "Release Pre-authorization does not fit Encounter Finalized"
    )
    expect(page.locator(".automations-table tbody tr")).to_have_text(
        ["No rules yet: holds stay until someone charges or releases them."]
    )

    _add_rule(page, 1, "Encounter Cancelled", "Release Pre-authorization")
    _add_rule(page, 2, "Encounter Finalized", "Charge Pre-authorization")
    _add_rule(page, 3, "Encounter Cancelled", "Charge Cancellation Fee", "Late cancellation")
    expect(page.locator(".rule-shadowed")).to_have_text(
        "Never runs: rule 1 above always matches first."
    )
    # Move the specific rule above the catch-all: first listed wins.
    page.get_by_role("button", name="Move rule 3 up").click()
    expect(page.locator(".automations-table tbody tr").nth(1)).to_contain_text(
        "Charge Cancellation Fee"
    )
    page.get_by_role("button", name="Move rule 2 up").click()
    rows = page.locator(".automations-table tbody tr")
    expect(rows.nth(0)).to_contain_text("Late cancellation")
    expect(rows.nth(0)).to_contain_text("Charge Cancellation Fee")
    expect(rows.nth(1)).to_contain_text("Release Pre-authorization")
    expect(rows.nth(2)).to_contain_text("Charge Pre-authorization")
    expect(page.locator(".rule-shadowed")).to_have_count(0)
    screenshot(page, "automations-page")

    # --- Cancel the held appointment as a late cancellation. ---
    page.goto(f"{live_server.url}/encounters/{visit.encounter.id}")
    page.get_by_role("button", name="Cancel appointment").click()
    dialog = page.locator("dialog#close-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Disposition").select_option(label="Late cancellation")
    expect(page.locator("#automation-preview")).to_contain_text(
        "“Encounter Cancelled · Late cancellation → Charge Cancellation Fee” applies"
    )
    expect(page.locator("#automation-effect")).to_have_text(
        "For this appointment: Capture $50.00 from the hold. Release $100.00 back to the client."
    )
    screenshot(page, "billing-cancel-dialog")
    page.locator("dialog#close-dialog").get_by_role("button", name="Cancel appointment").click()

    # The job runs in the worker; the panel polls and the page reloads with the outcome.
    expect(page.locator(".page-head .badge.big")).to_have_text("Late cancelled")
    outcome = page.locator("#automation-outcome")
    expect(outcome).to_have_text(
        "Captured $50.00 from the hold; released $100.00.", timeout=AUTOMATION_DONE_MS
    )
    expect(page.locator("#automation-explanation")).to_have_text(
        "“Encounter Cancelled · Late cancellation → Charge Cancellation Fee” applies; "
        "“Encounter Cancelled → Release Pre-authorization” also matches, but the first listed wins."
    )
    # Not "The hold of $150.00 was charged": the fee was captured, the rest released.
    expect(page.locator("#preauth-message")).to_have_text(
        "Captured $50.00 of the $150.00 hold and released $100.00."
    )
    screenshot(page, "billing-after-late-cancellation")

    with page.expect_navigation():  # load: htmx has processed the page
        page.locator("#billing-invoice").get_by_role("link").click()
    line = page.locator("#invoice-lines tbody tr")
    expect(line).to_have_count(1)
    expect(line.locator("td")).to_have_text(
        ["Late cancellation fee · 90837 Psychotherapy", "1", "$50.00", "$50.00"]
    )
    expect(page.locator("#invoice-paid")).to_have_text("$50.00")
    expect(page.locator("#invoice-released")).to_have_text("$100.00")
    released = page.locator("#invoice-payments tr.row-released")
    expect(released).to_contain_text("Released")
    expect(released).to_contain_text("not charged")
    screenshot(page, "billing-fee-invoice")
