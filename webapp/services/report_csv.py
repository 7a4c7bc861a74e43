"""The Authorizations Report as CSV: the table's columns, written in pieces as rows stream."""

import csv
import io
from collections.abc import Iterable, Iterator

from webapp.domain import report
from webapp.services.reports import ReportQuery, ReportRow

CSV_COLUMNS = (
    "Client",
    "Payer",
    "Authorization #",
    "Type",
    "Period start",
    "Period end",
    "Allowed",
    "Kept",
    "Upcoming",
    "Available",
    "% kept",
    "% upcoming",
    "Status",
    "Forecast",
    "Run-out date",
    "Unused at end",
)
FORECAST_LABELS = {
    report.USED_UP: "Used up",
    report.RUNS_OUT: "Runs out",
    report.LASTS: "Lasts to end",
    report.NOT_APPLICABLE: "",
}
CSV_FLUSH_ROWS = 200


def forecast_label(outlook: report.Forecast) -> str:
    if outlook.expires_unused:
        return "Expires unused"
    return FORECAST_LABELS[outlook.state]


def csv_record(row: ReportRow) -> list:
    """A row as the table shows it; dates ISO, amounts as numbers, no thousands separators."""
    figures, outlook = row.figures, row.forecast
    kept_percent, upcoming_percent = figures.kept_percent, figures.upcoming_percent
    return [
        _safe_cell(row.client_name),
        _safe_cell(row.payer),
        _safe_cell(row.number),
        row.kind.title(),
        row.window.start.isoformat(),
        row.window.end.isoformat(),
        report.as_decimal(figures.allowed),
        figures.kept,
        figures.upcoming,
        report.as_decimal(figures.available),
        "" if kept_percent is None else kept_percent,
        "" if upcoming_percent is None else upcoming_percent,
        row.status_label,
        forecast_label(outlook),
        outlook.run_out.isoformat() if outlook.run_out else "",
        outlook.unused_at_end if outlook.expires_unused else "",
    ]


def _safe_cell(text: str) -> str:
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
    by = "" if query.by == report.PERIOD else f"_by-{query.by}"
    return f"authorizations-report_{query.start.isoformat()}_to_{query.end.isoformat()}{by}.csv"
