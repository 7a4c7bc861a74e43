"""Billable units from minutes of service, by a payer's rounding profile."""

ROUNDING_PROFILES = ("cms-8-minute", "midpoint-min-1")
DEFAULT_ROUNDING_PROFILE = "cms-8-minute"


def units_for_minutes(
    minutes: int, unit_minutes: int | None, profile: str = DEFAULT_ROUNDING_PROFILE
) -> int:
    """Units billed for `minutes` of a service whose unit lasts `unit_minutes`.

    An untimed service (`unit_minutes` None) is always 1 unit.

    - ``cms-8-minute``: full units, plus one more when the remainder is more than
      half a unit (15-minute units: under 8 → 0, 8–22 → 1, 23–37 → 2, …).
    - ``midpoint-min-1``: the remainder rounds up at exactly half a unit, and the
      result is never less than 1.
    """
    if profile not in ROUNDING_PROFILES:
        raise ValueError(f"Unknown rounding profile {profile!r}.")
    if minutes < 0:
        raise ValueError("Minutes cannot be negative.")
    if unit_minutes is None:
        return 1
    if unit_minutes <= 0:
        raise ValueError("A unit must last at least one minute.")
    full, remainder = divmod(minutes, unit_minutes)
    if profile == "cms-8-minute":
        return full + (1 if remainder * 2 > unit_minutes else 0)
    return max(1, full + (1 if remainder * 2 >= unit_minutes else 0))
