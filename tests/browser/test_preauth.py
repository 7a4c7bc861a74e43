"""Pre-authorizations in a real browser, with a real RQ worker process and localstripe.

A card is added through localstripe's Stripe.js form; an appointment booked inside
the hold window shows "scheduled" until the worker (`python -m jobs.worker`, started
mid-test) places the hold, and the notification turns to "held" by itself (HTMX
polling). Another appointment is rescheduled (the new time shown before saving) and
cancelled; a declined card fails and Retry works once a good card is the default.
"""

import re
from datetime import datetime, timedelta

from playwright.sync_api import expect

from tests import factories
from tests.browser.cards import DECLINED_ON_CHARGE, VISA, add_card_through_form
from tests.browser.conftest import screenshot, sign_in
from webapp.domain.windows import to_local, to_utc_naive
from webapp.models import Organization
from webapp.models.base import utcnow

TIMEZONE = "America/New_York"
THERAPY = "90837 · Psychotherapy, 60 min"
WHEN = "%a %b %-d, %Y · %-I:%M %p"
PLACED_WITHIN_MS = 30_000


def _seed(live_server, world, *, hours: int = 24):
    with live_server.seed() as session:
        org = session.get(Organization, world.org.id)
        org.timezone, org.preauth_active, org.preauth_hours_before = TIMEZONE, True, hours
        client = factories.client(
            world.org,
            first_name="Ada",
            last_name="Lovelace",
            email="ada@example.com",
            primary_clinician_id=world.clinician.id,
        )
        payer = factories.payer(world.org, name="Blue Harbor")
        factories.insurance(world.org, client, payer, copay_cents=2500)
        factories.service_type(
            world.org, cpt_code="90837", name="Psychotherapy, 60 min", price_cents=15000
        )
    return client


def _local_start(starts_in: timedelta) -> datetime:
    """A wall time in the practice's zone, on a 5-minute mark, about `starts_in` from now."""
    start = to_local(utcnow() + starts_in, TIMEZONE).replace(tzinfo=None, second=0, microsecond=0)
    return start - timedelta(minutes=start.minute % 5)


def _local_text(local: datetime) -> str:
    return local.strftime(WHEN)


def _hours_before(local: datetime, hours: int) -> datetime:
    """`hours` real hours before a wall time (across a daylight-saving change too)."""
    earlier = to_utc_naive(local, TIMEZONE) - timedelta(hours=hours)
    return to_local(earlier, TIMEZONE).replace(tzinfo=None)


def _book(page, live_server, client, local: datetime) -> None:
    page.goto(f"{live_server.url}/clients/{client.id}/encounters/new")
    page.get_by_label("Date", exact=True).fill(local.date().isoformat())
    page.get_by_label("Start time").fill(local.strftime("%H:%M"))
    page.locator("#lines-0-service_type_id").select_option(label=THERAPY)
    page.locator("#lines-0-minutes").fill("60")
    expect(page.get_by_label("Billing type")).to_have_value("insurance")
    with page.expect_navigation(url=re.compile(r"/encounters/\d+$")):
        page.get_by_role("button", name="Book appointment").click()


def test_a_hold_goes_from_scheduled_to_held_and_another_is_rescheduled_and_cancelled(
    page, live_server, live_world, start_worker
):
    client = _seed(live_server, live_world)
    sign_in(page, live_server, live_world.biller)
    page.goto(f"{live_server.url}/clients/{client.id}/insurance")
    add_card_through_form(page, VISA)

    # --- Inside the 24-hour window: due at once; no worker yet, so it waits, polling. ---
    soon = _local_start(timedelta(hours=3))
    _book(page, live_server, client, soon)
    notice = page.locator("#preauth")
    expect(notice).to_have_attribute("data-state", "scheduled")
    # Its time (24 hours before) has passed: it says the hold is placed now, not "scheduled for".
    expect(notice.locator("#preauth-message")).to_have_text(
        "Placing a hold of $25.00 on the client's card now"
    )
    expect(notice).to_contain_text("less than 24 hours away, so the hold is placed at once")
    expect(notice).to_have_attribute("hx-trigger", "every 2s")
    expect(notice.get_by_role("button", name="Create invoice")).to_be_disabled()
    screenshot(page, "preauth-scheduled-due")

    start_worker()
    expect(notice).to_have_attribute("data-state", "held", timeout=PLACED_WITHIN_MS)
    expect(notice.locator("#preauth-message")).to_have_text("$25.00 held on Visa •••• 4242")
    expect(notice).to_contain_text("Placed ")
    expect(notice).to_contain_text(" · lapses ")
    expect(notice).not_to_have_attribute("hx-trigger", re.compile("every"))
    expect(notice.get_by_role("button", name="Create invoice")).to_be_disabled()
    expect(notice).to_contain_text("Funds are held on the client's card")
    screenshot(page, "preauth-held")

    # --- Three days out: scheduled 24 hours before; rescheduled to 48; then cancelled. ---
    later = _local_start(timedelta(days=3))
    _book(page, live_server, client, later)
    expect(notice).to_have_attribute("data-state", "scheduled")
    expect(notice.locator("#preauth-message")).to_have_text(
        f"Pre-authorization of $25.00 scheduled for {_local_text(_hours_before(later, 24))}"
    )
    expect(notice).not_to_have_attribute("hx-trigger", re.compile("every"))

    encounter_url = page.url
    page.get_by_role("button", name="Edit appointment").click()
    expect(page.get_by_role("heading", name="Edit appointment")).to_be_visible()
    expect(page.locator("#preauth-moves")).to_contain_text("moves with the start")
    expect(page.get_by_label("Start time")).to_have_value(later.strftime("%H:%M"))
    screenshot(page, "encounter-edit")
    page.goto(encounter_url)

    notice.get_by_role("button", name="Reschedule").click()
    dialog = page.locator("dialog#preauth-dialog")
    expect(dialog).to_be_visible()
    hours = dialog.get_by_label("Hours before the appointment")
    expect(hours).to_have_value("24")
    hours.fill("-4")
    expect(dialog.locator("#preauth-preview")).to_contain_text("Hours cannot be negative.")
    hours.fill("48")
    new_time = _local_text(_hours_before(later, 48))
    expect(dialog.locator("#preauth-new-time")).to_have_text(new_time)
    screenshot(page, "preauth-reschedule-dialog")
    dialog.get_by_role("button", name="Reschedule").click()

    expect(page.locator("dialog#preauth-dialog")).to_have_count(0)
    expect(notice.locator("#preauth-message")).to_have_text(
        f"Pre-authorization of $25.00 scheduled for {new_time}"
    )
    expect(notice.get_by_role("status")).to_have_text("Pre-authorization rescheduled.")

    notice.get_by_role("button", name="Cancel").click()
    expect(notice).to_have_attribute("data-state", "cancelled")
    expect(notice.locator("#preauth-message")).to_have_text("Pre-authorization cancelled.")
    expect(notice).to_contain_text(f"Cancelled by {live_world.biller.name}.")
    expect(notice.get_by_role("button", name="Reschedule")).to_be_visible()
    expect(notice.get_by_role("button", name="Cancel")).to_have_count(0)
    expect(notice.get_by_role("button", name="Create invoice")).to_have_count(0)
    screenshot(page, "preauth-cancelled")


def test_a_declined_card_fails_and_retry_works_after_a_good_card_is_the_default(
    page, live_server, live_world, start_worker
):
    client = _seed(live_server, live_world)
    start_worker()
    sign_in(page, live_server, live_world.biller)
    insurance_url = f"{live_server.url}/clients/{client.id}/insurance"
    page.goto(insurance_url)
    add_card_through_form(page, DECLINED_ON_CHARGE)

    _book(page, live_server, client, _local_start(timedelta(hours=2)))
    encounter_url = page.url
    notice = page.locator("#preauth")
    expect(notice).to_have_attribute("data-state", "failed", timeout=PLACED_WITHIN_MS)
    expect(notice.locator("#preauth-message")).to_contain_text("Pre-authorization failed:")
    retry = notice.get_by_role("button", name="Retry")
    expect(retry).to_be_disabled()
    expect(notice.locator("#preauth-retry-why")).to_contain_text("The same card was declined.")
    screenshot(page, "preauth-failed")

    page.goto(insurance_url)
    add_card_through_form(page, VISA)
    page.locator("#cards-table tr:has-text('•••• 4242')").get_by_text("Make default").click()
    expect(page.locator("#cards-panel").get_by_role("status")).to_contain_text(
        "is now the default card."
    )

    page.goto(encounter_url)
    expect(retry).to_be_enabled()
    retry.click()
    expect(notice).to_have_attribute("data-state", "held", timeout=PLACED_WITHIN_MS)
    expect(notice.locator("#preauth-message")).to_have_text("$25.00 held on Visa •••• 4242")


def test_an_admin_edits_the_payments_settings_and_sees_the_96_hour_warning(
    page, live_server, live_world
):
    with live_server.seed() as session:
        session.get(Organization, live_world.org.id).timezone = TIMEZONE
    sign_in(page, live_server, live_world.admin)
    page.goto(f"{live_server.url}/schedule")
    page.locator("nav summary", has_text=re.compile(r"^Admin$")).click()
    with page.expect_navigation():  # load: htmx has processed the page
        page.get_by_role("link", name="Payments Settings").click()
    expect(page.get_by_role("heading", name="Payments Settings")).to_be_visible()
    expect(page.locator("#preauth-config .badge")).to_have_text("Inactive")

    page.get_by_role("button", name="Edit Config").click()
    dialog = page.locator("dialog#payments-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Active").check()
    hours = dialog.get_by_label("Hours before the encounter start")
    hours.fill("1.5")
    expect(dialog.locator("#hours-feedback")).to_contain_text("Use a whole number of hours")
    hours.fill("100")
    expect(dialog.locator("#hours-warning")).to_contain_text("4 days 18 hours")
    screenshot(page, "payments-settings-dialog")
    with page.expect_navigation():
        dialog.get_by_role("button", name="Save").click()

    expect(page.get_by_role("status").filter(has_text="Payments settings saved.")).to_be_visible()
    expect(page.locator("#preauth-config .badge")).to_have_text("Active")
    expect(page.locator("#preauth-hours")).to_have_text("100 hours")
    expect(page.locator("#hours-warning")).to_contain_text("4 days 18 hours")
    screenshot(page, "payments-settings")
