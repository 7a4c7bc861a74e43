"""Per-unit prices in webapp.domain.billing_rules: a timed service's line is units × price per
unit; an untimed one 1 × price per visit; a fee per visit unless set per unit."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webapp.domain import billing_rules
from webapp.domain.billing_rules import ServiceCharge

ABA = ServiceCharge(1, "97153", "ABA", 2000, 1500, units=4, unit_minutes=15)
THERAPY = ServiceCharge(2, "90837", "Psychotherapy", 15000, 5000)


def test_the_issues_case_a_60_minute_self_pay_visit_is_4_units():
    (line,) = billing_rules.cost_lines("self_pay", [ABA])
    assert (line.quantity, line.unit_price, line.amount_cents) == (4, 2000, 8000)
    assert line.description == "97153 · ABA (4 units of 15 min)"


def test_an_untimed_service_is_one_visit_at_its_price():
    (line,) = billing_rules.cost_lines("unknown", [THERAPY])
    assert (line.quantity, line.unit_price, line.amount_cents) == (1, 15000, 15000)


def test_a_copay_is_one_line_whatever_the_units():
    (line,) = billing_rules.cost_lines("insurance", [ABA, THERAPY], copay_cents=2500)
    assert (line.quantity, line.unit_price, line.amount_cents) == (1, 2500, 2500)


@pytest.mark.parametrize(
    ("fee_per_unit", "amount", "quantity"), [(False, 1500, 1), (True, 6000, 4)]
)
def test_a_fee_is_per_visit_unless_per_unit(fee_per_unit, amount, quantity):
    service = ServiceCharge(1, "97153", "ABA", 2000, 1500, 4, 15, fee_per_unit)
    (line,) = billing_rules.cancellation_fee_lines([service], "late_cancellation")
    assert (line.amount_cents, line.quantity, line.unit_price) == (amount, quantity, 1500)


def test_a_fee_per_unit_of_zero_units_is_no_line():
    service = ServiceCharge(1, "97153", "ABA", 2000, 1500, 0, 15, True)
    assert billing_rules.cancellation_fee_lines([service], None) == []


charges = st.builds(
    ServiceCharge,
    service_type_id=st.integers(1, 9),
    code=st.just("97153"),
    name=st.just("X"),
    price_cents=st.integers(0, 10**6),
    cancellation_fee_cents=st.integers(0, 10**5),
    units=st.integers(0, 40),
    unit_minutes=st.one_of(st.none(), st.integers(1, 60)),
    fee_per_unit=st.booleans(),
)


@given(st.lists(charges, max_size=6))
def test_every_line_is_quantity_times_unit_price_and_the_total_adds_up(services):
    lines = billing_rules.cost_lines("self_pay", services)
    assert all(line.amount_cents == line.quantity * line.unit_price for line in lines)
    assert billing_rules.total(lines) == sum(
        s.price_cents * (s.units if s.unit_minutes else 1) for s in services
    )
    fees = billing_rules.cancellation_fee_lines(services, None)
    assert all(line.amount_cents == line.quantity * line.unit_price > 0 for line in fees)
