"""Charge balance: what an open invoice still shows due goes to the default card, once."""

import itertools
import time

from sqlalchemy import func, select, update

from tests import factories
from tests.billing_support import (
    add_service,
    assert_ledger_adds_up,
    invoices_of,
    kinds,
    place_hold,
    visit,
)
from tests.services.test_charge_races import race
from webapp.extensions import db
from webapp.models import AuditEvent, Invoice, PaymentCard, User
from webapp.services import charges, invoices


def _declined_extra_charge(world, gateway):
    """Charged with a service added after the hold; the extra $40.00 was declined."""
    v = visit(world, gateway)
    place_hold(gateway, v)
    add_service(v.encounter, v.testing)
    gateway.decline(v.card.gateway_payment_method_id)
    charges.charge(v.encounter, actor=world.biller)
    [invoice] = invoices_of(v.encounter.id)
    return v, invoice


def _new_default_card(gateway, v, **card) -> PaymentCard:
    details = gateway.add_card(v.encounter.client.gateway_customer_id, **card)
    db.session.execute(
        update(PaymentCard)
        .where(PaymentCard.client_id == v.encounter.client_id)
        .values(is_default=False)
    )
    row = factories.card_from_gateway(v.encounter.client, details)
    db.session.commit()
    return row


def test_after_a_declined_extra_charge_the_balance_goes_to_the_new_default_card(
    world, strict_gateway
):
    v, invoice = _declined_extra_charge(world, strict_gateway)
    new_card = _new_default_card(strict_gateway, v, last4="5556")

    found = charges.balance_preview(invoice)
    assert (found.refusal, found.summary.due_cents, found.card_label) == (
        None,
        4000,
        "Visa •••• 5556",
    )

    outcome = charges.charge_balance(invoice, actor=world.biller)

    assert (outcome.level, outcome.message) == ("success", "Charged $40.00 to the card.")
    assert kinds(v.encounter.id) == [
        ("hold_capture", 15000, "succeeded"),
        ("additional_charge", 4000, "failed"),
        ("balance_payment", 4000, "succeeded"),
    ]
    [invoice] = invoices_of(v.encounter.id)
    assert (invoice.status, invoices.summarize(invoice).due_cents) == ("paid", 0)
    [paid] = [p for p in invoice.payments if p.kind == "balance_payment"]
    intent = strict_gateway.intents[paid.gateway_reference]
    assert (intent.payment_method_id, intent.amount_cents) == (
        new_card.gateway_payment_method_id,
        4000,
    )
    assert paid.idempotency_key == f"covered-invoice-{invoice.id}-1-balance"
    assert_ledger_adds_up(v.encounter.id)
    audit = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "invoice.balance_charged")
    )
    assert (audit.user_id, audit.entity_id) == (world.biller.id, invoice.id)


def test_a_second_click_after_the_balance_was_paid_charges_nothing(world, strict_gateway):
    v, invoice = _declined_extra_charge(world, strict_gateway)
    _new_default_card(strict_gateway, v)
    charges.charge_balance(invoice, actor=world.biller)
    calls = strict_gateway.calls["charge"]

    try:
        charges.charge_balance(invoice, actor=world.biller)
    except charges.ChargeRefused as refused:
        assert refused.message == "Nothing is due on this invoice."
    else:
        raise AssertionError("a paid invoice was charged again")
    assert strict_gateway.calls["charge"] == calls
    assert_ledger_adds_up(v.encounter.id)


def test_a_declined_balance_stays_due_and_the_next_try_uses_a_new_key(world, strict_gateway):
    v, invoice = _declined_extra_charge(world, strict_gateway)  # the default card declines

    outcome = charges.charge_balance(invoice, actor=world.biller)

    assert outcome.level == "warning"
    assert outcome.message == (
        "The $40.00 balance payment failed (Visa •••• 4242: The card was declined)."
    )
    db.session.expire_all()
    assert invoices.summarize(invoice).due_cents == 4000
    assert charges.balance_preview(invoice).refusal is None  # a person may try again

    _new_default_card(strict_gateway, v)
    assert charges.charge_balance(invoice, actor=world.biller).level == "success"
    keys = [p.idempotency_key for p in invoice.payments if p.kind == "balance_payment"]
    assert keys == [
        f"covered-invoice-{invoice.id}-1-balance",
        f"covered-invoice-{invoice.id}-2-balance",
    ]
    assert_ledger_adds_up(v.encounter.id)


def test_a_double_click_charges_the_balance_once(app, world, strict_gateway, monkeypatch):
    v, invoice = _declined_extra_charge(world, strict_gateway)
    _new_default_card(strict_gateway, v)
    invoice_id, biller_id = invoice.id, world.biller.id
    charges_before = strict_gateway.calls["charge"]
    # The second click to read the balance dawdles after reading it: time enough for the
    # first to claim, charge and settle. Only reads made under the claim's lock are safe.
    readers, summarize = itertools.count(), invoices.summarize

    def slow_second_read(found):
        summary = summarize(found)
        if next(readers) == 1:
            time.sleep(0.5)
        return summary

    monkeypatch.setattr(invoices, "summarize", slow_second_read)

    def click():
        found = db.session.get(Invoice, invoice_id)
        return charges.charge_balance(found, actor=db.session.get(User, biller_id)).message

    results = race(app, click, click)

    [lost, won] = results
    assert won[1] == "won: Charged $40.00 to the card."
    assert lost[1].startswith("lost: ")
    assert strict_gateway.calls["charge"] == charges_before + 1
    assert kinds(v.encounter.id)[-1] == ("balance_payment", 4000, "succeeded")
    assert len([k for k in kinds(v.encounter.id) if k[0] == "balance_payment"]) == 1
    assert_ledger_adds_up(v.encounter.id)


def test_no_card_an_expired_card_or_a_pending_payment_refuse_and_change_nothing(
    world, strict_gateway
):
    v, invoice = _declined_extra_charge(world, strict_gateway)
    v.card.exp_month, v.card.exp_year = 1, 2020
    db.session.commit()
    assert charges.balance_preview(invoice).refusal == (
        "Visa •••• 4242 has expired. Add a new card or make another one the default."
    )

    db.session.delete(v.card)
    db.session.commit()
    db.session.expire_all()
    problem = "This client has no card on file. Add one on Bill To & Insurance, then try again."
    assert charges.balance_preview(invoice).refusal == problem

    _new_default_card(strict_gateway, v)
    strict_gateway.go_down(1)  # the charge is left pending, to be finished in the background
    assert charges.charge_balance(invoice, actor=world.biller).pending
    db.session.expire_all()
    assert charges.balance_preview(invoice).refusal == (
        "$40.00 on this invoice is still being charged. Wait for the result, then reload the page."
    )
    payments = db.session.scalar(select(func.count()).select_from(invoices.Payment))
    try:
        charges.charge_balance(invoice, actor=world.biller)
    except charges.ChargeRefused:
        pass
    else:
        raise AssertionError("a second balance payment was claimed while one is pending")
    assert db.session.scalar(select(func.count()).select_from(invoices.Payment)) == payments


def test_a_manual_invoice_is_collected_from_the_card_on_file(world, strict_gateway):
    v = visit(world, strict_gateway)
    invoice = invoices.create_manual(v.encounter, actor=world.biller)

    outcome = charges.charge_balance(invoice, actor=world.biller)

    assert outcome.message == "Charged $150.00 to the card."
    db.session.expire_all()
    assert invoice.status == "paid"
    assert_ledger_adds_up(v.encounter.id)
