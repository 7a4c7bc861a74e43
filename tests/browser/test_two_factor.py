"""Two-factor sign-in in Chromium: a biller whose practice requires it sets it up by reading
the key off the page (the code computed with pyotp, as a phone app would), signs out, signs
in with a code, then with a recovery code, which works once. Every page under the strict CSP.
"""

import time

import pyotp
from playwright.sync_api import expect

from tests.browser.conftest import screenshot, sign_in
from tests.browser.test_content_security_policy import Watch
from webapp.extensions import db
from webapp.models import User
from webapp.models.base import utcnow
from webapp.services import two_factor

PHONE, DESKTOP = {"width": 390, "height": 844}, {"width": 1280, "height": 900}


def both_widths(page, name: str) -> None:
    """Screenshots at 390 px and 1280 px (screenshots/twofa-<name>-<width>.png)."""
    for size in (PHONE, DESKTOP):
        page.set_viewport_size(size)
        screenshot(page, f"twofa-{name}-{size['width']}")


def next_code(secret: str) -> str:
    """The code of the next time step: later than any step already used, within the window."""
    return pyotp.TOTP(secret).at(time.time() + 30)


def sign_out(page) -> None:
    with page.expect_navigation():
        page.get_by_role("button", name="Sign out").click()


def test_a_biller_sets_up_two_factor_and_signs_in_with_a_code_then_a_recovery_code(
    page, live_server, live_world
):
    with live_server.seed() as session:
        live_world.org.require_two_factor = True
        session.merge(live_world.org)
    watch = Watch(page)
    biller = live_world.biller

    sign_in(page, live_server, biller)
    expect(page).to_have_url(f"{live_server.url}/profile/two-factor")
    expect(
        page.get_by_text("requires two-factor sign-in for admins and billers").first
    ).to_be_visible()
    page.goto(f"{live_server.url}/clients")  # nothing else opens until it is on
    expect(page).to_have_url(f"{live_server.url}/profile/two-factor")
    with page.expect_navigation():
        page.get_by_role("button", name="Set up two-factor sign-in").click()

    secret = page.locator("#two-factor-secret").inner_text().replace(" ", "")
    expect(page.locator("figure.qr svg")).to_be_visible()
    both_widths(page, "enrollment")
    page.get_by_label("Code from your app").fill("000000")
    with page.expect_navigation():
        page.get_by_role("button", name="Turn on two-factor sign-in").click()
    expect(page.get_by_text("That code is not right")).to_be_visible()
    page.get_by_label("Code from your app").fill(pyotp.TOTP(secret).now())
    with page.expect_navigation():
        page.get_by_role("button", name="Turn on two-factor sign-in").click()

    expect(page.get_by_role("heading", name="Two-factor sign-in is on")).to_be_visible()
    codes = page.get_by_role("list", name="Recovery codes").locator("code").all_inner_texts()
    assert len(set(codes)) == 10
    both_widths(page, "codes")
    with page.expect_navigation():
        page.get_by_role("button", name="I have saved my codes").click()
    expect(page).to_have_url(f"{live_server.url}/")
    sign_out(page)

    sign_in(page, live_server, biller)
    expect(page).to_have_url(f"{live_server.url}/login/two-factor")
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    both_widths(page, "second-step")
    page.get_by_label("Code", exact=True).fill(next_code(secret))
    with page.expect_navigation():
        page.get_by_role("button", name="Verify and sign in").click()
    expect(page).to_have_url(f"{live_server.url}/")
    sign_out(page)

    sign_in(page, live_server, biller)
    page.get_by_label("Code", exact=True).fill(codes[0])
    with page.expect_navigation():
        page.get_by_role("button", name="Verify and sign in").click()
    expect(page).to_have_url(f"{live_server.url}/")
    expect(
        page.get_by_text("You signed in with a recovery code; 9 of 10 are left.")
    ).to_be_visible()
    page.goto(f"{live_server.url}/profile/two-factor")
    expect(page.locator("#recovery-codes-left")).to_contain_text("9 of 10")
    both_widths(page, "status")
    sign_out(page)

    sign_in(page, live_server, biller)
    page.get_by_label("Code", exact=True).fill(codes[0])
    with page.expect_navigation():
        page.get_by_role("button", name="Verify and sign in").click()
    expect(
        page.get_by_text("That recovery code is not right, or it was already used.")
    ).to_be_visible()
    expect(page).to_have_url(f"{live_server.url}/login/two-factor")
    both_widths(page, "second-step-refused")
    # A refused code answers 422, which the console notes as a failed load; nothing else.
    assert [p for p in watch.take() if "status of 422" not in p] == []


def test_an_admin_resets_a_billers_two_factor_from_the_admin_page(page, live_server, live_world):
    with live_server.app.app_context():
        biller = db.session.get(User, live_world.biller.id)
        secret = two_factor.begin_enrollment(biller).secret
        two_factor.confirm_enrollment(biller, pyotp.TOTP(secret).now(), utcnow())
    watch = Watch(page)
    sign_in(page, live_server, live_world.admin)
    page.goto(f"{live_server.url}/admin/two-factor")
    expect(page.get_by_role("heading", name="Two-factor sign-in", level=1)).to_be_visible()
    row = page.get_by_role("listitem").filter(has_text=live_world.biller.email)
    expect(row.get_by_text("On", exact=True)).to_be_visible()
    row.get_by_text("Reset…").click()
    row.get_by_label("Reason (kept in the audit trail)").fill("Lost phone")
    both_widths(page, "admin")
    with page.expect_navigation():
        row.get_by_role("button", name=f"Reset two-factor of {live_world.biller.name}").click()
    done = f"Two-factor sign-in of {live_world.biller.name} is reset."
    expect(page.get_by_text(done)).to_be_visible()
    expect(row.get_by_text("Off", exact=True)).to_be_visible()
    assert watch.take() == []
