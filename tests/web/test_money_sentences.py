"""Every money sentence says what happened (issue 11 part 4).

Each scenario puts one visit in a hold, charge or automation state through the
services (strict gateway, real worker); the test then renders the encounter page (and
the invoice and the client's Billing tab where there is one) and checks every
sentence that states an amount or a state against what the database holds: the
row's amount, the payments that settled the hold, the services priced now.
"""

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests import factories
from tests.billing_support import Visit, mark_cancelled, place_hold, save_card, visit_day
from tests.preauth_support import preauth_of, work
from webapp.domain.money import format_cents as money
from webapp.domain.windows import to_local
from webapp.extensions import db
from webapp.models import Automation, AutomationRun, Encounter, Invoice, Payment, PreAuthorization
from webapp.models.base import utcnow
from webapp.services import charges, encounter_events, pricing
from webapp.services.hold_reconciliation import reconcile
from webapp.services.preauth_runs import place_hold as run_hold

HX = {"HX-Request": "true"}  # a dialog as htmx asks for it (a plain GET opens its page)

WHEN = "%a %b %-d, %Y · %-I:%M %p"


def _squash(html: str) -> str:
    return re.sub(r"\s+", " ", html)


def _text_of(html: str, element_id: str) -> str | None:
    """The text of the element with this id (tags dropped), or None if absent."""
    match = re.search(rf'<(\w+)[^>]*\bid="{element_id}"[^>]*>(.*?)</\1>', html, re.S)
    if not match:
        return None
    return " ".join(re.sub(r"<[^>]+>", " ", match.group(2)).split())


def _visit(world, gateway, *, price=4000, fee=1500, billing_type="self_pay", copay=None,
           card=True, starts_in=timedelta(days=1)) -> Visit:  # fmt: skip
    org = world.org
    client = factories.client(org, first_name="Ada", last_name="Lovelace",
                              primary_clinician_id=world.clinician.id)  # fmt: skip
    service = factories.service_type(org, cpt_code="90837", price_cents=price,
                                     cancellation_fee_cents=fee)  # fmt: skip
    policy = None
    if billing_type == "insurance":
        policy = factories.insurance(org, client, factories.payer(org), copay_cents=copay)
    starts = (utcnow() + starts_in).replace(second=0, microsecond=0)
    encounter = factories.encounter(org, client, world.clinician, policy, [service],
                                    starts_at=starts, billing_type=billing_type)  # fmt: skip
    db.session.commit()
    saved = save_card(gateway, client) if card else None
    return Visit(encounter, service, None, saved)


def _schedule(v: Visit, *, run_in: timedelta, state="scheduled", amount=None) -> None:
    encounter = v.encounter
    db.session.add(
        PreAuthorization(organization_id=encounter.organization_id, encounter_id=encounter.id,
                         state=state, hours_before=24, run_at=utcnow() + run_in,
                         amount_cents=amount)
    )  # fmt: skip
    db.session.commit()


def _set_price(v: Visit, cents: int) -> None:
    v.therapy.price_cents = cents
    db.session.commit()


def _rule(world, event, action, disposition=None) -> None:
    db.session.add(Automation(organization_id=world.org.id, event=event, action=action,
                              disposition=disposition, position=1))  # fmt: skip
    db.session.commit()


# --- the scenarios: (name, build(world, gateway) -> encounter) ---------------------------


def scheduled(world, gw):
    v = _visit(world, gw)
    _schedule(v, run_in=timedelta(hours=5))
    return v.encounter


def scheduled_zero_copay(world, gw):
    v = _visit(world, gw, billing_type="insurance", copay=0)
    _schedule(v, run_in=timedelta(hours=5))
    return v.encounter


def scheduled_due_now(world, gw):
    v = _visit(world, gw, starts_in=timedelta(hours=3))
    _schedule(v, run_in=timedelta(hours=-21))
    return v.encounter


def processing(world, gw):
    v = _visit(world, gw)
    _schedule(v, run_in=timedelta(hours=-1), state="processing", amount=4000)
    return v.encounter


def held_at_cost(world, gw):
    v = _visit(world, gw)
    place_hold(gw, v, 4000)
    return v.encounter


def held_below_cost(world, gw):  # the issue: a $40 hold against a $320 cost
    v = _visit(world, gw)
    place_hold(gw, v, 4000)
    _set_price(v, 32000)
    return v.encounter


def held_above_cost(world, gw):  # hold $200, cost $180
    v = _visit(world, gw, price=20000)
    place_hold(gw, v, 20000)
    _set_price(v, 18000)
    return v.encounter


def charged_at_cost(world, gw):
    encounter = held_at_cost(world, gw)
    charges.charge(encounter, actor=world.biller)
    return encounter


def charged_more(world, gw):
    encounter = held_below_cost(world, gw)
    charges.charge(encounter, actor=world.biller)
    return encounter


def charged_less(world, gw):  # the issue: must not say "charged $200"
    encounter = held_above_cost(world, gw)
    charges.charge(encounter, actor=world.biller)
    return encounter


def late_cancel_fee_by_automation(world, gw):  # the issue: hold $40, fee $15
    _rule(world, "encounter_cancelled", "charge_cancellation_fee", "late_cancellation")
    encounter = held_at_cost(world, gw)
    encounter_events.cancel(encounter, "late_cancellation", actor=world.biller)
    work()
    return encounter


def fee_more_than_hold(world, gw):
    v = _visit(world, gw, fee=6000)
    place_hold(gw, v, 4000)
    mark_cancelled(v.encounter)
    charges.charge_cancellation_fee(v.encounter, actor=world.biller)
    return v.encounter


def released(world, gw):
    encounter = held_at_cost(world, gw)
    charges.release(encounter, actor=world.biller)
    return encounter


def failed_declined(world, gw):
    v = _visit(world, gw, starts_in=timedelta(hours=3))
    gw.decline(v.card.gateway_payment_method_id)
    _schedule(v, run_in=timedelta(hours=-21))
    run_hold(preauth_of(v.encounter).id, 1)
    return v.encounter


def expired(world, gw):
    encounter = held_at_cost(world, gw)
    gw.lapse(preauth_of(encounter).gateway_reference)
    reconcile(now=utcnow() + timedelta(minutes=11))
    return encounter


def not_needed(world, gw):
    v = _visit(world, gw, billing_type="insurance", copay=0, starts_in=timedelta(hours=3))
    _schedule(v, run_in=timedelta(hours=-21))
    run_hold(preauth_of(v.encounter).id, 1)
    return v.encounter


def finalized_without_a_hold(world, gw):
    _rule(world, "encounter_finalized", "charge_preauth")
    v = _visit(world, gw)
    encounter_events.finalize(v.encounter, actor=world.biller, confirm_early=visit_day(v.encounter))
    work()
    return v.encounter


SCENARIOS = [
    scheduled,
    scheduled_zero_copay,
    scheduled_due_now,
    processing,
    held_at_cost,
    held_below_cost,
    held_above_cost,
    charged_at_cost,
    charged_more,
    charged_less,
    late_cancel_fee_by_automation,
    fee_more_than_hold,
    released,
    failed_declined,
    expired,
    not_needed,
    finalized_without_a_hold,
]


# --- what the database says each sentence must be ------------------------------------------


def _hold_sums(row: PreAuthorization) -> tuple[int, int, int]:
    """(captured from the hold, released from it, charged on top), from settled payments."""
    payments = db.session.scalars(
        select(Payment).where(Payment.encounter_id == row.encounter_id,
                              Payment.status == "succeeded")
    ).all()  # fmt: skip
    mine = [p for p in payments if p.pre_authorization_id == row.id]
    captured = sum(p.amount_cents for p in mine if p.from_hold and p.kind != "hold_release")
    released_cents = sum(p.amount_cents for p in mine if p.kind == "hold_release")
    extra = sum(p.amount_cents for p in payments if not p.from_hold and p.kind != "refund")
    return captured, released_cents, extra


def _expected_hold_sentence(row: PreAuthorization) -> str:
    captured, released_cents, extra = _hold_sums(row)
    held = money(row.amount_cents)
    if captured == row.amount_cents:
        text = f"The whole hold of {held} was captured"
    elif captured and released_cents:
        text = f"Captured {money(captured)} of the {held} hold and released {money(released_cents)}"
    else:
        text = f"The hold of {held} was released; nothing was captured from it"
    assert captured + released_cents == row.amount_cents  # held = captured + released
    return text + (f", and charged {money(extra)} more to the card" if extra else "") + "."


def _expected(encounter: Encounter, org) -> dict[str, str | None]:
    """Element id → the sentence it must show (None: must not be on the page)."""
    db.session.expire_all()
    row = db.session.scalar(
        select(PreAuthorization).where(PreAuthorization.encounter_id == encounter.id)
    )
    cost = pricing.cost_total(encounter)
    expected: dict[str, str | None] = {}
    state = row.state if row else None
    if state == "scheduled" and pricing.hold_amount(encounter) == 0:
        expected["preauth-message"] = "No hold needed for now: this appointment's amount is $0.00."
        expected["invoice-blocked"] = None  # a $0 amount blocks nothing
    elif state == "scheduled" and row.run_at <= utcnow():
        expected["preauth-message"] = (
            f"Placing a hold of {money(pricing.hold_amount(encounter))} on the client's card now"
        )
    elif state == "scheduled":
        when = to_local(row.run_at, org.timezone).strftime(WHEN)
        expected["preauth-message"] = (
            f"Pre-authorization of {money(pricing.hold_amount(encounter))} scheduled for {when}"
        )
    elif state == "processing":
        expected["preauth-message"] = (
            f"Placing a hold of {money(row.amount_cents)} on the client's card…"
        )
    elif state == "held":
        expected["preauth-message"] = f"{money(row.amount_cents)} held on {row.card_label}"
        held = row.amount_cents
        if cost > held:
            note = (f"less than the cost now ({money(cost)}): Charge captures it and charges "
                    f"{money(cost - held)} more to the card.")  # fmt: skip
        elif cost < held:
            note = (f"more than the cost now ({money(cost)}): Charge captures {money(cost)} and "
                    f"releases {money(held - cost)}.")  # fmt: skip
        else:
            note = None
        expected["billing-hold-note"] = note
    elif state in ("charged", "released"):
        sentence = _expected_hold_sentence(row)
        expected["preauth-message"] = sentence
        expected["billing-hold-note"] = sentence
    elif state == "failed":
        expected["preauth-message"] = f"Pre-authorization failed: {row.failure_reason}"
        assert "your" not in row.failure_reason.lower()  # staff wording
    elif state == "expired":
        expected["preauth-message"] = "The hold expired before it was charged."
    elif state == "not_needed":
        expected["preauth-message"] = "No hold needed: the amount for this appointment was $0.00."
    cost_text = _text_of_expected_cost(encounter, cost)
    expected["billing-cost"] = cost_text
    return expected


def _text_of_expected_cost(encounter, cost) -> str:
    fee = pricing.fee_total(encounter)
    kind = "copay" if encounter.billing_type == "insurance" else "service prices"
    return f"{money(cost)} {kind}" + (f" · cancellation fee {money(fee)}" if fee else "")


@pytest.mark.parametrize("build", SCENARIOS, ids=lambda f: f.__name__)
def test_every_sentence_agrees_with_the_database(client, auth, world, strict_gateway, app, build):
    app.config["PREAUTH_RETRY_INTERVALS"] = []
    app.config["AUTOMATION_RETRY_INTERVALS"] = []
    encounter = build(world, strict_gateway)
    auth.login(world.biller)
    page = _squash(client.get(f"/encounters/{encounter.id}").get_data(as_text=True))

    expected = _expected(encounter, world.org)
    assert "preauth-message" in expected or preauth_of(encounter) is None
    for element_id, sentence in expected.items():
        assert _text_of(page, element_id) == sentence, element_id
    assert "Your card" not in page and "your card" not in page
    assert "Rule 1" not in page  # rules go by their description

    run = db.session.scalar(select(AutomationRun).where(AutomationRun.encounter_id == encounter.id))
    if run is not None:
        assert _text_of(page, "automation-outcome") == run.outcome
        assert "Rule " not in run.explanation
    invoice = db.session.scalar(select(Invoice).where(Invoice.encounter_id == encounter.id))
    if invoice is not None:
        _check_invoice_pages(client, encounter, invoice)


def _check_invoice_pages(client, encounter, invoice) -> None:
    """The invoice page and the client's Billing tab show the same amounts as the rows."""
    db.session.refresh(invoice)
    paid = sum(p.amount_cents for p in invoice.payments
               if p.status == "succeeded" and p.kind not in ("hold_release", "refund"))  # fmt: skip
    released_cents = sum(p.amount_cents for p in invoice.payments
                         if p.status == "succeeded" and p.kind == "hold_release")  # fmt: skip
    page = _squash(client.get(f"/invoices/{invoice.id}").get_data(as_text=True))
    assert _text_of(page, "invoice-total") == money(invoice.total_cents)
    assert _text_of(page, "invoice-paid") == money(paid)
    assert _text_of(page, "invoice-due") == money(max(0, invoice.total_cents - paid))
    assert _text_of(page, "invoice-released") == (money(released_cents) if released_cents else None)
    row = preauth_of(encounter)
    if row is not None and row.state in ("charged", "released") and released_cents + paid:
        captured, released_hold, _extra = _hold_sums(row)
        if released_hold or captured:
            assert _text_of(page, "invoice-hold") is not None
    tab = _squash(client.get(f"/clients/{encounter.client_id}/billing").get_data(as_text=True))
    row_html = re.search(rf'data-invoice="{invoice.number}".*?</tr>', tab).group(0)
    assert f'<td class="num">{money(invoice.total_cents)}</td>' in row_html
    assert f'<td class="num">{money(paid)}</td>' in row_html


def test_a_zero_copay_never_blocks_invoicing(client, auth, world, strict_gateway):
    encounter = scheduled_zero_copay(world, strict_gateway)
    auth.login(world.biller)
    page = _squash(client.get(f"/encounters/{encounter.id}").get_data(as_text=True))
    assert "Pre-authorization of $0.00" not in page
    assert 'id="invoice-blocked"' not in page
    response = client.post(f"/encounters/{encounter.id}/invoice")
    assert response.status_code == 302  # created


@pytest.mark.parametrize(
    ("build", "event", "effect"),
    [
        (held_at_cost, "finalize",
         "For this appointment: Capture $40.00 from the hold (the whole hold)."),
        (held_below_cost, "finalize",
         "For this appointment: Capture $40.00 from the hold (the whole hold). "
         "Charge $280.00 more to Visa •••• 4242."),
        (held_above_cost, "finalize",
         "For this appointment: Capture $180.00 from the hold. Release $20.00 back to the client."),
        (scheduled, "finalize",
         "For this appointment: Nothing to charge: the hold has not been placed yet; it is "
         "called off, so create an invoice."),
    ],
    ids=["equal", "more", "less", "scheduled"],
)  # fmt: skip
def test_the_finalize_dialog_says_what_happens_to_this_visit(
    client, auth, world, strict_gateway, build, event, effect
):
    encounter = build(world, strict_gateway)
    _rule(world, "encounter_finalized", "charge_preauth")
    auth.login(world.biller)
    dialog = _squash(
        client.get(f"/encounters/{encounter.id}/finalize", headers=HX).get_data(as_text=True)
    )
    assert _text_of(dialog, "automation-effect") == effect
    assert "“Encounter Finalized → Charge Pre-authorization” applies." in dialog
    assert "Rule 1" not in dialog


def test_finalizing_with_no_hold_says_nothing_to_charge(client, auth, world, strict_gateway):
    _rule(world, "encounter_finalized", "charge_preauth")
    v = _visit(world, strict_gateway)
    auth.login(world.biller)
    dialog = _squash(
        client.get(f"/encounters/{v.encounter.id}/finalize", headers=HX).get_data(as_text=True)
    )
    assert _text_of(dialog, "automation-effect") == (
        "For this appointment: Nothing to charge: there is no hold on this appointment."
    )
