"""Calendar arithmetic on date columns, the same in SQLite and PostgreSQL.

Dates become Python ordinals (`date.toordinal()`) or month numbers, so windows
are integer arithmetic in both databases; `total_allowed()` mirrors
`AuthorizationTerms.total` and `bucket()` the report's calendar windows. A test
checks both against the pure rules on both databases.
"""

from datetime import date

from sqlalchemy import Integer, and_, case, cast, extract, func, literal
from sqlalchemy.sql.elements import ColumnElement

from webapp.domain import authorization_rules, report_rules
from webapp.extensions import db
from webapp.models import Authorization, Encounter


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


def total_allowed(week_start: int) -> ColumnElement[int]:
    """`AuthorizationTerms.total` in SQL: allowed × the capped windows, or allowed."""
    a = Authorization
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
