"""An invoice's receipt: the printable page, the PDF and the email agree with the invoice page.

Table-driven over the states an invoice is in (open and part paid, paid by a hold,
partly refunded, void): the invoice page's Total / Paid / Refunded / Balance due, the
receipt page's, the PDF's text (parsed with pypdf) and `invoices.summarize` say the same
amounts. The email goes through a real SMTP server (aiosmtpd) with the PDF attached, and
the audit trail records it; a refused address or a refusing server sends nothing.
"""

import io
import re
from email import message_from_bytes, policy

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from tests.billing_support import invoices_of, place_hold, visit
from webapp.extensions import db
from webapp.models import AuditEvent, Invoice, InvoiceLine, Payment
from webapp.services import charges, invoices, refunds

HX = {"HX-Request": "true"}
FIGURES = ("total", "paid", "refunded", "due")


def _squash(response) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def _figures(page: str, prefix: str) -> dict:
    """{figure: "$1.00"} of the page's #<prefix>-<figure> elements (refunded only if shown)."""
    found = {}
    for name in FIGURES:
        match = re.search(rf'id="{prefix}-{name}">([^<]+)<', page)
        if match:
            found[name] = match.group(1).strip()
    return found


def _part_paid(world, gateway):
    client = visit(world, gateway, card=False).encounter.client
    invoice = Invoice(organization_id=world.org.id, client_id=client.id, total_cents=12500)
    db.session.add(invoice)
    db.session.flush()
    db.session.add_all([
        InvoiceLine(invoice_id=invoice.id, description="Psychotherapy, 60 min", quantity=1,
                    unit_price_cents=10000, amount_cents=10000),
        InvoiceLine(invoice_id=invoice.id, description="Parent session", quantity=1,
                    unit_price_cents=2500, amount_cents=2500),
        Payment(organization_id=world.org.id, client_id=client.id, invoice_id=invoice.id,
                kind="balance_payment", amount_cents=4000, status="succeeded",
                gateway_reference="pi_part", idempotency_key="receipt-part"),
    ])  # fmt: skip
    db.session.commit()
    return invoice


def _paid(world, gateway):
    v = visit(world, gateway)
    place_hold(gateway, v, 15000)
    charges.charge(v.encounter, actor=world.biller)
    (invoice,) = invoices_of(v.encounter.id)
    return invoice


def _partly_refunded(world, gateway):
    invoice = _paid(world, gateway)
    capture = next(p for p in invoice.payments if p.kind == "hold_capture")
    refunds.refund(capture, 5050, "service_not_provided", "Ended early", "a" * 32,
                   actor=world.biller)  # fmt: skip
    return invoice


def _void(world, gateway):
    invoice = _part_paid(world, gateway)
    db.session.delete(invoice.payments[0])
    db.session.commit()
    db.session.refresh(invoice)
    refunds.void(invoice, "Entered twice", actor=world.biller)
    return invoice


STATES = {"part paid": _part_paid, "paid": _paid, "partly refunded": _partly_refunded,
          "void": _void}  # fmt: skip


@pytest.mark.parametrize("state", sorted(STATES))
def test_the_receipt_page_and_pdf_say_what_the_invoice_page_says(
    client, auth, world, strict_gateway, state
):
    invoice = STATES[state](world, strict_gateway)
    auth.login(world.biller)
    on_invoice = _figures(_squash(client.get(f"/invoices/{invoice.id}")), "invoice")
    on_receipt = _figures(_squash(client.get(f"/invoices/{invoice.id}/receipt")), "receipt")
    assert on_invoice["total"] and on_receipt == on_invoice

    summary = invoices.summarize(db.session.get(Invoice, invoice.id))
    money = lambda cents: f"${cents // 100:,}.{cents % 100:02d}"  # noqa: E731
    assert on_receipt["due"] == money(summary.due_cents)
    assert on_receipt["paid"] == money(summary.paid_cents)

    response = client.get(f"/invoices/{invoice.id}/receipt.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert f'filename="receipt-{invoice.number}.pdf"' in response.headers["Content-Disposition"]
    text = _pdf_text(response.data)
    assert invoice.number in text and invoice.client.full_name in text
    for name, shown in on_invoice.items():
        label = {"total": "Total", "paid": "Paid", "refunded": "Refunded", "due": "Balance due"}
        plain = shown.replace("−", "-")
        assert re.search(rf"{label[name]}\s*{re.escape(plain)}", text), (name, shown, text)
    for line in invoice.lines:
        assert line.description in text


def _pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


def test_a_biller_emails_the_receipt_with_the_pdf_attached_through_smtp(
    client, auth, world, strict_gateway, smtp
):
    invoice = _partly_refunded(world, strict_gateway)
    invoice.client.email = "ada@example.com"
    db.session.commit()
    auth.login(world.biller)

    dialog = _squash(client.get(f"/invoices/{invoice.id}/email-receipt", headers=HX))
    assert 'value="ada@example.com"' in dialog and "Send receipt" in dialog
    sent = client.post(f"/invoices/{invoice.id}/email-receipt",
                       data={"email": "ada@example.com"}, headers=HX)  # fmt: skip
    assert sent.headers["HX-Redirect"] == f"/invoices/{invoice.id}"
    page = _squash(client.get(f"/invoices/{invoice.id}"))
    assert f"Receipt {invoice.number} sent to ada@example.com." in page

    (received,) = smtp.messages_to("ada@example.com")
    message = message_from_bytes(received.data, policy=policy.default)
    assert message["Subject"] == f"Receipt for invoice {invoice.number} from {world.org.name}"
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == f"receipt-{invoice.number}.pdf"
    text = _pdf_text(attachment.get_content())
    shown = _figures(page, "invoice")
    assert shown["due"] in text and shown["paid"] in text
    assert f"Balance due: {shown['due']}" in message.get_body(("plain",)).get_content()

    (event,) = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "invoice.receipt_emailed")
    ).all()
    assert event.entity_id == invoice.id and event.user_id == world.biller.id
    assert event.after["to"] == "ada@example.com"


@pytest.mark.parametrize(
    ("address", "server_says", "message"),
    [
        ("", None, "Enter the email address to send the receipt to."),
        ("not-an-address", None, "That is not an email address."),
        ("gone@example.com", 554, "The receipt was not sent"),
    ],
)
def test_a_receipt_that_cannot_go_out_says_why_and_records_nothing(
    client, auth, world, strict_gateway, smtp, address, server_says, message
):
    invoice = _paid(world, strict_gateway)
    auth.login(world.biller)
    if server_says:
        smtp.fail_next(server_says, "5.7.1 Refused")
    answer = client.post(f"/invoices/{invoice.id}/email-receipt", data={"email": address},
                         headers=HX)  # fmt: skip
    assert answer.status_code in (409, 422)
    assert message in _squash(answer)
    assert smtp.received == []
    assert (
        db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "invoice.receipt_emailed")
        ).all()
        == []
    )


def test_a_clinician_gets_no_receipt(client, auth, world, strict_gateway):
    invoice = _paid(world, strict_gateway)
    auth.login(world.clinician)
    for path in ("receipt", "receipt.pdf", "email-receipt"):
        assert client.get(f"/invoices/{invoice.id}/{path}").status_code == 403
