"""One rule for every percentage and every over-use, on every page and in the CSV."""

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webapp.domain.figures import bar_widths, over_by, percent, percent_cell, percent_text


@pytest.mark.parametrize(
    ("part", "whole", "text", "cell"),
    [
        (0, 6, "0%", "0"),
        (6, 6, "100%", "100"),  # full
        (2 + 4, 6, "100%", "100"),  # 2 kept + 4 upcoming: one sum, not 33 + 66
        (199, 200, "99%", "99"),  # 99.5% is not full
        (108, 624, "17%", "17"),  # 17.3%
        (1, 624, "<1%", "<1"),  # a sliver is not 0%
        (13, 6, "216%", "216"),
        (102, 101, ">100%", ">100"),  # a sliver past full is not 100%
        (201, 200, ">100%", ">100"),
        (202, 200, "101%", "101"),
        (1, Fraction(140, 300), "214%", "214"),  # pro-rated allowances: exact fractions
        (3, 0, "—", ""),
    ],
)
def test_every_percentage_follows_one_rule(part, whole, text, cell):
    assert (percent_text(part, whole), percent_cell(part, whole)) == (text, cell)


@given(st.integers(0, 10_000), st.integers(1, 10_000))
def test_100_percent_shows_only_when_full_and_a_sliver_never_shows_0(part, whole):
    text = percent_text(part, whole)
    assert (text == "100%") == (part == whole) or (part > whole and text != "100%")
    if part > 0:
        assert text != "0%"
    if part > whole:
        assert text.startswith(">") or int(text.rstrip("%")) > 100
    value = percent(part, whole)
    assert value * whole <= part * 100 < (value + 1) * whole  # rounded down, exactly


@given(st.integers(0, 500), st.integers(0, 500), st.integers(0, 500))
def test_bars_never_pass_the_whole_and_fill_it_only_when_full(kept, upcoming, whole):
    first, second = bar_widths(kept, upcoming, whole)
    total = Fraction(first[:-1]) + Fraction(second[:-1])
    assert 0 <= total <= 100
    if whole and kept + upcoming < whole:
        assert total < 100


@pytest.mark.parametrize(
    ("allowed", "kept", "upcoming", "expected"),
    [
        (6, 2, 4, 0),
        (4, 4, 4, 4),
        (8, 12, 0, 4),
        (10, 3, 2, 0),
        (Fraction(1, 2), 1, 0, Fraction(1, 2)),
    ],
)
def test_over_use_is_what_is_booked_beyond_the_allowance(allowed, kept, upcoming, expected):
    assert over_by(allowed, kept, upcoming) == expected
