"""The practice's Holds and Invoices pages: filtered, totalled, exported as CSV.

Every amount is the one the client's and the encounter's pages state, worked out by
the same functions: an invoice's paid, refunded and due are `invoices.summarize`
(the client's Billing page); a hold's amount is what the encounter page says, the
amount it holds once placed (`PreAuthorization.amount_cents`) or, while scheduled,
what it would hold now (`preauth.current_amount`, from `pricing`).

Queries per page, whatever the rows: the rows (1) and what they need (payments and
encounters for invoices; encounters, services and insurance for holds), each read
once for the whole filtered set with `selectinload`, so the totals cover every
page and not only the one shown.
"""

import csv
import io
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from webapp.domain.ledger import INVOICE_STATUS_LABELS
from webapp.domain.preauth_rules import PROCESSING, SCHEDULED, STATE_LABELS, STATES
from webapp.domain.windows import local_date, to_local, to_utc_naive
from webapp.extensions import db
from webapp.models import (
    Client,
    ClientInsurance,
    Encounter,
    EncounterService,
    Invoice,
    Organization,
    PreAuthorization,
)
from webapp.services import invoices
from webapp.services.preauth import current_amount
from webapp.services.report_csv import safe_cell

PAGE_SIZE = 100


@dataclass(frozen=True)
class ListFilter:
    """What a list shows. Dates are the practice's own, both ends included; for
    invoices the day each was created, for holds the day of its visit."""

    state: str | None = None
    start: date | None = None
    end: date | None = None
    client_id: int | None = None
    page: int = 1


def dollars(cents: int) -> str:
    """'1234.50', '-12.00': a CSV amount (no sign of currency, no separators)."""
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


@dataclass
class Page:
    """One page of a list and the totals of the whole filtered set."""

    rows: list
    count: int  # rows over every page
    page: int
    counts_by_state: dict[str, int] = field(default_factory=dict)

    @property
    def page_count(self) -> int:
        return max(1, -(-self.count // PAGE_SIZE))


# --- invoices -------------------------------------------------------------------------------------


@dataclass
class InvoiceTotals:
    total_cents: int = 0
    paid_cents: int = 0
    refunded_cents: int = 0
    due_cents: int = 0

    def add(self, summary: invoices.InvoiceSummary) -> None:
        self.total_cents += summary.invoice.total_cents
        self.paid_cents += summary.paid_cents
        self.refunded_cents += summary.refunded_cents
        self.due_cents += summary.due_cents


@dataclass
class InvoicePage(Page):
    totals: InvoiceTotals = field(default_factory=InvoiceTotals)


def _day_bounds(org: Organization, start: date | None, end: date | None):
    """The naive-UTC instants of the practice's days [start, end] (end exclusive)."""
    low = to_utc_naive(datetime.combine(start, time.min), org.timezone) if start else None
    high = (
        to_utc_naive(datetime.combine(end + timedelta(days=1), time.min), org.timezone)
        if end
        else None
    )
    return low, high


def _invoice_summaries(org: Organization, chosen: ListFilter) -> list[invoices.InvoiceSummary]:
    query = (
        select(Invoice)
        .where(Invoice.organization_id == org.id)
        .options(
            joinedload(Invoice.client),
            selectinload(Invoice.payments),
            selectinload(Invoice.encounter),
        )
        .order_by(Invoice.created_at.desc(), Invoice.id.desc())
    )
    if chosen.state:
        query = query.where(Invoice.status == chosen.state)
    if chosen.client_id:
        query = query.where(Invoice.client_id == chosen.client_id)
    low, high = _day_bounds(org, chosen.start, chosen.end)
    if low is not None:
        query = query.where(Invoice.created_at >= low)
    if high is not None:
        query = query.where(Invoice.created_at < high)
    return [invoices.summarize(invoice) for invoice in db.session.scalars(query).unique()]


def invoice_page(org: Organization, chosen: ListFilter) -> InvoicePage:
    """The invoices of the filter, newest first, with totals over all of them (cents)."""
    summaries = _invoice_summaries(org, chosen)
    totals = InvoiceTotals()
    for summary in summaries:
        totals.add(summary)
    last = max(1, -(-len(summaries) // PAGE_SIZE))
    page = min(chosen.page, last)
    return InvoicePage(
        rows=summaries[(page - 1) * PAGE_SIZE : page * PAGE_SIZE],
        count=len(summaries),
        page=page,
        counts_by_state=dict(Counter(s.invoice.status for s in summaries)),
        totals=totals,
    )


INVOICE_COLUMNS = (
    "Invoice",
    "Client",
    "Invoice date",
    "Appointment date",
    "Status",
    "Total",
    "Paid",
    "Refunded",
    "Due",
)


def invoices_csv(org: Organization, chosen: ListFilter) -> str:
    """Every invoice of the filter (all pages) with the page's columns; dollars, ISO dates."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(INVOICE_COLUMNS)
    for s in _invoice_summaries(org, chosen):
        visit = s.invoice.encounter
        writer.writerow(
            [
                s.invoice.number,
                safe_cell(s.invoice.client.sort_name),
                local_date(s.invoice.created_at, org.timezone).isoformat(),
                local_date(visit.starts_at, org.timezone).isoformat() if visit else "",
                INVOICE_STATUS_LABELS.get(s.invoice.status, s.invoice.status),
                dollars(s.invoice.total_cents),
                dollars(s.paid_cents),
                dollars(s.refunded_cents),
                dollars(s.due_cents),
            ]
        )
    return buffer.getvalue()


# --- holds ----------------------------------------------------------------------------------------


@dataclass
class HoldRow:
    hold: PreAuthorization
    amount_cents: int  # what the encounter page states (see the module docstring)

    @property
    def state_label(self) -> str:
        return STATE_LABELS.get(self.hold.state, self.hold.state)


@dataclass
class HoldPage(Page):
    amount_by_state: dict[str, int] = field(default_factory=dict)

    @property
    def total_cents(self) -> int:
        return sum(self.amount_by_state.values())


def _hold_rows(org: Organization, chosen: ListFilter) -> list[HoldRow]:
    query = (
        select(PreAuthorization)
        .join(Encounter, Encounter.id == PreAuthorization.encounter_id)
        .where(PreAuthorization.organization_id == org.id)
        .options(
            joinedload(PreAuthorization.encounter).joinedload(Encounter.client),
            joinedload(PreAuthorization.encounter)
            .joinedload(Encounter.client_insurance)
            .joinedload(ClientInsurance.payer),
            joinedload(PreAuthorization.encounter)
            .selectinload(Encounter.lines)
            .joinedload(EncounterService.service_type),
        )
        .order_by(Encounter.starts_at.desc(), PreAuthorization.id.desc())
    )
    if chosen.state:
        query = query.where(PreAuthorization.state == chosen.state)
    if chosen.client_id:
        query = query.where(Encounter.client_id == chosen.client_id)
    if chosen.start:
        query = query.where(Encounter.service_date >= chosen.start)
    if chosen.end:
        query = query.where(Encounter.service_date <= chosen.end)
    rows = []
    for hold in db.session.scalars(query).unique():
        amount = hold.amount_cents
        if hold.state == SCHEDULED or (amount is None and hold.state == PROCESSING):
            amount = current_amount(hold.encounter)  # what the encounter page previews
        rows.append(HoldRow(hold, amount or 0))
    return rows


def hold_page(org: Organization, chosen: ListFilter) -> HoldPage:
    """The holds of the filter, latest visit first, with counts and amounts by state."""
    rows = _hold_rows(org, chosen)
    amounts: Counter = Counter()
    for row in rows:
        amounts[row.hold.state] += row.amount_cents
    last = max(1, -(-len(rows) // PAGE_SIZE))
    page = min(chosen.page, last)
    return HoldPage(
        rows=rows[(page - 1) * PAGE_SIZE : page * PAGE_SIZE],
        count=len(rows),
        page=page,
        counts_by_state=dict(Counter(r.hold.state for r in rows)),
        amount_by_state=dict(amounts),
    )


HOLD_COLUMNS = ("Visit", "Client", "State", "Amount", "Card", "Lapses", "Why it failed")


def holds_csv(org: Organization, chosen: ListFilter) -> str:
    """Every hold of the filter (all pages); visit and lapse times in the practice's zone."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HOLD_COLUMNS)
    for row in _hold_rows(org, chosen):
        hold, visit = row.hold, row.hold.encounter
        writer.writerow(
            [
                _local_minutes(visit.starts_at, org.timezone),
                safe_cell(visit.client.sort_name),
                row.state_label,
                dollars(row.amount_cents),
                safe_cell(hold.card_label or ""),
                _local_minutes(hold.lapses_at, org.timezone) if hold.lapses_at else "",
                safe_cell(hold.failure_reason or ""),
            ]
        )
    return buffer.getvalue()


def _local_minutes(utc_naive: datetime, tz_name: str) -> str:
    return to_local(utc_naive, tz_name).strftime("%Y-%m-%d %H:%M")


def organization_clients(org: Organization) -> list[Client]:
    """The practice's clients by name, for the lists' client filter."""
    return list(
        db.session.scalars(
            select(Client)
            .where(Client.organization_id == org.id)
            .order_by(Client.last_name, Client.first_name, Client.id)
        )
    )


INVOICE_STATES = tuple(INVOICE_STATUS_LABELS)
HOLD_STATES = STATES
