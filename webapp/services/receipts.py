"""An invoice's receipt: the printable page, its PDF, and emailing it to the client.

Every amount comes from `invoices.summarize` (the invoice page's own figures, which come
from the ledger rules of webapp/domain/billing_rules.py): a receipt never adds money up
by itself, so it cannot disagree with the invoice page.

Why fpdf2 for the PDF, not WeasyPrint: WeasyPrint needs the pango and cairo system
libraries, which a fresh Debian does not have and `make install` / `make run` do not
install (this machine has them only because chromium pulled them in). fpdf2 is pure
Python (its own dependencies are Pillow, fontTools and defusedxml, all wheels), kept up,
and writes a receipt's few lines and a table directly. Its core fonts speak Latin-1, so
the text is written through `_latin1` (a "−" becomes "-", a "·" stays).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage

from flask import render_template
from fpdf import FPDF

from webapp.domain import billing_rules
from webapp.domain.money import format_cents
from webapp.extensions import db
from webapp.models import Invoice, Organization, User
from webapp.services import audit, mail
from webapp.services.errors import Refused
from webapp.services.invoices import InvoiceSummary, summarize

EMAIL_MAX_LENGTH = 254  # RFC 5321's longest path, as the client form allows


class ReceiptRefused(Refused):
    """The receipt was not sent: the mail server did not take it (nothing was recorded)."""


class ReceiptAddressRefused(ReceiptRefused):
    """The receipt cannot be sent to that address (none, or not an address)."""

    status = 422


@dataclass(frozen=True)
class ReceiptLine:
    description: str
    quantity: int
    unit_price_cents: int
    amount_cents: int


@dataclass(frozen=True)
class ReceiptPayment:
    when: datetime  # naive UTC
    label: str  # "Card payment", "Refund", …
    amount_cents: int  # negative for a refund


@dataclass(frozen=True)
class Receipt:
    """What a receipt says. All cents; `summary` is the invoice page's own summary."""

    practice: str
    client: str
    number: str
    status_label: str
    issued_at: datetime  # naive UTC
    lines: tuple[ReceiptLine, ...]
    payments: tuple[ReceiptPayment, ...]
    summary: InvoiceSummary

    @property
    def total_cents(self) -> int:
        return self.summary.invoice.total_cents

    @property
    def paid_cents(self) -> int:
        return self.summary.paid_cents

    @property
    def refunded_cents(self) -> int:
        return self.summary.refunded_cents

    @property
    def due_cents(self) -> int:
        return self.summary.due_cents

    @property
    def filename(self) -> str:
        return f"receipt-{self.number}.pdf"


def receipt(invoice: Invoice) -> Receipt:
    """The receipt of `invoice`: its lines, its settled payments (a released hold is not
    money paid, so it is left out) and the invoice page's totals."""
    summary = summarize(invoice)
    labels = billing_rules.PAYMENT_KIND_LABELS
    payments = tuple(
        ReceiptPayment(
            when=p.settled_at or p.created_at,
            label=labels[p.kind],
            amount_cents=-p.amount_cents if p.kind == billing_rules.REFUND else p.amount_cents,
        )
        for p in invoice.payments
        if p.status == "succeeded" and p.kind != billing_rules.HOLD_RELEASE
    )
    lines = tuple(
        ReceiptLine(
            description=line.description,
            quantity=line.quantity,
            unit_price_cents=line.unit_price_cents
            if line.unit_price_cents is not None
            else line.amount_cents,
            amount_cents=line.amount_cents,
        )
        for line in invoice.lines
    )
    return Receipt(
        practice=db.session.get(Organization, invoice.organization_id).name,
        client=invoice.client.full_name,
        number=invoice.number,
        status_label=billing_rules.INVOICE_STATUS_LABELS[invoice.status],
        issued_at=invoice.created_at,
        lines=lines,
        payments=payments,
        summary=summary,
    )


def _latin1(text: str) -> str:
    """Text the PDF's core fonts can write (Latin-1): typographic signs made plain."""
    plain = text.replace("−", "-").replace("–", "-").replace("—", "-").replace("’", "'")
    return plain.encode("latin-1", "replace").decode("latin-1")


def pdf(found: Receipt, *, show_time: Callable[[datetime], str]) -> bytes:
    """The receipt as an A4 PDF (bytes), one page or more. `show_time` writes a stored
    time as the pages do (the `datetime` filter: the organization's zone)."""
    when = show_time(found.issued_at)
    document = FPDF(format="A4")
    document.set_title(_latin1(f"Receipt {found.number}"))
    document.set_author(_latin1(found.practice))
    document.set_auto_page_break(auto=True, margin=18)
    document.add_page()
    document.set_font("Helvetica", "B", 18)
    document.cell(0, 10, _latin1(found.practice), new_x="LMARGIN", new_y="NEXT")
    document.set_font("Helvetica", "", 11)
    document.cell(0, 7, _latin1(f"Receipt for invoice {found.number}"), new_x="LMARGIN",
                  new_y="NEXT")  # fmt: skip
    document.cell(0, 7, _latin1(f"Client: {found.client}"), new_x="LMARGIN", new_y="NEXT")
    document.cell(0, 7, _latin1(f"Issued: {when} - Status: {found.status_label}"),
                  new_x="LMARGIN", new_y="NEXT")  # fmt: skip
    document.ln(4)
    _table(document, ("Description", "Qty", "Unit price", "Amount"), (95, 15, 35, 35),
           [(line.description, str(line.quantity), format_cents(line.unit_price_cents),
             format_cents(line.amount_cents)) for line in found.lines])  # fmt: skip
    document.ln(3)
    totals = [("Total", found.total_cents), ("Paid", found.paid_cents)]
    if found.refunded_cents:
        totals.append(("Refunded", -found.refunded_cents))
    totals.append(("Balance due", found.due_cents))
    for label, cents in totals:
        document.set_font("Helvetica", "B" if label == "Balance due" else "", 11)
        document.cell(145, 7, _latin1(label), align="R")
        document.cell(35, 7, _latin1(_signed(cents)), align="R", new_x="LMARGIN", new_y="NEXT")
    if found.payments:
        document.ln(4)
        document.set_font("Helvetica", "B", 12)
        document.cell(0, 8, "Payments", new_x="LMARGIN", new_y="NEXT")
        _table(document, ("Date", "Payment", "Amount"), (60, 85, 35),
               [(show_time(p.when), p.label, _signed(p.amount_cents))
                for p in found.payments])  # fmt: skip
    return bytes(document.output())


def _signed(cents: int) -> str:
    return f"-{format_cents(-cents)}" if cents < 0 else format_cents(cents)


def _table(document: FPDF, heads, widths, rows) -> None:
    document.set_font("Helvetica", "B", 10)
    for index, (head, width) in enumerate(zip(heads, widths, strict=True)):
        document.cell(width, 7, head, border="B", align="L" if index == 0 else "R")
    document.ln()
    document.set_font("Helvetica", "", 10)
    for row in rows:
        for index, (value, width) in enumerate(zip(row, widths, strict=True)):
            document.cell(width, 7, _latin1(value), border="B", align="L" if index == 0 else "R")
        document.ln()


def email_refusal(address: str | None) -> str | None:
    """Why the receipt cannot go to `address`, or None."""
    if not address or not address.strip():
        return "The client has no email address: add one on the client's page first."
    if len(address) > EMAIL_MAX_LENGTH or "@" not in address:
        return "That is not an email address."
    return None


def send(
    invoice: Invoice, address: str, *, actor: User, show_time: Callable[[datetime], str]
) -> str:
    """Email the receipt of `invoice` to `address`, the PDF attached, and audit it.

    Through `mail.deliver`: SMTP when MAIL_SERVER is set, else the outbox. `show_time`
    writes a stored time as pages do. Returns where the message went ("smtp:host",
    "outbox:<file>").

    Raises:
        ReceiptAddressRefused: no usable address (422).
        ReceiptRefused: the mail server did not accept the message (409); nothing recorded.
    """
    refusal = email_refusal(address)
    if refusal:
        raise ReceiptAddressRefused(refusal, field="email")
    found = receipt(invoice)
    context = {"receipt": found, "when": show_time(found.issued_at)}
    message: EmailMessage = mail.compose(
        to=address.strip(),
        subject=f"Receipt for invoice {found.number} from {found.practice}",
        text=render_template("email/receipt.txt", **context),
        html=render_template("email/receipt.html", **context),
        organization_id=invoice.organization_id,
    )
    attachment = pdf(found, show_time=show_time)
    message.add_attachment(attachment, maintype="application", subtype="pdf",
                           filename=found.filename)  # fmt: skip
    try:
        where = mail.deliver(message)
    except mail.MailDeliveryError as error:
        raise ReceiptRefused(f"The receipt was not sent: {error}") from error
    audit.record(organization_id=invoice.organization_id, user_id=actor.id,
                 action="invoice.receipt_emailed", row=invoice,
                 after={"to": address.strip(), "via": where, "due_cents": found.due_cents,
                        "paid_cents": found.paid_cents})  # fmt: skip
    db.session.commit()
    return where
