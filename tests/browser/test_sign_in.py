"""Signing in through the real login page, and the HTMX client search behind it."""

import re

from playwright.sync_api import expect

from tests import factories
from tests.browser.conftest import screenshot, sign_in

WRONG_CREDENTIALS = "That email and password do not match an account."


def test_admin_signs_in_and_searches_clients(page, live_server, live_world):
    with live_server.seed():
        factories.client(live_world.org, first_name="Ada", last_name="Lovelace")
        factories.client(live_world.org, first_name="Grace", last_name="Hopper")

    page.goto(f"{live_server.url}/login")
    expect(page.get_by_role("heading", name="Sign in to Covered")).to_be_visible()
    screenshot(page, "login")

    sign_in(page, live_server, live_world.admin)
    expect(page).to_have_url(f"{live_server.url}/")  # Today, the home page
    expect(page.get_by_role("heading", name="Today", level=1)).to_be_visible()
    with page.expect_navigation():
        page.get_by_role("link", name="Clients", exact=True).click()
    expect(page).to_have_url(f"{live_server.url}/clients")
    expect(page.get_by_role("heading", name="Clients", level=1)).to_be_visible()
    table = page.locator("#client-table")
    expect(table.get_by_role("link", name="Lovelace, Ada")).to_be_visible()
    expect(table.get_by_role("link", name="Hopper, Grace")).to_be_visible()
    screenshot(page, "clients")

    # A marker on window survives an HTMX swap but not a full page load.
    page.evaluate("window.__stillSamePage = true")
    with page.expect_request(lambda r: "/clients?q=" in r.url) as search:
        page.get_by_role("searchbox", name="Search clients").fill("hopper")
    assert search.value.headers.get("hx-request") == "true"

    expect(page).to_have_url(f"{live_server.url}/clients?q=hopper")
    expect(table.get_by_role("link", name="Hopper, Grace")).to_be_visible()
    expect(table.get_by_role("link", name="Lovelace, Ada")).to_have_count(0)
    assert page.evaluate("window.__stillSamePage") is True


def test_wrong_password_is_refused(page, live_server, live_world):
    sign_in(page, live_server, live_world.admin, password="not the password")

    expect(page.get_by_role("alert")).to_have_text(WRONG_CREDENTIALS)
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_label("Email", exact=True)).to_have_value(live_world.admin.email)
    screenshot(page, "login-error")
