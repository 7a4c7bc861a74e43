"""The System page tells an admin whether RQ's scheduler runs and which hold is overdue,
at phone and desktop widths (screenshots in screenshots/, for people to look at)."""

from datetime import timedelta

import pytest

from tests import factories
from tests.browser.conftest import screenshot, sign_in
from webapp.extensions import db
from webapp.models import PreAuthorization
from webapp.models.base import utcnow


@pytest.mark.parametrize("width", [390, 1280])
def test_the_system_page_shows_the_scheduler_and_the_oldest_overdue_hold(
    page, live_server, live_world, width
):
    with live_server.seed():
        org = live_world.org
        client = factories.client(org, first_name="Ada", last_name="Lovelace")
        service = factories.service_type(org)
        encounter = factories.encounter(org, client, live_world.clinician, None, [service])
        db.session.add(
            PreAuthorization(
                organization_id=org.id, encounter_id=encounter.id, state="scheduled",
                hours_before=24, run_at=utcnow() - timedelta(minutes=7), attempt=1,
            )
        )  # fmt: skip
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, live_server, live_world.admin)
    page.goto(f"{live_server.url}/admin/system")
    scheduler = page.locator('[data-health="scheduler"]')
    overdue = page.locator('[data-health="oldest-overdue-hold"]')
    assert scheduler.is_visible() and overdue.is_visible()
    assert overdue.get_attribute("data-overdue-holds") == "1"
    assert "appointment" in overdue.inner_text()
    box = overdue.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= width  # no sideways scroll
    screenshot(page, f"system-health-{width}")
