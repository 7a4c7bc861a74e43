"""A biller imports a payer's decision in a real browser: upload, read the preview, apply,
and see the lines on the client's Insurance Authorizations section; then edits the
authorization's lines in the Add/Edit dialog."""

import os
from pathlib import Path

from playwright.sync_api import expect

from tests import factories
from tests.browser.conftest import sign_in
from tests.pas_support import FIXTURES

SHOTS = Path(os.environ.get("COVERED_SHOTS", "/work/wt/shots/lines"))


def _shots(page, name: str) -> None:
    """Full-page screenshots at 1280 and 390 px wide, for people to look at."""
    if not SHOTS.parent.exists():
        return
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def test_a_biller_imports_a_decision_and_sees_its_lines(page, live_server, live_world):
    with live_server.seed():
        client = factories.client(live_world.org, first_name="Sam", last_name="Rivera",
                                  primary_clinician_id=live_world.clinician.id)  # fmt: skip
        payer = factories.payer(live_world.org, name="Suncoast Health Plan",
                                payer_identifier="SCHP1")  # fmt: skip
        factories.insurance(live_world.org, client, payer, member_id="SC-4471209")
        factories.service_type(live_world.org, cpt_code="97153", name="ABA direct", unit_minutes=15)
        factories.service_type(live_world.org, cpt_code="97155", name="ABA supervision",
                               unit_minutes=15)  # fmt: skip
    sign_in(page, live_server, live_world.biller)
    page.goto(f"{live_server.url}/authorizations/decisions")
    page.get_by_label("Decision file (JSON)").set_input_files(
        str(FIXTURES / "covered" / "aba-approved-two-lines.json")
    )
    with page.expect_navigation():
        page.get_by_role("button", name="Upload and preview").click()

    preview = page.locator("#decision-preview")
    expect(preview).to_contain_text("Sam Rivera")
    first, second = preview.locator('tr[data-item="1"]'), preview.locator('tr[data-item="2"]')
    expect(first).to_contain_text("SC-ABA-778812")
    expect(first).to_contain_text("40 units per week")
    expect(first).to_contain_text("New line")
    expect(second).to_contain_text("97155")
    expect(second).to_contain_text("8 units per week")
    _shots(page, "import-preview")

    with page.expect_navigation(url=f"{live_server.url}/clients/{client.id}/insurance"):
        page.get_by_role("button", name="Apply the decision").click()
    expect(page.get_by_role("status").filter(has_text="Decision applied: 2 lines")).to_be_visible()
    table = page.locator("#auth-table")
    group = table.locator("tbody.auth-group")
    expect(group).to_have_count(1)
    expect(group.locator("tr")).to_have_count(2)
    expect(group.get_by_role("link", name="SC-ABA-778812")).to_be_visible()
    expect(group.locator("tr").nth(0).locator(".services")).to_have_text("97153")
    expect(group.locator("tr").nth(1).locator(".services")).to_have_text("97155")
    expect(group.locator('[data-figure="allowed"]').nth(0)).to_contain_text("40")
    expect(group.locator('[data-figure="allowed"]').nth(1)).to_contain_text("8")
    expect(group.locator('[data-figure="status"]')).to_have_text("Expired")  # Mar–Aug 2026

    # A pending request: it shows with its age against the payer's decision clock.
    page.goto(f"{live_server.url}/authorizations/decisions")
    page.get_by_label("Decision file (JSON)").set_input_files(
        str(FIXTURES / "covered" / "aba-pended.json")
    )
    with page.expect_navigation():
        page.get_by_role("button", name="Upload and preview").click()
    expect(page.locator('tr[data-item="1"]')).to_contain_text("Requested / pending")
    with page.expect_navigation():
        page.get_by_role("button", name="Apply the decision").click()
    pending = page.locator("tbody.auth-group").filter(has_text="Pending")
    expect(pending.locator('[data-figure="decision-clock"]')).to_contain_text(
        "of 7 days (standard)"
    )
    expect(pending.locator('[data-figure="not-counted"]')).to_be_visible()
    _shots(page, "client-section")

    # The Add/Edit dialog: the imported authorization's two lines, and one more added.
    approved = page.locator("tbody.auth-group").filter(has_text="SC-ABA-778812")
    approved.get_by_role("link", name="Edit").click()
    dialog = page.locator("dialog#authorization-dialog")
    expect(dialog.locator("fieldset.auth-line")).to_have_count(2)
    dialog.get_by_role("button", name="Add line").click()
    expect(dialog.locator("fieldset.auth-line")).to_have_count(3)
    _shots(page, "dialog-lines")
    dialog.get_by_role("button", name="Remove line 3").click()
    expect(dialog.locator("fieldset.auth-line")).to_have_count(2)
    expect(dialog.locator("#lines-1-allowed")).to_have_value("8")
