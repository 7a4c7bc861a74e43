"""The ranges a number or a date from a form, a URL or an uploaded file must fall in.

One table, read by the form fields (`webapp.forms.fields`) and the URL readers
(`webapp.forms.urls`), so the same input gets the same clear 4xx on SQLite and
PostgreSQL instead of reaching a database that stores it (SQLite), refuses it
(PostgreSQL's 32-bit `integer`) or overflows Python's `date` on the way.

- **Row ids** are PostgreSQL `integer` (int4): 1 … 2,147,483,647. A larger id in a
  path names no row: 404.
- **Money** typed by a person is at most $10,000.00 (`MAX_MONEY_CENTS`). Amounts
  are stored in `integer` cents too, and the largest amount the app computes from
  one typed price is 3 service lines × 600 minutes at a 1-minute unit
  (1,800 units): 1,800 × $10,000.00 = 1,800,000,000 cents, under the int4 limit
  of 2,147,483,647 cents ($21,474,836.47). No therapy price, copay or fee comes
  near $10,000.
- **Allowed** sessions or units of an authorization: 1 … 10,000 per window.
- **Dates** are those of the years 1900 to 2099 (`EARLIEST_DATE` … `LATEST_DATE`):
  every date of birth of a living client and every authorization, appointment and
  report range a practice meets. An "open-ended" authorization written as
  12/31/9999 is refused with a message asking for the payer's real end date (or
  Dec 31, 2099). Inside this range, every calendar computation (a week that runs
  past Dec 31, 2099, a report range of three years) stays far from Python's
  `date.max` (9999-12-31).
"""

from datetime import date

INT4_MAX = 2**31 - 1
MAX_ROW_ID = INT4_MAX
MAX_MONEY_CENTS = 1_000_000  # $10,000.00
MAX_ALLOWED = 10_000
EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(2099, 12, 31)
MAX_SEARCH_LENGTH = 100  # a search box's text


def _day(day: date) -> str:
    return f"{day:%b} {day.day}, {day.year}"


DATE_RANGE_TEXT = f"{_day(EARLIEST_DATE)} to {_day(LATEST_DATE)}"


def is_row_id(value: int) -> bool:
    """Whether `value` can be the id of a row (1 … 2,147,483,647)."""
    return 1 <= value <= MAX_ROW_ID


def date_refusal(day: date) -> str | None:
    """Why `day` is refused, or None: it must fall in 1900-01-01 … 2099-12-31."""
    if EARLIEST_DATE <= day <= LATEST_DATE:
        return None
    return f"Enter a date from {DATE_RANGE_TEXT}."


def money_refusal(cents: int) -> str | None:
    """Why an amount typed by a person is refused, or None (0 … $10,000.00)."""
    if cents < 0:
        return "The amount cannot be negative."
    if cents > MAX_MONEY_CENTS:
        return "Enter at most $10,000.00."
    return None


def allowed_refusal(text: str, noun: str) -> str | None:
    """Why an "allowed" amount typed as text is refused, or None (a whole 1 … 10,000).

    `noun` is "Sessions" or "Units", for the message.
    """
    value = text.strip()
    if value.isascii() and value.isdigit() and len(value) <= 6 and 1 <= int(value) <= MAX_ALLOWED:
        return None
    return f"{noun} allowed must be a whole number from 1 to {MAX_ALLOWED:,}."
