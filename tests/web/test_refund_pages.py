"""Refund and Void through the pages: the dialogs say what happens before it does, a
double click refunds once, and the invoice, the client's Billing tab and the audit
trail show the refund, its reason and the gateway's fees."""

import re

from sqlalchemy import select

from tests.billing_support import invoices_of, place_hold, visit
from tests.gateways import stripe_fee
from webapp.extensions import db
from webapp.models import AuditEvent, Payment
from webapp.services import charges, invoices

HX = {"HX-Request": "true"}


def _squash(response) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def _token(html: str) -> str:
    return re.search(r'name="token" type="hidden" value="([0-9a-f]{32})"', html).group(1)


def _charged(world, gateway):
    v = visit(world, gateway)
    place_hold(gateway, v, 15000)
    charges.charge(v.encounter, actor=world.biller)
    (invoice,) = invoices_of(v.encounter.id)
    capture = next(p for p in invoice.payments if p.kind == "hold_capture")
    return v, invoice, capture


def test_a_biller_refunds_part_of_a_payment_once_and_every_page_shows_it(
    client, auth, world, strict_gateway
):
    v, invoice, capture = _charged(world, strict_gateway)
    fee = stripe_fee(15000)
    auth.login(world.biller)
    page = _squash(client.get(f"/invoices/{invoice.id}"))
    assert f'<td class="num fee">${fee // 100}.{fee % 100:02d}</td>' in page
    assert ">Refund</button>" in page

    dialog = _squash(client.get(f"/payments/{capture.id}/refund", headers=HX))
    assert 'id="refund-left">$150.00<' in dialog
    assert "The card processor keeps its fee of $4.65 on this payment" in dialog
    form = {"amount": "50", "reason": "service_not_provided", "note": "Ended early",
            "token": _token(dialog)}  # fmt: skip
    first = client.post(f"/payments/{capture.id}/refund", data=form, headers=HX)
    assert first.headers["HX-Redirect"] == f"/invoices/{invoice.id}"
    again = client.post(f"/payments/{capture.id}/refund", data=form, headers=HX)  # double click
    assert again.status_code == 409
    assert "This refund was already made (the button was pressed twice)." in _squash(again)
    assert strict_gateway.calls["refund"] == 1

    page = _squash(client.get(f"/invoices/{invoice.id}"))
    assert 'id="invoice-status">Partly refunded<' in page
    assert 'id="invoice-refunded">−$50.00<' in page
    assert 'id="invoice-fees">$4.65<' in page and 'id="invoice-net">$95.35<' in page
    assert "Service not provided: Ended early" in page
    assert 'id="invoice-due">$0.00<' in page and 'id="charge-balance"' not in page
    tab = _squash(client.get(f"/clients/{v.encounter.client_id}/billing"))
    row = re.search(rf'data-invoice="{invoice.number}".*?</tr>', tab).group(0)
    assert "Refund −$50.00" in row and "Partly refunded" in row
    assert '<td class="num">$50.00</td>' in row and '<td class="num fee">$4.65</td>' in row
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "payment.refunded"))
    assert event.user_id == world.biller.id and event.reason == "Service not provided: Ended early"


def test_a_refund_form_with_mistakes_is_answered_next_to_the_fields(
    client, auth, world, strict_gateway
):
    _v, _invoice, capture = _charged(world, strict_gateway)
    auth.login(world.biller)
    token = _token(_squash(client.get(f"/payments/{capture.id}/refund", headers=HX)))
    cases = [
        ({"amount": "", "reason": "other"}, 422, "Enter an amount."),
        ({"amount": "12.345", "reason": "other"}, 422, "Use at most two decimal places"),
        ({"amount": "10", "reason": ""}, 422, "Choose why the money is refunded."),
        ({"amount": "150.01", "reason": "other"}, 409, "At most $150.00 of this payment"),
        ({"amount": "10", "reason": "other", "token": "x"}, 422, "This form has expired."),
    ]
    for data, status, message in cases:
        response = client.post(
            f"/payments/{capture.id}/refund", data={"token": token, **data}, headers=HX
        )
        assert response.status_code == status, data
        assert message in _squash(response), data
    assert db.session.scalar(select(Payment).where(Payment.kind == "refund")) is None


def test_a_biller_voids_an_invoice_with_nothing_paid(client, auth, world, strict_gateway):
    v = visit(world, strict_gateway)
    invoice = invoices.create_manual(v.encounter, actor=world.biller)
    auth.login(world.biller)
    page = _squash(client.get(f"/invoices/{invoice.id}"))
    assert 'id="void-invoice"' in page
    dialog = _squash(client.get(f"/invoices/{invoice.id}/void", headers=HX))
    assert "nothing was paid on it, so nothing is charged or refunded" in dialog
    missing = client.post(f"/invoices/{invoice.id}/void", data={"reason": ""}, headers=HX)
    assert missing.status_code == 422 and "Say why the invoice is void." in _squash(missing)
    done = client.post(f"/invoices/{invoice.id}/void", data={"reason": "Duplicate"}, headers=HX)
    assert done.headers["HX-Redirect"] == f"/invoices/{invoice.id}"
    page = _squash(client.get(f"/invoices/{invoice.id}"))
    assert 'id="invoice-status">Void<' in page and "Duplicate" in page
    assert 'id="void-invoice"' not in page and 'id="charge-balance"' not in page
    again = client.post(f"/invoices/{invoice.id}/void", data={"reason": "Again"}, headers=HX)
    assert again.status_code == 409 and "already void" in _squash(again)


def test_a_paid_invoice_offers_no_void(client, auth, world, strict_gateway):
    _v, invoice, _capture = _charged(world, strict_gateway)
    auth.login(world.biller)
    assert 'id="void-invoice"' not in _squash(client.get(f"/invoices/{invoice.id}"))
    dialog = _squash(client.get(f"/invoices/{invoice.id}/void", headers=HX))
    assert "$150.00 was paid on this invoice: refund the payments instead" in dialog
