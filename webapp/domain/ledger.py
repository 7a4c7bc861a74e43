"""The ledger: payment kinds, what an invoice was paid and given back, its status,
and when a refund or a void may happen. Amounts are integer cents.

Decisions where the seed is silent:
- A refund gives money back from one payment (whole or part, with a reason); it never
  makes the invoice due again: an invoice paid in full stays settled, as "Partly
  refunded" or "Refunded".
- A void cancels an invoice on which nothing was paid (and nothing is being charged):
  no money moves, so nothing goes to the gateway; with money on it, refund instead.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from webapp.domain.money import format_cents

# --- ledger --------------------------------------------------------------------------

HOLD_CAPTURE = "hold_capture"
ADDITIONAL_CHARGE = "additional_charge"
CANCELLATION_FEE = "cancellation_fee"
HOLD_RELEASE = "hold_release"
BALANCE_PAYMENT = "balance_payment"
REFUND = "refund"
PAYMENT_KIND_LABELS = {
    HOLD_CAPTURE: "Captured from hold",
    ADDITIONAL_CHARGE: "Additional charge",
    CANCELLATION_FEE: "Cancellation fee",
    HOLD_RELEASE: "Released",
    BALANCE_PAYMENT: "Balance payment",
    REFUND: "Refund",
}
COLLECTING_KINDS = (HOLD_CAPTURE, ADDITIONAL_CHARGE, CANCELLATION_FEE, BALANCE_PAYMENT)

INVOICE_OPEN, INVOICE_PAID, INVOICE_VOID = "open", "paid", "void"
INVOICE_PARTLY_REFUNDED, INVOICE_REFUNDED = "partly_refunded", "refunded"
INVOICE_STATUS_LABELS = {
    INVOICE_OPEN: "Open",
    INVOICE_PAID: "Paid",
    INVOICE_VOID: "Void",
    INVOICE_PARTLY_REFUNDED: "Partly refunded",
    INVOICE_REFUNDED: "Refunded",
}
REFUND_REASONS = {
    "requested_by_customer": "Requested by the client",
    "duplicate": "Charged twice",
    "service_not_provided": "Service not provided",
    "billing_error": "Billing error",
    "other": "Other",
}


@dataclass(frozen=True)
class Movement:
    """One settled payment row, as the ledger sees it."""

    kind: str
    amount_cents: int
    from_hold: bool


def gross_paid(movements: Iterable[Movement]) -> int:
    """Money taken from the client (captures, charges, fees), before any refund."""
    return sum(m.amount_cents for m in movements if m.kind in COLLECTING_KINDS)


def refunded(movements: Iterable[Movement]) -> int:
    return sum(m.amount_cents for m in movements if m.kind == REFUND)


def collected(movements: Iterable[Movement]) -> int:
    """Money taken from the client (captures, charges, fees) less refunds: what it kept."""
    moves = list(movements)
    return gross_paid(moves) - refunded(moves)


def invoice_status(total_cents: int, movements: Iterable[Movement]) -> str:
    """Open until its total is paid; then paid, partly refunded or refunded. A refund
    gives money back: it does not make the invoice due again."""
    moves = list(movements)
    paid, back = gross_paid(moves), refunded(moves)
    if paid < total_cents:
        return INVOICE_OPEN
    if back == 0:
        return INVOICE_PAID
    return INVOICE_REFUNDED if back >= paid else INVOICE_PARTLY_REFUNDED


def hold_mismatch(held_cents: int, movements: Iterable[Movement]) -> str | None:
    """A settled hold must add up: held = captured + released."""
    moves = list(movements)
    captured = sum(m.amount_cents for m in moves if m.from_hold and m.kind in COLLECTING_KINDS)
    released = sum(m.amount_cents for m in moves if m.kind == HOLD_RELEASE)
    if captured + released != held_cents:
        return (
            f"Held {format_cents(held_cents)} but captured {format_cents(captured)} "
            f"and released {format_cents(released)}."
        )
    return None


def balance_refusal(
    status: str, due_cents: int, pending_cents: int, card_label: str | None, card_expired: bool
) -> str | None:
    """Why the balance of an invoice cannot be charged to the card on file, or None."""
    if status == INVOICE_VOID:
        return "This invoice is void; nothing can be charged on it."
    if pending_cents:
        return (
            f"{format_cents(pending_cents)} on this invoice is still being charged. "
            "Wait for the result, then reload the page."
        )
    if due_cents <= 0:
        return "Nothing is due on this invoice."
    if card_label is None:
        return "This client has no card on file. Add one on Bill To & Insurance, then try again."
    if card_expired:
        return f"{card_label} has expired. Add a new card or make another one the default."
    return None


def invoice_mismatch(total_cents: int, status: str, movements: Iterable[Movement]) -> str | None:
    """A paid invoice's payments add up to its total; none ever exceed it; refunds never
    exceed what was paid."""
    moves = list(movements)
    paid, back = gross_paid(moves), refunded(moves)
    settled = (INVOICE_PAID, INVOICE_PARTLY_REFUNDED, INVOICE_REFUNDED)
    if paid > total_cents or (status in settled and paid != total_cents):
        return f"Invoice total {format_cents(total_cents)} but payments {format_cents(paid)}."
    if back > paid:
        return f"Refunded {format_cents(back)} of {format_cents(paid)} paid."
    return None


def refund_refusal(
    *,
    kind: str,
    status: str,
    reference: str | None,
    amount_cents: int | None,
    refundable_cents: int,
    reason: str | None,
) -> str | None:
    """Why this refund cannot be made, or None. `refundable_cents`: the payment's amount
    less its refunds so far (made or under way)."""
    if kind not in COLLECTING_KINDS or status != "succeeded" or not reference:
        return "Only a payment that went through can be refunded."
    if refundable_cents <= 0:
        return "This payment has been refunded in full."
    if amount_cents is None or amount_cents <= 0:
        return "Enter the amount to refund, more than $0.00."
    if amount_cents > refundable_cents:
        return f"At most {format_cents(refundable_cents)} of this payment can be refunded."
    if not reason:
        return "Choose why the money is refunded."
    return None


def void_refusal(status: str, paid_cents: int, pending_cents: int) -> str | None:
    """Why an invoice cannot be voided, or None: only an open one with nothing paid."""
    if status == INVOICE_VOID:
        return "This invoice is already void."
    if pending_cents:
        return (
            f"{format_cents(pending_cents)} on this invoice is being charged right now. "
            "Wait for the result."
        )
    if paid_cents:
        return (
            f"{format_cents(paid_cents)} was paid on this invoice: refund the payments instead "
            "of voiding it."
        )
    if status != INVOICE_OPEN:
        return "Only an open invoice can be voided."
    return None
