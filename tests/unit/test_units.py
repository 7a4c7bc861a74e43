import pytest

from webapp.domain.units import DEFAULT_ROUNDING_PROFILE, ROUNDING_PROFILES, units_for_minutes

CMS = "cms-8-minute"
MIDPOINT = "midpoint-min-1"


def test_it_defaults_to_the_cms_8_minute_rule():
    assert DEFAULT_ROUNDING_PROFILE == CMS
    assert set(ROUNDING_PROFILES) == {CMS, MIDPOINT}
    assert units_for_minutes(7, 15) == 0


@pytest.mark.parametrize(
    ("minutes", "units"),
    [(0, 0), (7, 0), (8, 1), (15, 1), (22, 1), (23, 2), (37, 2), (38, 3), (52, 3), (53, 4)],
)
def test_it_rounds_15_minute_units_by_the_8_minute_rule(minutes, units):
    assert units_for_minutes(minutes, 15, CMS) == units


@pytest.mark.parametrize(
    ("minutes", "units"),
    [(0, 1), (7, 1), (8, 1), (22, 1), (23, 2), (37, 2), (38, 3), (60, 4)],
)
def test_it_rounds_15_minute_units_at_the_midpoint_and_never_below_one(minutes, units):
    assert units_for_minutes(minutes, 15, MIDPOINT) == units


@pytest.mark.parametrize(
    ("minutes", "profile", "units"),
    [
        (15, CMS, 0),
        (16, CMS, 1),
        (45, CMS, 1),
        (46, CMS, 2),
        (15, MIDPOINT, 1),
        (44, MIDPOINT, 1),
        (45, MIDPOINT, 2),
        (60, MIDPOINT, 2),
    ],
)
def test_it_rounds_30_minute_units_at_half_a_unit(minutes, profile, units):
    assert units_for_minutes(minutes, 30, profile) == units


@pytest.mark.parametrize("profile", ROUNDING_PROFILES)
@pytest.mark.parametrize("minutes", [0, 5, 53, 240])
def test_it_counts_an_untimed_service_as_one_unit(profile, minutes):
    assert units_for_minutes(minutes, None, profile) == 1


@pytest.mark.parametrize(
    ("minutes", "unit_minutes", "profile", "message"),
    [
        (30, 15, "round-up", "Unknown rounding profile"),
        (-1, 15, CMS, "negative"),
        (-1, None, MIDPOINT, "negative"),
        (30, 0, CMS, "at least one minute"),
    ],
)
def test_it_rejects_bad_input(minutes, unit_minutes, profile, message):
    with pytest.raises(ValueError, match=message):
        units_for_minutes(minutes, unit_minutes, profile)


# --- several lines on one date of service ---------------------------------------------

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from webapp.domain.units import (  # noqa: E402
    TimedLine,
    describe_day,
    describe_line,
    units_for_lines,
)


@pytest.mark.parametrize(
    ("lines", "units"),
    [
        # The example: 40 timed minutes = 3 units; 97155 has more left over (7 > 3).
        ([(33, 15), (7, 15)], [2, 1]),
        ([(7, 15), (33, 15)], [1, 2]),
        # Two short codes that are nothing alone pool into one unit: the earlier wins a tie.
        ([(7, 15), (7, 15)], [1, 0]),
        ([(5, 15), (9, 15)], [0, 1]),
        # Under 8 minutes in all: nothing.
        ([(3, 15), (4, 15)], [0, 0]),
        # 52 minutes = 3 units + 7 → 3; 60 → 4.
        ([(30, 15), (22, 15)], [2, 1]),
        ([(45, 15), (15, 15)], [3, 1]),
        # Three codes, 24 minutes left over between them = 2 extra units to the two largest.
        ([(10, 15), (8, 15), (6, 15)], [1, 1, 0]),
        # Untimed codes stay 1 unit and are not pooled.
        ([(33, 15), (50, None), (7, 15)], [2, 1, 1]),
        ([(5, None), (5, 15)], [1, 0]),
        # Different unit lengths pool apart.
        ([(20, 30), (7, 15), (20, 30)], [1, 0, 0]),
        ([(20, 30), (8, 15), (25, 30)], [0, 1, 1]),
    ],
)
def test_cms_pools_the_days_timed_minutes_then_assigns_units(lines, units):
    day = units_for_lines([TimedLine(m, u) for m, u in lines], CMS)
    assert day.units == units


@pytest.mark.parametrize(
    ("lines", "units"),
    [
        ([(33, 15), (7, 15)], [2, 1]),
        ([(7, 15), (7, 15)], [1, 1]),
        ([(3, 15), (4, 15)], [1, 1]),
        ([(22, 15), (38, 15)], [1, 3]),
        ([(50, None), (0, 15)], [1, 1]),
    ],
)
def test_midpoint_rounds_each_line_on_its_own(lines, units):
    day = units_for_lines([TimedLine(m, u) for m, u in lines], MIDPOINT)
    assert day.units == units


line_strategy = st.builds(
    TimedLine,
    minutes=st.integers(min_value=0, max_value=600),
    unit_minutes=st.one_of(st.none(), st.sampled_from([15, 15, 15, 30, 60])),
)


@given(st.lists(line_strategy, max_size=8))
def test_cms_units_add_up_to_the_pooled_minutes(lines):
    day = units_for_lines(lines, CMS)
    for unit, minutes in day.timed_minutes.items():
        members = [lu for lu in day.lines if lu.unit_minutes == unit]
        assert minutes == sum(lu.minutes for lu in members)
        assert sum(lu.units for lu in members) == day.timed_units[unit]
        assert day.timed_units[unit] == units_for_minutes(minutes, unit, CMS)
        # Each line keeps its whole units; extras are one each, to the largest left-overs.
        for lu in members:
            assert lu.units - lu.whole == lu.extra in (0, 1)
            assert lu.extra == 0 or lu.left_over > 0
        given_extra = [lu.left_over for lu in members if lu.extra]
        without = [lu.left_over for lu in members if not lu.extra]
        if given_extra and without:
            assert min(given_extra) >= max(without)
    assert all(lu.units == 1 for lu in day.lines if lu.unit_minutes is None)


@given(st.lists(line_strategy, max_size=8))
def test_midpoint_is_per_line_and_never_zero(lines):
    day = units_for_lines(lines, MIDPOINT)
    assert day.units == [
        units_for_minutes(line.minutes, line.unit_minutes, MIDPOINT) for line in lines
    ]
    assert all(units >= 1 for units in day.units)


def test_it_explains_how_minutes_became_units():
    day = units_for_lines([TimedLine(33, 15), TimedLine(7, 15)], CMS)
    assert describe_day(day) == "40 timed min (15-min units) = 3 units."
    first, second = (describe_line(line, CMS) for line in day.lines)
    assert first == "33 min = 2 whole units of 15, 3 min left over"
    assert (
        second
        == "7 min = 0 whole units of 15, 7 min left over; +1 unit from the day's pooled minutes"
    )
    midpoint = units_for_lines([TimedLine(5, 15)], MIDPOINT)
    assert describe_line(midpoint.lines[0], MIDPOINT).endswith("at least 1 unit")
    assert describe_day(midpoint) == "Each service rounded on its own."
