"""Money as integer cents: formatting and parsing of dollar amounts."""

import re

_AMOUNT = re.compile(r"(?P<whole>\d{1,3}(?:,\d{3})+|\d*)(?:\.(?P<cents>\d*))?")


def format_cents(cents: int) -> str:
    """123450 → '$1,234.50'; -300 → '-$3.00'."""
    sign = "-" if cents < 0 else ""
    dollars, rest = divmod(abs(cents), 100)
    return f"{sign}${dollars:,}.{rest:02d}"


def parse_dollars(text: str) -> int:
    """'12', '12.5', '12.50', '$1,200.00' → cents. ValueError with a message for people."""
    value = text.strip()
    if not value:
        raise ValueError("Enter an amount.")
    if value.replace("$", "").lstrip().startswith(("-", "−")):
        raise ValueError("The amount cannot be negative.")
    if value.startswith("$"):
        value = value[1:].lstrip()
    match = _AMOUNT.fullmatch(value)
    if match is None or not any(ch.isdigit() for ch in value) or not value.isascii():
        raise ValueError(f"{text.strip()!r} is not an amount of money.")
    cents = match["cents"] or ""
    if len(cents) > 2:
        raise ValueError("Use at most two decimal places (whole cents).")
    digits = match["whole"].replace(",", "").lstrip("0")
    if len(digits) > 12:  # beyond any limit a caller checks, and int() of long text is slow
        raise ValueError("That amount is too large.")
    whole = int(digits or "0")
    return whole * 100 + int(cents.ljust(2, "0"))
