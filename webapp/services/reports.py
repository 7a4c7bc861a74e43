"""Authorizations Report for Sessions & Units: one SQL aggregate, streamed.

How a report is read (see `webapp.domain.report` for the rules):

1. `_authorization_rows()` is one query: the organization's authorizations that
   touch the range, each joined to one GROUP BY over allocations ⋈ encounters
   (kept, upcoming, the recent Kept pace, and kept/upcoming inside the range's
   windows). The total allowed, the status (inactive → expired → exhausted →
   active, as on the client's Insurance Authorizations section) and the
   percentages are SQL expressions too, so the status filter and every sort run
   in the database and rows can be streamed in order.
2. A page walks that stream once: it counts rows, sums the totals and keeps
   only the page's authorizations, so memory does not grow with the report.
3. For those authorizations only, a second GROUP BY (authorization, window
   bucket computed from `service_date`) fills the Day / Week / Month rows, and
   a third lists the booked Upcoming amounts by day for the forecast.
`iter_rows()` does the same in batches for the CSV export.

The clinician filter keeps authorizations of clients whose *primary clinician*
is that person: rows are authorizations, so their figures stay whole (and agree
with the client's page) rather than counting one clinician's encounters.
"""

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from webapp.domain import authorizations as rules
from webapp.domain import report
from webapp.domain.windows import Window
from webapp.extensions import db
from webapp.models import Allocation, Authorization, Client, ClientInsurance, Encounter, Payer
from webapp.models.organization import Organization
from webapp.services import report_sql as sql

PAGE_SIZE = 50
BATCH_SIZE = 500
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


@dataclass(frozen=True)
class ReportQuery:
    """What a report shows: a checked date range, a breakdown, filters, sort and page."""

    start: date
    end: date
    by: str = report.PERIOD
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
    authorization_id: int
    client_id: int
    client_name: str
    payer: str
    number: str
    kind: str
    window: Window
    figures: report.Figures
    status: str
    forecast: report.Forecast
    first_of_authorization: bool = True

    @property
    def status_label(self) -> str:
        return rules.STATUS_LABELS[self.status]


@dataclass
class ReportPage:
    query: ReportQuery
    rows: list[ReportRow]
    row_count: int  # rows over every page
    authorization_count: int
    totals: dict[str, report.Figures] = field(default_factory=dict)  # by type, every page
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
    a = Authorization
    span_start, span_end = _range_span(org, query)
    pace = report.pace_window(today)
    kept = Encounter.status == rules.KEPT
    upcoming = Encounter.status == rules.UPCOMING
    in_span = Encounter.service_date.between(span_start, span_end)
    usage = (
        select(
            Allocation.authorization_id.label("authorization_id"),
            _amount_when(kept).label("kept"),
            _amount_when(upcoming).label("upcoming"),
            _amount_when(and_(kept, Encounter.service_date.between(pace.start, pace.end))).label(
                "recent_kept"
            ),
            _amount_when(and_(kept, in_span)).label("kept_in_span"),
            _amount_when(and_(upcoming, in_span)).label("upcoming_in_span"),
        )
        .join(Encounter, Encounter.id == Allocation.encounter_id)
        .join(a, a.id == Allocation.authorization_id)
        .where(*_touches_range(org, query))
        .group_by(Allocation.authorization_id)
        .subquery("usage")
    )
    kept_sum = func.coalesce(usage.c.kept, 0)
    upcoming_sum = func.coalesce(usage.c.upcoming, 0)
    total = sql.total_allowed(org.week_start)
    counted = kept_sum + upcoming_sum if org.count_upcoming_for_exhaustion else kept_sum
    status = case(
        (ClientInsurance.active.is_(False), rules.INACTIVE),
        (a.end_date < today, rules.EXPIRED),
        (total - counted <= 0, rules.EXHAUSTED),
        else_=rules.ACTIVE,
    )
    statement = (
        select(
            a.id,
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
            func.coalesce(usage.c.recent_kept, 0).label("recent_kept"),
            func.coalesce(usage.c.kept_in_span, 0).label("kept_in_span"),
            func.coalesce(usage.c.upcoming_in_span, 0).label("upcoming_in_span"),
        )
        .join(ClientInsurance, ClientInsurance.id == a.client_insurance_id)
        .join(Client, Client.id == ClientInsurance.client_id)
        .join(Payer, Payer.id == ClientInsurance.payer_id)
        .outerjoin(usage, usage.c.authorization_id == a.id)
        .where(*_touches_range(org, query), *_filters(query))
    )
    if query.status:
        statement = statement.where(status == query.status)
    percent_of = {
        "kept_percent": kept_sum,
        "upcoming_percent": upcoming_sum,
    }
    sort_keys = {
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
    }[query.sort]
    order = [key.desc() if query.descending else key.asc() for key in sort_keys]
    tie = a.id.desc() if query.descending else a.id.asc()
    return statement.order_by(*order, tie)


def _touches_range(org: Organization, query: ReportQuery) -> list:
    return [
        Authorization.organization_id == org.id,
        Authorization.start_date <= query.end,
        Authorization.end_date >= query.start,
    ]


def _filters(query: ReportQuery) -> list:
    conditions = []
    if query.payer_id is not None:
        conditions.append(ClientInsurance.payer_id == query.payer_id)
    if query.kind is not None:
        conditions.append(Authorization.kind == query.kind)
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
    """The days of every window the report can show (the range widened to whole windows)."""
    if query.by == report.PERIOD:
        return query.start, query.end
    first = report.calendar_window(query.start, query.by, org.week_start)
    last = report.calendar_window(query.end, query.by, org.week_start)
    return first.start, last.end


def _terms(row, org: Organization) -> rules.AuthorizationTerms:
    return rules.AuthorizationTerms(
        id=row.id,
        client_insurance_id=row.client_insurance_id,
        kind=row.kind,
        start=row.start_date,
        end=row.end_date,
        allowed=row.allowed,
        frequency=row.frequency,
        service_type_ids=frozenset(),
        week_start=org.week_start,
    )


def _span(row, org: Organization, query: ReportQuery) -> Window:
    span = report.breakdown_span(
        row.start_date, row.end_date, query.start, query.end, query.by, org.week_start
    )
    assert span is not None  # the query keeps only authorizations touching the range
    return span


def _row_count(row, org: Organization, query: ReportQuery) -> int:
    span = _span(row, org, query)
    return report.count_windows(span.start, span.end, query.by, org.week_start)


def _row_totals(row, org: Organization, query: ReportQuery) -> report.Figures:
    """The sum of an authorization's rows: the whole period, or its windows' span."""
    if query.by == report.PERIOD:
        return report.Figures(row.total, row.kept, row.upcoming)
    span = _span(row, org, query)
    terms = _terms(row, org)
    allowed = report.allowance_between(terms, span.start, span.end)
    whole = report.is_whole_share(terms, span.start, span.end)
    return report.Figures(allowed, row.kept_in_span, row.upcoming_in_span, whole)


# --- Pages and the CSV stream ------------------------------------------------------------------


def report_page(org: Organization, query: ReportQuery, *, today: date) -> ReportPage:
    """One page of the report, its row count and totals by type, in one pass over the rows."""
    offset, stop = (query.page - 1) * PAGE_SIZE, query.page * PAGE_SIZE
    seen = authorizations = 0
    totals: dict[str, report.Figures] = {}
    rows_by_kind: dict[str, int] = {}
    picked: list[tuple[int, object]] = []  # (index of the row's first window, row)
    result = db.session.execute(
        _authorization_rows(org, query, today), execution_options={"yield_per": BATCH_SIZE}
    )
    for row in result:
        count = _row_count(row, org, query)
        if seen < stop and seen + count > offset:
            picked.append((seen, row))
        seen += count
        authorizations += 1
        totals[row.kind] = totals.get(row.kind, report.NO_FIGURES) + _row_totals(row, org, query)
        rows_by_kind[row.kind] = rows_by_kind.get(row.kind, 0) + count
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
    ordered = {kind: totals[kind] for kind in rules.KINDS if kind in totals}
    return ReportPage(query, rows, seen, authorizations, ordered, rows_by_kind)


def iter_rows(org: Organization, query: ReportQuery, *, today: date) -> Iterator[ReportRow]:
    """Every row of the report in order, read `BATCH_SIZE` authorizations at a time."""
    result = db.session.execute(
        _authorization_rows(org, query, today), execution_options={"yield_per": BATCH_SIZE}
    )
    for batch in result.partitions():
        for _, chunk in _expand(org, query, batch, today):
            yield from chunk


def _expand(
    org: Organization, query: ReportQuery, rows: Sequence, today: date
) -> Iterator[tuple[int, list[ReportRow]]]:
    """(authorization id, its report rows) for a few authorization rows (steps 3 and 4)."""
    ids = [row.id for row in rows]
    booked = _booked(ids)
    buckets = _buckets(org, query, ids) if query.by != report.PERIOD else {}
    for row in rows:
        terms = _terms(row, org)
        outlook = report.forecast(
            terms,
            status=row.status,
            today=today,
            kept=row.kept,
            booked=booked.get(row.id, ()),
            recent_kept=row.recent_kept,
        )
        common = dict(
            authorization_id=row.id,
            client_id=row.client_id,
            client_name=f"{row.last_name}, {row.first_name}",
            payer=row.payer,
            number=row.number or "",
            kind=row.kind,
            status=row.status,
            forecast=outlook,
        )
        if query.by == report.PERIOD:
            figures = report.Figures(row.total, row.kept, row.upcoming)
            yield row.id, [ReportRow(window=_span(row, org, query), figures=figures, **common)]
            continue
        chunk = []
        for index, window in enumerate(
            report.breakdown_windows(_span(row, org, query), query.by, org.week_start)
        ):
            key = report.bucket_start(window.start, query.by, org.week_start)
            kept, upcoming = buckets.get((row.id, key), (0, 0))
            allowed = report.allowance_between(terms, window.start, window.end)
            whole = report.is_whole_share(terms, window.start, window.end)
            figures = report.Figures(allowed, kept, upcoming, whole)
            chunk.append(
                ReportRow(
                    window=window, figures=figures, first_of_authorization=index == 0, **common
                )
            )
        yield row.id, chunk


def _booked(authorization_ids: list[int]) -> dict[int, list[tuple[date, int]]]:
    """Upcoming amounts by day, per authorization, for the forecast."""
    booked: dict[int, list[tuple[date, int]]] = defaultdict(list)
    if not authorization_ids:
        return booked
    rows = db.session.execute(
        select(Allocation.authorization_id, Encounter.service_date, func.sum(Allocation.amount))
        .join(Encounter, Encounter.id == Allocation.encounter_id)
        .where(
            Allocation.authorization_id.in_(authorization_ids),
            Encounter.status == rules.UPCOMING,
        )
        .group_by(Allocation.authorization_id, Encounter.service_date)
    )
    for auth_id, day, amount in rows:
        booked[auth_id].append((day, int(amount)))
    return booked


def _buckets(
    org: Organization, query: ReportQuery, authorization_ids: list[int]
) -> dict[tuple[int, date], tuple[int, int]]:
    """{(authorization id, window start): (kept, upcoming)} for the range's windows."""
    if not authorization_ids:
        return {}
    span_start, span_end = _range_span(org, query)
    bucket = sql.bucket(query.by, org.week_start).label("bucket")
    rows = db.session.execute(
        select(
            Allocation.authorization_id,
            bucket,
            _amount_when(Encounter.status == rules.KEPT),
            _amount_when(Encounter.status == rules.UPCOMING),
        )
        .join(Encounter, Encounter.id == Allocation.encounter_id)
        .where(
            Allocation.authorization_id.in_(authorization_ids),
            Encounter.service_date.between(span_start, span_end),
        )
        .group_by(Allocation.authorization_id, bucket)
    )
    return {
        (auth_id, sql.bucket_date(key, query.by)): (int(kept), int(upcoming))
        for auth_id, key, kept, upcoming in rows
    }
