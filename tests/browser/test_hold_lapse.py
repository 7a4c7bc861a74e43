"""A held visit moved past its hold's lapse, in a real browser (issue 11 part 2).

The worker (`python -m jobs.worker`) places the hold on localstripe; the biller opens
Edit appointment, moves the visit nine days out, reads on the page, before saving,
that the hold lapses before the new time and will be released, and when the new one
will be placed; saves; and sees the new hold scheduled, while the worker releases the
old one (shown on the client's Billing tab).
"""

from datetime import timedelta

from playwright.sync_api import expect

from tests.browser.cards import VISA, add_card_through_form
from tests.browser.conftest import screenshot, sign_in
from tests.browser.test_preauth import (
    PLACED_WITHIN_MS,
    _book,
    _hours_before,
    _local_start,
    _local_text,
    _seed,
)
from webapp.domain.windows import to_local
from webapp.models import PreAuthorization

RELEASED_WITHIN_MS = 30_000


def test_a_held_visit_moved_past_its_lapse_gets_a_new_hold_scheduled(
    page, live_server, live_world, start_worker
):
    client = _seed(live_server, live_world, hours=72)
    start_worker()
    sign_in(page, live_server, live_world.biller)
    page.goto(f"{live_server.url}/clients/{client.id}/insurance")
    add_card_through_form(page, VISA)

    soon = _local_start(timedelta(hours=3))
    _book(page, live_server, client, soon)
    encounter_url = page.url
    notice = page.locator("#preauth")
    expect(notice).to_have_attribute("data-state", "held", timeout=PLACED_WITHIN_MS)
    # The Billing panel follows the notice once the hold is placed: both say $25.00 held.
    expect(page.locator("#billing-hold")).to_contain_text("$25.00 Held")
    expect(notice.locator("#preauth-lapse")).to_contain_text("That is after the appointment")
    with live_server.seed() as session:
        lapses_at = session.query(PreAuthorization).one().lapses_at
    lapses = to_local(lapses_at, "America/New_York").strftime("%a %b %-d, %Y · %-I:%M %p")
    expect(notice.locator("#preauth-lapse")).to_contain_text(f"lapses {lapses}.")

    page.get_by_role("button", name="Edit appointment").click()
    moves = page.locator("#preauth-moves")
    expect(moves).to_contain_text(f"The hold of $25.00 lapses {lapses}.")
    later = soon + timedelta(days=9)
    page.get_by_label("Date", exact=True).fill(later.date().isoformat())
    new_run = _local_text(_hours_before(later, 72))
    expect(moves).to_have_text(
        f"The hold of $25.00 on Visa •••• 4242 lapses {lapses}, before the new time. Saving "
        f"releases it and places a new hold on {new_run} (72 hours before the new time, "
        "from Payments Settings)."
    )
    expect(moves).to_have_attribute("data-kind", "replace")
    screenshot(page, "hold-move-preview")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "hold-move-preview-390")
    page.set_viewport_size({"width": 1280, "height": 900})

    with page.expect_navigation(url=encounter_url):
        page.get_by_role("button", name="Save changes").click()
    expect(notice).to_have_attribute("data-state", "scheduled")
    expect(notice.locator("#preauth-message")).to_have_text(
        f"Pre-authorization of $25.00 scheduled for {new_run}"
    )
    expect(page.locator("#billing-hold")).to_contain_text("None held")
    screenshot(page, "hold-move-rescheduled")

    page.goto(f"{live_server.url}/clients/{client.id}/billing")
    released = page.locator("#client-releases tbody tr")
    expect(released).to_have_count(1)
    expect(released).to_contain_text("$25.00")
    for _ in range(60):  # the worker's settle job releases it at localstripe
        if "Succeeded" in released.inner_text():
            break
        page.wait_for_timeout(500)
        page.reload()
    expect(released).to_contain_text("Succeeded", timeout=RELEASED_WITHIN_MS)
    screenshot(page, "hold-move-released")
