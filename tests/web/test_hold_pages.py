"""Pages about holds at the gateway: when a hold lapses and what happens then, the edit
page's preview of a move, Renew now, and the System page's reconciliation."""

import re
from datetime import timedelta

import pytest

from tests.preauth_support import add_card, book, practice, preauth_of, work
from webapp.domain import hold_rules
from webapp.domain.windows import to_local
from webapp.extensions import db
from webapp.models.base import utcnow
from webapp.services import hold_reconciliation, hold_renewal

HX = {"HX-Request": "true"}
WHEN = "%a %b %-d, %Y · %-I:%M %p"


@pytest.fixture
def p(world, app):
    app.config["PREAUTH_RETRY_INTERVALS"] = [0]
    return practice(world, hours=72, copay=4000)


def _local(p, when) -> str:
    return to_local(when, p.org.timezone).strftime(WHEN)


def _text(html: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)</', html, re.S)
    assert match, f"#{element_id} is not on the page"
    return " ".join(match.group(1).split())


def _held(p, world, gateway, starts_in):
    add_card(gateway, p.client)
    encounter = book(p, world.biller, starts_in=starts_in)
    work()
    return encounter, preauth_of(encounter)


def test_a_hold_lapsing_after_the_visit_says_so(client, auth, world, p, strict_gateway):
    encounter, row = _held(p, world, strict_gateway, timedelta(hours=3))
    auth.login(world.biller)
    page = client.get(f"/encounters/{encounter.id}").get_data(as_text=True)
    lapse = _text(page, "preauth-lapse")
    assert f"lapses {_local(p, row.lapses_at)}." in lapse
    assert "That is after the appointment: charge or release it before then" in lapse


def test_a_hold_lapsing_before_the_visit_says_when_it_is_renewed(
    client, auth, world, p, strict_gateway
):
    p.org.preauth_hours_before = 168
    db.session.commit()
    encounter, row = _held(p, world, strict_gateway, timedelta(days=6))
    auth.login(world.biller)
    lapse = _text(client.get(f"/encounters/{encounter.id}").get_data(as_text=True), "preauth-lapse")
    renew_at = _local(p, row.lapses_at - hold_rules.RENEW_AHEAD)
    assert (
        f"That is before the appointment ends, so Covered renews it around {renew_at}: "
        "a new hold first, then this one is released." in lapse
    )


def test_a_failed_renewal_shows_why_and_offers_renew_now(client, auth, world, p, strict_gateway):
    p.org.preauth_hours_before = 168
    db.session.commit()
    encounter, row = _held(p, world, strict_gateway, timedelta(days=6))
    strict_gateway.decline(row.card.gateway_payment_method_id)
    hold_renewal.renew_lapsing(now=row.lapses_at - timedelta(hours=11))
    auth.login(world.biller)
    page = client.get(f"/encounters/{encounter.id}").get_data(as_text=True)
    assert "could not be renewed: The card was declined." in _text(page, "preauth-renewal-failed")
    assert 'id="preauth-renew"' in page
    dialog = client.get(f"/encounters/{encounter.id}/preauth/renew", headers=HX)
    steps = dialog.get_data(as_text=True)
    assert "Hold $40.00 on Visa •••• 4242 (a new hold)." in steps
    add_card(strict_gateway, p.client, last4="1881")
    done = client.post(f"/encounters/{encounter.id}/preauth/renew", headers=HX)
    assert done.status_code == 200
    assert "The hold was renewed; the old one is being released." in done.get_data(as_text=True)
    assert preauth_of(encounter).card_label == "Visa •••• 1881"
    assert len(strict_gateway.live()) == 1


def test_renew_is_refused_without_a_placed_hold(client, auth, world, p):
    encounter = book(p, world.biller, starts_in=timedelta(days=5))
    auth.login(world.biller)
    response = client.post(f"/encounters/{encounter.id}/preauth/renew", headers=HX)
    assert response.status_code == 200  # the dialog, with the reason
    assert "Only a placed hold can be renewed." in response.get_data(as_text=True)
    assert preauth_of(encounter).state == "scheduled"


def _edit_form(encounter, p, *, moves_by) -> dict:
    start = to_local(encounter.starts_at + moves_by, p.org.timezone)
    return {
        "date": start.date().isoformat(),
        "time": start.strftime("%H:%M"),
        "duration_minutes": "60",
        "billing_type": "insurance",
        "client_insurance_id": str(p.policy.id),
        "lines-0-service_type_id": str(p.therapy.id),
        "lines-0-minutes": "60",
    }


def test_the_edit_page_says_what_a_move_does_before_saving(client, auth, world, p, strict_gateway):
    encounter, row = _held(p, world, strict_gateway, timedelta(hours=3))
    auth.login(world.biller)
    page = client.get(f"/encounters/{encounter.id}/edit").get_data(as_text=True)
    assert f"The hold of $40.00 lapses {_local(p, row.lapses_at)}." in _text(page, "preauth-moves")

    url = f"/encounters/{encounter.id}/edit/check"
    far = client.post(url, data=_edit_form(encounter, p, moves_by=timedelta(days=9)), headers=HX)
    body = far.get_data(as_text=True)
    assert 'id="preauth-moves" aria-live="polite" hx-swap-oob="true"' in body
    new_run = _local(p, encounter.starts_at + timedelta(days=9) - timedelta(hours=72))
    assert (
        f"The hold of $40.00 on Visa •••• 4242 lapses {_local(p, row.lapses_at)}, before the new "
        f"time. Saving releases it and places a new hold on {new_run} (72 hours before the new "
        "time, from Payments Settings)." == _text(body, "preauth-moves")
    )
    near = client.post(url, data=_edit_form(encounter, p, moves_by=timedelta(hours=1)), headers=HX)
    assert "stays: it lapses" in _text(near.get_data(as_text=True), "preauth-moves")

    saved = client.post(
        f"/encounters/{encounter.id}/edit",
        data=_edit_form(encounter, p, moves_by=timedelta(days=9)),
    )
    assert saved.status_code == 302
    row = preauth_of(encounter)
    assert row.state == "scheduled" and _local(p, row.run_at) == new_run


def test_the_system_page_shows_the_reconciliation_and_this_practices_findings(
    client, auth, world, p, strict_gateway
):
    auth.login(world.admin)
    assert "The reconciliation has not run yet." in client.get("/admin/system").get_data(
        as_text=True
    )
    add_card(strict_gateway, p.client)
    strict_gateway.place_hold(
        customer_id=p.client.gateway_customer_id,
        payment_method_id=next(iter(strict_gateway.cards)),
        amount_cents=900,
        reference="preauth-999-1",
        idempotency_key="orphan",
        organization_id=p.org.id,
    )
    hold_reconciliation.reconcile(now=utcnow() + timedelta(minutes=11))
    page = client.get("/admin/system").get_data(as_text=True)
    status = _text(page, "reconciliation-status")
    assert "1 live hold at the card processor, 0 pre-authorizations checked;" in status
    assert "1 difference fixed or reported (below)." in status
    assert 'data-outcome="reported"' in page and "$9.00" in page
    auth.logout()
    auth.login(world.outsider)
    assert 'data-outcome="reported"' not in client.get("/admin/system").get_data(as_text=True)
