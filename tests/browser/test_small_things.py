"""The small things that make it feel finished, each tried in Chromium.

Skip link and focus ring; focus back on the opener when a dialog closes (by its Close
button, by Escape, by the corner button); confirmations in the app's own dialog (the
browser's never opens); every dialog's own URL opened directly shows its page with the
dialog open; the favicon; the time zone beside times; Frequency only for Units; the
appointment's duration following its services; the README's spaced test card.
"""

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from tests import factories
from tests.browser.cards import open_card_form
from tests.browser.conftest import sign_in
from tests.browser.test_content_security_policy import _seed
from tests.web.test_access import ROUTES
from webapp.models.base import utcnow

# GET routes answering with a dialog: opened directly, their page shows them open.
DIALOG_ROUTES = {
    "authorizations.new": "authorization-dialog",
    "authorizations.edit": "authorization-dialog",
    "billing.charge": "money-dialog",
    "billing.release": "money-dialog",
    "billing.cancellation_fee": "money-dialog",
    "billing.create_invoice": "invoice-dialog",
    "billing.finalize": "close-dialog",
    "billing.cancel": "close-dialog",
    "billing.charge_balance": "balance-dialog",
    "billing.void": "void-dialog",
    "billing.refund": "refund-dialog",
    "billing.email_receipt": "receipt-dialog",
    "payments_settings.edit": "payments-dialog",
    "preauth.reschedule": "preauth-dialog",
    "preauth.renew": "renew-dialog",
}


def _opener_has_focus(page, selector: str) -> bool:
    return page.evaluate(f"document.activeElement === document.querySelector({selector!r})")


def test_the_skip_link_and_the_focus_ring(page, live_server, live_world):
    sign_in(page, live_server, live_world.admin)
    page.goto(f"{live_server.url}/clients")
    page.keyboard.press("Tab")
    skip = page.locator("a.skip-link")
    expect(skip).to_be_focused()
    box = skip.bounding_box()
    assert box["y"] >= 0 and box["height"] > 0  # on screen once focused
    ring = skip.evaluate("(e) => getComputedStyle(e)")
    assert ring["outlineStyle"] != "none" and float(ring["outlineWidth"].rstrip("px")) >= 2
    page.keyboard.press("Enter")
    expect(page.locator("main#main")).to_be_focused()
    page.keyboard.press("Tab")  # the first control of the page: a ring shows
    style = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert style != "none"


@pytest.mark.parametrize("how", ["Close button", "corner button", "Escape"])
def test_focus_returns_to_the_opener_when_a_dialog_closes(page, live_server, live_world, how):
    rows = _seed(live_server, live_world)
    sign_in(page, live_server, live_world.biller)
    page.goto(f"{live_server.url}/invoices/{rows['open_invoice']}")
    page.locator("#void-invoice").focus()
    page.keyboard.press("Enter")
    dialog = page.locator("dialog#void-dialog")
    expect(dialog).to_be_visible()
    if how == "Escape":
        page.keyboard.press("Escape")
    elif how == "corner button":
        dialog.locator("header [data-close-dialog]").click()
    else:
        dialog.locator("footer [data-close-dialog]").click()
    expect(dialog).to_have_count(0)
    assert _opener_has_focus(page, "#void-invoice")


def test_confirmations_ask_in_the_apps_own_dialog(page, live_server, live_world):
    with live_server.seed():
        client = factories.client(live_world.org)
        insurance = factories.insurance(live_world.org, client, factories.payer(live_world.org))
        factories.authorization(live_world.org, insurance, [factories.service_type(live_world.org)])
    native = []
    page.on("dialog", lambda d: (native.append(d.message), d.dismiss()))
    sign_in(page, live_server, live_world.biller)
    page.goto(f"{live_server.url}/clients/{client.id}/insurance")
    remove = page.locator("a.danger-link", has_text="Remove")
    remove.click()
    confirm = page.locator("dialog#confirm-dialog")
    expect(confirm).to_be_visible()
    expect(confirm).to_contain_text("Its appointments will no longer count against it")
    confirm.locator("footer [data-close-dialog]").click()  # changed my mind: nothing happens
    expect(confirm).to_have_count(0)
    expect(remove).to_be_focused()
    expect(page.locator("a.danger-link", has_text="Remove")).to_have_count(1)
    remove.click()
    page.locator("dialog#confirm-dialog").get_by_role("button", name="Remove").click()
    expect(page.locator("a.danger-link", has_text="Remove")).to_have_count(0)
    assert native == []


@pytest.mark.parametrize("endpoint", sorted(DIALOG_ROUTES))
def test_a_dialogs_own_url_opens_its_page_with_the_dialog_open(
    page, live_server, live_world, endpoint
):
    rows = _seed(live_server, live_world)
    rows |= {"encounter": rows["held_encounter"], "invoice": rows["open_invoice"]}
    if endpoint == "preauth.renew":
        rows["encounter"] = rows["held_encounter"]
    sign_in(page, live_server, live_world.admin)
    path = ROUTES[endpoint][1].format(**rows)
    page.goto(live_server.url + path)
    dialog = page.locator(f"dialog#{DIALOG_ROUTES[endpoint]}[open]")
    expect(dialog).to_be_visible()
    expect(page.locator("main h1")).to_be_visible()  # the page behind it, not a blank one
    assert path.split("?")[0] not in page.url.split("?")[0]
    dialog.locator("footer [data-close-dialog]").first.click()
    expect(page.locator("dialog")).to_have_count(0)
    expect(page.locator("main h1")).to_be_visible()


def test_a_dialog_url_from_elsewhere_opens_nothing(page, live_server, live_world):
    sign_in(page, live_server, live_world.admin)
    for query in ("dialog=https://evil.test/x&slot=dialog", "dialog=//evil.test/x&slot=dialog",
                  "dialog=/no/such/page&slot=dialog", "dialog=/clients&slot=a%22b"):  # fmt: skip
        page.goto(f"{live_server.url}/clients?{query}")
        page.wait_for_timeout(200)
        assert page.locator("[data-load-dialog]").count() == 0, query
        expect(page.locator("dialog")).to_have_count(0)


def test_the_favicon(page, live_server, live_world):
    response = page.goto(f"{live_server.url}/favicon.ico")
    assert response.ok and response.headers["content-type"].startswith("image/svg+xml")
    sign_in(page, live_server, live_world.admin)
    icon = page.locator("link[rel=icon]").get_attribute("href")
    assert page.request.get(live_server.url + icon).ok


def test_times_show_the_organizations_time_zone(page, live_server, live_world):
    rows = _seed(live_server, live_world)
    sign_in(page, live_server, live_world.admin)
    page.goto(f"{live_server.url}/schedule")
    zone = page.locator("#schedule-zone abbr.tz")
    expect(zone).to_have_attribute("title", "America/New_York")
    assert zone.inner_text() in ("EST", "EDT")
    page.goto(f"{live_server.url}/encounters/{rows['held_encounter']}")
    assert page.locator("main h1 abbr.tz").inner_text() in ("EST", "EDT")
    page.goto(f"{live_server.url}/clients/{rows['client']}/encounters/new")
    expect(page.get_by_label("Start time")).to_be_visible()
    assert "(E" in page.locator("label[for=time]").inner_text()


def test_frequency_only_for_units(page, live_server, live_world):
    with live_server.seed():
        client = factories.client(live_world.org)
        factories.insurance(live_world.org, client, factories.payer(live_world.org))
    sign_in(page, live_server, live_world.biller)
    page.goto(f"{live_server.url}/clients/{client.id}/insurance")
    page.get_by_role("button", name="Add authorization").click()
    dialog = page.locator("dialog#authorization-dialog")
    frequency = dialog.get_by_label("Frequency")
    expect(frequency).to_be_hidden()  # no type chosen yet
    dialog.get_by_role("radio", name="Units").check()
    expect(frequency).to_be_visible()
    frequency.select_option(index=1)
    dialog.get_by_role("radio", name="Sessions").check()
    expect(frequency).to_be_hidden()
    assert frequency.is_disabled()  # a hidden choice is not sent


def test_the_duration_follows_the_services_unless_set(page, live_server, live_world):
    with live_server.seed():
        client = factories.client(live_world.org)
        for code, name in (("90837", "Therapy"), ("90785", "Check-in")):
            factories.service_type(live_world.org, cpt_code=code, name=name)
    sign_in(page, live_server, live_world.admin)
    page.goto(f"{live_server.url}/clients/{client.id}/encounters/new")
    duration = page.get_by_label("Duration (minutes)")
    expect(duration).to_have_value("")
    page.get_by_label("Service 1").select_option(label="90837 · Therapy")
    page.locator("input[name='lines-0-minutes']").fill("45")
    expect(duration).to_have_value("45")
    page.get_by_label("Service 2").select_option(label="90785 · Check-in")
    page.locator("input[name='lines-1-minutes']").fill("15")
    expect(duration).to_have_value("60")
    duration.fill("50")  # set by hand: it stays
    page.locator("input[name='lines-1-minutes']").fill("20")
    expect(duration).to_have_value("50")
    duration.fill("")  # emptied: it follows again
    page.locator("input[name='lines-1-minutes']").fill("25")
    expect(duration).to_have_value("70")


def test_the_readmes_test_card_typed_with_spaces_saves(page, live_server, live_world):
    with live_server.seed():
        client = factories.client(live_world.org)
    sign_in(page, live_server, live_world.biller)
    page.goto(f"{live_server.url}/clients/{client.id}/insurance")
    dialog = open_card_form(page)
    element = dialog.locator("#card-element")
    element.get_by_placeholder("number").press_sequentially("4242 4242 4242 4242")
    expiry = utcnow() + timedelta(days=400)
    element.get_by_placeholder("exp_month").fill(f"{expiry.month:02d}")
    element.get_by_placeholder("exp_year").fill(f"{expiry.year % 100:02d}")
    element.get_by_placeholder("cvc").fill("123")
    element.get_by_placeholder("postal_code").fill("02139")
    dialog.get_by_label("Name on card").fill("Ada Lovelace")
    dialog.get_by_role("button", name="Save card").click()
    expect(page.locator("dialog#card-dialog")).to_have_count(0)
    expect(page.locator("#cards-table")).to_contain_text("•••• 4242")
