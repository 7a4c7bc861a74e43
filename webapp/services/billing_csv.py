"""A client's invoices as CSV: one row per invoice line, quantity × unit price = amount.

Amounts are dollars with two decimals (no thousands separators), dates ISO in the
organization's zone; text a spreadsheet would run as a formula is quoted.
"""

import csv
import io

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from webapp.domain.billing_rules import INVOICE_STATUS_LABELS
from webapp.domain.windows import local_date
from webapp.extensions import db
from webapp.models import Client, Invoice, Organization
from webapp.services.report_csv import safe_cell

CSV_COLUMNS = (
    "Invoice",
    "Invoice date",
    "Status",
    "Kind",
    "Appointment date",
    "Description",
    "Quantity",
    "Unit price",
    "Amount",
)


def _dollars(cents: int | None) -> str:
    if cents is None:
        return ""
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


def client_invoice_lines(client: Client) -> str:
    """The whole CSV text (a client has few invoices; no streaming needed)."""
    tz = db.session.get(Organization, client.organization_id).timezone
    invoices = db.session.scalars(
        select(Invoice)
        .where(Invoice.client_id == client.id)
        .options(selectinload(Invoice.lines), selectinload(Invoice.encounter))
        .order_by(Invoice.created_at, Invoice.id)
    ).all()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for invoice in invoices:
        visit = invoice.encounter
        for line in invoice.lines:
            writer.writerow(
                [
                    invoice.number,
                    local_date(invoice.created_at, tz).isoformat(),
                    INVOICE_STATUS_LABELS.get(invoice.status, invoice.status),
                    "Cancellation fee" if invoice.kind == "cancellation_fee" else "Visit",
                    local_date(visit.starts_at, tz).isoformat() if visit else "",
                    safe_cell(line.description),
                    line.quantity,
                    _dollars(line.unit_price_cents),
                    _dollars(line.amount_cents),
                ]
            )
    return buffer.getvalue()


def filename(client: Client) -> str:
    return f"invoices-client-{client.id}.csv"
