"""Pre-authorization rules: transitions, refusals, amount, hours, lapse, Retry, invoices."""

from datetime import date, datetime

import pytest

from webapp.domain import preauth_rules as rules
from webapp.domain.preauth_rules import (
    CANCELLED,
    CHARGED,
    EXPIRED,
    FAILED,
    HELD,
    NOT_NEEDED,
    PROCESSING,
    RELEASED,
    SCHEDULED,
    STATES,
)

ADD_CARD = "Add a card for the client (Bill To & Insurance), then retry."
CARD_EXPIRED = "The client's default card has expired. Add a new card, then retry."
SAME_CARD = "The same card was declined. Add another card or make it the default, then retry."
NOT_FAILED = "Only a failed pre-authorization can be retried; this one is {}."
NOT_SCHEDULED = "Only a scheduled pre-authorization can be cancelled; this one is {}."
BUSY = "The hold is being placed right now. Wait for the result, then try again."
ALREADY_SCHEDULED = "This pre-authorization is already scheduled; there is nothing to retry."

# (action, state it starts from, allowed?, state it leads to when allowed)
TRANSITION_TABLE = [
    ("claim", SCHEDULED, True, PROCESSING),
    ("claim", PROCESSING, False, None),
    ("claim", CANCELLED, False, None),
    ("claim", FAILED, False, None),
    ("hold", PROCESSING, True, HELD),
    ("hold", SCHEDULED, False, None),
    ("fail", PROCESSING, True, FAILED),
    ("fail", HELD, False, None),
    ("skip", PROCESSING, True, NOT_NEEDED),
    ("unclaim", PROCESSING, True, SCHEDULED),
    ("unclaim", HELD, False, None),
    ("withdraw", PROCESSING, True, CANCELLED),
    ("withdraw", SCHEDULED, False, None),
    ("cancel", SCHEDULED, True, CANCELLED),
    ("cancel", CANCELLED, False, None),
    ("cancel", PROCESSING, False, None),
    ("cancel", HELD, False, None),
    ("cancel", FAILED, False, None),
    ("reschedule", SCHEDULED, True, SCHEDULED),
    ("reschedule", CANCELLED, True, SCHEDULED),
    ("reschedule", FAILED, True, SCHEDULED),
    ("reschedule", RELEASED, True, SCHEDULED),
    ("reschedule", EXPIRED, True, SCHEDULED),
    ("reschedule", NOT_NEEDED, True, SCHEDULED),
    ("reschedule", PROCESSING, False, None),
    ("reschedule", HELD, False, None),
    ("reschedule", CHARGED, False, None),
    ("retry", FAILED, True, SCHEDULED),
    ("retry", SCHEDULED, False, None),
    ("retry", HELD, False, None),
    ("retry", CANCELLED, False, None),
    ("expire", HELD, True, EXPIRED),
    ("expire", RELEASED, False, None),
    ("charge", HELD, True, CHARGED),
    ("charge", RELEASED, False, None),
    ("release", HELD, True, RELEASED),
    ("release", CHARGED, False, None),
]


@pytest.mark.parametrize(("action", "state", "ok", "leads_to"), TRANSITION_TABLE)
def test_it_allows_only_the_listed_transitions(action, state, ok, leads_to):
    assert rules.allowed(action, state) is ok
    if ok:
        assert rules.target(action) == leads_to


def test_every_state_has_a_label_and_every_transition_names_real_states():
    assert set(rules.STATE_LABELS) == set(STATES)
    for starts, leads_to in rules.TRANSITIONS.values():
        assert starts <= set(STATES) and leads_to in STATES


@pytest.mark.parametrize(
    ("action", "state", "message"),
    [
        ("cancel", SCHEDULED, None),
        ("cancel", CANCELLED, "This pre-authorization is already cancelled."),
        ("cancel", HELD, "The hold is already placed; it can be released, not cancelled."),
        ("cancel", FAILED, NOT_SCHEDULED.format("failed")),
        ("cancel", PROCESSING, BUSY),
        ("retry", FAILED, None),
        ("retry", SCHEDULED, ALREADY_SCHEDULED),
        ("retry", HELD, NOT_FAILED.format("held")),
        ("retry", CANCELLED, NOT_FAILED.format("cancelled")),
        ("reschedule", CANCELLED, None),
        ("reschedule", HELD, None),  # the hold is released and a new one scheduled
        ("reschedule", CHARGED, "A pre-authorization that is charged cannot be rescheduled."),
        ("retry", None, "There is no pre-authorization on this appointment."),
    ],
)
def test_it_explains_why_an_action_is_refused(action, state, message):
    assert rules.refusal(action, state) == message


@pytest.mark.parametrize(
    ("state", "blocked"),
    [
        (SCHEDULED, True),
        (PROCESSING, True),
        (HELD, True),
        (FAILED, False),
        (CANCELLED, False),
        (RELEASED, False),
        (CHARGED, False),
        (EXPIRED, False),
        (NOT_NEEDED, False),
        (None, False),
    ],
)
def test_it_blocks_manual_invoices_while_a_hold_is_pending_or_placed(state, blocked):
    reason = rules.invoice_refusal(state)
    assert (reason is not None) is blocked
    if blocked:
        assert "pre-authorization" in reason or "hold" in reason


@pytest.mark.parametrize(
    ("billing_type", "copay", "prices", "amount"),
    [
        ("insurance", 2500, [15000, 9000], 2500),
        ("insurance", 0, [15000], 0),
        ("insurance", None, [15000, 9000], 24000),  # no client insurance: treated as self-pay
        ("self_pay", 2500, [15000, 9000], 24000),
        ("unknown", 2500, [15000], 15000),
        ("self_pay", None, [], 0),
        ("self_pay", None, [0, 0], 0),
    ],
)
def test_it_holds_the_copay_for_insurance_and_the_prices_otherwise(
    billing_type, copay, prices, amount
):
    assert rules.hold_amount(billing_type, copay, prices) == amount


@pytest.mark.parametrize(
    ("starts_at", "hours", "expected"),
    [
        (datetime(2026, 3, 10, 15), 24, datetime(2026, 3, 9, 15)),
        (datetime(2026, 3, 10, 15), 0, datetime(2026, 3, 10, 15)),
        (datetime(2026, 3, 10, 15), 168, datetime(2026, 3, 3, 15)),
        (datetime(2026, 3, 1, 2), 3, datetime(2026, 2, 28, 23)),
    ],
)
def test_it_runs_the_hold_the_given_hours_before_the_start(starts_at, hours, expected):
    assert rules.run_at(starts_at, hours) == expected


@pytest.mark.parametrize(
    ("text", "hours"), [("24", 24), (" 0 ", 0), ("168", 168), ("48.0", 48), ("007", 7)]
)
def test_it_reads_whole_hours(text, hours):
    assert rules.parse_hours(text) == hours


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Enter the number of hours before the appointment (0–168)."),
        ("   ", "Enter the number of hours before the appointment (0–168)."),
        (None, "Enter the number of hours before the appointment (0–168)."),
        ("-1", "Hours cannot be negative."),
        ("−5", "Hours cannot be negative."),
        ("1.5", "Use a whole number of hours, such as 24."),
        ("24,5", "Use a whole number of hours, such as 24."),
        ("169", "At most 168 hours (7 days) before the appointment."),
        ("abc", "'abc' is not a number of hours; use a whole number such as 24."),
        ("1e3", "'1e3' is not a number of hours; use a whole number such as 24."),
        ("２４", "'２４' is not a number of hours; use a whole number such as 24."),
    ],
)
def test_it_refuses_hours_that_are_not_a_whole_number_from_0_to_168(text, message):
    with pytest.raises(ValueError) as error:
        rules.parse_hours(text)
    assert str(error.value) == message


@pytest.mark.parametrize(
    ("hours", "warns"), [(None, False), (0, False), (96, False), (97, True), (168, True)]
)
def test_it_warns_above_96_hours_about_visas_4_days_18_hours(hours, warns):
    warning = rules.hours_warning(hours)
    assert (warning is not None) is warns
    if warns:
        assert "4 days 18 hours" in warning and str(hours) in warning  # fmt: skip


@pytest.mark.parametrize(
    ("brand", "lapses_at"),
    [
        ("visa", datetime(2026, 3, 6, 4)),
        ("Visa", datetime(2026, 3, 6, 4)),
        ("mastercard", datetime(2026, 3, 8, 10)),
        (None, datetime(2026, 3, 8, 10)),
    ],
)
def test_it_estimates_when_a_hold_lapses(brand, lapses_at):
    assert rules.hold_lapses_at(datetime(2026, 3, 1, 10), brand) == lapses_at


@pytest.mark.parametrize(
    ("month", "year", "expired"),
    [(3, 2026, False), (2, 2026, True), (12, 2025, True), (1, 2027, False)],
)
def test_a_card_is_good_through_its_expiry_month(month, year, expired):
    assert rules.card_expired(month, year, date(2026, 3, 31)) is expired


@pytest.mark.parametrize(
    ("code", "failed_card", "default_card", "default_expired", "blocker"),
    [
        ("no_card", None, None, False, ADD_CARD),
        ("no_card", None, 7, False, None),
        ("no_card", None, 7, True, CARD_EXPIRED),
        ("card_declined", 7, 7, False, SAME_CARD),
        ("card_declined", 7, 8, False, None),
        ("card_declined", 7, None, False, ADD_CARD),
        ("authentication_required", 7, 9, False, None),
        ("expired_card", 7, 7, False, SAME_CARD),
        ("gateway_unavailable", 7, 7, False, None),
        ("processing_error", None, None, False, None),
    ],
)
def test_retry_is_enabled_once_the_cause_is_resolved(
    code, failed_card, default_card, default_expired, blocker
):
    assert rules.retry_refusal(code, failed_card, default_card, default_expired) == blocker


@pytest.mark.parametrize(
    ("state", "run_at", "polls"),
    [
        (SCHEDULED, datetime(2026, 3, 1, 9, 59), True),
        (SCHEDULED, datetime(2026, 3, 1, 10, 0), True),
        (SCHEDULED, datetime(2026, 3, 1, 10, 1), False),
        (PROCESSING, datetime(2026, 3, 1, 10, 1), True),
        (HELD, datetime(2026, 3, 1, 9), False),
        (FAILED, datetime(2026, 3, 1, 9), False),
        (CANCELLED, datetime(2026, 3, 1, 9), False),
    ],
)
def test_the_page_polls_only_while_something_is_about_to_happen(state, run_at, polls):
    assert rules.should_poll(state, run_at, datetime(2026, 3, 1, 10)) is polls
