"""Keep me signed in, in a real browser: the session cookie goes (the browser was closed),
the remember-me cookie brings the person back, and they stay signed in page after page."""

import re

from playwright.sync_api import expect

from tests import factories
from tests.browser.conftest import screenshot

REMEMBER = "remember_token"


def _sign_in(page, live_server, user, *, remember: bool, password: str = factories.PASSWORD):
    page.goto(f"{live_server.url}/login")
    page.get_by_label("Email", exact=True).fill(user.email)
    page.get_by_label("Password", exact=True).fill(password)
    if remember:
        page.get_by_label("Keep me signed in").check()
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()


def _cookie_names(page) -> set[str]:
    return {c["name"] for c in page.context.cookies()}


def test_a_remembered_person_stays_signed_in_after_the_session_cookie_is_gone(
    page, live_server, live_world
):
    _sign_in(page, live_server, live_world.biller, remember=True)
    expect(page).to_have_url(f"{live_server.url}/")  # Today, the home page
    remember = next(c for c in page.context.cookies() if c["name"] == REMEMBER)
    assert remember["httpOnly"] and remember["sameSite"] == "Lax"

    page.context.clear_cookies(name="session")  # closing the browser drops it
    assert _cookie_names(page) == {REMEMBER}
    for path, heading in [
        ("/clients", "Clients"),
        ("/schedule", "Schedule"),
        ("/reports/authorizations", "Authorizations Report"),
        ("/notifications", "Notifications"),
        ("/clients", "Clients"),
    ]:
        page.goto(f"{live_server.url}{path}")
        expect(page).to_have_url(re.compile(re.escape(path) + "$"))
        expect(page.get_by_role("heading", level=1)).to_contain_text(heading)
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    page.reload()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    assert REMEMBER in _cookie_names(page)

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    assert REMEMBER not in _cookie_names(page)


def test_without_keep_me_signed_in_closing_the_browser_signs_out(page, live_server, live_world):
    _sign_in(page, live_server, live_world.clinician, remember=False)
    expect(page).to_have_url(f"{live_server.url}/")  # Today, the home page
    page.context.clear_cookies(name="session")
    page.goto(f"{live_server.url}/schedule")
    expect(page).to_have_url(re.compile(r"/login\?next=/schedule"))
    expect(page.get_by_role("status")).to_have_text("Please sign in to continue.")


def test_a_locked_account_is_told_why_and_what_to_do(page, live_server, live_world):
    for _ in range(5):
        _sign_in(page, live_server, live_world.admin, remember=False, password="nope")
    _sign_in(page, live_server, live_world.admin, remember=False)
    expect(page.get_by_role("alert")).to_contain_text("Too many failed sign-ins for this account.")
    expect(page).to_have_url(re.compile(r"/login$"))
    screenshot(page, "login-locked")
