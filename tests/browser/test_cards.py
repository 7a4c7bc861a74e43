"""Cards on file in a real browser: localstripe's Stripe.js form, the default, removal."""

from playwright.sync_api import expect

from tests import factories
from tests.browser.cards import (
    DECLINED,
    MASTERCARD,
    VISA,
    add_card_through_form,
    fill_card,
    open_card_form,
)
from tests.browser.conftest import screenshot, sign_in


def _seed_client(live_server, world):
    with live_server.seed():
        return factories.client(
            world.org,
            first_name="Grace",
            last_name="Hopper",
            email="grace@example.com",
            primary_clinician_id=world.clinician.id,
        )


def _row(page, last4: str):
    return page.locator(f"#cards-table tr:has-text('•••• {last4}')")


def test_biller_adds_cards_through_stripe_js_chooses_the_default_and_removes_one(
    page, live_server, live_world
):
    client = _seed_client(live_server, live_world)
    sign_in(page, live_server, live_world.biller)
    page.goto(f"{live_server.url}/clients/{client.id}/insurance")
    panel = page.locator("#cards-panel")
    expect(panel.locator("#cards-table")).to_contain_text("No card on file.")

    # The form loads the configured (localstripe) Stripe.js and nothing else from outside.
    scripts = []
    page.on("request", lambda request: scripts.append(request.url))
    dialog = open_card_form(page)
    outside = [u for u in scripts if not u.startswith(live_server.url)]
    assert outside and all(u.startswith(live_server.app.config["STRIPE_API_BASE"]) for u in outside)
    expect(dialog.get_by_label("Name on card")).to_have_value("Grace Hopper")

    # A declined card: the error shows next to the form and nothing is saved.
    fill_card(dialog, DECLINED)
    dialog.get_by_role("button", name="Save card").click()
    expect(dialog.locator("#card-error")).to_have_text("Your card was declined.")
    expect(dialog.get_by_role("button", name="Save card")).to_be_enabled()
    screenshot(page, "cards-declined")
    dialog.locator("footer [data-close-dialog]").click()
    expect(panel.locator("#cards-table")).to_contain_text("No card on file.")

    # The first card becomes the default; the second does not.
    add_card_through_form(page, VISA, exp_month="04", exp_year="31")
    expect(panel.get_by_role("status")).to_have_text(
        "Visa •••• 4242 saved. It is the default card."
    )
    expect(_row(page, "4242")).to_contain_text("04/2031")
    expect(_row(page, "4242").locator(".badge-info")).to_have_text("Default")
    add_card_through_form(page, MASTERCARD, exp_month="09", exp_year="32")
    expect(_row(page, "4444")).to_contain_text("09/2032")
    expect(_row(page, "4444").locator(".badge-info")).to_have_count(0)
    screenshot(page, "cards-two")

    # Choose the default.
    _row(page, "4444").get_by_text("Make default").click()
    expect(panel.get_by_role("status")).to_have_text("Visa •••• 4444 is now the default card.")
    expect(_row(page, "4444").locator(".badge-info")).to_have_text("Default")
    expect(_row(page, "4242").locator(".badge-info")).to_have_count(0)

    # Remove the other one, after confirming in the app's own dialog (not the browser's).
    _row(page, "4242").get_by_text("Remove").click()
    confirm = page.locator("dialog#confirm-dialog")
    expect(confirm).to_contain_text("Remove Visa •••• 4242?")
    confirm.get_by_role("button", name="Remove card").click()
    expect(panel.get_by_role("status")).to_have_text("Visa •••• 4242 removed.")
    expect(_row(page, "4242")).to_have_count(0)
    expect(panel.locator("#cards-table tbody tr")).to_have_count(1)
    screenshot(page, "cards-after-removal")

    # The list survives a reload, straight from the database.
    page.reload()
    expect(_row(page, "4444").locator(".badge-info")).to_have_text("Default")


def test_clinician_sees_cards_read_only(page, live_server, live_world):
    client = _seed_client(live_server, live_world)
    with live_server.seed():
        factories.payment_card(live_world.org, client, last4="1881", exp_month=2, exp_year=2020)
    sign_in(page, live_server, live_world.clinician)
    page.goto(f"{live_server.url}/clients/{client.id}/insurance")
    panel = page.locator("#cards-panel")
    expect(_row(page, "1881")).to_contain_text("02/2020")
    expect(_row(page, "1881").locator(".badge-expired")).to_have_text("Expired")
    expect(panel.get_by_role("button", name="Add card")).to_have_count(0)
    expect(panel.get_by_text("Remove")).to_have_count(0)
    screenshot(page, "cards-clinician")
