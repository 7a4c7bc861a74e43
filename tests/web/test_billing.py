"""The billing pages through the web: panel, dialogs, Charge / Release, invoices,
Finalize / Cancel with automations, the Automations page and bad input."""

import re

import pytest
from rq import SimpleWorker
from sqlalchemy import func, select

from tests import factories
from tests.billing_support import (
    add_service,
    assert_ledger_adds_up,
    invoices_of,
    kinds,
    place_hold,
    visit,
    visit_day,
)
from webapp.extensions import db
from webapp.models import Automation, AutomationRun, Encounter, Payment, ServiceType
from webapp.services.queue import queue, redis_connection

HX = {"HX-Request": "true"}


def text(response) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def rule(org, event, action, disposition=None, position=1, active=True) -> Automation:
    row = Automation(organization_id=org.id, event=event, action=action,
                     disposition=disposition, position=position, active=active)  # fmt: skip
    db.session.add(row)
    db.session.commit()
    return row


def work() -> None:
    SimpleWorker([queue()], connection=redis_connection()).work(burst=True)


def test_the_encounter_page_offers_charge_and_release_to_billers_only(
    client, auth, world, strict_gateway
):
    v = visit(world, strict_gateway)
    place_hold(strict_gateway, v)
    auth.login(world.biller)
    page = text(client.get(f"/encounters/{v.encounter.id}"))
    assert 'id="billing"' in page
    for button in (">Charge<", ">Release Hold<", ">Finalize<", ">Cancel appointment<"):
        assert button in page
    assert ">Create invoice<" not in page.split('id="billing"')[1]  # blocked: a hold is held
    auth.logout()
    auth.login(world.clinician)
    page = text(client.get(f"/encounters/{v.encounter.id}"))
    assert ">Finalize<" in page and ">Charge<" not in page and ">Release Hold<" not in page


def test_the_charge_dialog_shows_the_amounts_before_acting(client, auth, world, strict_gateway):
    v = visit(world, strict_gateway)
    place_hold(strict_gateway, v)
    add_service(v.encounter, v.testing)
    auth.login(world.biller)

    dialog = text(client.get(f"/encounters/{v.encounter.id}/charge", headers=HX))

    assert "Capture $150.00 from the hold (the whole hold)." in dialog
    assert "Charge $40.00 more to Visa •••• 4242." in dialog
    assert 'id="money-total">$190.00' in dialog and "Charge $190.00" in dialog
    assert kinds(v.encounter.id) == [] and strict_gateway.calls["capture"] == 0


def test_charge_makes_one_invoice_with_two_payments(client, auth, world, strict_gateway):
    v = visit(world, strict_gateway)
    place_hold(strict_gateway, v)
    add_service(v.encounter, v.testing)
    auth.login(world.biller)

    response = client.post(f"/encounters/{v.encounter.id}/charge", headers=HX)

    [invoice] = invoices_of(v.encounter.id)
    assert response.headers["HX-Redirect"] == f"/invoices/{invoice.id}"
    page = text(client.get(f"/invoices/{invoice.id}"))
    assert "Captured $150.00 from the hold; charged $40.00 to the card." in page  # the flash
    assert page.count('class="payment-row') == 2
    assert 'id="invoice-total">$190.00' in page and 'id="invoice-paid">$190.00' in page
    assert 'id="invoice-due">$0.00' in page and 'id="invoice-status">Paid' in page
    billing_tab = text(client.get(f"/clients/{v.encounter.client_id}/billing"))
    assert invoice.number in billing_tab and "Additional charge $40.00" in billing_tab
    assert_ledger_adds_up(v.encounter.id)


def test_a_lower_cost_shows_the_released_rest_on_the_invoice(client, auth, world, strict_gateway):
    v = visit(world, strict_gateway)
    place_hold(strict_gateway, v, 20000)
    auth.login(world.admin)
    client.post(f"/encounters/{v.encounter.id}/charge", headers=HX)
    [invoice] = invoices_of(v.encounter.id)
    page = text(client.get(f"/invoices/{invoice.id}"))
    assert 'id="invoice-released">$50.00' in page
    assert "Released</td>" in page and "not charged" in page
    assert 'id="invoice-paid">$150.00' in page


@pytest.mark.parametrize(
    ("setup", "action", "message"),
    [
        ("none", "charge", "There is no hold on this appointment to charge."),
        ("charged", "release", "This hold was already charged by Biller"),
        ("released", "charge", "This hold was already released by Biller"),
    ],
)
def test_money_actions_that_do_not_apply_answer_409_and_change_nothing(
    client, auth, world, strict_gateway, setup, action, message
):
    v = visit(world, strict_gateway)
    auth.login(world.biller)
    if setup != "none":
        place_hold(strict_gateway, v)
        first = {"charged": "charge", "released": "release"}[setup]
        assert client.post(f"/encounters/{v.encounter.id}/{first}").status_code == 302
    before = kinds(v.encounter.id), dict(strict_gateway.calls)

    response = client.post(f"/encounters/{v.encounter.id}/{action}", headers=HX)

    assert response.status_code == 409
    assert message in text(response)
    assert (kinds(v.encounter.id), dict(strict_gateway.calls)) == before


def test_forged_ids_of_another_organization_change_nothing(client, auth, world, strict_gateway):
    v = visit(world, strict_gateway)
    place_hold(strict_gateway, v)
    theirs = rule(world.org, "encounter_cancelled", "release_preauth")
    auth.login(world.outsider)
    for path in (f"/encounters/{v.encounter.id}/charge", f"/encounters/{v.encounter.id}/release",
                 f"/encounters/{v.encounter.id}/invoice", f"/encounters/{v.encounter.id}/cancel",
                 f"/admin/automations/{theirs.id}/delete"):  # fmt: skip
        assert client.post(path, headers=HX).status_code == 404
    assert kinds(v.encounter.id) == [] and strict_gateway.calls["capture"] == 0
    assert db.session.get(Automation, theirs.id) is not None
    assert db.session.get(Encounter, v.encounter.id).status == "upcoming"


def test_create_invoice_is_refused_while_held_and_once_made(client, auth, world, strict_gateway):
    v = visit(world, strict_gateway)
    row = place_hold(strict_gateway, v)
    auth.login(world.biller)
    refused = client.post(f"/encounters/{v.encounter.id}/invoice", headers=HX)
    assert refused.status_code == 409 and "Funds are held" in text(refused)

    client.post(f"/encounters/{v.encounter.id}/release", headers=HX)
    assert row.id  # the hold is released now: a manual invoice is allowed
    made = client.post(f"/encounters/{v.encounter.id}/invoice", headers=HX)
    [invoice] = invoices_of(v.encounter.id)
    assert made.headers["HX-Redirect"] == f"/invoices/{invoice.id}"
    again = client.post(f"/encounters/{v.encounter.id}/invoice", headers=HX)
    assert again.status_code == 409
    assert f"This appointment already has invoice {invoice.number}" in text(again)
    assert len(invoices_of(v.encounter.id)) == 1


def test_cancel_names_the_winning_rule_and_the_job_charges_the_fee(
    client, auth, world, strict_gateway
):
    v = visit(world, strict_gateway)
    row = place_hold(strict_gateway, v)
    rule(world.org, "encounter_cancelled", "charge_cancellation_fee", "late_cancellation", 1)
    rule(world.org, "encounter_finalized", "charge_preauth", None, 2)
    rule(world.org, "encounter_cancelled", "release_preauth", None, 3)
    auth.login(world.clinician)

    dialog = text(
        client.get(f"/encounters/{v.encounter.id}/cancel?disposition=late_cancellation", headers=HX)
    )
    assert (
        "“Encounter Cancelled · Late cancellation → Charge Cancellation Fee” applies; "
        "“Encounter Cancelled → Release Pre-authorization” also matches, but the first listed wins."
    ) in dialog
    # What it will do to this visit: the fee ($50) from the $150 hold, the rest released.
    assert (
        "For this appointment: Capture $50.00 from the hold. Release $100.00 back to the client."
        in dialog
    )

    response = client.post(f"/encounters/{v.encounter.id}/cancel",
                           data={"disposition": "late_cancellation"}, headers=HX)  # fmt: skip
    assert response.headers["HX-Redirect"] == f"/encounters/{v.encounter.id}"
    encounter = db.session.get(Encounter, v.encounter.id)
    assert (encounter.status, encounter.disposition) == ("late_cancelled", "late_cancellation")
    assert queue().job_ids == [f"automation-{v.encounter.id}-encounter_cancelled-1"]

    work()

    run = db.session.scalar(select(AutomationRun))
    assert (run.status, run.rule_number) == ("done", 1)
    assert run.outcome == "Captured $50.00 from the hold; released $100.00."
    assert kinds(v.encounter.id) == [("cancellation_fee", 5000, "succeeded"),
                                     ("hold_release", 10000, "succeeded")]  # fmt: skip
    assert strict_gateway.intents[row.gateway_reference].captured_cents == 5000
    page = text(client.get(f"/encounters/{v.encounter.id}"))
    assert "“Encounter Cancelled · Late cancellation → Charge Cancellation Fee” applies" in page
    assert "Captured $50.00 from the hold; released $100.00." in page
    assert_ledger_adds_up(v.encounter.id)


def test_finalize_charges_through_the_automation(client, auth, world, strict_gateway):
    v = visit(world, strict_gateway)
    place_hold(strict_gateway, v)
    add_service(v.encounter, v.testing)
    rule(world.org, "encounter_finalized", "charge_preauth")
    auth.login(world.clinician)

    # Tomorrow's visit: Finalize asks to confirm its date first.
    refused = client.post(f"/encounters/{v.encounter.id}/finalize", headers=HX)
    assert refused.status_code == 409 and "has not started yet" in text(refused)
    early = {"confirm_early": visit_day(v.encounter)}
    client.post(f"/encounters/{v.encounter.id}/finalize", headers=HX, data=early)
    work()

    assert db.session.get(Encounter, v.encounter.id).status == "kept"
    assert kinds(v.encounter.id) == [("hold_capture", 15000, "succeeded"),
                                     ("additional_charge", 4000, "succeeded")]  # fmt: skip
    again = client.post(f"/encounters/{v.encounter.id}/finalize", headers=HX, data=early)
    assert again.status_code == 409 and "no longer upcoming" in text(again)
    assert db.session.scalar(select(func.count(AutomationRun.id))) == 1


def test_an_event_with_no_matching_rule_says_so_and_moves_nothing(
    client, auth, world, strict_gateway
):
    v = visit(world, strict_gateway)
    place_hold(strict_gateway, v)
    auth.login(world.biller)
    client.post(f"/encounters/{v.encounter.id}/cancel", data={"disposition": "no_show"})
    assert queue().job_ids == []
    page = text(client.get(f"/encounters/{v.encounter.id}"))
    assert "No automation rule matches." in page and ">Release Hold<" in page
    assert kinds(v.encounter.id) == []


def test_cancel_without_a_valid_disposition_is_refused(client, auth, world):
    v = visit(world)
    auth.login(world.biller)
    response = client.post(f"/encounters/{v.encounter.id}/cancel", data={"disposition": "bored"})
    assert response.status_code == 422 and "Not a valid choice" in text(response)
    assert db.session.get(Encounter, v.encounter.id).status == "upcoming"
    assert db.session.scalar(select(func.count(AutomationRun.id))) == 0


def test_the_automations_page_adds_moves_toggles_and_deletes_rules(client, auth, world):
    auth.login(world.admin)
    for event, action, disposition in (
        ("encounter_cancelled", "release_preauth", ""),
        ("encounter_cancelled", "charge_cancellation_fee", "late_cancellation"),
        ("encounter_finalized", "charge_preauth", ""),
    ):
        data = {"event": event, "action": action, "disposition": disposition}
        response = client.post("/admin/automations", headers=HX, data=data)
        assert response.status_code == 200
    page = text(client.get("/admin/automations"))
    assert "Never runs: rule 1 above always matches first." in page

    second = db.session.scalars(select(Automation).order_by(Automation.position)).all()[1]
    client.post(f"/admin/automations/{second.id}/move", data={"direction": "up"}, headers=HX)
    order = db.session.scalars(select(Automation.action).order_by(Automation.position)).all()
    assert order == ["charge_cancellation_fee", "release_preauth", "charge_preauth"]
    assert "Never runs" not in text(client.get("/admin/automations"))

    client.post(f"/admin/automations/{second.id}/toggle", headers=HX)
    db.session.expire_all()
    assert db.session.get(Automation, second.id).active is False
    client.post(f"/admin/automations/{second.id}/delete", headers=HX)
    positions = db.session.scalars(select(Automation.position).order_by(Automation.position))
    assert list(positions) == [1, 2]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"event": "encounter_finalized", "action": "release_preauth"},
         "Release Pre-authorization does not fit Encounter Finalized"),
        ({"event": "encounter_cancelled", "action": "charge_preauth"},
         "that event can only Charge Cancellation Fee or Release Pre-authorization"),
        ({"event": "encounter_finalized", "action": "charge_preauth",
          "disposition": "no_show"}, "Only cancellations have a disposition"),
        ({"event": "encounter_deleted", "action": "charge_preauth"}, "Not a valid choice"),
    ],
)  # fmt: skip
def test_a_rule_that_does_not_fit_is_refused_and_nothing_saved(client, auth, world, data, message):
    auth.login(world.admin)
    response = client.post("/admin/automations", data={"disposition": "", **data}, headers=HX)
    assert response.status_code == 422
    assert message in text(response) and "Nothing was changed." in text(response)
    assert db.session.scalar(select(func.count(Automation.id))) == 0


@pytest.mark.parametrize(
    ("fee", "message"),
    [("-5", "The amount cannot be negative."), ("five", "'five' is not an amount of money."),
     ("1.234", "Use at most two decimal places (whole cents).")],
)  # fmt: skip
def test_the_service_type_form_refuses_a_bad_cancellation_fee(client, auth, world, fee, message):
    service = factories.service_type(world.org, cpt_code="90837", cancellation_fee_cents=5000)
    db.session.commit()
    auth.login(world.admin)
    response = client.post(
        f"/admin/service-types/{service.id}/edit",
        data={
            "cpt_code": "90837",
            "name": "Psychotherapy",
            "price": "150",
            "cancellation_fee": fee,
        },
    )
    assert response.status_code == 422
    assert 'id="cancellation_fee-error">' + message.replace("'", "&#39;") in response.get_data(
        as_text=True
    )
    db.session.expire_all()
    assert db.session.get(ServiceType, service.id).cancellation_fee_cents == 5000
    assert db.session.scalar(select(func.count(Payment.id))) == 0


def test_finalizing_before_the_hold_ran_calls_it_off_and_leaves_a_manual_invoice(
    client, auth, world, strict_gateway
):
    from webapp.models import PreAuthorization

    v = visit(world, strict_gateway)
    scheduled = PreAuthorization(organization_id=world.org.id, encounter_id=v.encounter.id,
                                 state="scheduled", hours_before=24,
                                 run_at=v.encounter.starts_at)  # fmt: skip
    db.session.add(scheduled)
    db.session.commit()
    rule(world.org, "encounter_finalized", "charge_preauth")
    auth.login(world.biller)

    early = {"confirm_early": visit_day(v.encounter)}
    client.post(f"/encounters/{v.encounter.id}/finalize", headers=HX, data=early)
    work()

    db.session.expire_all()
    assert db.session.get(PreAuthorization, scheduled.id).state == "cancelled"
    run = db.session.scalar(select(AutomationRun))
    assert run.status == "skipped"
    assert run.outcome == (
        "No money is held for this appointment (the pre-authorization is cancelled)."
    )
    assert strict_gateway.calls["place_hold"] == 0
    page = text(client.get(f"/encounters/{v.encounter.id}"))
    assert ">Create invoice<" in page.split('id="billing"')[1]


def _declined_extra_charge(client, world, strict_gateway):
    """Charged through the page; the $40.00 for the added service was declined."""
    v = visit(world, strict_gateway)
    place_hold(strict_gateway, v)
    add_service(v.encounter, v.testing)
    strict_gateway.decline(v.card.gateway_payment_method_id)
    client.post(f"/encounters/{v.encounter.id}/charge", headers=HX)
    [invoice] = invoices_of(v.encounter.id)
    return v, invoice


def test_an_open_balance_is_charged_to_the_card_after_confirming(
    client, auth, world, strict_gateway
):
    auth.login(world.biller)
    v, invoice = _declined_extra_charge(client, world, strict_gateway)
    page = text(client.get(f"/invoices/{invoice.id}"))
    assert 'id="invoice-due">$40.00' in page and ">Charge balance to card<" in page
    strict_gateway.cards[v.card.gateway_payment_method_id].declines = False  # card topped up

    dialog = text(client.get(f"/invoices/{invoice.id}/charge-balance", headers=HX))
    assert 'id="balance-due">$40.00' in dialog
    assert "Charge $40.00 to Visa •••• 4242." in dialog and ">Charge $40.00<" in dialog
    assert kinds(v.encounter.id)[-1] == ("additional_charge", 4000, "failed")  # nothing yet

    response = client.post(f"/invoices/{invoice.id}/charge-balance", headers=HX)

    assert response.headers["HX-Redirect"] == f"/invoices/{invoice.id}"
    page = text(client.get(f"/invoices/{invoice.id}"))
    assert "Charged $40.00 to the card." in page  # the flash
    assert 'id="invoice-due">$0.00' in page and 'id="invoice-status">Paid' in page
    assert "Balance payment" in page and ">Charge balance to card<" not in page
    assert_ledger_adds_up(v.encounter.id)

    again = client.post(f"/invoices/{invoice.id}/charge-balance", headers=HX)
    assert again.status_code == 409 and "Nothing is due on this invoice." in text(again)
    assert len(kinds(v.encounter.id)) == 3


def test_charge_balance_is_for_billers_of_the_same_practice(client, auth, world, strict_gateway):
    auth.login(world.biller)
    v, invoice = _declined_extra_charge(client, world, strict_gateway)
    auth.logout()
    before = kinds(v.encounter.id), dict(strict_gateway.calls)
    auth.login(world.clinician)
    assert client.post(f"/invoices/{invoice.id}/charge-balance", headers=HX).status_code == 403
    auth.logout()
    auth.login(world.outsider)
    assert client.post(f"/invoices/{invoice.id}/charge-balance", headers=HX).status_code == 404
    assert client.get(f"/invoices/{invoice.id}/charge-balance", headers=HX).status_code == 404
    assert (kinds(v.encounter.id), dict(strict_gateway.calls)) == before
