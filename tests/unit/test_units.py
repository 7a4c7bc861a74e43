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
