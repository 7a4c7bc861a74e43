"""What Covered needs from a card processor, and how its failures are classified.

`StripeGateway` (stripe-python; localstripe under `make run` and in tests) and the
strict test gateway both implement `PaymentGateway`. Every call that can move
money takes an `idempotency_key` derived from our row and attempt
(`idempotency_key("preauth", 12, 1, "hold")` → "covered-preauth-12-1-hold"), and a
`reference` that the gateway stores with the object (Stripe metadata) so that
`find_hold` can answer "did our hold get placed?" after a crash, and `holds_for`
"which holds of this pre-authorization (every attempt's) exist?". A hold's
reference is `preauth-<pre-authorization id>-<attempt>`; holds and charges also
carry the organization's id (`organization_id`), so an answer from the gateway
can be matched to the organization it belongs to.
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


HOLD_REFERENCE_PREFIX = "preauth-"


@dataclass(frozen=True)
class Hold:
    """A payment intent with manual capture: `status` is the gateway's word
    ("requires_capture", "canceled", "succeeded", …).

    `our_reference` is what we stored with it (`preauth-<id>-<attempt>`), `customer_id`
    the gateway customer, `organization_id` the organization it was placed for (None
    for holds placed before organizations were recorded), `created_at` naive UTC.
    `fee_cents` is what the gateway kept of a captured hold (None when not reported).
    """

    reference: str  # the gateway's id (Stripe `pi_…`)
    amount_cents: int
    status: str
    lapses_at: datetime | None = None  # naive UTC, when the gateway says
    our_reference: str | None = None
    customer_id: str | None = None
    organization_id: int | None = None
    created_at: datetime | None = None
    fee_cents: int | None = None

    @property
    def live(self) -> bool:
        """Money is held on the card (authorized, not captured, not let go)."""
        return self.status == "requires_capture"


@dataclass(frozen=True)
class Charge:
    """Money that moved: a charge (`pi_…`) or a refund (`re_…`), with the fee the
    gateway kept when it says (Stripe's balance transaction; None when unknown)."""

    reference: str
    amount_cents: int
    fee_cents: int | None = None


def idempotency_key(kind: str, row_id: int, attempt: int, action: str) -> str:
    return f"covered-{kind}-{row_id}-{attempt}-{action}"


def hold_reference(preauth_id: int, attempt: int) -> str:
    """What a hold of pre-authorization `preauth_id` at `attempt` carries: 'preauth-12-3'."""
    return f"{HOLD_REFERENCE_PREFIX}{preauth_id}-{attempt}"


def parse_hold_reference(reference: str | None) -> tuple[int, int] | None:
    """'preauth-12-3' → (12, 3); None for anything else."""
    if not reference or not reference.startswith(HOLD_REFERENCE_PREFIX):
        return None
    parts = reference[len(HOLD_REFERENCE_PREFIX) :].split("-")
    if len(parts) != 2 or not all(part.isdigit() for part in parts):
        return None
    return int(parts[0]), int(parts[1])


class PaymentGateway(Protocol):
    publishable_key: str
    js_url: str  # where the page loads Stripe.js from
    # Whether a repeated idempotency key answers with the first result (Stripe does;
    # localstripe does not, so a rerun after a lost answer must look before it asks).
    replays_idempotency_keys: bool

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
        organization_id: int | None = None,
    ) -> Hold: ...

    def find_hold(self, reference: str) -> Hold | None:
        """The hold (or charge) we stored `reference` with, preferring a live one."""
        ...

    def get_hold(self, hold_reference: str) -> Hold | None:
        """The payment intent `hold_reference` (`pi_…`) as the gateway has it now;
        None when the gateway does not know it."""
        ...

    def holds_for(self, *, customer_id: str, reference_prefix: str) -> list[Hold]:
        """Every manual-capture payment intent of this customer whose reference starts
        with `reference_prefix` ('preauth-12-': every attempt of pre-authorization 12),
        whatever its status. Read-after-write consistent (a list, not a search)."""
        ...

    def live_holds(self) -> list[Hold]:
        """Every hold we placed that still holds money (status requires_capture), for
        the periodic reconciliation. May lag a minute behind (Stripe's search)."""
        ...

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
        organization_id: int | None = None,
    ) -> Charge: ...

    def refund(
        self,
        *,
        charge_reference: str,
        amount_cents: int,
        idempotency_key: str,
        reference: str | None = None,
    ) -> Charge: ...

    def find_refund(self, *, charge_reference: str, reference: str) -> Charge | None:
        """The refund of `charge_reference` we stored `reference` with, if any (a replay
        after a lost answer must not refund twice on a gateway that ignores keys)."""
        ...
