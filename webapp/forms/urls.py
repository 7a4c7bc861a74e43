"""Numbers and dates a URL carries: the route converter for ids and the query-string readers.

Both check against `webapp.domain.limits`, so an id past 2^31 or a date in year
9999 gets the same 4xx (or the page's own message) on SQLite and PostgreSQL.
"""

from datetime import date

from flask import request
from werkzeug.routing import IntegerConverter, ValidationError

from webapp.domain.limits import MAX_ROW_ID, date_refusal

MAX_PAGE = 100_000  # a page number in a list: far past any practice's rows
_MAX_ID_DIGITS = len(str(MAX_ROW_ID))


class RowIdConverter(IntegerConverter):
    """`<int:…>` in every route: 1 … 2,147,483,647, else the route does not match (404).

    Registered as the app's "int" converter, so no view can forget it. Long digit
    runs are refused before `int()` (which is slow on, and refuses, huge texts).
    """

    def __init__(self, url_map, fixed_digits=0, min=1, max=MAX_ROW_ID, signed=False):
        super().__init__(url_map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)

    def to_python(self, value: str):
        if len(value) > _MAX_ID_DIGITS:
            raise ValidationError()
        return super().to_python(value)


def _whole(text: str, maximum: int) -> int | None:
    text = text.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(maximum)):
        return None
    value = int(text)
    return value if 1 <= value <= maximum else None


def row_id(text: str) -> int | None:
    """A row id typed as text (a form's hidden field), or None when it cannot be one."""
    return _whole(text, MAX_ROW_ID)


def arg_row_id(name: str) -> int | None:
    """A row id from the query string, or None when missing or not a possible id."""
    return row_id(request.args.get(name, ""))


def arg_page(name: str = "page") -> int:
    """A 1-based page number from the query string; anything else is page 1."""
    return _whole(request.args.get(name, ""), MAX_PAGE) or 1


def arg_date(name: str) -> tuple[date | None, str | None]:
    """(date, None), (None, why it is refused) or (None, None) when missing or empty.

    A date is YYYY-MM-DD inside the supported range (1900–2099).
    """
    text = request.args.get(name, "").strip()
    if not text:
        return None, None
    try:
        day = date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        day = None
    if day is None:
        return None, "Enter the date as YYYY-MM-DD."
    problem = date_refusal(day)
    return (None, problem) if problem else (day, None)
