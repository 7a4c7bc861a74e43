"""Authorizations Report for Sessions & Units: one SQL aggregate, streamed.

How a report is read (see `webapp.domain.report_rules` for the authorization_rules):

1. `_authorization_rows()` is one query: the organization's counting authorization
   lines (`report_sql.lines_table()`: approved quantities only; a one-line
   authorization is one row, as before) that touch the range, each joined to one
   GROUP BY over allocations ⋈ encounters
   (kept and upcoming; with a breakdown, also inside the range's windows). The
   total allowed, the status (inactive → expired → exhausted → active, as on the
   client's Insurance Authorizations section) and the percentages are SQL
   expressions too, so the status filter and every sort run in the database and
   rows can be streamed in order.
2. A page walks those rows once: it counts report rows, sums the totals and
   keeps only the page's authorizations (one small tuple per authorization is
   read; window rows are only ever built for the page).
3. For those authorizations only, a second GROUP BY (authorization, window
   bucket computed from `service_date`) fills the Day / Week / Month rows, and
   a third reads the forecast's inputs: booked Upcoming amounts by day and the
   Kept amounts of the last four weeks.
`iter_rows()` does the same for the CSV export, streamed through a server-side
cursor in batches, so its memory does not grow with the rows.

The clinician filter keeps authorizations of clients whose *primary clinician*
is that person: rows are authorizations, so their figures stay whole (and agree
with the client's page) rather than counting one clinician's encounters.
"""

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from fractions import Fraction

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from webapp.domain import authorization_rules, charts, report_rules
from webapp.domain.windows import Window
from webapp.extensions import db
from webapp.models import (
    Allocation,
    Client,
    ClientInsurance,
    Encounter,
    Payer,
    ServiceType,
    line_service_types,
)
from webapp.models.authorizations import display_number
from webapp.models.organization import Organization
from webapp.services import report_sql
from webapp.services.coverage import terms_of_columns

PAGE_SIZE = 50
BATCH_SIZE = 500  # authorizations read at a time
BATCH_ROWS = 10_000  # with a breakdown: at most about this many report rows per batch
SORTS = (
    "client",
    "payer",
    "number",
    "type",
    "start",
    "end",
    "allowed",
    "kept",
    "upcoming",
    "available",
    "kept_percent",
    "upcoming_percent",
    "status",
)
DEFAULT_SORT = "end"
CAP_WORDS = {"day": "daily cap", "week": "weekly cap", "month": "monthly cap"}


@dataclass(frozen=True)
class ReportQuery:
    """What a report shows: a checked date range, a breakdown, filters, sort and page."""

    start: date
    end: date
    by: str = report_rules.PERIOD
    status: str | None = None
    payer_id: int | None = None
    clinician_id: int | None = None
    client: str = ""
    kind: str | None = None
    sort: str = DEFAULT_SORT
    descending: bool = True
    page: int = 1


@dataclass
class ReportRow:
    """One report row: an authorization line (a window of it, with a breakdown).

    `codes` names the line's services when its authorization has several lines, else ''.
    """

    authorization_id: int
    line_id: int
    client_id: int
    client_name: str
    payer: str
    number: str
    kind: str
    window: Window
    figures: report_rules.Figures
    status: str
    forecast: report_rules.Forecast
    first_of_authorization: bool = True
    cap: str | None = None  # "day", "week" or "month" for a capped Units authorization
    windows_over: int = 0  # its capped windows with more booked than the cap (all its dates)
    codes: str = ""

    @property
    def status_label(self) -> str:
        return authorization_rules.STATUS_LABELS[self.status]

    @property
    def cap_over_text(self) -> str:
        """'Over the weekly cap in 2 weeks' (the client's page says the same); '' if none."""
        if not self.windows_over or self.cap is None:
            return ""
        unit = self.cap if self.windows_over == 1 else f"{self.cap}s"
        return f"Over the {CAP_WORDS[self.cap]} in {self.windows_over} {unit}"

    @property
    def display_number(self) -> str:
        return display_number(self.number)


@dataclass
class ReportPage:
    query: ReportQuery
    rows: list[ReportRow]
    row_count: int  # rows over every page
    authorization_count: int
    totals: dict[str, report_rules.Figures] = field(default_factory=dict)  # by type, every page
    rows_by_kind: dict[str, int] = field(default_factory=dict)

    @property
    def page_count(self) -> int:
        return max(1, -(-self.row_count // PAGE_SIZE))

    @property
    def first_row_number(self) -> int:
        return 0 if not self.rows else (self.query.page - 1) * PAGE_SIZE + 1

    @property
    def last_row_number(self) -> int:
        return (self.query.page - 1) * PAGE_SIZE + len(self.rows)


# --- The authorizations query ------------------------------------------------------------------


def _amount_when(condition) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, Allocation.amount), else_=0)), 0)


def _authorization_rows(org: Organization, query: ReportQuery, today: date):
    """The report's one big query (step 1 of the module docstring), in the chosen order."""
    lines = report_sql.lines_table()
    a = lines.c
    usage = _usage(org, query, lines)
    kept_sum = func.coalesce(usage.c.kept, 0)
    upcoming_sum = func.coalesce(usage.c.upcoming, 0)
    total = report_sql.total_allowed(org.week_start, lines)
    counted = kept_sum + upcoming_sum if org.count_upcoming_for_exhaustion else kept_sum
    status = case(
        (ClientInsurance.active.is_(False), authorization_rules.INACTIVE),
        (a.end_date < today, authorization_rules.EXPIRED),
        (total - counted <= 0, authorization_rules.EXHAUSTED),
        else_=authorization_rules.ACTIVE,
    )
    statement = (
        select(
            a.id,
            a.authorization_id,
            a.client_insurance_id,
            a.number,
            a.kind,
            a.start_date,
            a.end_date,
            a.allowed,
            a.frequency,
            Client.id.label("client_id"),
            Client.first_name,
            Client.last_name,
            Payer.name.label("payer"),
            total.label("total"),
            status.label("status"),
            kept_sum.label("kept"),
            upcoming_sum.label("upcoming"),
            *(
                func.coalesce(usage.c[name], 0).label(name)
                for name in ("kept_in_span", "upcoming_in_span")
                if name in usage.c
            ),
        )
        .select_from(lines)
        .join(ClientInsurance, ClientInsurance.id == a.client_insurance_id)
        .join(Client, Client.id == ClientInsurance.client_id)
        .join(Payer, Payer.id == ClientInsurance.payer_id)
        .outerjoin(usage, usage.c.authorization_id == a.id)
        .where(*_touches_range(org, query, lines), *_filters(query, lines))
    )
    if query.status:
        statement = statement.where(status == query.status)
    sort_keys = _sort_keys(query.sort, total, kept_sum, upcoming_sum, status, lines)
    order = [key.desc() if query.descending else key.asc() for key in sort_keys]
    tie = a.id.desc() if query.descending else a.id.asc()
    return statement.order_by(*order, tie)


def _usage(org: Organization, query: ReportQuery, lines):
    """Kept and Upcoming amounts per authorization line (and within the breakdown's span,
    for the totals row), as a subquery named `usage` (its `authorization_id` is the
    line's id)."""
    kept = Encounter.status == authorization_rules.KEPT
    upcoming = Encounter.status == authorization_rules.UPCOMING
    sums = [_amount_when(kept).label("kept"), _amount_when(upcoming).label("upcoming")]
    if query.by != report_rules.PERIOD:  # the windows' span, for the totals row
        in_span = Encounter.service_date.between(*_range_span(org, query))
        sums += [
            _amount_when(and_(kept, in_span)).label("kept_in_span"),
            _amount_when(and_(upcoming, in_span)).label("upcoming_in_span"),
        ]
    return (
        select(Allocation.line_id.label("authorization_id"), *sums)
        .join(Encounter, Encounter.id == Allocation.encounter_id)
        .join(lines, lines.c.id == Allocation.line_id)
        .where(*_touches_range(org, query, lines))
        .group_by(Allocation.line_id)
        .subquery("usage")
    )


def _sort_keys(sort: str, total, kept_sum, upcoming_sum, status, lines) -> tuple:
    """The columns a report sorted by `sort` orders by (before the id that breaks ties)."""
    a = lines.c
    percent_of = {"kept_percent": kept_sum, "upcoming_percent": upcoming_sum}
    return {
        "client": (func.lower(Client.last_name), func.lower(Client.first_name)),
        "payer": (func.lower(Payer.name),),
        "number": (func.coalesce(a.number, ""),),
        "type": (a.kind,),
        "start": (a.start_date,),
        "end": (a.end_date,),
        "allowed": (total,),
        "kept": (kept_sum,),
        "upcoming": (upcoming_sum,),
        "available": (total - kept_sum - upcoming_sum,),
        "status": (status,),
        **{
            name: (case((total > 0, part * 100 // total), else_=-1),)
            for name, part in percent_of.items()
        },
    }[sort]


def _touches_range(org: Organization, query: ReportQuery, lines) -> list:
    return [
        lines.c.organization_id == org.id,
        lines.c.start_date <= query.end,
        lines.c.end_date >= query.start,
    ]


def _filters(query: ReportQuery, lines) -> list:
    conditions = []
    if query.payer_id is not None:
        conditions.append(ClientInsurance.payer_id == query.payer_id)
    if query.kind is not None:
        conditions.append(lines.c.kind == query.kind)
    if query.clinician_id is not None:
        conditions.append(Client.primary_clinician_id == query.clinician_id)
    if query.client:
        needle = query.client.strip().lower()
        full = func.lower(Client.first_name + " " + Client.last_name)
        reverse = func.lower(Client.last_name + ", " + Client.first_name)
        conditions.append(
            or_(full.contains(needle, autoescape=True), reverse.contains(needle, autoescape=True))
        )
    return conditions


def _range_span(org: Organization, query: ReportQuery) -> tuple[date, date]:
    """The days the report's window rows cover: the chosen range itself (each window is
    clipped to it, so nothing outside the range is counted)."""
    return query.start, query.end


def _span(row, bounds: tuple[date, date], by: str) -> Window:
    """`report_rules.breakdown_span` with the range's window bounds worked out once per query."""
    if by == report_rules.PERIOD:
        return Window(row.start_date, row.end_date)
    return Window(max(row.start_date, bounds[0]), min(row.end_date, bounds[1]))


class _Totals:
    """Sums of one type's rows; pro-rated shares are added per denominator, in integers."""

    def __init__(self) -> None:
        self.rows = self.whole = self.kept = self.upcoming = 0
        self.shares: dict[int, int] = defaultdict(int)  # denominator: sum of numerators
        self.whole_share = True

    def add(self, row, span: Window, org: Organization, query: ReportQuery) -> None:
        """Add an authorization's rows: the whole period, or its windows' span."""
        if query.by == report_rules.PERIOD:
            self.rows += 1
            self.whole += row.total
            self.kept, self.upcoming = self.kept + row.kept, self.upcoming + row.upcoming
            return
        self.rows += report_rules.count_windows(span.start, span.end, query.by, org.week_start)
        self.kept += row.kept_in_span
        self.upcoming += row.upcoming_in_span
        if (span.start, span.end) == (row.start_date, row.end_date):
            self.whole += row.total
            return
        terms = terms_of_columns(row, org)
        allowed = report_rules.allowance_between(terms, span.start, span.end)
        self.whole_share = self.whole_share and report_rules.is_whole_share(
            terms, span.start, span.end
        )
        if isinstance(allowed, int):
            self.whole += allowed
        else:
            self.shares[allowed.denominator] += allowed.numerator

    def figures(self) -> report_rules.Figures:
        shares = sum((Fraction(n, d) for d, n in self.shares.items()), Fraction(0))
        allowed = self.whole + shares
        allowed = int(allowed) if allowed.denominator == 1 else allowed
        return report_rules.Figures(allowed, self.kept, self.upcoming, self.whole_share)


# --- Pages and the CSV stream ------------------------------------------------------------------


def report_page(org: Organization, query: ReportQuery, *, today: date) -> ReportPage:
    """One page of the report, its row count and totals by type, in one pass over the rows."""
    offset, stop = (query.page - 1) * PAGE_SIZE, query.page * PAGE_SIZE
    bounds = _range_span(org, query)
    seen = authorizations = 0
    totals: dict[str, _Totals] = defaultdict(_Totals)
    picked: list[tuple[int, object]] = []  # (index of the row's first window, row)
    # Read at once, not through a server-side cursor: PostgreSQL plans a cursor for
    # its first rows and without parallel workers, which made a page twice as slow.
    # The rows are one small tuple per authorization; only the page's are expanded.
    # Core rows (through the connection) skip the ORM's row processing.
    for row in db.session.connection().execute(_authorization_rows(org, query, today)):
        span = _span(row, bounds, query.by)
        kind_totals = totals[row.kind]
        before = kind_totals.rows
        kind_totals.add(row, span, org, query)
        count = kind_totals.rows - before
        if seen < stop and seen + count > offset:
            picked.append((seen, row))
        seen += count
        authorizations += 1
    if query.page > 1 and seen <= offset:  # past the last page: show the last one
        last_page = max(1, -(-seen // PAGE_SIZE))
        return report_page(org, replace(query, page=last_page), today=today)
    rows = [
        report_row
        for _, chunk in _expand(org, query, [row for _, row in picked], today)
        for report_row in chunk
    ]
    first = picked[0][0] if picked else 0
    rows = rows[offset - first : stop - first]
    kinds = [kind for kind in authorization_rules.KINDS if kind in totals]
    return ReportPage(
        query,
        rows,
        seen,
        authorizations,
        {kind: totals[kind].figures() for kind in kinds},
        {kind: totals[kind].rows for kind in kinds},
    )


def iter_rows(org: Organization, query: ReportQuery, *, today: date) -> Iterator[ReportRow]:
    """Every row of the report in order, read a batch of authorizations at a time.

    With a breakdown a batch holds fewer authorizations (a 3-year range by day has
    1,096 windows each), so memory stays bounded whatever the range.
    """
    batch = BATCH_SIZE
    if query.by != report_rules.PERIOD:
        windows = report_rules.count_windows(*_range_span(org, query), query.by, org.week_start)
        batch = max(1, min(BATCH_SIZE, BATCH_ROWS // windows))
    result = db.session.connection().execute(
        _authorization_rows(org, query, today), execution_options={"yield_per": batch}
    )
    for batch in result.partitions():
        for _, chunk in _expand(org, query, batch, today):
            yield from chunk


def _expand(
    org: Organization, query: ReportQuery, rows: Sequence, today: date
) -> Iterator[tuple[int, list[ReportRow]]]:
    """(authorization id, its report rows) for a few authorization rows (steps 3 and 4)."""
    ids = [row.id for row in rows]
    bounds = _range_span(org, query)
    booked, recent_kept = _forecast_inputs(ids, today)
    buckets = _buckets(org, query, ids) if query.by != report_rules.PERIOD else {}
    over_caps = _windows_over(org, rows)
    codes = _codes_of_many_line_authorizations(rows)
    for row in rows:
        terms = terms_of_columns(row, org)
        outlook = report_rules.forecast(
            terms,
            status=row.status,
            today=today,
            kept=row.kept,
            booked=booked.get(row.id, ()),
            recent_kept=recent_kept.get(row.id, 0),
        )
        common = dict(
            authorization_id=row.authorization_id,
            line_id=row.id,
            codes=codes.get(row.id, ""),
            client_id=row.client_id,
            client_name=f"{row.last_name}, {row.first_name}",
            payer=row.payer,
            number=row.number or "",
            kind=row.kind,
            status=row.status,
            forecast=outlook,
            cap=terms.cap_frequency,
            windows_over=over_caps.get(row.id, 0),
        )
        if query.by == report_rules.PERIOD:
            figures = report_rules.Figures(row.total, row.kept, row.upcoming)
            yield (
                row.id,
                [ReportRow(window=_span(row, bounds, query.by), figures=figures, **common)],
            )
            continue
        chunk = []
        for index, window in enumerate(
            report_rules.breakdown_windows(_span(row, bounds, query.by), query.by, org.week_start)
        ):
            key = report_rules.bucket_start(window.start, query.by, org.week_start)
            kept, upcoming = buckets.get((row.id, key), (0, 0))
            allowed = report_rules.allowance_between(terms, window.start, window.end)
            whole = report_rules.is_whole_share(terms, window.start, window.end)
            figures = report_rules.Figures(allowed, kept, upcoming, whole)
            chunk.append(
                ReportRow(
                    window=window, figures=figures, first_of_authorization=index == 0, **common
                )
            )
        yield row.id, chunk


def _codes_of_many_line_authorizations(rows: Sequence) -> dict[int, str]:
    """{line id: '97153, 97155'} for the lines among `rows` whose authorization has more
    than one counting line (a one-line authorization's row is the authorization)."""
    per_authorization: dict[int, int] = defaultdict(int)
    lines = report_sql.lines_table()
    ids = sorted({row.authorization_id for row in rows})
    if not ids:
        return {}
    for (auth_id,) in db.session.execute(
        select(lines.c.authorization_id).where(lines.c.authorization_id.in_(ids))
    ):
        per_authorization[auth_id] += 1
    many = [row.id for row in rows if per_authorization[row.authorization_id] > 1]
    if not many:
        return {}
    found: dict[int, list[str]] = defaultdict(list)
    for line_id, code in db.session.execute(
        select(line_service_types.c.line_id, ServiceType.cpt_code)
        .join(ServiceType, ServiceType.id == line_service_types.c.service_type_id)
        .where(line_service_types.c.line_id.in_(many))
        .order_by(ServiceType.cpt_code)
    ):
        found[line_id].append(code)
    return {line_id: ", ".join(codes) for line_id, codes in found.items()}


def _windows_over(org: Organization, rows: Sequence) -> dict[int, int]:
    """{authorization id: its day/week/month windows with more booked (Kept + Upcoming)
    than the cap}, for the capped Units authorizations among `rows`: one GROUP BY per
    cap frequency, as the client's page counts them (`Ledger.windows_over`)."""
    capped: dict[str, dict[int, int]] = defaultdict(dict)
    for row in rows:
        terms = terms_of_columns(row, org)
        if terms.cap_frequency is not None:
            capped[terms.cap_frequency][row.id] = row.allowed
    found: dict[int, int] = defaultdict(int)
    booked = Encounter.status.in_((authorization_rules.KEPT, authorization_rules.UPCOMING))
    for frequency, allowed in capped.items():
        bucket = report_sql.bucket(frequency, org.week_start).label("bucket")
        sums = db.session.execute(
            select(Allocation.line_id, bucket, _amount_when(booked))
            .join(Encounter, Encounter.id == Allocation.encounter_id)
            .where(Allocation.line_id.in_(list(allowed)))
            .group_by(Allocation.line_id, bucket)
        )
        for auth_id, _key, amount in sums:
            if int(amount) > allowed[auth_id]:
                found[auth_id] += 1
    return found


def _forecast_inputs(
    authorization_ids: list[int], today: date
) -> tuple[dict[int, list[tuple[date, int]]], dict[int, int]]:
    """Per authorization: Upcoming amounts by day, and the Kept amount of the pace window."""
    booked: dict[int, list[tuple[date, int]]] = defaultdict(list)
    recent_kept: dict[int, int] = defaultdict(int)
    if not authorization_ids:
        return booked, recent_kept
    pace = report_rules.pace_window(today)
    recent = and_(
        Encounter.status == authorization_rules.KEPT,
        Encounter.service_date.between(pace.start, pace.end),
    )
    rows = db.session.execute(
        select(
            Allocation.line_id,
            Encounter.service_date,
            Encounter.status,
            func.sum(Allocation.amount),
        )
        .join(Encounter, Encounter.id == Allocation.encounter_id)
        .where(
            Allocation.line_id.in_(authorization_ids),
            or_(Encounter.status == authorization_rules.UPCOMING, recent),
        )
        .group_by(Allocation.line_id, Encounter.service_date, Encounter.status)
    )
    for auth_id, day, status, amount in rows:
        if status == authorization_rules.UPCOMING:
            booked[auth_id].append((day, int(amount)))
        else:
            recent_kept[auth_id] += int(amount)
    return booked, recent_kept


def _buckets(
    org: Organization, query: ReportQuery, authorization_ids: list[int]
) -> dict[tuple[int, date], tuple[int, int]]:
    """{(authorization id, window start): (kept, upcoming)} for the range's windows."""
    if not authorization_ids:
        return {}
    span_start, span_end = _range_span(org, query)
    bucket = report_sql.bucket(query.by, org.week_start).label("bucket")
    rows = db.session.execute(
        select(
            Allocation.line_id,
            bucket,
            _amount_when(Encounter.status == authorization_rules.KEPT),
            _amount_when(Encounter.status == authorization_rules.UPCOMING),
        )
        .join(Encounter, Encounter.id == Allocation.encounter_id)
        .where(
            Allocation.line_id.in_(authorization_ids),
            # Compared as ordinals, not as dates: with hundreds of ids SQLite would
            # otherwise walk the service_date index over half a year of encounters.
            report_sql.ordinal(Encounter.service_date).between(
                span_start.toordinal(), span_end.toordinal()
            ),
        )
        .group_by(Allocation.line_id, bucket)
    )
    return {
        (auth_id, report_sql.bucket_date(key, query.by)): (int(kept), int(upcoming))
        for auth_id, key, kept, upcoming in rows
    }


# --- The chart: utilization over time ---------------------------------------------------------

CHART_MAX_POINTS = 120  # windows in one chart; more and the bars would be slivers


def chart_breakdown(query: ReportQuery) -> str:
    """The windows of the report's chart: the chosen breakdown, months for "Entire period"."""
    return query.by if query.by != report_rules.PERIOD else report_rules.MONTH


def utilization_over_time(
    org: Organization, query: ReportQuery, *, today: date
) -> dict[str, list[charts.UtilizationPoint]] | None:
    """{type: one point per window of the range, oldest first} for the chart, or None
    when the range has more than CHART_MAX_POINTS windows.

    Each point is the sum (`report_rules.Figures.__add__`, as the totals row adds) of
    the report's own rows in that window (`iter_rows` with the chart's breakdown and
    the same filters), so the chart and the table cannot disagree.
    """
    by = chart_breakdown(query)
    windows = report_rules.breakdown_windows(Window(query.start, query.end), by, org.week_start)
    if len(windows) > CHART_MAX_POINTS:
        return None
    windows.reverse()
    sums: dict[str, dict[date, report_rules.Figures]] = {}
    for row in iter_rows(org, replace(query, by=by, page=1), today=today):
        key = report_rules.bucket_start(row.window.start, by, org.week_start)
        kind = sums.setdefault(row.kind, {})
        kind[key] = kind.get(key, report_rules.NO_FIGURES) + row.figures
    return {
        kind: [
            charts.UtilizationPoint(
                window,
                sums[kind].get(
                    report_rules.bucket_start(window.start, by, org.week_start),
                    report_rules.NO_FIGURES,
                ),
            )
            for window in windows
        ]
        for kind in authorization_rules.KINDS
        if kind in sums
    }
