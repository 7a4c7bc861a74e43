"""Billable units from minutes of service, by a payer's rounding profile.

Two profiles, chosen per payer (and, for self-pay visits, per practice):

- ``cms-8-minute`` (CMS, Medicare Claims Processing Manual ch. 5 §20.2, the
  "8-minute rule"): the timed minutes of *all* timed codes billed for a client on
  one date of service are added up first; the total gives the units (15-minute
  units: under 8 → 0, 8–22 → 1, 23–37 → 2, …). Each code then gets its whole
  units, and the units left go one each to the codes with the most minutes left
  over. 97153 for 33 min + 97155 for 7 min = 40 min = 3 units: 2 for 97153 (its
  whole units) and 1 for 97155 (7 minutes left against 3).
- ``midpoint-min-1`` (per code, the "substantial portion" method many commercial
  payers use): each service line is rounded on its own; the remainder rounds up
  at half a unit, and a line is never less than 1 unit.

Untimed services (no unit length) are 1 unit each under both and are never added
into the timed minutes. Minutes are whole minutes; units are whole units.
"""

from collections.abc import Sequence
from dataclasses import dataclass

CMS_8_MINUTE = "cms-8-minute"
MIDPOINT_MIN_1 = "midpoint-min-1"
ROUNDING_PROFILES = (CMS_8_MINUTE, MIDPOINT_MIN_1)
DEFAULT_ROUNDING_PROFILE = CMS_8_MINUTE
ROUNDING_PROFILE_LABELS = {
    CMS_8_MINUTE: "CMS 8-minute rule (total timed minutes of the day)",
    MIDPOINT_MIN_1: "Per code, rounded at half a unit (at least 1)",
}
ROUNDING_PROFILE_DESCRIPTIONS = {
    CMS_8_MINUTE: (
        "The timed minutes of all timed services a client has on one date of service are "
        "added up first: 8–22 minutes is 1 unit of 15, 23–37 is 2, and so on (under 8 is "
        "none). Each service gets its whole units, and any unit left goes to the service "
        "with the most minutes left over. Untimed services are 1 unit each."
    ),
    MIDPOINT_MIN_1: (
        "Each service is rounded on its own: whole units, plus one more when half a unit "
        "or more is left over, and never less than 1 unit. Untimed services are 1 unit each."
    ),
}


@dataclass(frozen=True)
class TimedLine:
    """One service line: its minutes and its unit length (None: untimed)."""

    minutes: int
    unit_minutes: int | None


@dataclass(frozen=True)
class LineUnits:
    """How one line's units came about.

    `whole` is the line's whole units (minutes // unit length), `left_over` its
    minutes beyond them, `extra` the units it received from the pooled
    remainder (CMS) or from rounding its own remainder (per code); `units` is
    what it bills. Untimed lines: whole = 0, extra = 0, units = 1.
    """

    minutes: int
    unit_minutes: int | None
    whole: int
    left_over: int
    extra: int
    units: int

    @property
    def timed(self) -> bool:
        return self.unit_minutes is not None


@dataclass(frozen=True)
class DayUnits:
    """Units of a set of service lines billed together (CMS: one client, one date of
    service). `lines` is in the order given; `timed_minutes` and `timed_units` are
    per unit length (CMS adds minutes only between codes of the same unit length)."""

    profile: str
    lines: tuple[LineUnits, ...]
    timed_minutes: dict[int, int]
    timed_units: dict[int, int]

    @property
    def units(self) -> list[int]:
        return [line.units for line in self.lines]

    @property
    def total(self) -> int:
        return sum(self.units)


def _check(profile: str, lines: Sequence[TimedLine]) -> None:
    if profile not in ROUNDING_PROFILES:
        raise ValueError(f"Unknown rounding profile {profile!r}.")
    for line in lines:
        if line.minutes < 0:
            raise ValueError("Minutes cannot be negative.")
        if line.unit_minutes is not None and line.unit_minutes <= 0:
            raise ValueError("A unit must last at least one minute.")


def _pooled_units(minutes: int, unit_minutes: int) -> int:
    """Units for a total of timed minutes: whole units, plus one when more than half a
    unit is left (15-minute units: the 8-minute threshold)."""
    full, remainder = divmod(minutes, unit_minutes)
    return full + (1 if remainder * 2 > unit_minutes else 0)


def units_for_lines(
    lines: Sequence[TimedLine], profile: str = DEFAULT_ROUNDING_PROFILE
) -> DayUnits:
    """The units of each line of a day's services, and how they came about.

    Under ``cms-8-minute`` pass every line a client has on one date of service (all
    their encounters that day): minutes are pooled per unit length, the pool gives
    the units, each line keeps its whole units, and the rest go one each to the
    lines with the most minutes left over (ties: the earlier line). Under
    ``midpoint-min-1`` each line is rounded alone, so the grouping does not matter.

    Raises ValueError for an unknown profile, negative minutes or a unit length
    under one minute.
    """
    _check(profile, lines)
    whole = [line.minutes // line.unit_minutes if line.unit_minutes else 0 for line in lines]
    left = [line.minutes % line.unit_minutes if line.unit_minutes else 0 for line in lines]
    extra = [0] * len(lines)
    pooled_minutes: dict[int, int] = {}
    pooled_units: dict[int, int] = {}
    if profile == CMS_8_MINUTE:
        for unit in sorted({line.unit_minutes for line in lines if line.unit_minutes}):
            members = [i for i, line in enumerate(lines) if line.unit_minutes == unit]
            pooled_minutes[unit] = sum(lines[i].minutes for i in members)
            pooled_units[unit] = _pooled_units(pooled_minutes[unit], unit)
            spare = pooled_units[unit] - sum(whole[i] for i in members)
            for i in sorted(members, key=lambda i: (-left[i], i))[:spare]:
                extra[i] = 1
    else:
        for i, line in enumerate(lines):
            if line.unit_minutes:
                rounds_up = left[i] * 2 >= line.unit_minutes
                extra[i] = max(1 - whole[i], 1 if rounds_up else 0)
        for unit in sorted({line.unit_minutes for line in lines if line.unit_minutes}):
            members = [i for i, line in enumerate(lines) if line.unit_minutes == unit]
            pooled_minutes[unit] = sum(lines[i].minutes for i in members)
            pooled_units[unit] = sum(whole[i] + extra[i] for i in members)
    result = tuple(
        LineUnits(
            minutes=line.minutes,
            unit_minutes=line.unit_minutes,
            whole=whole[i],
            left_over=left[i],
            extra=extra[i],
            units=whole[i] + extra[i] if line.unit_minutes else 1,
        )
        for i, line in enumerate(lines)
    )
    return DayUnits(profile, result, pooled_minutes, pooled_units)


def units_for_minutes(
    minutes: int, unit_minutes: int | None, profile: str = DEFAULT_ROUNDING_PROFILE
) -> int:
    """Units billed for `minutes` of one service line billed alone that day.

    The same as `units_for_lines([TimedLine(minutes, unit_minutes)], profile)`;
    with several timed lines on a date of service use `units_for_lines`, because
    CMS pools their minutes. Raises ValueError as `units_for_lines` does.
    """
    return units_for_lines([TimedLine(minutes, unit_minutes)], profile).lines[0].units


def describe_line(line: LineUnits, profile: str) -> str:
    """How a line's minutes became units, in words for the ledger:
    '33 min = 2 whole units (3 min left over)', '+ 1 for the most minutes left over'."""
    if not line.timed:
        return "untimed: 1 unit"
    noun = "unit" if line.whole == 1 else "units"
    text = f"{line.minutes} min = {line.whole} whole {noun} of {line.unit_minutes}"
    if line.left_over:
        text += f", {line.left_over} min left over"
    if line.extra:
        if profile == CMS_8_MINUTE:
            text += "; +1 unit from the day's pooled minutes"
        elif line.whole == 0 and line.left_over * 2 < (line.unit_minutes or 1):
            text += "; at least 1 unit"
        else:
            text += "; +1 for half a unit or more"
    return text


def describe_day(day: DayUnits) -> str:
    """'40 timed min (15-min units) = 3 units' for each unit length pooled under CMS;
    under per-code rounding, 'each service rounded on its own'."""
    if day.profile != CMS_8_MINUTE:
        return "Each service rounded on its own."
    parts = []
    for unit, minutes in day.timed_minutes.items():
        units = day.timed_units[unit]
        parts.append(
            f"{minutes} timed min ({unit}-min units) = {units} unit{'' if units == 1 else 's'}"
        )
    return "; ".join(parts) + "." if parts else "No timed services."
