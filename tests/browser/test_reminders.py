"""Reminders in a real browser: preferences, the bell and Notifications, the Outbox."""

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from tests import factories
from tests.browser.conftest import screenshot, sign_in
from webapp.extensions import db
from webapp.models import Organization
from webapp.services import reminders
from webapp.services.coverage import organization_today
from webapp.services.reminder_digest import send_digest


@pytest.fixture
def outbox(live_server, tmp_path):
    """This test's own outbox folder in the live app."""
    config = live_server.app.config
    before = config["OUTBOX_PATH"], config["PUBLIC_URL"]
    config.update(OUTBOX_PATH=str(tmp_path / "outbox"), PUBLIC_URL=live_server.url)
    yield tmp_path / "outbox"
    config["OUTBOX_PATH"], config["PUBLIC_URL"] = before


def _seed_authorizations(live_server, world) -> None:
    with live_server.seed():
        org = world.org
        today = organization_today(org)
        blue = factories.payer(org, name="Blue Harbor Health")
        evergreen = factories.payer(org, name="Evergreen Mutual")
        therapy = factories.service_type(org, cpt_code="90837", name="Psychotherapy, 60 min")
        rows = [
            ("Maya", "Patel", blue, "BH-40912", 5, 12),
            ("Noah", "Kim", evergreen, "EM-77310", 27, 20),
            ("Olivia", "Garcia", blue, "BH-40577", 58, 24),
            ("Liam", "Okafor", evergreen, "EM-80021", 140, 1),
        ]
        for first, last, payer, number, days_left, allowed in rows:
            person = factories.client(org, first_name=first, last_name=last,
                                      primary_clinician_id=world.clinician.id)  # fmt: skip
            policy = factories.insurance(org, person, payer)
            factories.authorization(org, policy, [therapy], number=number, allowed=allowed,
                                    start_date=today - timedelta(days=200),
                                    end_date=today + timedelta(days=days_left))  # fmt: skip
        world.biller.remind_expiration_in_app = world.biller.remind_exhaustion_in_app = True


def _run_reminders(live_server, world) -> None:
    """What the hourly job does, in the live app: claim, notify, then email digests."""
    with live_server.app.app_context():
        org = db.session.get(Organization, world.org.id)
        result = reminders.run_for_organization(org)
        for user_id in result.digest_user_ids:
            send_digest(user_id)
        db.session.remove()


def test_admin_asks_for_reminders_reads_them_in_the_app_and_in_the_outbox(
    page, live_server, live_world, outbox
):
    _seed_authorizations(live_server, live_world)
    sign_in(page, live_server, live_world.admin)

    page.locator(".user-menu summary").click()
    with page.expect_navigation():  # load: htmx has processed the page
        page.get_by_role("link", name="My Profile & Settings").click()
    expect(page.get_by_role("heading", name="General Preferences")).to_be_visible()
    for label in ("Expiration reminders by email", "Expiration reminders in the app",
                  "Exhaustion reminders by email", "Exhaustion reminders in the app"):  # fmt: skip
        page.get_by_label(label).check()
    page.get_by_role("button", name="Save preferences").click()
    expect(page.get_by_role("status")).to_have_text("✓ Your preferences were saved.")
    screenshot(page, "reminders-preferences")

    _run_reminders(live_server, live_world)
    page.goto(f"{live_server.url}/clients")
    bell = page.locator("#notification-bell")
    expect(bell.locator(".bell-count")).to_have_text("4")  # 7, 30, 60 days; 1 session left
    bell.click()
    expect(page.get_by_role("heading", name="4 unread")).to_be_visible()
    expect(page.locator(".notification-title").first).to_contain_text("BH-40912")
    screenshot(page, "reminders-notifications")

    page.locator("li.notification").first.get_by_role("button", name="Mark as read").click()
    expect(page.get_by_role("heading", name="3 unread")).to_be_visible()
    expect(bell.locator(".bell-count")).to_have_text("3")
    page.get_by_role("button", name="Mark all as read").click()
    expect(page.get_by_role("heading", name="All caught up")).to_be_visible()
    expect(bell.locator(".bell-count")).to_have_count(0)

    page.locator("summary").get_by_text("Admin", exact=True).click()
    with page.expect_navigation():  # load: htmx has processed the page
        page.get_by_role("link", name="Outbox").click()
    expect(page.get_by_role("heading", name="1 message")).to_be_visible()
    screenshot(page, "reminders-outbox")
    with page.expect_navigation():  # load: htmx has processed the page
        page.get_by_role("link", name="4 authorization reminders").click()
    preview = page.frame_locator("iframe.mail-preview")
    link = preview.get_by_role("link", name="Open authorization BH-40912")
    expect(link).to_have_attribute("href", f"{live_server.url}/authorizations/1")
    text = page.locator("pre.mail-text")
    expect(text).to_contain_text("EM-80021 for Liam Okafor has 1 session left")
    screenshot(page, "reminders-outbox-message")
