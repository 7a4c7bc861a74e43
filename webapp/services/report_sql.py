"""Calendar arithmetic on date columns, the same in SQLite and PostgreSQL.

Dates become Python ordinals (`date.toordinal()`) or month numbers, so windows
are integer arithmetic in both databases; `total_allowed()` mirrors
`AuthorizationTerms.total` and `bucket()` the report's calendar windows. A test
checks both against the pure rules on both databases.
"""

from datetime import date

from sqlalchemy import Integer, and_, case, cast, extract, func, literal, select
from sqlalchemy.sql.elements import ColumnElement

from webapp.domain import authorization_rules, decision_rules, report_rules
from webapp.extensions import db
from webapp.models import Authorization, AuthorizationLine, Encounter


def is_sqlite() -> bool:
    return db.session.get_bind().dialect.name == "sqlite"


def ordinal(column) -> ColumnElement[int]:
    """A date column as Python's `date.toordinal()`."""
    if is_sqlite():
        return cast(func.julianday(column) - 1721424.5, Integer)
    return cast(column - literal(date(1, 1, 1)), Integer) + 1


def weekday_from_sunday(column) -> ColumnElement[int]:
    if is_sqlite():
        return cast(func.strftime("%w", column), Integer)
    return cast(extract("dow", column), Integer)


def week_start_ordinal(column, week_start: int) -> ColumnElement[int]:
    """The ordinal of the first day of the column's week (weeks start on `week_start`)."""
    from_sunday = (week_start + 1) % 7  # Python's Monday=0 as SQL's Sunday=0
    return ordinal(column) - (weekday_from_sunday(column) + (7 - from_sunday)) % 7


def month_number(column) -> ColumnElement[int]:
    """Months since year 0, as `report_rules.month_number`."""
    if is_sqlite():
        year = cast(func.strftime("%Y", column), Integer)
        month = cast(func.strftime("%m", column), Integer)
    else:
        year, month = (
            cast(extract("year", column), Integer),
            cast(extract("month", column), Integer),
        )
    return year * 12 + month - 1


def lines_table():
    """The counting authorization lines as a selectable with an authorization's columns:
    id (the line's), authorization_id, organization_id, client_insurance_id, number, kind,
    start_date and end_date (the line's own, else its authorization's), allowed,
    frequency, position. Only lines the payer granted, under an authorization whose
    decision does not withhold them (`webapp.domain.decision_rules`)."""
    a, line = Authorization, AuthorizationLine
    return (
        select(
            line.id,
            line.authorization_id,
            a.organization_id,
            a.client_insurance_id,
            a.number,
            line.kind,
            func.coalesce(line.start_date, a.start_date).label("start_date"),
            func.coalesce(line.end_date, a.end_date).label("end_date"),
            line.allowed,
            line.frequency,
            line.position,
        )
        .join(a, a.id == line.authorization_id)
        .where(
            line.decision.in_(sorted(decision_rules.GRANTING)),
            a.decision.not_in(sorted(decision_rules.WITHHOLDING)),
        )
        .subquery("lines")
    )


def total_allowed(week_start: int, table=None) -> ColumnElement[int]:
    """`AuthorizationTerms.total` in SQL: allowed × the capped windows, or allowed, over
    the columns of `table` (`lines_table()` when None; its `.c`)."""
    a = (lines_table() if table is None else table).c
    start, end = a.start_date, a.end_date
    units = a.kind == authorization_rules.UNITS
    weeks = (week_start_ordinal(end, week_start) - week_start_ordinal(start, week_start)) // 7
    return case(
        (
            and_(units, a.frequency == report_rules.DAY),
            a.allowed * (ordinal(end) - ordinal(start) + 1),
        ),
        (and_(units, a.frequency == report_rules.WEEK), a.allowed * (weeks + 1)),
        (
            and_(units, a.frequency == report_rules.MONTH),
            a.allowed * (month_number(end) - month_number(start) + 1),
        ),
        else_=a.allowed,
    )


def bucket(by: str, week_start: int) -> ColumnElement[int]:
    """Encounter.service_date → a key of its calendar window (see `bucket_date`)."""
    day = Encounter.service_date
    if by == report_rules.WEEK:
        return week_start_ordinal(day, week_start)
    if by == report_rules.MONTH:
        return month_number(day)
    return ordinal(day)


def bucket_date(key: int, by: str) -> date:
    if by == report_rules.MONTH:
        return date(key // 12, key % 12 + 1, 1)
    return date.fromordinal(key)
