"""What Covered needs from a card processor, and how its failures are classified.

`StripeGateway` (stripe-python; localstripe under `make run` and in tests) and the
strict test gateway both implement `PaymentGateway`. Every call that can move
money takes an `idempotency_key` derived from our row and attempt
(`idempotency_key("preauth", 12, 1, "hold")` → "covered-preauth-12-1-hold"), and a
`reference` that the gateway stores with the object (Stripe metadata) so that
`find_hold` can answer "did our hold get placed?" after a crash.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


class GatewayError(Exception):
    """A gateway call that did not succeed.

    `permanent` errors (card declined, authentication required, no card, invalid
    request) are written to the row at once; transient ones (network, 5xx, rate
    limit) are retried with backoff.
    """

    permanent: bool = False

    def __init__(self, message: str, code: str = "error"):
        super().__init__(message)
        self.message = message
        self.code = code


class PermanentGatewayError(GatewayError):
    permanent = True


class TransientGatewayError(GatewayError):
    permanent = False


@dataclass(frozen=True)
class CardDetails:
    payment_method_id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int


@dataclass(frozen=True)
class SetupIntent:
    id: str
    client_secret: str


@dataclass(frozen=True)
class Hold:
    """A payment intent with manual capture: `status` is the gateway's word
    ("requires_capture", "canceled", "succeeded", …)."""

    reference: str  # the gateway's id (Stripe `pi_…`)
    amount_cents: int
    status: str
    lapses_at: datetime | None = None  # naive UTC, when the gateway says


@dataclass(frozen=True)
class Charge:
    reference: str
    amount_cents: int


def idempotency_key(kind: str, row_id: int, attempt: int, action: str) -> str:
    return f"covered-{kind}-{row_id}-{attempt}-{action}"


class PaymentGateway(Protocol):
    publishable_key: str
    js_url: str  # where the page loads Stripe.js from

    def create_customer(self, *, name: str, email: str | None, reference: str) -> str: ...

    def create_setup_intent(self, *, customer_id: str) -> SetupIntent: ...

    def setup_intent_card(self, *, setup_intent_id: str, customer_id: str) -> str:
        """The payment method id a browser confirmed on this customer's SetupIntent."""
        ...

    def card_details(self, payment_method_id: str) -> CardDetails: ...

    def attach_card(self, *, customer_id: str, payment_method_id: str) -> CardDetails: ...

    def detach_card(self, payment_method_id: str) -> None: ...

    def place_hold(
        self,
        *,
        customer_id: str,
        payment_method_id: str,
        amount_cents: int,
        reference: str,
        idempotency_key: str,
    ) -> Hold: ...

    def find_hold(self, reference: str) -> Hold | None: ...

    def capture(self, *, hold_reference: str, amount_cents: int, idempotency_key: str) -> Hold: ...

    def release(self, *, hold_reference: str, idempotency_key: str) -> Hold: ...

    def charge(
        self,
        *,
        customer_id: str,
        payment_method_id: str,
        amount_cents: int,
        reference: str,
        idempotency_key: str,
    ) -> Charge: ...

    def refund(
        self, *, charge_reference: str, amount_cents: int, idempotency_key: str
    ) -> Charge: ...
