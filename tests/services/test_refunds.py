"""Refunds and voids (issue 11 part 6): through the gateway with idempotency keys, exactly
once under double clicks, races and retries; shown on the invoice, the client's Billing
tab and the audit trail; the gateway's fees shown apart.

Fees come from the gateway: Stripe's balance transaction of the charge
(`latest_charge.balance_transaction.fee`); the strict gateway keeps Stripe's US
price (2.9% + 30¢), localstripe 0. Stripe does not give fees back on a refund.
"""

import threading
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.billing_support import assert_ledger_adds_up, invoices_of, place_hold, visit
from tests.gateways import stripe_fee
from webapp.extensions import db
from webapp.models import AuditEvent, Invoice, Payment, User
from webapp.models.base import utcnow
from webapp.services import charges, invoices, refunds, settlement
from webapp.services import preauth as preauth_service


def _token() -> str:
    return uuid.uuid4().hex


def _charged(world, gateway, *, amount=15000):
    """A visit charged in full from its hold: one capture payment on one invoice."""
    v = visit(world, gateway)
    place_hold(gateway, v, amount)
    charges.charge(v.encounter, actor=world.biller)
    (invoice,) = invoices_of(v.encounter.id)
    (capture,) = [p for p in invoice.payments if p.kind == "hold_capture"]
    return v, invoice, capture


def _refunds(invoice) -> list[tuple[int, str, str]]:
    db.session.expire_all()
    return [
        (p.amount_cents, p.status, p.reason)
        for p in db.session.scalars(
            select(Payment).where(Payment.invoice_id == invoice.id, Payment.kind == "refund")
        )
    ]


def test_a_part_refund_goes_back_to_the_card_once_with_its_reason(world, strict_gateway):
    v, invoice, capture = _charged(world, strict_gateway)
    assert capture.fee_cents == stripe_fee(15000)

    outcome = refunds.refund(capture, 5000, "service_not_provided", "ended early", _token(),
                             actor=world.biller)  # fmt: skip

    assert outcome.message == "Refunded $50.00 to the card."
    assert _refunds(invoice) == [(5000, "succeeded", "Service not provided: ended early")]
    intent = strict_gateway.intents[capture.gateway_reference]
    assert intent.refunded_cents == 5000
    db.session.refresh(invoice)
    summary = invoices.summarize(invoice)
    assert invoice.status == "partly_refunded"
    assert (summary.paid_cents, summary.refunded_cents, summary.due_cents) == (15000, 5000, 0)
    assert summary.fee_cents == stripe_fee(15000)
    assert summary.net_cents == 15000 - 5000 - stripe_fee(15000)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "payment.refunded"))
    assert (event.user_id, event.after["amount_cents"], event.reason) == (
        world.biller.id, 5000, "Service not provided: ended early",
    )  # fmt: skip
    assert_ledger_adds_up(v.encounter.id)


def test_the_rest_can_be_refunded_and_no_more(world, strict_gateway):
    _v, invoice, capture = _charged(world, strict_gateway)
    refunds.refund(capture, 5000, "requested_by_customer", None, _token(), actor=world.biller)
    with pytest.raises(refunds.RefundRefused, match=r"At most \$100.00 of this payment"):
        refunds.refund(capture, 10001, "requested_by_customer", None, _token(), actor=world.biller)
    refunds.refund(capture, 10000, "requested_by_customer", None, _token(), actor=world.biller)
    db.session.refresh(invoice)
    assert invoice.status == "refunded"
    with pytest.raises(refunds.RefundRefused, match="refunded in full"):
        refunds.refund(capture, 1, "other", None, _token(), actor=world.biller)
    assert strict_gateway.calls["refund"] == 2


@pytest.mark.parametrize(
    ("amount", "reason", "message"),
    [
        (0, "other", "Enter the amount to refund, more than $0.00."),
        (-5, "other", "Enter the amount to refund, more than $0.00."),
        (None, "other", "Enter the amount to refund, more than $0.00."),
        (100, None, "Choose why the money is refunded."),
        (100, "made up", "Choose why the money is refunded."),
    ],
)
def test_a_bad_refund_is_refused_and_moves_nothing(world, strict_gateway, amount, reason, message):
    _v, invoice, capture = _charged(world, strict_gateway)
    with pytest.raises(
        refunds.RefundRefused, match=message.replace("$", r"\$").replace(".", r"\.")
    ):
        refunds.refund(capture, amount, reason, None, _token(), actor=world.biller)
    assert _refunds(invoice) == [] and strict_gateway.calls["refund"] == 0


def test_a_double_click_of_one_dialog_refunds_once(world, strict_gateway):
    _v, invoice, capture = _charged(world, strict_gateway)
    token = _token()
    refunds.refund(capture, 2000, "duplicate", None, token, actor=world.biller)
    with pytest.raises(refunds.RefundRefused, match="already made"):
        refunds.refund(capture, 2000, "duplicate", None, token, actor=world.biller)
    assert _refunds(invoice) == [(2000, "succeeded", "Charged twice")]
    assert strict_gateway.calls["refund"] == 1


def test_two_people_racing_for_the_last_refundable_amount_refund_it_once(
    app, world, strict_gateway
):
    _v, invoice, capture = _charged(world, strict_gateway)
    barrier, results = threading.Barrier(2), []

    def refund_all(user_id: int):
        with app.app_context():
            try:
                barrier.wait(10)
                payment = db.session.get(Payment, capture.id)
                actor = db.session.get(User, user_id)
                refunds.refund(payment, 15000, "other", None, _token(), actor=actor)
                results.append("won")
            except refunds.RefundRefused as refused:
                results.append(f"lost: {refused.message}")
            finally:
                db.session.remove()

    threads = [
        threading.Thread(target=refund_all, args=(u.id,)) for u in (world.biller, world.admin)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(results)[1] == "won" and sorted(results)[0].startswith("lost: ")
    assert [r[:2] for r in _refunds(invoice)] == [(15000, "succeeded")]
    assert strict_gateway.intents[capture.gateway_reference].refunded_cents == 15000


def test_a_lost_answer_is_finished_by_the_settle_job_without_refunding_twice(world, strict_gateway):
    v, invoice, capture = _charged(world, strict_gateway)
    strict_gateway.lose_answers(1)
    outcome = refunds.refund(capture, 3000, "billing_error", None, _token(), actor=world.biller)
    assert outcome.pending and _refunds(invoice) == [(3000, "pending", "Billing error")]

    # The settle job (or the every-minute sweep) takes over once the row is stale.
    later = utcnow() + settlement.STALE_AFTER + timedelta(seconds=1)
    assert settlement.settle_encounter(v.encounter.id, now=later).message == (
        "Refunded $30.00 to the card."
    )

    assert _refunds(invoice) == [(3000, "succeeded", "Billing error")]
    assert strict_gateway.intents[capture.gateway_reference].refunded_cents == 3000
    assert strict_gateway.calls["find_refund"] == 1  # it looked before refunding again


def test_a_payment_that_did_not_go_through_cannot_be_refunded(world, strict_gateway):
    v = visit(world, strict_gateway)
    place_hold(strict_gateway, v, 15000)
    charges.release(v.encounter, actor=world.biller)
    release = db.session.scalar(select(Payment).where(Payment.kind == "hold_release"))
    assert refunds.preview(release).refusal == "Only a payment that went through can be refunded."


# --- voids ------------------------------------------------------------------------------


def _manual_invoice(world, gateway):
    v = visit(world, gateway)
    invoice = invoices.create_manual(v.encounter, actor=world.biller)
    return v, invoice


def test_an_invoice_with_nothing_paid_is_voided_with_its_reason(world, strict_gateway):
    v, invoice = _manual_invoice(world, strict_gateway)
    refunds.void(invoice, "Booked by mistake", actor=world.biller)
    db.session.refresh(invoice)
    assert (invoice.status, invoice.void_reason, invoice.voided_by_id) == (
        "void", "Booked by mistake", world.biller.id,
    )  # fmt: skip
    assert invoices.summarize(invoice).due_cents == 0
    assert dict(strict_gateway.calls) == {"create_customer": 1}  # no money moved
    actions = db.session.scalars(select(AuditEvent.action)).all()
    assert "invoice.voided" in actions
    with pytest.raises(refunds.RefundRefused, match="already void"):
        refunds.void(invoice, "again", actor=world.biller)
    assert (
        charges.balance_preview(invoice).refusal
        == "This invoice is void; nothing can be charged on it."
    )
    assert v.encounter.id


def test_an_invoice_with_money_on_it_is_refunded_not_voided(world, strict_gateway):
    _v, invoice, _capture = _charged(world, strict_gateway)
    with pytest.raises(refunds.RefundRefused, match=r"\$150.00 was paid on this invoice: refund"):
        refunds.void(invoice, "no", actor=world.biller)
    with pytest.raises(refunds.RefundRefused, match="Say why"):
        refunds.void(invoice, "  ", actor=world.biller)
    assert db.session.get(Invoice, invoice.id).status == "paid"


def test_a_void_racing_a_balance_charge_leaves_one_of_them(app, world, strict_gateway):
    v, invoice = _manual_invoice(world, strict_gateway)
    invoice_id, biller_id, encounter_id = invoice.id, world.biller.id, v.encounter.id
    barrier, results = threading.Barrier(2), {}

    def act(name):
        with app.app_context():
            try:
                barrier.wait(10)
                found = db.session.get(Invoice, invoice_id)
                actor = db.session.get(User, biller_id)
                if name == "void":
                    refunds.void(found, "mistake", actor=actor)
                else:
                    charges.charge_balance(found, actor=actor)
                results[name] = "won"
            except (refunds.RefundRefused, charges.ChargeRefused) as refused:
                results[name] = refused.message
            finally:
                db.session.remove()

    threads = [threading.Thread(target=act, args=(n,)) for n in ("void", "charge")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    db.session.expire_all()
    found = db.session.get(Invoice, invoice_id)
    assert list(results.values()).count("won") == 1, results
    if results["void"] == "won":
        assert found.status == "void" and strict_gateway.calls["charge"] == 0
    else:
        assert found.status == "paid" and strict_gateway.calls["charge"] == 1
    assert preauth_service.for_encounter(encounter_id) is None
