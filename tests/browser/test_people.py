"""A practice's people, in Chromium: the admin invites a biller by email; the biller opens
the emailed link, chooses a password, signs in and changes it on My Profile; the admin
sees all of it in the audit trail."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot, sign_in

FIRST_PASSWORD = "copper kettle morning fog"
SECOND_PASSWORD = "violet harbor seventeen lanterns"
LINK = re.compile(r"https?://[^/\s]+(/password/[A-Za-z0-9_.\-]+)")


@pytest.fixture
def mail_to_smtp(live_server, smtp_server):
    """The live app sends its mail to the test SMTP server for this test."""
    smtp_server.reset()
    config = live_server.app.config
    saved = {key: config.get(key) for key in ("MAIL_SERVER", "MAIL_PORT", "MAIL_USE_TLS")}
    config.update(MAIL_SERVER=smtp_server.host, MAIL_PORT=smtp_server.port, MAIL_USE_TLS=False)
    yield smtp_server
    config.update(saved)


def test_invite_accept_sign_in_change_password_and_the_trail_shows_it(
    browser, page, live_server, live_world, mail_to_smtp
):
    sign_in(page, live_server, live_world.admin)
    page.goto(f"{live_server.url}/admin/users")
    expect(page.get_by_role("heading", name="Users")).to_be_visible()
    page.get_by_role("button", name="Invite someone").click()
    dialog = page.locator("#invite-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Name").fill("Bea Biller")
    dialog.get_by_label("Email").fill("bea@harbor.example")
    dialog.get_by_label("Role").select_option("biller")
    screenshot(page, "people-invite-dialog-1280")
    with page.expect_navigation():
        dialog.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_text("Bea Biller is invited as Biller.")).to_be_visible()
    row = page.locator("tr", has_text="Bea Biller")
    expect(row.locator("[data-state]")).to_have_text("Invited")

    [message] = mail_to_smtp.messages_to("bea@harbor.example")
    path = LINK.search(message.part("plain")).group(1)

    biller_context = browser.new_context(viewport={"width": 390, "height": 800})
    try:
        biller = biller_context.new_page()
        biller.goto(live_server.url + path)
        expect(biller.get_by_text("bea@harbor.example")).to_be_visible()
        biller.get_by_label("New password").fill(FIRST_PASSWORD)
        biller.get_by_label("Type it again").fill(FIRST_PASSWORD)
        with biller.expect_navigation():
            biller.get_by_role("button", name="Set password").click()
        expect(biller.get_by_text("Your password is set. Sign in with it.")).to_be_visible()

        class Bea:
            email = "bea@harbor.example"

        sign_in(biller, live_server, Bea, FIRST_PASSWORD)
        expect(biller).to_have_url(f"{live_server.url}/")  # Today, the home page

        biller.goto(f"{live_server.url}/profile/password")
        biller.get_by_label("Current password").fill(FIRST_PASSWORD)
        biller.get_by_label("New password").fill("password1234")
        biller.get_by_label("Type it again").fill("password1234")
        biller.get_by_role("button", name="Change password").click()
        expect(biller.locator("#new_password-error")).to_contain_text("very common password")
        screenshot(biller, "people-profile-password-error-390")
        biller.get_by_label("Current password").fill(FIRST_PASSWORD)
        biller.get_by_label("New password").fill(SECOND_PASSWORD)
        biller.get_by_label("Type it again").fill(SECOND_PASSWORD)
        with biller.expect_navigation():
            biller.get_by_role("button", name="Change password").click()
        expect(biller.get_by_text("You were signed out everywhere else")).to_be_visible()
        screenshot(biller, "people-profile-password-390")
    finally:
        biller_context.close()

    page.goto(f"{live_server.url}/admin/audit")
    for label in ("User: invited", "User: password set", "User: password changed"):
        expect(page.locator("tbody tr", has_text=label).first).to_be_visible()
    expect(page.locator("tbody tr", has_text="User: password changed")).to_contain_text(
        "Bea Biller"
    )
    page.get_by_label("Person").select_option(label="Bea Biller")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#audit-page h2")).to_have_text("2 entries")
    screenshot(page, "people-audit-1280")
    page.set_viewport_size({"width": 390, "height": 800})
    screenshot(page, "people-audit-390")


@pytest.mark.parametrize("width", [390, 1280])
def test_the_people_pages_at_phone_and_desktop_widths(page, live_server, live_world, width):
    """Screenshots to look at: Users, the person dialog, the invite dialog, Settings."""
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, live_server, live_world.admin)
    page.goto(f"{live_server.url}/admin/users")
    screenshot(page, f"people-users-{width}")
    page.get_by_role("button", name=f"Manage {live_world.admin.name}").click()
    dialog = page.locator("#person-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Deactivate").click()
    expect(dialog.locator("#refusal-deactivate")).to_contain_text("your own account")
    screenshot(page, f"people-person-dialog-{width}")
    dialog.get_by_role("button", name="Close").last.click()
    page.get_by_role("button", name="Invite someone").click()
    expect(page.locator("#invite-dialog")).to_be_visible()
    page.locator("#invite-dialog").get_by_role("button", name="Send invitation").click()
    expect(page.locator("#name-error")).to_be_visible()
    screenshot(page, f"people-invite-dialog-errors-{width}")
    page.goto(f"{live_server.url}/admin/organization")
    screenshot(page, f"people-settings-{width}")
    page.goto(f"{live_server.url}/profile/password")
    screenshot(page, f"people-profile-{width}")
    page.goto(f"{live_server.url}/admin/audit")
    screenshot(page, f"people-audit-empty-{width}")
