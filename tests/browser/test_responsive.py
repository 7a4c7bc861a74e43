"""Every page at a phone's, a tablet's and a laptop's width (390, 768, 1280 px), in Chromium.

The walk: each GET page of tests/web/test_access.py's ROUTES, as each role that may open
it (the rows of the CSP walk: a held hold, a kept visit, an open invoice), at each width.
A page fails when its document is wider than the viewport (the page scrolls sideways),
when the header's links are not folded behind the Menu button on a narrow screen (or do
not fit once it is pressed), when something pressed is under 44 px high on a narrow
screen, and when a dialog does not fit the screen. Screenshots of the main pages at the
three widths, and print previews, go to $COVERED_SHOTS (default screenshots/responsive).
"""

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in
from tests.browser.test_content_security_policy import _seed, _urls
from webapp import PROJECT_ROOT

WIDTHS = (390, 768, 1280)
NARROW = 390
SHOTS = Path(os.environ.get("COVERED_SHOTS", PROJECT_ROOT / "screenshots" / "responsive"))
# The pages people look at most, by the ROUTES template they come from.
MAIN_PAGES = {
    "clients": "/clients",
    "client": "/clients/{client}",
    "encounter": "/encounters/{held_encounter}",
    "schedule": "/schedule",
    "report": "/reports/authorizations",
    "ledger": "/authorizations/{authorization}",
    "invoice": "/invoices/{open_invoice}",
    "system": "/admin/system",
}
PRESSED = (
    "button, [role=button], input:not([type=checkbox],[type=radio],[type=hidden]), select, summary"
)

# How wide the document is, beside the viewport (clientWidth: without a scrollbar).
WIDER_THAN_VIEWPORT = """() => {
  const root = document.documentElement;
  const over = root.scrollWidth - root.clientWidth;
  if (over <= 0) return null;
  const sticksOut = (e) => e.getBoundingClientRect().right > root.clientWidth + 1;
  // The outermost elements that stick out (their parent does not): where to look.
  const culprits = [...document.querySelectorAll("body *")]
    .filter((e) => sticksOut(e) && !sticksOut(e.parentElement))
    .slice(0, 5).map((e) => e.tagName + (e.id ? "#" + e.id : "") + "." + e.className);
  return `${over}px too wide: ${culprits.join(", ")}`;
}"""
# Things pressed that are smaller than 44 px (visible ones only; links in sentences exempt).
SMALL_TARGETS = """(selector) => [...document.querySelectorAll(selector)]
  .filter((e) => e.offsetParent !== null && !e.closest("template, .card-element"))
  .map((e) => [e, e.getBoundingClientRect()])
  .filter(([e, box]) => box.width > 0 && box.height < 43.5)
  .map(([e, box]) => `${e.tagName}.${e.className} "${(e.textContent || e.name || "").trim()}"`
    + ` ${Math.round(box.height)}px`)"""


def _wait_for_page(page) -> None:
    page.wait_for_load_state("load")
    if "dialog=" in page.url:  # a dialog's own URL: the page behind it opens it
        page.locator("dialog[open]").wait_for(timeout=10_000)
    page.wait_for_timeout(150)  # htmx's load-triggered panels


def _close_open_dialogs(page) -> None:
    while page.locator("dialog[open]").count():
        page.locator("dialog[open] [data-close-dialog]").first.click()


def _slug(path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", path.split("?")[0].lower()).strip("-") or "home"


@pytest.mark.parametrize("role", ["admin", "biller", "clinician"])
def test_every_page_fits_every_width(page, live_server, live_world, role):
    rows = _seed(live_server, live_world)
    sign_in(page, live_server, live_world.user(role))
    problems = []
    for path in _urls(role, rows):
        page.set_viewport_size({"width": 1280, "height": 900})
        page.goto(live_server.url + path)
        _wait_for_page(page)
        if page.locator("dialog[open]").count():
            _check_dialog(page, path, problems)
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            page.wait_for_timeout(50)
            too_wide = page.evaluate(WIDER_THAN_VIEWPORT)
            if too_wide:
                problems.append(f"{path} at {width}px: {too_wide}")
        _close_open_dialogs(page)
        if page.evaluate("Boolean(window.htmx)"):
            page.set_viewport_size({"width": NARROW, "height": 900})
            small = page.evaluate(SMALL_TARGETS, f"main :is({PRESSED})")
            if small:
                problems.append(f"{path} at {NARROW}px, under 44px: {small[:4]}")
    assert problems == []


def _check_dialog(page, where: str, problems: list) -> None:
    """The open dialog fits a phone's screen, and its close buttons say one word."""
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 800})
        page.wait_for_timeout(50)
        box = page.locator("dialog[open] > article").bounding_box()
        if box["x"] < 0 or box["x"] + box["width"] > width or box["height"] > 800:
            problems.append(f"{where}: dialog {box} does not fit {width}px")
    words = page.locator("dialog[open] [data-close-dialog]").evaluate_all(
        "(buttons) => buttons.map((b) => b.getAttribute('aria-label') || b.textContent.trim())"
    )
    if set(words) != {"Close"}:
        problems.append(f"{where}: dialog closes with {words}")


def test_every_dialog_fits_a_phone(page, live_server, live_world):
    """Each dialog a button opens, at 390 px: inside the screen, scrolling inside itself."""
    rows = _seed(live_server, live_world)
    sign_in(page, live_server, live_world.admin)
    page.set_viewport_size({"width": NARROW, "height": 700})
    problems, opened = [], set()
    for path in _urls("admin", rows):
        page.goto(live_server.url + path)
        _wait_for_page(page)
        _close_open_dialogs(page)
        if not page.evaluate("Boolean(window.htmx)"):
            continue
        triggers = page.locator("[data-opens-dialog]:not([disabled])")
        for index in range(triggers.count()):
            if not triggers.nth(index).is_visible():
                continue
            triggers.nth(index).click()
            page.locator("dialog[open]").wait_for(timeout=10_000)
            opened.add(page.locator("dialog[open]").get_attribute("id"))
            _check_dialog(page, path, problems)
            page.set_viewport_size({"width": NARROW, "height": 700})
            small = page.evaluate(SMALL_TARGETS, f"dialog[open] :is({PRESSED})")
            if small:
                problems.append(f"{path} dialog at {NARROW}px, under 44px: {small[:4]}")
            _close_open_dialogs(page)
    assert problems == []
    assert len(opened) >= 9, opened


def test_the_header_folds_into_a_menu_on_narrow_screens(page, live_server, live_world):
    sign_in(page, live_server, live_world.admin)
    header = page.locator("header.app-header")
    toggle = header.get_by_role("button", name="Menu")
    clients = header.get_by_role("link", name="Clients")
    for width in (NARROW, 768):
        page.set_viewport_size({"width": width, "height": 800})
        page.goto(f"{live_server.url}/clients")
        assert toggle.is_visible() and not clients.is_visible()
        assert toggle.get_attribute("aria-expanded") == "false"
        assert toggle.bounding_box()["height"] >= 44
        toggle.click()
        assert toggle.get_attribute("aria-expanded") == "true"
        links = header.locator(".nav-menu a:visible, .nav-menu summary:visible, .nav-menu button")
        for index in range(links.count()):
            box = links.nth(index).bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= width, links.nth(index)
            assert box["height"] >= 43.5, links.nth(index).inner_text()
        header.locator(".nav-links summary").click()
        header.get_by_role("link", name="System").click()
        page.wait_for_url("**/admin/system")
        # The page's own text stays on the page, never white on the light background.
        assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{live_server.url}/clients")
    assert not toggle.is_visible() and clients.is_visible()
    assert header.bounding_box()["height"] < 100  # one row


def test_screenshots_of_the_main_pages(page, live_server, live_world):
    """Not an assertion of looks: the pictures people look at (and a check each renders)."""
    rows = _seed(live_server, live_world)
    sign_in(page, live_server, live_world.admin)
    SHOTS.mkdir(parents=True, exist_ok=True)
    for name, template in MAIN_PAGES.items():
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            page.goto(live_server.url + template.format(**rows))
            _wait_for_page(page)
            page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": NARROW, "height": 900})
    page.goto(f"{live_server.url}/clients")
    page.get_by_role("button", name="Menu").click()
    page.screenshot(path=str(SHOTS / "menu-open-390.png"), full_page=True)
    for name, path in (("dialog-finalize", "/encounters/{held_encounter}/finalize"),
                       ("dialog-receipt", "/invoices/{open_invoice}/email-receipt")):  # fmt: skip
        for width in (NARROW, 1280):
            page.set_viewport_size({"width": width, "height": 800})
            page.goto(live_server.url + path.format(**rows))
            page.locator("dialog[open]").wait_for()
            page.screenshot(path=str(SHOTS / f"{name}-{width}.png"))


def test_a_wide_table_scrolls_in_its_own_panel_with_its_first_column_in_view(
    page, live_server, live_world
):
    rows = _seed(live_server, live_world)
    sign_in(page, live_server, live_world.biller)
    page.set_viewport_size({"width": NARROW, "height": 900})
    page.goto(f"{live_server.url}/invoices/{rows['open_invoice']}")
    wrapper = page.locator("#invoice-payments .table-scroll")
    expect(wrapper).to_have_class(re.compile(r"\bscrolls\b"))
    first = wrapper.locator("thead th").first
    assert first.evaluate("(e) => getComputedStyle(e).position") == "sticky"
    wrapper.evaluate("(e) => { e.scrollLeft = 200; }")
    assert first.bounding_box()["x"] >= wrapper.bounding_box()["x"] - 1  # still in view
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.wait_for_timeout(100)
    expect(wrapper).not_to_have_class(re.compile(r"\bscrolls\b"))  # wide enough: no scrolling
