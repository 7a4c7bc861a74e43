"""A new admin opens the one-time link, chooses a password, and signs in with it."""

from playwright.sync_api import expect

from tests import factories
from tests.browser.conftest import screenshot, sign_in
from webapp.models.base import utcnow
from webapp.services import password_links

PASSWORD = "a practice of our own"


def test_a_new_admin_chooses_a_password_through_the_link_and_signs_in(
    page, live_server, live_world
):
    with live_server.seed():
        newcomer = factories.user(live_world.org, "admin", email="owner@harbor.example")
        newcomer.password_hash = password_links.unusable_password_hash()
    with live_server.app.app_context():
        token = password_links.issue(newcomer, password_links.SET_UP, now=utcnow())
    link = f"{live_server.url}/password/{token}"

    page.set_viewport_size({"width": 390, "height": 800})
    page.goto(link)
    expect(page.get_by_role("heading", name="Choose your password")).to_be_visible()
    expect(page.get_by_text("owner@harbor.example")).to_be_visible()
    page.get_by_label("New password").fill("too short")
    page.get_by_label("Type it again").fill("not the same")
    page.get_by_role("button", name="Set password").click()
    expect(page.get_by_text("Use at least 12 characters.")).to_be_visible()
    expect(page.get_by_text("The two passwords are not the same.")).to_be_visible()
    screenshot(page, "set-password-errors-390")

    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_label("New password").fill(PASSWORD)
    page.get_by_label("Type it again").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Set password").click()
    expect(page).to_have_url(f"{live_server.url}/login")
    expect(page.get_by_text("Your password is set. Sign in with it.")).to_be_visible()
    screenshot(page, "set-password-done")

    sign_in(page, live_server, newcomer, PASSWORD)
    expect(page).to_have_url(f"{live_server.url}/")  # Today, the home page

    page.goto(link)
    expect(page.get_by_text("This link was already used")).to_be_visible()
