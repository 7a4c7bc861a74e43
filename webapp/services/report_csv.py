"""The Authorizations Report as CSV: the table's columns, written in pieces as rows stream."""

import csv
import io
from collections.abc import Iterable, Iterator

from webapp.domain import report_rules
from webapp.domain.figures import percent_cell
from webapp.services.reports import ReportQuery, ReportRow

CSV_COLUMNS = (
    "Client",
    "Payer",
    "Authorization #",
    "Type",
    "Period start",
    "Period end",
    "Allowed",
    "Pro-rated",
    "Kept",
    "Upcoming",
    "Available",
    "Over by",
    "% Kept",
    "% Upcoming",
    "% Booked",
    "Status",
    "Over cap",
    "Forecast",
    "Run-out date",
    "Unused at end",
)
CSV_FLUSH_ROWS = 200


def forecast_label(outlook: report_rules.Forecast) -> str:
    """The Forecast column: the words the report's Forecast column shows."""
    return outlook.text


def csv_record(row: ReportRow) -> list:
    """A row as the table shows it: the same figures and words, dates ISO (with the
    year), amounts as numbers with one place at most, percentages without the % sign
    ("<1" for a sliver), no thousands separators. "Pro-rated" marks an allowance the
    table shows with "≈"; "Over by" is the table's "over by N"."""
    figures, outlook = row.figures, row.forecast
    over_by = figures.over_by
    return [
        safe_cell(row.client_name),
        safe_cell(row.payer),
        safe_cell(row.number),
        row.kind.title(),
        row.window.start.isoformat(),
        row.window.end.isoformat(),
        report_rules.as_decimal(figures.allowed),
        "" if figures.whole_share else "yes",
        figures.kept,
        figures.upcoming,
        report_rules.as_decimal(figures.available),
        report_rules.as_decimal(over_by) if over_by else "",
        percent_cell(figures.kept, figures.allowed),
        percent_cell(figures.upcoming, figures.allowed),
        percent_cell(figures.booked, figures.allowed),
        row.status_label,
        row.cap_over_text,
        forecast_label(outlook),
        outlook.run_out.isoformat() if outlook.run_out else "",
        outlook.unused_at_end if outlook.expires_unused else "",
    ]


def safe_cell(text: str) -> str:
    """Text a spreadsheet would run as a formula (=, +, -, @ first) gets a leading quote."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_chunks(rows: Iterable[ReportRow]) -> Iterator[str]:
    """The CSV text in pieces of `CSV_FLUSH_ROWS` rows, header first."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for number, row in enumerate(rows, start=1):
        writer.writerow(csv_record(row))
        if number % CSV_FLUSH_ROWS == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def csv_filename(query: ReportQuery) -> str:
    by = "" if query.by == report_rules.PERIOD else f"_by-{query.by}"
    return f"authorizations-report_{query.start.isoformat()}_to_{query.end.isoformat()}{by}.csv"
