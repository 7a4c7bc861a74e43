"""Browser helpers for cards on file, shared by the browser tests that need a card.

The live server talks to the session's localstripe, whose test Stripe.js draws the
card Element as five plain inputs (number, exp_month, exp_year, cvc, postal_code)
where Stripe's own draws an iframe.
"""

from playwright.sync_api import Page, expect

VISA = "4242424242424242"
MASTERCARD = "5555555555554444"
DECLINED = "4000000000000002"  # declined when the card is set up
DECLINED_ON_CHARGE = "4000000000000341"  # saves fine, declined when a hold is placed


def open_card_form(page: Page):
    """Click Add card on the client's Bill To & Insurance tab; the dialog with Stripe's form."""
    page.get_by_role("button", name="Add card").click()
    dialog = page.locator("dialog#card-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#card-element input").first).to_be_visible()  # Stripe.js loaded
    return dialog


def fill_card(
    dialog, number: str, *, exp_month: str = "12", exp_year: str = "31", cvc: str = "123"
) -> None:
    element = dialog.locator("#card-element")
    element.get_by_placeholder("number").fill(number)
    element.get_by_placeholder("exp_month").fill(exp_month)
    element.get_by_placeholder("exp_year").fill(exp_year)
    element.get_by_placeholder("cvc").fill(cvc)
    element.get_by_placeholder("postal_code").fill("02139")


def add_card_through_form(page: Page, number: str = VISA, **expiry) -> None:
    """Add a card on the open Bill To & Insurance tab and wait until it is listed.

    `expiry`: exp_month="MM", exp_year="YY". For a card that is refused, use
    `open_card_form` and `fill_card`, then read `#card-error`.
    """
    dialog = open_card_form(page)
    fill_card(dialog, number, **expiry)
    dialog.get_by_role("button", name="Save card").click()
    expect(page.locator("dialog#card-dialog")).to_have_count(0)
    expect(page.locator(f"#cards-table tr:has-text('•••• {number[-4:]}')").first).to_be_visible()
