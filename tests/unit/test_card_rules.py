from datetime import date

import pytest

from webapp.domain.card_rules import brand_label, card_expired


@pytest.mark.parametrize(
    ("exp_month", "exp_year", "today", "expired"),
    [
        (11, 2026, date(2026, 11, 1), False),
        (11, 2026, date(2026, 11, 30), False),
        (11, 2026, date(2026, 12, 1), True),
        (12, 2025, date(2026, 1, 1), True),
        (1, 2027, date(2026, 12, 31), False),
        (3, 2031, date(2026, 11, 23), False),
    ],
)
def test_a_card_is_good_through_its_expiry_month(exp_month, exp_year, today, expired):
    assert card_expired(exp_month, exp_year, today) is expired


@pytest.mark.parametrize(
    ("brand", "label"),
    [
        ("visa", "Visa"),
        ("amex", "American Express"),
        ("MasterCard", "Mastercard"),
        ("cartes_bancaires", "Cartes Bancaires"),
        ("unknown", "Card"),
        ("", "Card"),
    ],
)
def test_it_names_card_brands_as_people_write_them(brand, label):
    assert brand_label(brand) == label
