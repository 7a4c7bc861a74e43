"""Every page runs under the strict Content-Security-Policy, in Chromium, with nothing refused.

The walk: each GET route of tests/web/test_access.py's ROUTES (every route is listed
there), as each role that may open it, on rows of every kind plus a held card hold and
an open invoice (so Charge, Release, Void and Charge balance have something to show).
On each page every dialog trigger ([data-opens-dialog]) is clicked, the dialog must open
and close again through its data-close-dialog button. A page fails on any CSP violation
(a `securitypolicyviolation` event or Chromium's console report), any other console
error, any uncaught JS error, or a 5xx.
"""

from datetime import timedelta

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests import factories
from tests.billing_support import Visit, place_hold, save_card
from tests.browser.conftest import sign_in
from tests.web.test_access import ROUTES, seed_rows
from webapp.domain.windows import to_local
from webapp.models import Invoice
from webapp.models.base import utcnow
from webapp.security import MAIL_PREVIEW_POLICY

# Downloads, not pages: the browser saves them instead of rendering them.
DOWNLOADS = {
    "reports.authorizations_csv",
    "billing.client_billing_csv",
    "outbox.raw",
    "decisions.source",
    "audit.export",
    "worklists.holds_csv",
    "worklists.invoices_csv",
    "billing.receipt_pdf",
}
# Recorded before any page script runs (Playwright injects it outside the page's CSP).
WATCH_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"}`
    + ` at ${e.sourceFile || ""}:${e.lineNumber}`);
});
"""
# Dialogs the walk must have opened, so it cannot pass by finding no trigger.
EXPECTED_DIALOGS = {
    "authorization-dialog",
    "card-dialog",
    "payments-dialog",
    "preauth-dialog",
    "close-dialog",
    "money-dialog",
    "invoice-dialog",
    "balance-dialog",
    "void-dialog",
    "refund-dialog",
    "move-dialog",  # the schedule's list: Move on the held visit's row
    "keep-day-dialog",  # the schedule's calendar: Mark day as kept on today's column
    "invite-dialog",
    "person-dialog",
    "receipt-dialog",
}


class Watch:
    """What went wrong on the page since the last `take()`: console errors, JS errors."""

    def __init__(self, page):
        self.page = page
        self.problems: list[str] = []
        page.add_init_script(WATCH_VIOLATIONS)
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"JS error: {error}"))

    def _console(self, message) -> None:
        if message.type != "error":
            return
        self.problems.append(f"console: {message.text}")

    def take(self) -> list[str]:
        violations = self.page.evaluate("window.__violations || []")
        found = [*self.problems, *(f"CSP: {v}" for v in violations)]
        self.problems.clear()
        self.page.evaluate("window.__violations = []")
        return found


def _seed(live_server, world) -> dict:
    """Rows of every kind (ROUTES' placeholders), a held hold, a kept visit, an open invoice."""
    gateway = live_server.app.extensions["payment_gateway"]
    with live_server.seed():
        rows = seed_rows(world)
        client = factories.client(world.org, primary_clinician_id=world.clinician.id)
        therapy = factories.service_type(world.org, cpt_code="90837", price_cents=15000)
        starts = (utcnow() + timedelta(days=1)).replace(hour=15, minute=0, second=0)
        encounter = factories.encounter(
            world.org, client, world.clinician, None, [therapy],
            starts_at=starts, billing_type="self_pay",
        )  # fmt: skip
        place_hold(gateway, Visit(encounter, therapy, None, save_card(gateway, client)))
        kept = factories.encounter(
            world.org, client, world.clinician, None, [therapy],
            starts_at=starts - timedelta(days=7), status="kept",
        )  # fmt: skip
        invoice = Invoice(organization_id=world.org.id, client_id=client.id, total_cents=2500)
        from webapp.extensions import db

        db.session.add(invoice)
        db.session.flush()
        rows["held_encounter"], rows["open_invoice"] = encounter.id, invoice.id
        rows["kept_encounter"] = kept.id
        rows["held_day"] = to_local(starts, world.org.timezone).date().isoformat()
    return rows


def _urls(role: str, rows: dict) -> list[str]:
    urls = [
        template.format(**rows)
        for endpoint, (method, template, roles) in sorted(ROUTES.items())
        if method == "GET" and role in roles and endpoint not in DOWNLOADS
    ]
    extra = [f"/encounters/{rows[name]}" for name in ("held_encounter", "kept_encounter")]
    extra.append(f"/schedule?mode=list&date={rows['held_day']}")
    if role != "clinician":
        extra.append(f"/invoices/{rows['open_invoice']}")
    return urls + extra


def _open_every_dialog(page, watch, opened: set, where: str) -> None:
    if not page.evaluate("Boolean(window.htmx)"):
        return  # a fragment route (a panel, a dialog) opened by itself: no layout, no scripts
    triggers = page.locator("[data-opens-dialog]:not([disabled])")
    for index in range(triggers.count()):
        trigger = triggers.nth(index)
        if not trigger.is_visible():
            continue
        trigger.click()
        dialog = page.locator("dialog[open]")
        try:
            dialog.wait_for(timeout=10_000)
        except PlaywrightTimeout:
            pytest.fail(f"{where}: {trigger.evaluate('e => e.outerHTML')} opened no dialog")
        name = dialog.get_attribute("id")
        opened.add(name)
        page.wait_for_timeout(300)  # the card dialog loads Stripe.js
        dialog.locator("[data-close-dialog]").first.click()
        page.locator("dialog").wait_for(state="detached", timeout=5_000)
        assert watch.take() == [], f"{where}, dialog {name}"


@pytest.mark.parametrize("role", ["admin", "biller", "clinician"])
def test_every_page_and_dialog_runs_under_the_strict_policy(page, live_server, live_world, role):
    rows = _seed(live_server, live_world)
    watch = Watch(page)
    sign_in(page, live_server, live_world.user(role))
    opened: set[str] = set()
    for path in _urls(role, rows):
        response = page.goto(live_server.url + path)
        policy = response.headers.get("content-security-policy", "")
        if path.endswith("/html"):  # a message's HTML: its own policy, no script at all
            assert policy == MAIL_PREVIEW_POLICY, path
        else:
            assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, path
        assert response.status < 500, f"{path}: {response.status}"
        page.wait_for_load_state("load")
        if "dialog=" in page.url:  # a dialog's own URL: the page behind it opens it
            try:
                page.locator("dialog[open]").wait_for(timeout=10_000)
            except PlaywrightTimeoutError:
                pytest.fail(f"{path}: opened directly, {page.url} did not open its dialog")
            opened.add(page.locator("dialog[open]").get_attribute("id"))
            page.locator("dialog[open] [data-close-dialog]").first.click()
        page.wait_for_timeout(150)  # htmx's load-triggered requests and app.js set-up
        assert watch.take() == [], f"{role} {path}"
        _open_every_dialog(page, watch, opened, f"{role} {path}")
    if role == "admin":
        assert opened >= EXPECTED_DIALOGS, EXPECTED_DIALOGS - opened
    elif role == "biller":
        assert opened >= EXPECTED_DIALOGS - {"payments-dialog", "invite-dialog", "person-dialog"}
    else:
        assert {"close-dialog", "move-dialog", "keep-day-dialog"} <= opened


def test_the_sign_in_page_runs_under_the_policy_too(page, live_server):
    watch = Watch(page)
    page.goto(f"{live_server.url}/login")
    page.wait_for_load_state("load")
    assert watch.take() == []


def test_the_walk_fails_a_page_that_breaks_the_policy(page, live_server):
    """An inline handler and an inline style are refused and reported, so the walk fails."""
    watch = Watch(page)
    page.goto(f"{live_server.url}/login")
    page.evaluate(
        """document.body.insertAdjacentHTML("beforeend",
             '<img src="data:," onerror="window.ran = 1"><p style="color: red">x</p>')"""
    )
    page.wait_for_timeout(300)
    problems = watch.take()
    assert page.evaluate("window.ran") is None  # the handler never ran
    assert any("script-src" in p for p in problems), problems
    assert any("style-src" in p for p in problems), problems
