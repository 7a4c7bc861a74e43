"""webapp.domain.hold_rules: the plan for a pre-authorization's holds, lapses, moves, wording."""

from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webapp.domain import hold_rules
from webapp.domain.hold_rules import GatewayHold, HoldMoney

NOW = datetime(2026, 12, 1, 9, 0)
STATES = ("scheduled", "processing", "held", "charged", "released", "failed", "cancelled",
          "expired", "not_needed")  # fmt: skip
STATUSES = ("requires_capture", "canceled", "succeeded", "requires_payment_method")


def hold(ref: str, attempt: int, status: str = "requires_capture", *, releasing=False):
    return GatewayHold(ref, attempt, status, 2500, NOW + timedelta(days=4), releasing)


def _plan(state, attempt, own, found, wants):
    return hold_rules.plan(state=state, attempt=attempt, own_reference=own, holds=found,
                      wants_hold=wants)  # fmt: skip


@pytest.mark.parametrize(
    ("state", "wants", "found", "own", "adopt", "keep", "release"),
    [
        # The cases: a lost answer on attempt 1.
        ("scheduled", True, [hold("pi_1", 1)], None, "pi_1", None, []),  # due: adopted
        ("scheduled", False, [hold("pi_1", 1)], None, None, None, ["pi_1"]),  # moved/cancelled
        ("failed", True, [hold("pi_1", 1)], None, "pi_1", None, []),  # Retry: adopted
        ("cancelled", True, [hold("pi_1", 1)], None, None, None, ["pi_1"]),  # never adopted
        # An earlier attempt's hold is never adopted by a new attempt: released.
        ("processing", True, [hold("pi_1", 1)], None, None, None, ["pi_1"]),
        # Held: its own hold is kept, any other released, whatever is wanted.
        ("held", False, [hold("pi_1", 1), hold("pi_2", 2)], "pi_2", None, "pi_2", ["pi_1"]),
        ("held", True, [hold("pi_2", 2)], "pi_2", None, "pi_2", []),
        # Duplicates of the current attempt (a gateway ignoring keys): keep the newest.
        ("processing", True, [hold("pi_3", 2), hold("pi_4", 2)], None, "pi_4", None, ["pi_3"]),
        # A hold being released already (a payment says so) is not adopted again.
        ("scheduled", True, [hold("pi_1", 1, releasing=True)], None, None, None, ["pi_1"]),
        # Not live: nothing to do.
        ("scheduled", True, [hold("pi_1", 1, "canceled")], None, None, None, []),
    ],
)
def test_the_plan(state, wants, found, own, adopt, keep, release):
    decided = _plan(state, 2 if state == "processing" else 1, own, found, wants)
    if state == "held":
        decided = _plan(state, 2, own, found, wants)
    assert (decided.adopt.reference if decided.adopt else None) == adopt
    assert (decided.keep.reference if decided.keep else None) == keep
    assert [h.reference for h in decided.release] == release


def test_a_held_rows_missing_or_lapsed_hold_is_said():
    lapsed = _plan("held", 1, "pi_1", [hold("pi_1", 1, "canceled")], True)
    assert (lapsed.keep, lapsed.own_status) == (None, "canceled")
    assert _plan("held", 1, "pi_1", [], True).own_status == "missing"


def test_money_captured_that_no_row_shows_is_reported_not_released():
    decided = _plan("released", 2, None, [hold("pi_1", 1, "succeeded")], False)
    assert decided.release == ()
    ((reported, why),) = decided.report
    assert reported.reference == "pi_1" and "captured at the card processor" in why
    # The row's own captured hold is not a surprise.
    assert _plan("charged", 1, "pi_1", [hold("pi_1", 1, "succeeded")], False).report == ()


def test_a_hold_of_another_pre_authorization_is_refused():
    with pytest.raises(ValueError, match="not an attempt"):
        _plan("held", 1, None, [hold("pi_1", 0)], True)


gateway_holds = st.lists(
    st.builds(
        GatewayHold,
        reference=st.sampled_from([f"pi_{n}" for n in range(8)]),
        attempt=st.integers(1, 4),
        status=st.sampled_from(STATUSES),
        amount_cents=st.integers(1, 10**6),
        releasing=st.booleans(),
    ),
    max_size=6,
    unique_by=lambda h: h.reference,
)


@given(
    state=st.sampled_from(STATES),
    attempt=st.integers(1, 4),
    found=gateway_holds,
    own=st.one_of(st.none(), st.sampled_from([f"pi_{n}" for n in range(8)])),
    wants=st.booleans(),
)
def test_after_any_plan_at_most_one_hold_is_live_and_none_unless_wanted_or_held(
    state, attempt, found, own, wants
):
    decided = _plan(state, attempt, own, found, wants)
    live = {h.reference for h in found if h.live}
    released = {h.reference for h in decided.release}
    left = live - released
    assert len(left) == decided.live_after <= 1
    assert released <= live  # only live holds are released
    if decided.adopt is not None:
        assert wants and state in hold_rules.ADOPTING_STATES
        assert decided.adopt.attempt == attempt and not decided.adopt.releasing
        assert left == {decided.adopt.reference}
    if decided.keep is not None:
        assert state == "held" and left == {own}
    if state != "held" and not (wants and state in hold_rules.ADOPTING_STATES):
        assert left == set()  # a cancelled, released, charged… visit holds nothing


# --- moving a held visit -------------------------------------------------------------


@pytest.mark.parametrize(
    ("lapses_in", "starts_in", "hours", "kind"),
    [
        (timedelta(days=3), timedelta(days=2), 72, "keep"),  # covered, inside the window
        (timedelta(days=3), timedelta(days=9), 72, "replace"),  # the issue: Dec 1 → Dec 10
        (timedelta(days=3), timedelta(days=3), 96, "replace"),  # lapses exactly at the start
        (timedelta(days=4), timedelta(days=3, hours=1), 48, "replace"),  # beyond the window
        (timedelta(days=4), timedelta(days=1), 48, "keep"),  # moved earlier
        (None, timedelta(days=1), 48, "keep"),
    ],
)
def test_a_held_visit_that_moves(lapses_in, starts_in, hours, kind):
    lapses = NOW + lapses_in if lapses_in else None
    assert hold_rules.held_move(lapses_at=lapses, new_starts_at=NOW + starts_in,
                           hours_before=hours, now=NOW) == kind  # fmt: skip


@given(
    lapses=st.integers(0, 20 * 24),
    start=st.integers(1, 20 * 24),
    hours=st.integers(0, 168),
)
def test_a_kept_hold_always_covers_the_new_start_inside_the_window(lapses, start, hours):
    lapses_at, starts_at = NOW + timedelta(hours=lapses), NOW + timedelta(hours=start)
    kind = hold_rules.held_move(lapses_at=lapses_at, new_starts_at=starts_at, hours_before=hours,
                           now=NOW)  # fmt: skip
    if kind == "keep":
        assert lapses_at > starts_at and starts_at - timedelta(hours=hours) <= NOW


@pytest.mark.parametrize(
    ("lapses_in", "visit_ends_in", "renew"),
    [
        (timedelta(hours=11), timedelta(days=2), True),  # lapses before the visit, soon
        (timedelta(hours=13), timedelta(days=2), False),  # not yet: the next run
        (timedelta(hours=11), timedelta(hours=10), False),  # lapses after the visit
        (timedelta(hours=-1), timedelta(days=2), False),  # already lapsed: expired instead
    ],
)
def test_when_a_hold_is_renewed(lapses_in, visit_ends_in, renew):
    assert hold_rules.needs_renewal(lapses_at=NOW + lapses_in, visit_ends_at=NOW + visit_ends_in,
                               now=NOW) is renew  # fmt: skip


# --- words ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "message", "staff"),
    [
        ("card_declined", "Your card was declined.", "The card was declined."),
        ("insufficient_funds", "Your card has insufficient funds.",
         "The card has insufficient funds."),
        ("expired_card", "Your card has expired.", "The card has expired."),
        ("processing_error", "An error occurred while processing your card.",
         "An error occurred while processing the card."),
        (None, "Your card's security code is wrong.", "The card's security code is wrong."),
        ("weird", "", "The card processor refused the payment."),
    ],
)  # fmt: skip
def test_gateway_words_are_turned_to_staff_wording(code, message, staff):
    assert hold_rules.staff_message(code, message) == staff
    assert "your" not in hold_rules.staff_message(code, message).lower()


@pytest.mark.parametrize(
    ("money", "sentence"),
    [
        (HoldMoney(4000, 1500, 2500), "Captured $15.00 of the $40.00 hold and released $25.00."),
        (HoldMoney(20000, 18000, 2000),
         "Captured $180.00 of the $200.00 hold and released $20.00."),
        (HoldMoney(4000, 4000, 0, 28000),
         "The whole hold of $40.00 was captured, and charged $280.00 more to the card."),
        (HoldMoney(4000, 0, 4000),
         "The hold of $40.00 was released; nothing was captured from it."),
        (HoldMoney(4000, pending=True),
         "The hold of $40.00 is being settled with the card processor."),
    ],
)  # fmt: skip
def test_what_became_of_a_hold_in_words(money, sentence):
    assert money.sentence() == sentence
