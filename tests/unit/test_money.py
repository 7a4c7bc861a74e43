import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webapp.domain.money import format_cents, parse_dollars


@pytest.mark.parametrize(
    ("cents", "text"),
    [
        (0, "$0.00"),
        (5, "$0.05"),
        (123450, "$1,234.50"),
        (100000000, "$1,000,000.00"),
        (-300, "-$3.00"),
        (-1, "-$0.01"),
    ],
)
def test_it_formats_cents_as_dollars(cents, text):
    assert format_cents(cents) == text


@pytest.mark.parametrize(
    ("text", "cents"),
    [
        ("12", 1200),
        ("12.5", 1250),
        ("12.50", 1250),
        ("12.05", 1205),
        ("$1,200.00", 120000),
        (" $ 1,234,567.89 ", 123456789),
        ("0.99", 99),
        (".75", 75),
        ("7.", 700),
        ("0", 0),
    ],
)
def test_it_parses_dollars_to_cents(text, cents):
    assert parse_dollars(text) == cents


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Enter an amount"),
        ("   ", "Enter an amount"),
        ("-3", "cannot be negative"),
        ("$-3.00", "cannot be negative"),
        ("-$3.00", "cannot be negative"),
        ("$ -3", "cannot be negative"),
        ("1.005", "two decimal places"),
        ("abc", "not an amount"),
        ("$", "not an amount"),
        (".", "not an amount"),
        ("1,20", "not an amount"),
        ("12,0000", "not an amount"),
        ("1e3", "not an amount"),
        ("١٢", "not an amount"),
        ("12 USD", "not an amount"),
        ("9" * 13, "too large"),
        ("9" * 5000, "too large"),
    ],
)
def test_it_rejects_what_is_not_a_sum_of_money(text, message):
    with pytest.raises(ValueError, match=message):
        parse_dollars(text)


@given(st.integers(min_value=0, max_value=10**13))  # parse_dollars reads up to 12 digits
@settings(database=None)
def test_it_round_trips_formatted_amounts(cents):
    assert parse_dollars(format_cents(cents)) == cents


@given(
    dollars=st.integers(min_value=0, max_value=10**9),
    cents=st.integers(min_value=0, max_value=99),
)
@settings(database=None)
def test_it_reads_plain_amounts_as_written(dollars, cents):
    text = f"{dollars}.{cents:02d}"
    assert format_cents(parse_dollars(text)) == f"${dollars:,}.{cents:02d}"
