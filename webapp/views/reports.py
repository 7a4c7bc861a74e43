"""Reports: the Authorizations Report for Sessions & Units, on screen and as CSV."""

from flask import Blueprint, Response, redirect, request, stream_with_context, url_for
from flask_login import current_user

from webapp.access import (
    BILLING_ROLES,
    organization_clinicians,
    organization_payers,
    role_required,
)
from webapp.domain import charts, report_rules
from webapp.extensions import htmx
from webapp.forms.reports import ReportFilterForm
from webapp.forms.urls import arg_page
from webapp.services import report_csv, reports
from webapp.services.coverage import organization_today
from webapp.views.rendering import opened_directly, render_page

bp = Blueprint("reports", __name__, url_prefix="/reports")

TEXT_SORTS = ("client", "payer", "number", "type", "status")  # first click: A → Z


@bp.app_template_filter("report_amount")
def report_amount(value) -> str:
    """12 → '12'; 1234 → '1,234'; a pro-rated 9/14 → '0.6'."""
    return f"{report_rules.as_decimal(value):,}"


def _filter_form() -> ReportFilterForm:
    org = current_user.organization
    return ReportFilterForm(
        request.args,
        payers=organization_payers(),
        clinicians=organization_clinicians(),
        default_range=report_rules.month_range(organization_today(org)),
    )


def _natural_descending(sort: str) -> bool:
    """Text columns first sort A → Z; numbers and dates largest and newest first."""
    return sort not in TEXT_SORTS


def _ordering() -> dict:
    """Sort, direction and page from the URL; unknown values fall back to the defaults."""
    sort = request.args.get("sort", reports.DEFAULT_SORT)
    sort = sort if sort in reports.SORTS else reports.DEFAULT_SORT
    direction = request.args.get("dir")
    descending = direction == "desc" if direction in ("asc", "desc") else _natural_descending(sort)
    return {"sort": sort, "descending": descending, "page": arg_page()}


def query_args(query: reports.ReportQuery, **changes) -> dict:
    """The URL parameters of a report, leaving out the defaults, so links stay short."""
    natural = query.descending == _natural_descending(query.sort)
    args = {
        "start": query.start.isoformat(),
        "end": query.end.isoformat(),
        "by": query.by if query.by != report_rules.PERIOD else None,
        "status": query.status,
        "payer": query.payer_id,
        "clinician": query.clinician_id,
        "type": query.kind,
        "client": query.client or None,
        "sort": query.sort if query.sort != reports.DEFAULT_SORT else None,
        "dir": None if natural else ("desc" if query.descending else "asc"),
        "page": query.page if query.page > 1 else None,
    }
    args.update(changes)
    return {key: value for key, value in args.items() if value is not None}


def _sort_args(query: reports.ReportQuery, column: str) -> dict:
    """Clicking a header: the same column flips its direction, another starts its natural one."""
    flipped = not query.descending
    descending = flipped if column == query.sort else _natural_descending(column)
    natural = descending == _natural_descending(column)
    direction = None if natural else ("desc" if descending else "asc")
    sort = column if column != reports.DEFAULT_SORT else None
    return query_args(query, sort=sort, dir=direction, page=None)


@bp.get("/authorizations")
@role_required(*BILLING_ROLES)
def authorizations():
    form = _filter_form()
    context = {
        "form": form,
        "oob": bool(htmx) and not htmx.history_restore_request,
        "today": organization_today(current_user.organization),
    }
    if not form.validate():
        return _render(None, None, http_status=422, **context)
    query = reports.ReportQuery(**form.values(), **_ordering())
    org = current_user.organization
    page = reports.report_page(org, query, today=context["today"])
    response = _render(page.query, page, **context)
    response.headers["HX-Push-Url"] = url_for(".authorizations", **query_args(page.query))
    return response


def _render(query, page, http_status=200, **context):
    return render_page(
        "reports/authorizations.html",
        "report_table",
        http_status=http_status,
        block_template="reports/_report_table.html",
        query=query,
        page=page,
        query_args=query_args,
        sort_args=_sort_args,
        **context,
    )


@bp.get("/authorizations.csv")
@role_required(*BILLING_ROLES)
def authorizations_csv():
    """Exactly the filtered rows, streamed; bad filters go back to the report's messages."""
    form = _filter_form()
    if not form.validate():
        return redirect(url_for(".authorizations", **request.args))
    query = reports.ReportQuery(**form.values(), **_ordering())
    org = current_user.organization
    rows = reports.iter_rows(org, query, today=organization_today(org))
    return Response(
        stream_with_context(report_csv.csv_chunks(rows)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{report_csv.csv_filename(query)}"'},
    )


@bp.get("/authorizations/chart")
@role_required(*BILLING_ROLES)
def utilization_chart():
    """The report's chart (utilization over time), loaded after the table: it reads every
    row of the filter, which the table's page does not. Opened by itself: the report."""
    page = opened_directly(url_for("reports.authorizations", **request.args))
    if page is not None:
        return page
    form = _filter_form()
    if not form.validate():
        return render_page("reports/_chart.html", "chart", http_status=422, points=None, query=None)
    query = reports.ReportQuery(**form.values(), **_ordering())
    org = current_user.organization
    by = reports.chart_breakdown(query)
    series = reports.utilization_over_time(org, query, today=organization_today(org))
    words = report_rules.BREAKDOWN_LABELS[by].lower()
    return render_page(
        "reports/_chart.html",
        "chart",
        points=None
        if series is None
        else {
            kind: charts.utilization(points, f"{kind.title()} booked against allowed, by {words}")
            for kind, points in series.items()
        },
        query=query,
        by=by,
        labels=report_rules.BREAKDOWN_LABELS,
        max_points=reports.CHART_MAX_POINTS,
    )
