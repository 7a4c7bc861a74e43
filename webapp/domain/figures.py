"""How an authorization's figures are written, the same on every page, report and CSV.

- **Percentages** are rounded down to a whole number, so 100% shows only when the
  part reaches the whole (2 kept + 4 upcoming of 6: 100%; 99.5%: 99%), and a part
  that is more than nothing but under 1% shows "<1%" rather than a misleading 0%.
  Over-use shows past 100 (215%). Each percentage is worked out from its own sum
  (kept + upcoming together for "booked"), never by adding rounded parts.
  No allowance: "—".
- **Over-use** is what is booked (Kept + Upcoming) beyond what is allowed, whatever
  the "count Upcoming" setting: "over by 4". What is *left* (status, exhaustion)
  follows the setting; over-use is a fact about the bookings either way.
- Bar widths are exact shares, capped so the kept and upcoming parts fill at most
  the whole bar; a full bar means full.

Amounts are ints or `Fraction`s (a report window's pro-rated share); never floats.
"""

from decimal import ROUND_DOWN, Decimal
from fractions import Fraction

Amount = int | Fraction


def _parts(value: Amount) -> tuple[int, int]:
    return (value, 1) if isinstance(value, int) else (value.numerator, value.denominator)


def percent(part: Amount, whole: Amount) -> int | None:
    """part/whole as a whole percentage rounded down; None when nothing is allowed.

    Integer arithmetic only (the CSV asks a million times).
    """
    if whole <= 0:
        return None
    part_n, part_d = _parts(part)
    whole_n, whole_d = _parts(whole)
    return (part_n * 100 * whole_d) // (part_d * whole_n)


def percent_text(part: Amount, whole: Amount) -> str:
    """'33%', '<1%', '100%' (only when full), '>100%', '215%'; '—' when nothing is allowed.

    Rounded down, except at the two edges a reader checks: a sliver is '<1%', not '0%',
    and a sliver past full (102 of 101) is '>100%', not '100%'.
    """
    value = percent(part, whole)
    if value is None:
        return "—"
    if value == 0 and part > 0:
        return "<1%"
    if value == 100 and part > whole:
        return ">100%"
    return f"{value}%"


def percent_cell(part: Amount, whole: Amount) -> str:
    """The CSV cell of a percentage column: the screen's text without the % sign."""
    text = percent_text(part, whole)
    return "" if text == "—" else text.rstrip("%")


def over_by(allowed: Amount, kept: int, upcoming: int) -> Amount:
    """How much is booked (Kept + Upcoming) beyond `allowed`; 0 when it fits."""
    return max(kept + upcoming - allowed, 0)


def bar_widths(kept: Amount, upcoming: Amount, whole: Amount) -> tuple[str, str]:
    """CSS widths ('33.3333%') of the kept and upcoming parts of a utilization bar.

    Exact shares to four places, rounded down, together at most 100%.
    """
    if whole <= 0:
        return "0%", "0%"
    kept_share = min(max(Fraction(kept) / Fraction(whole), Fraction(0)), Fraction(1))
    upcoming_share = min(max(Fraction(upcoming) / Fraction(whole), Fraction(0)), 1 - kept_share)
    return _css(kept_share), _css(upcoming_share)


def _css(share: Fraction) -> str:
    exact = Decimal(share.numerator * 100) / Decimal(share.denominator)
    text = format(exact.quantize(Decimal("0.0001"), rounding=ROUND_DOWN).normalize(), "f")
    return f"{text}%"
