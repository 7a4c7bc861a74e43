"""Paper: the report, the ledger, an invoice, its receipt and the day schedule, printed.

Chromium emulates print media (static/print.css): no header, menu or buttons; every
column of every table inside the page (none clipped by a scrolling panel); each day of
the schedule on its own page. Print previews (PDF pages of the real print) and
screenshots under print media go to $COVERED_SHOTS.
"""

from datetime import timedelta

from tests import factories
from tests.browser.conftest import sign_in
from tests.browser.test_content_security_policy import _seed
from tests.browser.test_responsive import SHOTS
from webapp.models.base import utcnow

PRINTED = {
    "report": "/reports/authorizations",
    "ledger": "/authorizations/{authorization}",
    "invoice": "/invoices/{open_invoice}",
    "receipt": "/invoices/{open_invoice}/receipt",
    "schedule": "/schedule?view=week",
    "client-billing": "/clients/{client}/billing",
}
# Is anything of the page cut off on paper? The widest element against the printed width.
CLIPPED = """() => {
  const width = document.documentElement.clientWidth;
  const cut = [...document.querySelectorAll("main table, main th, main td")]
    .filter((e) => e.getBoundingClientRect().right > width + 1 || e.scrollWidth > e.clientWidth + 1
                   && getComputedStyle(e).overflowX !== "visible")
    .map((e) => e.tagName + "." + e.className);
  const scrolling = [...document.querySelectorAll("main *")]
    .filter((e) => ["auto", "scroll", "hidden"].includes(getComputedStyle(e).overflowX)
                   && e.scrollWidth > e.clientWidth + 1)
    .map((e) => e.tagName + "." + e.className);
  return [...cut, ...scrolling];
}"""
VISIBLE = "(s) => [...document.querySelectorAll(s)].filter((e) => e.getClientRects().length)"


# A4 less the 12 mm margins of print.css, at CSS's 96 px to the inch: 186 mm = 703 px.
PAPER_WIDTH = 703


def test_the_printed_pages_have_no_navigation_and_every_column(page, live_server, live_world):
    rows = _seed(live_server, live_world)
    with live_server.seed():
        for days in (0, 1):  # two days of the week with a visit: two printed pages
            org = live_world.org
            factories.encounter(org, factories.client(org), live_world.clinician, None,
                                [factories.service_type(org)],
                                starts_at=utcnow() + timedelta(days=days, hours=1))  # fmt: skip
    sign_in(page, live_server, live_world.admin)
    page.set_viewport_size({"width": PAPER_WIDTH, "height": 1000})
    SHOTS.mkdir(parents=True, exist_ok=True)
    for name, template in PRINTED.items():
        page.emulate_media(media="screen")
        page.goto(live_server.url + template.format(**rows))
        page.wait_for_load_state("load")
        page.wait_for_timeout(200)
        assert page.locator("main table").count(), name
        page.emulate_media(media="print")
        hidden = page.evaluate(VISIBLE + ".length", "header.app-header, nav.crumbs, main button")
        assert hidden == 0, name
        assert page.evaluate(CLIPPED) == [], name
        page.screenshot(path=str(SHOTS / f"print-{name}.png"), full_page=True)
        page.pdf(path=str(SHOTS / f"print-{name}.pdf"), format="A4")
    page.emulate_media(media="print")
    page.goto(f"{live_server.url}/schedule?view=week")
    breaks = page.locator("section.day").evaluate_all(
        "(days) => days.map((d) => getComputedStyle(d).breakBefore)"
    )
    assert breaks[0] != "page" and set(breaks[1:]) == {"page"}
