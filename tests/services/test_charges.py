"""Charge, Release Hold and the cancellation fee against the strict test gateway."""

import re

import pytest
import time_machine
from sqlalchemy import func, select

from tests.billing_support import (
    add_service,
    assert_ledger_adds_up,
    invoices_of,
    kinds,
    mark_cancelled,
    place_hold,
    utc,
    visit,
)
from webapp.extensions import db
from webapp.models import AuditEvent, EncounterService, Payment, PreAuthorization
from webapp.services import charges, invoices, settlement


def state_of(row_id: int) -> str:
    db.session.expire_all()
    return db.session.get(PreAuthorization, row_id).state


def test_charging_an_unchanged_encounter_captures_the_hold_on_one_invoice(world, strict_gateway):
    v = visit(world, strict_gateway)
    row = place_hold(strict_gateway, v)

    outcome = charges.charge(v.encounter, actor=world.biller)

    assert outcome.message == "Captured $150.00 from the hold."
    assert state_of(row.id) == "charged"
    assert kinds(v.encounter.id) == [("hold_capture", 15000, "succeeded")]
    [invoice] = invoices_of(v.encounter.id)
    assert (invoice.total_cents, invoice.status, invoice.id) == (15000, "paid", outcome.invoice_id)
    assert [ln.description for ln in invoice.lines] == ["90837 · Psychotherapy"]
    intent = strict_gateway.intents[row.gateway_reference]
    assert (intent.status, intent.captured_cents) == ("succeeded", 15000)
    assert strict_gateway.calls["capture"] == 1
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "preauth.charged"))
    assert event.user_id == world.biller.id and event.entity_id == row.id
    assert_ledger_adds_up(v.encounter.id)


def test_a_service_added_after_the_hold_is_a_second_payment_on_the_same_invoice(
    world, strict_gateway
):
    v = visit(world, strict_gateway)
    row = place_hold(strict_gateway, v)
    add_service(v.encounter, v.testing)

    outcome = charges.charge(v.encounter, actor=world.biller)

    assert outcome.message == "Captured $150.00 from the hold; charged $40.00 to the card."
    assert kinds(v.encounter.id) == [
        ("hold_capture", 15000, "succeeded"),
        ("additional_charge", 4000, "succeeded"),
    ]
    [invoice] = invoices_of(v.encounter.id)
    assert (invoice.total_cents, invoice.status, len(invoice.payments)) == (19000, "paid", 2)
    extra = [i for i in strict_gateway.intents.values() if not i.manual]
    assert [(i.amount_cents, i.status) for i in extra] == [(4000, "succeeded")]
    assert strict_gateway.intents[row.gateway_reference].captured_cents == 15000
    assert_ledger_adds_up(v.encounter.id)


def test_a_lower_cost_captures_only_the_new_cost_and_releases_the_rest(world, strict_gateway):
    v = visit(world, strict_gateway)
    add_service(v.encounter, v.testing)
    row = place_hold(strict_gateway, v)  # $190.00 held
    db.session.delete(
        db.session.scalar(
            select(EncounterService).where(EncounterService.service_type_id == v.testing.id)
        )
    )
    db.session.commit()
    db.session.refresh(v.encounter)

    outcome = charges.charge(v.encounter, actor=world.admin)

    assert outcome.message == "Captured $150.00 from the hold; released $40.00."
    assert kinds(v.encounter.id) == [
        ("hold_capture", 15000, "succeeded"),
        ("hold_release", 4000, "succeeded"),
    ]
    [invoice] = invoices_of(v.encounter.id)
    summary = invoices.summarize(invoice)
    assert (invoice.total_cents, summary.paid_cents, summary.released_cents) == (15000, 15000, 4000)
    assert strict_gateway.intents[row.gateway_reference].captured_cents == 15000
    assert_ledger_adds_up(v.encounter.id)


def test_an_insurance_visit_is_charged_its_copay(world, strict_gateway):
    v = visit(world, strict_gateway, billing_type="insurance", copay=2500)
    place_hold(strict_gateway, v)
    add_service(v.encounter, v.testing)  # the copay is per visit: still $25.00

    charges.charge(v.encounter, actor=world.biller)

    [invoice] = invoices_of(v.encounter.id)
    assert [(ln.description, ln.amount_cents) for ln in invoice.lines] == [
        ("Copay (Blue Harbor) for 90837, 96130", 2500)
    ]
    assert kinds(v.encounter.id) == [("hold_capture", 2500, "succeeded")]
    assert_ledger_adds_up(v.encounter.id)


def test_release_hold_returns_the_funds_and_then_allows_a_manual_invoice(world, strict_gateway):
    v = visit(world, strict_gateway)
    row = place_hold(strict_gateway, v)
    assert "Funds are held" in invoices.manual_invoice_refusal(v.encounter)

    outcome = charges.release(v.encounter, actor=world.biller)

    assert outcome.message == "Released $150.00."
    assert state_of(row.id) == "released"
    assert kinds(v.encounter.id) == [("hold_release", 15000, "succeeded")]
    assert strict_gateway.intents[row.gateway_reference].status == "canceled"
    assert invoices_of(v.encounter.id) == []
    assert invoices.manual_invoice_refusal(v.encounter) is None
    invoice = invoices.create_manual(v.encounter, actor=world.biller)
    assert (invoice.total_cents, invoice.status) == (15000, "open")
    assert_ledger_adds_up(v.encounter.id)


@pytest.mark.parametrize(
    ("first", "second", "message"),
    [
        ("charge", "release", "This hold was already charged by Biller"),
        ("release", "charge", "This hold was already released by Biller"),
        ("charge", "charge", "This hold was already charged by Biller"),
        ("release", "release", "This hold was already released by Biller"),
    ],
)
def test_a_second_action_on_a_settled_hold_is_refused_and_changes_nothing(
    world, strict_gateway, first, second, message
):
    v = visit(world, strict_gateway)
    place_hold(strict_gateway, v)
    getattr(charges, first)(v.encounter, actor=world.biller)
    before = kinds(v.encounter.id), dict(strict_gateway.calls)

    with pytest.raises(charges.ChargeRefused) as refused:
        getattr(charges, second)(v.encounter, actor=world.admin)

    assert message in refused.value.message
    if second == "release" and first == "charge":
        assert refused.value.message.endswith("It can no longer be released.")
    assert (kinds(v.encounter.id), dict(strict_gateway.calls)) == before
    assert_ledger_adds_up(v.encounter.id)


@pytest.mark.parametrize("action", ["charge", "release"])
def test_there_is_nothing_to_charge_or_release_without_a_hold(world, strict_gateway, action):
    v = visit(world, strict_gateway)
    with pytest.raises(charges.ChargeRefused) as refused:
        getattr(charges, action)(v.encounter, actor=world.biller)
    assert refused.value.message.startswith(f"There is no hold on this appointment to {action}")
    assert kinds(v.encounter.id) == [] and invoices_of(v.encounter.id) == []
    assert dict(strict_gateway.calls) == {"create_customer": 1}  # nothing moved


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ("scheduled", "has not been placed yet"),
        ("processing", "being placed right now"),
        ("failed", "No money is held for this appointment (the pre-authorization is failed)"),
        ("expired", "(the pre-authorization is expired)"),
    ],
)
def test_a_hold_that_is_not_held_cannot_be_charged(world, strict_gateway, state, message):
    v = visit(world, strict_gateway)
    row = place_hold(strict_gateway, v)
    row.state = state
    db.session.commit()
    with pytest.raises(charges.ChargeRefused, match=re.escape(message)):
        charges.charge(v.encounter, actor=world.biller)
    assert kinds(v.encounter.id) == []


@pytest.mark.parametrize(
    ("held", "extra_service", "expected", "state", "released_on_gateway"),
    [
        # fee $50 ≤ hold $150: the fee from the hold, $100 released
        (
            15000,
            False,
            [("cancellation_fee", 5000, "succeeded"), ("hold_release", 10000, "succeeded")],
            "charged",
            10000,
        ),  # fmt: skip
        # fee $75 > hold $50: the hold plus $25 to the card
        (
            5000,
            True,
            [("cancellation_fee", 5000, "succeeded"), ("cancellation_fee", 2500, "succeeded")],
            "charged",
            0,
        ),  # fmt: skip
    ],
)
def test_the_cancellation_fee_comes_from_the_hold_where_it_can(
    world, strict_gateway, held, extra_service, expected, state, released_on_gateway
):
    v = visit(world, strict_gateway)
    if extra_service:
        add_service(v.encounter, v.testing)
    row = place_hold(strict_gateway, v, held)
    mark_cancelled(v.encounter)

    charges.charge_cancellation_fee(v.encounter, actor=None, source="Rule 1")

    assert kinds(v.encounter.id) == expected
    assert state_of(row.id) == state
    intent = strict_gateway.intents[row.gateway_reference]
    assert intent.amount_cents - intent.captured_cents == released_on_gateway
    [invoice] = invoices_of(v.encounter.id)
    assert invoice.kind == "cancellation_fee" and invoice.status == "paid"
    assert invoice.lines[0].description == "Late cancellation fee · 90837 Psychotherapy"
    assert_ledger_adds_up(v.encounter.id)


def test_without_a_hold_the_cancellation_fee_is_charged_to_the_card_once(world, strict_gateway):
    v = visit(world, strict_gateway)
    mark_cancelled(v.encounter, "no_show")

    charges.charge_cancellation_fee(v.encounter, actor=None, source="Rule 2")
    with pytest.raises(charges.ChargeRefused, match="already charged"):
        charges.charge_cancellation_fee(v.encounter, actor=None, source="Rule 2")

    assert kinds(v.encounter.id) == [("cancellation_fee", 5000, "succeeded")]
    assert strict_gateway.calls["charge"] == 1
    [invoice] = invoices_of(v.encounter.id)
    assert invoice.lines[0].description == "No-show fee · 90837 Psychotherapy"
    assert_ledger_adds_up(v.encounter.id)


def test_a_fee_is_refused_for_an_appointment_that_is_not_cancelled(world, strict_gateway):
    v = visit(world, strict_gateway)
    place_hold(strict_gateway, v)
    with pytest.raises(charges.ChargeRefused, match="applies only to a cancelled appointment"):
        charges.charge_cancellation_fee(v.encounter, actor=world.biller)
    assert kinds(v.encounter.id) == [] and strict_gateway.calls["capture"] == 0


def test_a_fee_with_no_card_on_file_leaves_the_invoice_open_with_the_reason(world):
    v = visit(world, None)
    mark_cancelled(v.encounter)

    outcome = charges.charge_cancellation_fee(v.encounter, actor=None, source="Rule 1")

    assert outcome.level == "warning" and "No card on file" in outcome.message
    assert kinds(v.encounter.id) == [("cancellation_fee", 5000, "failed")]
    [invoice] = invoices_of(v.encounter.id)
    assert invoice.status == "open" and invoices.summarize(invoice).due_cents == 5000


def test_no_fee_releases_the_hold(world, strict_gateway):
    v = visit(world, strict_gateway)
    v.therapy.cancellation_fee_cents = 0
    row = place_hold(strict_gateway, v)
    mark_cancelled(v.encounter, "cancelled_by_practice")

    outcome = charges.charge_cancellation_fee(v.encounter, actor=None, source="Rule 1")

    assert outcome.message == "Released $150.00."
    assert state_of(row.id) == "released"
    assert invoices_of(v.encounter.id) == []


def test_a_declined_additional_charge_keeps_the_capture_and_leaves_the_balance_due(
    world, strict_gateway
):
    v = visit(world, strict_gateway)
    row = place_hold(strict_gateway, v)
    add_service(v.encounter, v.testing)
    strict_gateway.decline(v.card.gateway_payment_method_id)

    outcome = charges.charge(v.encounter, actor=world.biller)

    assert outcome.level == "warning" and "declined" in outcome.message
    assert kinds(v.encounter.id) == [
        ("hold_capture", 15000, "succeeded"),
        ("additional_charge", 4000, "failed"),
    ]
    assert state_of(row.id) == "charged"
    [invoice] = invoices_of(v.encounter.id)
    assert (invoice.status, invoices.summarize(invoice).due_cents) == ("open", 4000)
    assert_ledger_adds_up(v.encounter.id)


def test_a_lapsed_hold_is_not_charged_and_the_row_says_expired(world, strict_gateway):
    v = visit(world, strict_gateway)
    row = place_hold(strict_gateway, v)
    strict_gateway.lapse(row.gateway_reference)

    outcome = charges.charge(v.encounter, actor=world.biller)

    assert outcome.level == "danger" and "no longer holds these funds" in outcome.message
    assert state_of(row.id) == "expired"
    assert kinds(v.encounter.id) == []
    [invoice] = invoices_of(v.encounter.id)  # the visit is still owed
    assert invoice.status == "open" and invoice.payments == []


def test_a_lost_answer_is_finished_later_with_the_same_key_and_captures_once(world, strict_gateway):
    v = visit(world, strict_gateway)
    row = place_hold(strict_gateway, v)
    add_service(v.encounter, v.testing)
    strict_gateway.lose_answers(1)  # the capture happens; its answer is lost

    outcome = charges.charge(v.encounter, actor=world.biller)

    assert outcome.pending and outcome.level == "warning"
    assert "nothing is charged twice" in outcome.message
    assert [s for _, _, s in kinds(v.encounter.id)] == ["pending", "pending"]
    with pytest.raises(charges.InProgress):  # its owner may still be at the gateway
        settlement.settle_encounter(v.encounter.id)

    with time_machine.travel(utc(minutes=3), tick=False):
        settled = settlement.settle_encounter(v.encounter.id)

    assert settled.message == "Captured $150.00 from the hold; charged $40.00 to the card."
    assert kinds(v.encounter.id) == [
        ("hold_capture", 15000, "succeeded"),
        ("additional_charge", 4000, "succeeded"),
    ]
    assert len([i for i in strict_gateway.intents.values() if not i.manual]) == 1
    assert strict_gateway.intents[row.gateway_reference].captured_cents == 15000
    assert settlement.settle_encounter(v.encounter.id) is None
    assert_ledger_adds_up(v.encounter.id)


def test_a_gateway_that_is_down_leaves_the_claim_pending_not_lost(world, strict_gateway):
    v = visit(world, strict_gateway)
    row = place_hold(strict_gateway, v)
    strict_gateway.go_down(1)

    outcome = charges.release(v.encounter, actor=world.biller)

    assert outcome.pending
    assert state_of(row.id) == "released"
    assert kinds(v.encounter.id) == [("hold_release", 15000, "pending")]
    assert settlement.stale_encounter_ids(utc(minutes=3)) == [v.encounter.id]
    with time_machine.travel(utc(minutes=3), tick=False):
        settlement.settle_encounter(v.encounter.id)
    assert kinds(v.encounter.id) == [("hold_release", 15000, "succeeded")]
    assert strict_gateway.intents[row.gateway_reference].status == "canceled"
    assert_ledger_adds_up(v.encounter.id)


def test_one_invoice_per_encounter(world, strict_gateway):
    v = visit(world, strict_gateway)
    first = invoices.create_manual(v.encounter, actor=world.biller)
    with pytest.raises(invoices.InvoiceRefused) as refused:
        invoices.create_manual(v.encounter, actor=world.admin)
    assert refused.value.message == (
        f"This appointment already has invoice {first.number}; open it instead."
    )
    assert refused.value.invoice.id == first.id
    assert db.session.scalar(select(func.count(Payment.id))) == 0


def test_a_manual_invoice_is_refused_while_a_hold_is_scheduled(world, strict_gateway):
    v = visit(world, strict_gateway)
    row = place_hold(strict_gateway, v)
    for state in ("scheduled", "processing", "held"):
        row.state = state
        db.session.commit()
        with pytest.raises(invoices.InvoiceRefused):
            invoices.create_manual(v.encounter, actor=world.biller)
    assert invoices_of(v.encounter.id) == []


def test_the_demo_practice_starts_with_the_usual_automation_rules(app):
    from webapp.domain import billing_rules
    from webapp.models import Automation
    from webapp.services import automations, demo

    org, _ = demo.seed_demo()
    rules = [automations.as_rule(r) for r in automations.organization_rules(org.id)]
    assert [billing_rules.rule_label(r) for r in rules] == [
        "Encounter Cancelled · Late cancellation → Charge Cancellation Fee",
        "Encounter Cancelled · No-show → Charge Cancellation Fee",
        "Encounter Cancelled → Release Pre-authorization",
        "Encounter Finalized → Charge Pre-authorization",
    ]
    assert billing_rules.shadowing(rules) == {}
    assert db.session.scalar(select(func.count(Automation.id))) == 4
