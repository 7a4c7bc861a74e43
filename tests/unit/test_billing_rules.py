"""Billing rules: cost lines, charge and fee plans, automation matching, the ledger."""

from datetime import datetime, timedelta

import pytest

from webapp.domain import billing_rules
from webapp.domain.billing_rules import (
    CANCELLATION_FEE,
    CHARGE_CANCELLATION_FEE,
    CHARGE_PREAUTH,
    ENCOUNTER_CANCELLED,
    ENCOUNTER_FINALIZED,
    HOLD_CAPTURE,
    HOLD_RELEASE,
    LATE_CANCELLATION,
    NO_SHOW_DISPOSITION,
    RELEASE_PREAUTH,
    MoneyPlan,
    Movement,
    Rule,
    ServiceCharge,
)
from webapp.domain.preauth_rules import hold_amount

THERAPY = ServiceCharge(1, "90837", "Psychotherapy", 15000, 5000)
INTAKE = ServiceCharge(2, "90791", "Intake", 20000, 0)
GROUP = ServiceCharge(3, "90853", "Group", 4000, 2500)


@pytest.mark.parametrize(
    ("billing_type", "services", "copay", "lines"),
    [
        ("self_pay", [THERAPY], None, [(1, "90837 · Psychotherapy", 15000)]),
        (
            "unknown",
            [THERAPY, INTAKE],
            None,
            [(1, "90837 · Psychotherapy", 15000), (2, "90791 · Intake", 20000)],
        ),
        ("insurance", [THERAPY, INTAKE], 2500, [(None, "Copay (Aetna) for 90837, 90791", 2500)]),
        ("insurance", [THERAPY], 0, [(None, "Copay (Aetna) for 90837", 0)]),
        # Insurance without a policy has no copay: priced like self-pay.
        ("insurance", [THERAPY], None, [(1, "90837 · Psychotherapy", 15000)]),
        ("self_pay", [], None, []),
    ],
)
def test_it_prices_an_encounter(billing_type, services, copay, lines):
    result = billing_rules.cost_lines(billing_type, services, copay_cents=copay, payer_name="Aetna")
    assert [(ln.service_type_id, ln.description, ln.amount_cents) for ln in result] == lines
    prices = [s.price_cents for s in services]
    # The invoice for an unchanged encounter is exactly what the hold was placed for.
    assert billing_rules.total(result) == hold_amount(billing_type, copay, prices)


def test_it_lists_only_services_with_a_cancellation_fee():
    lines = billing_rules.cancellation_fee_lines([THERAPY, INTAKE, GROUP], LATE_CANCELLATION)
    assert [(ln.description, ln.amount_cents) for ln in lines] == [
        ("Late cancellation fee · 90837 Psychotherapy", 5000),
        ("Late cancellation fee · 90853 Group", 2500),
    ]
    assert billing_rules.total(lines) == 7500


@pytest.mark.parametrize(
    ("held", "cost", "capture", "charge", "release"),
    [
        (15000, 15000, 15000, 0, 0),  # unchanged: capture all
        (15000, 19000, 15000, 4000, 0),  # services added: hold + a second payment
        (15000, 9000, 9000, 0, 6000),  # cost decreased: capture less, release the rest
        (15000, 0, 0, 0, 15000),  # nothing owed: release it all
        (2500, 2500, 2500, 0, 0),
    ],
)
def test_it_plans_a_charge(held, cost, capture, charge, release):
    plan = billing_rules.charge_plan(held, cost)
    assert (plan.capture_cents, plan.charge_cents, plan.release_cents) == (capture, charge, release)
    assert plan.capture_cents + plan.release_cents == held
    assert plan.collected_cents == cost


@pytest.mark.parametrize(
    ("held", "fee", "capture", "charge", "release"),
    [
        (15000, 5000, 5000, 0, 10000),  # fee ≤ hold: from the hold, rest released
        (15000, 15000, 15000, 0, 0),
        (5000, 7500, 5000, 2500, 0),  # fee > hold: the hold plus a charge for the rest
        (None, 5000, 0, 5000, 0),  # no hold: charge the card
        (0, 5000, 0, 5000, 0),
        (15000, 0, 0, 0, 15000),  # no fee: release the hold
        (None, 0, 0, 0, 0),
    ],
)
def test_it_plans_a_cancellation_fee(held, fee, capture, charge, release):
    plan = billing_rules.cancellation_fee_plan(held, fee)
    assert (plan.capture_cents, plan.charge_cents, plan.release_cents) == (capture, charge, release)
    assert plan.capture_cents + plan.release_cents == (held or 0)
    assert plan.collected_cents == fee


def test_it_refuses_negative_or_fractional_amounts():
    for bad in (-1, 1.5):
        with pytest.raises(ValueError):
            billing_rules.charge_plan(1000, bad)
        with pytest.raises(ValueError):
            billing_rules.cancellation_fee_plan(bad, 100)


@pytest.mark.parametrize(
    ("plan", "steps"),
    [
        (MoneyPlan(15000, 15000, 15000), ["Capture $150.00 from the hold (the whole hold)."]),
        (
            MoneyPlan(15000, 19000, 15000, 4000),
            [
                "Capture $150.00 from the hold (the whole hold).",
                "Charge $40.00 more to Visa •••• 4242.",
            ],
        ),
        (
            MoneyPlan(15000, 9000, 9000, 0, 6000),
            ["Capture $90.00 from the hold.", "Release $60.00 back to the client."],
        ),
        (MoneyPlan(0, 0), ["Nothing to charge or release."]),
    ],
)
def test_it_describes_a_plan_in_words(plan, steps):
    assert plan.describe("Visa •••• 4242") == steps


# --- automations -----------------------------------------------------------------------

RULES = [
    Rule(10, ENCOUNTER_CANCELLED, CHARGE_CANCELLATION_FEE, LATE_CANCELLATION),
    Rule(11, ENCOUNTER_FINALIZED, CHARGE_PREAUTH),
    Rule(12, ENCOUNTER_CANCELLED, RELEASE_PREAUTH),
    Rule(13, ENCOUNTER_CANCELLED, CHARGE_CANCELLATION_FEE, NO_SHOW_DISPOSITION, active=False),
    Rule(14, ENCOUNTER_CANCELLED, CHARGE_CANCELLATION_FEE),
]


@pytest.mark.parametrize(
    ("event", "disposition", "winner", "number", "also", "explanation"),
    [
        (
            ENCOUNTER_CANCELLED,
            LATE_CANCELLATION,
            10,
            1,
            [3, 5],
            "“Encounter Cancelled · Late cancellation → Charge Cancellation Fee” applies; "
            "“Encounter Cancelled → Release Pre-authorization” and “Encounter Cancelled → "
            "Charge Cancellation Fee” also match, but the first listed wins.",
        ),
        (
            ENCOUNTER_FINALIZED,
            None,
            11,
            2,
            [],
            "“Encounter Finalized → Charge Pre-authorization” applies.",
        ),
        # Rule 4 (no-show) is disabled: the catch-all release wins.
        (
            ENCOUNTER_CANCELLED,
            NO_SHOW_DISPOSITION,
            12,
            3,
            [5],
            "“Encounter Cancelled → Release Pre-authorization” applies; “Encounter Cancelled → "
            "Charge Cancellation Fee” also matches, but the first listed wins.",
        ),
        (ENCOUNTER_CANCELLED, None, 12, 3, [5], None),
    ],
)
def test_the_first_listed_matching_rule_wins(event, disposition, winner, number, also, explanation):
    match = billing_rules.match_rule(RULES, event, disposition)
    assert (match.winner.id, match.number) == (winner, number)
    assert [n for n, _ in match.also] == also
    if explanation:
        assert match.explanation() == explanation


def test_no_rule_matches_when_none_is_active_for_the_event():
    match = billing_rules.match_rule(RULES[:1], ENCOUNTER_FINALIZED, None)
    assert match.winner is None and match.explanation() == "No automation rule matches."
    assert billing_rules.match_rule([], ENCOUNTER_CANCELLED, LATE_CANCELLATION).winner is None


@pytest.mark.parametrize(
    ("event", "action", "disposition", "problem"),
    [
        (ENCOUNTER_FINALIZED, CHARGE_PREAUTH, None, None),
        (ENCOUNTER_CANCELLED, CHARGE_CANCELLATION_FEE, LATE_CANCELLATION, None),
        (ENCOUNTER_CANCELLED, RELEASE_PREAUTH, None, None),
        (ENCOUNTER_FINALIZED, RELEASE_PREAUTH, None, "does not fit Encounter Finalized"),
        (ENCOUNTER_FINALIZED, CHARGE_CANCELLATION_FEE, None, "does not fit"),
        (ENCOUNTER_CANCELLED, CHARGE_PREAUTH, None, "can only Charge Cancellation Fee or"),
        (ENCOUNTER_FINALIZED, CHARGE_PREAUTH, LATE_CANCELLATION, "Only cancellations"),
        (ENCOUNTER_CANCELLED, RELEASE_PREAUTH, "rained_out", "disposition from the list"),
        ("encounter_deleted", RELEASE_PREAUTH, None, "event from the list"),
        (ENCOUNTER_CANCELLED, "refund_everything", None, "action from the list"),
    ],
)
def test_it_checks_that_an_action_fits_its_event(event, action, disposition, problem):
    found = billing_rules.rule_refusal(event, action, disposition)
    if problem is None:
        assert found is None
    else:
        assert problem in found


def test_it_names_rules_shadowed_by_an_earlier_one():
    rules = [
        Rule(1, ENCOUNTER_CANCELLED, RELEASE_PREAUTH),
        Rule(2, ENCOUNTER_CANCELLED, CHARGE_CANCELLATION_FEE, LATE_CANCELLATION),
        Rule(3, ENCOUNTER_FINALIZED, CHARGE_PREAUTH),
        Rule(4, ENCOUNTER_FINALIZED, CHARGE_PREAUTH, active=False),
        Rule(5, ENCOUNTER_FINALIZED, CHARGE_PREAUTH),
    ]
    assert billing_rules.shadowing(rules) == {2: 1, 5: 3}
    # Specific first, catch-all after: nothing is shadowed.
    assert billing_rules.shadowing([rules[1], rules[0]]) == {}


def test_it_labels_a_rule():
    assert billing_rules.rule_label(RULES[0]) == (
        "Encounter Cancelled · Late cancellation → Charge Cancellation Fee"
    )
    assert billing_rules.rule_label(RULES[1]) == "Encounter Finalized → Charge Pre-authorization"


@pytest.mark.parametrize(
    ("hours_before_start", "disposition"),
    [(72, "cancelled_by_client"), (24, "cancelled_by_client"), (23, "late_cancellation"),
     (1, "late_cancellation"), (0, "no_show"), (-2, "no_show")],
)  # fmt: skip
def test_it_suggests_a_disposition_from_the_notice_given(hours_before_start, disposition):
    starts = datetime(2027, 3, 1, 15)
    now = starts - timedelta(hours=hours_before_start)
    assert billing_rules.suggested_disposition(starts, now) == disposition


def test_every_disposition_leads_to_a_cancelled_status():
    assert set(billing_rules.STATUS_FOR_DISPOSITION) == set(billing_rules.DISPOSITIONS)
    assert set(billing_rules.STATUS_FOR_DISPOSITION.values()) == {
        "cancelled",
        "late_cancelled",
        "no_show",
    }
    assert billing_rules.event_refusal(ENCOUNTER_FINALIZED, "upcoming") is None
    assert "cannot be cancelled" in billing_rules.event_refusal(ENCOUNTER_CANCELLED, "kept")


# --- ledger ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("held", "movements", "problem"),
    [
        (15000, [Movement(HOLD_CAPTURE, 15000, True)], None),
        (15000, [Movement(HOLD_CAPTURE, 9000, True), Movement(HOLD_RELEASE, 6000, True)], None),
        # A charge to the card beyond the hold is not part of the hold.
        (
            15000,
            [Movement(HOLD_CAPTURE, 15000, True), Movement("additional_charge", 4000, False)],
            None,
        ),
        (
            5000,
            [Movement(CANCELLATION_FEE, 5000, True), Movement(CANCELLATION_FEE, 2500, False)],
            None,
        ),  # fmt: skip
        (15000, [Movement(HOLD_RELEASE, 15000, True)], None),
        (
            15000,
            [Movement(HOLD_CAPTURE, 15000, True), Movement(HOLD_RELEASE, 15000, True)],
            "captured $150.00 and released $150.00",
        ),  # fmt: skip
        (15000, [], "Held $150.00 but captured $0.00"),
    ],
)
def test_a_settled_hold_adds_up(held, movements, problem):
    found = billing_rules.hold_mismatch(held, movements)
    assert found == problem if problem is None else problem in found


@pytest.mark.parametrize(
    ("total", "movements", "status", "problem"),
    [
        (
            19000,
            [Movement(HOLD_CAPTURE, 15000, True), Movement("additional_charge", 4000, False)],
            "paid",
            None,
        ),  # fmt: skip
        # Releases are shown on the invoice but are not money paid.
        (
            9000,
            [Movement(HOLD_CAPTURE, 9000, True), Movement(HOLD_RELEASE, 6000, True)],
            "paid",
            None,
        ),  # fmt: skip
        (19000, [Movement(HOLD_CAPTURE, 15000, True)], "open", None),
        (0, [], "paid", None),
        (9000, [Movement(HOLD_CAPTURE, 15000, True)], "paid", "payments $150.00"),
    ],
)
def test_an_invoice_adds_up(total, movements, status, problem):
    assert billing_rules.invoice_status(total, movements) == status
    found = billing_rules.invoice_mismatch(total, status, movements)
    assert found == problem if problem is None else problem in found


@pytest.mark.parametrize(
    ("current", "new", "refused"),
    [
        ("upcoming", "kept", True),
        ("upcoming", "late_cancelled", True),
        ("upcoming", "upcoming", False),
        ("kept", "no_show", False),
        ("cancelled", "upcoming", False),
    ],
)
def test_the_status_form_only_corrects_closed_appointments(current, new, refused):
    assert (billing_rules.correction_refusal(current, new) is not None) == refused


# --- charging the balance of an open invoice ------------------------------------------


VISA = "Visa •••• 4242"


@pytest.mark.parametrize(
    ("status", "due", "pending", "card", "expired", "message"),
    [
        ("open", 4000, 0, VISA, False, None),
        ("void", 4000, 0, VISA, False, "This invoice is void; nothing can be charged on it."),
        ("open", 0, 4000, VISA, False, "$40.00 on this invoice is still being charged. Wait"),
        ("paid", 0, 0, VISA, False, "Nothing is due on this invoice."),
        ("open", 4000, 0, None, False, "This client has no card on file. Add one on Bill To"),
        ("open", 4000, 0, VISA, True, "Visa •••• 4242 has expired. Add a new card or make"),
    ],
)
def test_why_a_balance_cannot_be_charged(status, due, pending, card, expired, message):
    refusal = billing_rules.balance_refusal(status, due, pending, card, expired)
    assert refusal == message if message is None else refusal.startswith(message)


def test_a_balance_payment_counts_as_money_collected():
    moves = [
        billing_rules.Movement(billing_rules.HOLD_CAPTURE, 15000, True),
        billing_rules.Movement(billing_rules.BALANCE_PAYMENT, 4000, False),
    ]
    assert billing_rules.collected(moves) == 19000
    assert billing_rules.invoice_status(19000, moves) == billing_rules.INVOICE_PAID
