"""Timed services are priced per unit (issue 11 part 3): price × units of the visit, by the
practice's self-pay rounding rule, everywhere: hold, cost now, charge, invoice lines, CSV.

The issue's case: 97153 with a 15-minute unit at $20.00; a 60-minute self-pay visit is
4 units, $80.00, not $20.00.
"""

import csv
import io
from datetime import timedelta

import pytest

from tests import factories
from tests.billing_support import save_card
from tests.preauth_support import add_card, local_start, practice, preauth_of, work
from webapp.domain.units import CMS_8_MINUTE, MIDPOINT_MIN_1
from webapp.extensions import db
from webapp.models import ServiceType
from webapp.services import booking, charges, invoices, pricing
from webapp.services import preauth as preauth_service
from webapp.services.billing_panel import panel

ABA = dict(cpt_code="97153", name="Adaptive behavior treatment", price_cents=2000,
           cancellation_fee_cents=1500, unit_minutes=15)  # fmt: skip


@pytest.fixture
def p(world, app):
    app.config["PREAUTH_RETRY_INTERVALS"] = [0]
    found = practice(world, hours=24, copay=2500)
    found.aba = factories.service_type(world.org, **ABA)
    found.supervision = factories.service_type(
        world.org, cpt_code="97155", name="Protocol modification", price_cents=3000,
        cancellation_fee_cents=0, unit_minutes=15,
    )  # fmt: skip
    db.session.commit()
    return found


def _book(p, world, lines, *, billing_type="self_pay", starts_in=timedelta(hours=3)):
    request = booking.BookingRequest(
        clinician_id=world.clinician.id,
        start_local=local_start(p, starts_in),
        duration_minutes=max(sum(minutes for _, minutes in lines), 15),
        lines=[(service.id, minutes) for service, minutes in lines],
        billing_type=billing_type,
        client_insurance_id=p.policy.id if billing_type == "insurance" else None,
    )
    (encounter,) = booking.book(p.org, p.client, request, actor=world.biller)
    return encounter


@pytest.mark.parametrize(
    ("profile", "minutes", "units"),
    [
        (CMS_8_MINUTE, 60, 4),
        (CMS_8_MINUTE, 67, 4),  # 7 minutes left: under 8, not a unit
        (CMS_8_MINUTE, 68, 5),
        (CMS_8_MINUTE, 5, 0),  # under 8 minutes bills nothing under CMS
        (MIDPOINT_MIN_1, 67, 4),
        (MIDPOINT_MIN_1, 68, 5),
        (MIDPOINT_MIN_1, 5, 1),  # never less than one unit per code
    ],
)
def test_a_timed_service_costs_its_price_times_its_units(world, p, profile, minutes, units):
    p.org.self_pay_rounding_profile = profile
    db.session.commit()
    encounter = _book(p, world, [(p.aba, minutes)])
    (charge,) = pricing.service_charges(encounter)
    assert (charge.units, charge.amount_cents) == (units, units * 2000)
    assert pricing.cost_total(encounter) == pricing.hold_amount(encounter) == units * 2000
    (line,) = pricing.cost_lines(encounter)
    assert (line.quantity, line.unit_price, line.amount_cents) == (units, 2000, units * 2000)
    unit_word = "unit" if units == 1 else "units"
    assert (
        line.description == f"97153 · Adaptive behavior treatment ({units} {unit_word} of 15 min)"
    )


def test_a_visits_own_codes_pool_under_cms_and_other_visits_do_not_change_its_price(world, p):
    """33 min 97153 + 7 min 97155 = 40 min = 3 units: 2 × $20 + 1 × $30."""
    encounter = _book(p, world, [(p.aba, 33), (p.supervision, 7)])
    assert [c.units for c in pricing.service_charges(encounter)] == [2, 1]
    assert pricing.cost_total(encounter) == 2 * 2000 + 3000
    _book(p, world, [(p.aba, 7)], starts_in=timedelta(hours=5))  # same day, another visit
    db.session.refresh(encounter)
    assert pricing.cost_total(encounter) == 7000


def test_untimed_services_are_priced_per_visit(world, p):
    encounter = _book(p, world, [(p.therapy, 60)])
    (line,) = pricing.cost_lines(encounter)
    assert (line.quantity, line.amount_cents, line.description) == (
        1,
        15000,
        "90837 · Psychotherapy",
    )


def test_an_insurance_visit_holds_the_copay_whatever_the_units(world, p):
    encounter = _book(p, world, [(p.aba, 60)], billing_type="insurance")
    assert pricing.hold_amount(encounter) == pricing.cost_total(encounter) == 2500


def test_the_hold_the_charge_and_the_invoice_use_price_times_units(world, p, strict_gateway):
    add_card(strict_gateway, p.client)
    encounter = _book(p, world, [(p.aba, 60)])
    work()
    row = preauth_of(encounter)
    assert (row.state, row.amount_cents) == ("held", 8000)
    assert strict_gateway.intents[row.gateway_reference].amount_cents == 8000
    assert panel(encounter).cost_cents == 8000

    outcome = charges.charge(encounter, actor=world.biller)

    invoice = invoices.for_encounter(encounter.id)
    assert outcome.invoice_id == invoice.id and invoice.total_cents == 8000
    (line,) = invoice.lines
    assert (line.quantity, line.unit_price_cents, line.amount_cents) == (4, 2000, 8000)
    assert strict_gateway.intents[row.gateway_reference].captured_cents == 8000


def test_the_invoice_csv_has_quantity_unit_price_and_amount(client, auth, world, p, strict_gateway):
    save_card(strict_gateway, p.client)
    encounter = _book(p, world, [(p.aba, 60), (p.therapy, 60)], starts_in=timedelta(days=3))
    preauth_service.cancel(encounter, actor=world.biller)  # so it can be invoiced by hand
    invoice = invoices.create_manual(encounter, actor=world.biller)
    auth.login(world.biller)
    response = client.get(f"/clients/{p.client.id}/billing.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [(r["Invoice"], r["Quantity"], r["Unit price"], r["Amount"]) for r in rows] == [
        (invoice.number, "4", "20.00", "80.00"),
        (invoice.number, "1", "150.00", "150.00"),
    ]
    page = client.get(f"/invoices/{invoice.id}").get_data(as_text=True)
    assert '<td class="num">4</td><td class="num">$20.00</td><td class="num">$80.00</td>' in page


@pytest.mark.parametrize(("per_unit", "fee"), [(False, 1500), (True, 4 * 1500)])
def test_a_cancellation_fee_is_per_visit_unless_set_per_unit(world, p, per_unit, fee):
    p.aba.cancellation_fee_per_unit = per_unit
    db.session.commit()
    encounter = _book(p, world, [(p.aba, 60)])
    (line,) = pricing.fee_lines(encounter)
    assert (line.amount_cents, line.quantity) == (fee, 4 if per_unit else 1)


def test_the_service_type_form_names_the_price_per_unit_or_per_visit(client, auth, world, p):
    auth.login(world.admin)
    timed = client.get(f"/admin/service-types/{p.aba.id}/edit").get_data(as_text=True)
    assert "<span data-label-text>Price per unit (15 min)</span>" in timed
    untimed = client.get(f"/admin/service-types/{p.therapy.id}/edit").get_data(as_text=True)
    assert "<span data-label-text>Price per visit</span>" in untimed
    listing = client.get("/admin/service-types").get_data(as_text=True)
    assert '$20.00 <small class="muted">per unit (15 min)</small>' in listing
    refused = client.post(
        f"/admin/service-types/{p.therapy.id}/edit",
        data={"cpt_code": "90837", "name": "Psychotherapy", "price": "150",
              "cancellation_fee": "50", "unit_minutes": "", "cancellation_fee_per_unit": "y"},
    )  # fmt: skip
    assert refused.status_code == 422
    assert "Only a timed service (with a unit length) can charge its fee per unit." in (
        refused.get_data(as_text=True)
    )
    saved = client.post(
        f"/admin/service-types/{p.aba.id}/edit",
        data={"cpt_code": "97153", "name": "ABA", "price": "20", "cancellation_fee": "15",
              "unit_minutes": "15", "cancellation_fee_per_unit": "y"},
    )  # fmt: skip
    assert saved.status_code == 302
    assert db.session.get(ServiceType, p.aba.id).cancellation_fee_per_unit is True


def test_the_self_pay_rounding_is_a_payments_setting(client, auth, world, p):
    auth.login(world.admin)
    response = client.post(
        "/admin/payments/edit",
        data={"active": "y", "hours_before": "24", "self_pay_rounding": MIDPOINT_MIN_1},
    )
    assert response.status_code == 200 and response.headers["HX-Redirect"] == "/admin/payments"
    db.session.refresh(p.org)
    assert p.org.self_pay_rounding_profile == MIDPOINT_MIN_1
    page = client.get("/admin/payments").get_data(as_text=True)
    assert "Per code, rounded at half a unit (at least 1)" in page
    bad = client.post(
        "/admin/payments/edit",
        data={"active": "y", "hours_before": "24", "self_pay_rounding": "nonsense"},
    )
    assert bad.status_code == 422
