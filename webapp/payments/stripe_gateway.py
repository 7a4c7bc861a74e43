"""`PaymentGateway` on Stripe's API through stripe-python (localstripe under `make run` and tests).

- A hold is a PaymentIntent with `capture_method="manual"`, confirmed off-session on
  a saved card, with our reference in `metadata["covered_reference"]`, the
  organization in `metadata["covered_org"]` and `metadata["covered_kind"] = "hold"`
  (what the reconciliation searches for).
- The fee Stripe keeps is read from the charge's balance transaction
  (`latest_charge.balance_transaction.fee`) after a capture or a charge; localstripe
  keeps balance transactions too, with a fee of 0.
- A charge is the same without manual capture. Our "charge reference" is always a
  PaymentIntent id (`pi_…`), whether it came from `charge` or from a captured hold,
  so `refund` takes either.
- Every call that moves money sends the caller's idempotency key; creating a
  customer sends one derived from our reference, so a retry after a crash finds the
  customer made the first time instead of making a second one.
- Stripe's errors come back as `PermanentGatewayError` (card declined,
  authentication required, invalid request, bad key) or `TransientGatewayError`
  (network, rate limit, Stripe 5xx, a concurrent request with the same key).
"""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import stripe

from webapp.payments.gateway import (
    CardDetails,
    Charge,
    Hold,
    PermanentGatewayError,
    SetupIntent,
    TransientGatewayError,
)

STRIPE_API_BASE = "https://api.stripe.com"
CURRENCY = "usd"
REFERENCE_KEY = "covered_reference"
ORGANIZATION_KEY = "covered_org"
KIND_KEY = "covered_kind"

# How long an off-session (merchant-initiated) card authorization lasts when the
# gateway does not say (Stripe reports `capture_before` on the charge; localstripe
# does not): Visa 4 days 18 hours, the other networks 7 days.
# https://docs.stripe.com/payments/place-a-hold-on-a-payment-method
VISA_OFF_SESSION_HOLD = timedelta(days=4, hours=18)
OTHER_CARDS_HOLD = timedelta(days=7)

HOLD_EXPAND = ["latest_charge", "payment_method"]
FIND_EXPAND = [f"data.{field}" for field in HOLD_EXPAND]
FEE_EXPAND = ["latest_charge.balance_transaction"]
TRANSIENT_CODES = {"lock_timeout", "idempotency_key_in_use", "rate_limit"}


def hold_lifetime(brand: str | None) -> timedelta:
    return VISA_OFF_SESSION_HOLD if (brand or "").lower() == "visa" else OTHER_CARDS_HOLD


def _utc(timestamp: int | None) -> datetime | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(int(timestamp), UTC).replace(tzinfo=None)


def _field(obj, *path):
    """obj.a.b.c for Stripe objects and dicts, None where anything is missing."""
    for name in path:
        if obj is None or isinstance(obj, str):
            return None
        # a stripe.StripeObject has `in` and [] but no .get()
        obj = obj[name] if name in obj else None  # noqa: SIM401
    return obj


@contextmanager
def classified_errors() -> Iterator[None]:
    """Turn stripe-python's exceptions into our permanent / transient gateway errors."""
    try:
        yield
    except stripe.CardError as error:
        code = error.code or "card_declined"
        raise PermanentGatewayError(_message(error, "The card was declined."), code) from error
    except (stripe.APIConnectionError, stripe.RateLimitError) as error:
        raise TransientGatewayError(
            _message(error, "The payment service could not be reached."), "unreachable"
        ) from error
    except stripe.IdempotencyError as error:
        raise PermanentGatewayError(_message(error, "Conflicting retry."), "idempotency") from error
    except (stripe.AuthenticationError, stripe.PermissionError) as error:
        raise PermanentGatewayError(
            "The payment service refused our API key; check STRIPE_API_KEY.", "gateway_auth"
        ) from error
    except stripe.StripeError as error:
        status = error.http_status or 0
        if status >= 500 or status == 409 or error.code in TRANSIENT_CODES:
            raise TransientGatewayError(
                _message(error, "The payment service had a problem."), error.code or "server_error"
            ) from error
        raise PermanentGatewayError(
            _message(error, "The payment service refused the request."),
            error.code or "invalid_request",
        ) from error


def _message(error: stripe.StripeError, fallback: str) -> str:
    message = getattr(error, "user_message", None) or error._message
    if not message or message in ("Bad request", "Not Found"):
        return fallback if not message else f"{fallback} ({message})"
    return message


def _metadata(reference: str, organization_id: int | None, kind: str) -> dict:
    metadata = {REFERENCE_KEY: reference, KIND_KEY: kind}
    if organization_id is not None:
        metadata[ORGANIZATION_KEY] = str(organization_id)
    return metadata


def _fee(intent) -> int | None:
    """The fee of the intent's charge, from its (expanded) balance transaction."""
    fee = _field(intent, "latest_charge", "balance_transaction", "fee")
    return int(fee) if fee is not None else None


def _card(payment_method) -> CardDetails:
    card = payment_method.card
    return CardDetails(
        payment_method_id=payment_method.id,
        brand=str(card.brand),
        last4=str(card.last4),
        exp_month=int(card.exp_month),
        exp_year=int(card.exp_year),
    )


class StripeGateway:
    """Stripe through stripe-python; `api_base` is localstripe's address in development.

    `timeout` (seconds, to connect and again to read) and `max_network_retries` come
    from STRIPE_TIMEOUT_SECONDS and STRIPE_MAX_NETWORK_RETRIES (webapp/config.py), so
    a hung gateway gives up before the web server's timeout.
    """

    def __init__(
        self,
        *,
        api_key: str,
        api_base: str = STRIPE_API_BASE,
        publishable_key: str,
        js_url: str,
        timeout: float = 10,
        max_network_retries: int = 1,
    ):
        self.publishable_key = publishable_key
        self.js_url = js_url
        self.api_base = api_base.rstrip("/")
        # Stripe's search API answers "find our hold" directly; localstripe has no
        # search, so elsewhere we list payment intents and match the metadata.
        self.has_search = self.api_base == STRIPE_API_BASE
        # Stripe replays idempotency keys; localstripe (and anything else) is not trusted to.
        self.replays_idempotency_keys = self.has_search
        self.client = stripe.StripeClient(
            api_key,
            base_addresses={"api": self.api_base},
            max_network_retries=max_network_retries,
            http_client=stripe.RequestsClient(timeout=timeout),
        )
        self.v1 = self.client.v1

    # Customers and cards

    def create_customer(self, *, name: str, email: str | None, reference: str) -> str:
        params = {"name": name, "metadata": {REFERENCE_KEY: reference}}
        if email:
            params["email"] = email
        with classified_errors():
            customer = self.v1.customers.create(
                params, {"idempotency_key": f"covered-customer-{reference}"}
            )
        return customer.id

    def create_setup_intent(self, *, customer_id: str) -> SetupIntent:
        with classified_errors():
            intent = self.v1.setup_intents.create(
                {"customer": customer_id, "usage": "off_session", "payment_method_types": ["card"]}
            )
        return SetupIntent(id=intent.id, client_secret=intent.client_secret)

    def setup_intent_card(self, *, setup_intent_id: str, customer_id: str) -> str:
        """The card a browser saved through our SetupIntent, once it succeeded.

        Read from the SetupIntent on the server (never trusted from the form), and
        only when the intent belongs to this customer.
        """
        with classified_errors():
            intent = self.v1.setup_intents.retrieve(setup_intent_id)
        if intent.customer != customer_id:
            raise PermanentGatewayError("That card setup is someone else's.", "wrong_customer")
        if intent.status != "succeeded" or not intent.payment_method:
            raise PermanentGatewayError(
                "The card was not confirmed; enter it again.", "setup_incomplete"
            )
        payment_method = intent.payment_method
        return payment_method if isinstance(payment_method, str) else payment_method.id

    def card_details(self, payment_method_id: str) -> CardDetails:
        with classified_errors():
            return _card(self.v1.payment_methods.retrieve(payment_method_id))

    def attach_card(self, *, customer_id: str, payment_method_id: str) -> CardDetails:
        """Attach unless already attached to this customer (Stripe does that on setup)."""
        with classified_errors():
            payment_method = self.v1.payment_methods.retrieve(payment_method_id)
            owner = payment_method.customer
            if owner == customer_id:
                return _card(payment_method)
            if owner:
                raise PermanentGatewayError(
                    "That card belongs to another customer.", "wrong_customer"
                )
            attached = self.v1.payment_methods.attach(payment_method_id, {"customer": customer_id})
        return _card(attached)

    def detach_card(self, payment_method_id: str) -> None:
        """Detach; a card already detached (or gone) is not an error."""
        with classified_errors():
            try:
                payment_method = self.v1.payment_methods.retrieve(payment_method_id)
            except stripe.InvalidRequestError as error:
                if error.http_status == 404:
                    return
                raise
            if payment_method.customer:
                self.v1.payment_methods.detach(payment_method_id)

    # Holds

    def place_hold(
        self,
        *,
        customer_id: str,
        payment_method_id: str,
        amount_cents: int,
        reference: str,
        idempotency_key: str,
        organization_id: int | None = None,
    ) -> Hold:
        intent = self._confirm_off_session(
            customer_id,
            payment_method_id,
            amount_cents,
            _metadata(reference, organization_id, "hold"),
            idempotency_key,
            manual=True,
        )
        if intent.status != "requires_capture":
            raise self._not_authorized(intent)
        return self._hold(intent)

    def find_hold(self, reference: str) -> Hold | None:
        """Our hold with this reference, preferring one that holds or took money.

        Stripe: the search API (eventually consistent, about a minute; a re-run of
        `place_hold` with the same idempotency key is still safe within 24 hours).
        Elsewhere (localstripe, which has neither search nor a customer filter on
        the list): every payment intent, page by page, matched on metadata.
        """
        with classified_errors():
            if self.has_search:
                query = f"metadata['{REFERENCE_KEY}']:'{reference}'"
                found = self.v1.payment_intents.search(
                    {"query": query, "limit": 10, "expand": FIND_EXPAND}
                ).data
            else:
                pages = self.v1.payment_intents.list({"limit": 100})
                found = [
                    intent
                    for intent in pages.auto_paging_iter()
                    if _field(intent, "metadata", REFERENCE_KEY) == reference
                ]
            if not found:
                return None
            rank = {"requires_capture": 0, "succeeded": 1, "processing": 2}
            best = min(found, key=lambda intent: rank.get(intent.status, 9))
            if not self.has_search:  # read the one we keep with its charge and card
                best = self.v1.payment_intents.retrieve(best.id, {"expand": HOLD_EXPAND})
        return self._hold(best)

    def get_hold(self, hold_reference: str) -> Hold | None:
        with classified_errors():
            try:
                intent = self.v1.payment_intents.retrieve(hold_reference, {"expand": HOLD_EXPAND})
            except stripe.InvalidRequestError as error:
                if error.http_status == 404:
                    return None
                raise
        return self._hold(intent)

    def holds_for(self, *, customer_id: str, reference_prefix: str) -> list[Hold]:
        """Stripe: the customer's payment intents (a list, so consistent at once);
        localstripe, whose list has no customer filter: every intent, filtered here."""
        params = {"limit": 100}
        if self.has_search:
            params["customer"] = customer_id
        with classified_errors():
            matches = [
                intent.id
                for intent in self.v1.payment_intents.list(params).auto_paging_iter()
                if intent.customer == customer_id
                and intent.capture_method == "manual"
                and str(_field(intent, "metadata", REFERENCE_KEY) or "").startswith(
                    reference_prefix
                )
            ]
            intents = [
                self.v1.payment_intents.retrieve(pi, {"expand": HOLD_EXPAND}) for pi in matches
            ]
        return [self._hold(intent) for intent in intents]

    def live_holds(self) -> list[Hold]:
        """Stripe: a search on status and our kind of metadata; localstripe: a list."""
        with classified_errors():
            if self.has_search:
                query = f"status:'requires_capture' AND metadata['{KIND_KEY}']:'hold'"
                pages = self.v1.payment_intents.search(
                    {"query": query, "limit": 100, "expand": FIND_EXPAND}
                )
            else:
                pages = self.v1.payment_intents.list({"limit": 100})
            found = [
                intent
                for intent in pages.auto_paging_iter()
                if intent.status == "requires_capture"
                and str(_field(intent, "metadata", REFERENCE_KEY) or "").startswith("preauth-")
            ]
        return [self._hold(intent) for intent in found]

    def capture(self, *, hold_reference: str, amount_cents: int, idempotency_key: str) -> Hold:
        """Capture `amount_cents` of the hold; Stripe releases the rest. Returns the
        captured amount as `amount_cents`."""
        with classified_errors():
            intent = self.v1.payment_intents.capture(
                hold_reference,
                {"amount_to_capture": amount_cents, "expand": FEE_EXPAND},
                {"idempotency_key": idempotency_key},
            )
        captured = _field(intent, "amount_received") or amount_cents
        return Hold(
            reference=intent.id,
            amount_cents=int(captured),
            status=intent.status,
            fee_cents=_fee(intent),
        )

    def release(self, *, hold_reference: str, idempotency_key: str) -> Hold:
        with classified_errors():
            intent = self.v1.payment_intents.cancel(
                hold_reference, {}, {"idempotency_key": idempotency_key}
            )
        return Hold(reference=intent.id, amount_cents=int(intent.amount), status=intent.status)

    # Charges and refunds

    def charge(
        self,
        *,
        customer_id: str,
        payment_method_id: str,
        amount_cents: int,
        reference: str,
        idempotency_key: str,
        organization_id: int | None = None,
    ) -> Charge:
        intent = self._confirm_off_session(
            customer_id,
            payment_method_id,
            amount_cents,
            _metadata(reference, organization_id, "charge"),
            idempotency_key,
            manual=False,
            expand=HOLD_EXPAND + FEE_EXPAND,
        )
        if intent.status not in ("succeeded", "processing"):
            raise self._not_authorized(intent)
        return Charge(reference=intent.id, amount_cents=int(intent.amount), fee_cents=_fee(intent))

    def refund(
        self,
        *,
        charge_reference: str,
        amount_cents: int,
        idempotency_key: str,
        reference: str | None = None,
    ) -> Charge:
        params = {"payment_intent": charge_reference, "amount": amount_cents}
        if reference:
            params["metadata"] = {REFERENCE_KEY: reference}
        with classified_errors():
            refund = self.v1.refunds.create(params, {"idempotency_key": idempotency_key})
        return Charge(reference=refund.id, amount_cents=int(refund.amount))

    def find_refund(self, *, charge_reference: str, reference: str) -> Charge | None:
        with classified_errors():
            refunds = self.v1.refunds.list({"payment_intent": charge_reference, "limit": 100})
            for refund in refunds.auto_paging_iter():
                if _field(refund, "metadata", REFERENCE_KEY) == reference:
                    return Charge(reference=refund.id, amount_cents=int(refund.amount))
        return None

    # Helpers

    def _confirm_off_session(
        self,
        customer_id,
        payment_method_id,
        amount_cents,
        metadata,
        idempotency_key,
        *,
        manual,
        expand=HOLD_EXPAND,
    ):
        if amount_cents <= 0:
            raise PermanentGatewayError("The amount must be more than zero.", "invalid_amount")
        params = {
            "amount": amount_cents,
            "currency": CURRENCY,
            "customer": customer_id,
            "payment_method": payment_method_id,
            "payment_method_types": ["card"],
            "confirm": True,
            "off_session": True,
            "metadata": metadata,
            "expand": expand,
        }
        if manual:
            params["capture_method"] = "manual"
        with classified_errors():
            return self.v1.payment_intents.create(params, {"idempotency_key": idempotency_key})

    @staticmethod
    def _not_authorized(intent) -> PermanentGatewayError:
        """An off-session payment intent that did not go through (localstripe answers
        3-D Secure cards with `requires_action` where Stripe raises a CardError)."""
        if intent.status == "requires_action":
            return PermanentGatewayError(
                "The card needs the cardholder to authenticate; ask for another card.",
                "authentication_required",
            )
        error = _field(intent, "last_payment_error")
        return PermanentGatewayError(
            _field(error, "message") or f"The payment was not authorized ({intent.status}).",
            _field(error, "code") or "card_declined",
        )

    def _hold(self, intent) -> Hold:
        charge = _field(intent, "latest_charge")
        capture_before = _field(charge, "payment_method_details", "card", "capture_before")
        lapses_at = _utc(capture_before)
        if lapses_at is None and intent.status == "requires_capture":
            held_at = _utc(_field(charge, "created") or intent.created)
            brand = _field(charge, "payment_method_details", "card", "brand") or _field(
                intent, "payment_method", "card", "brand"
            )
            lapses_at = held_at + hold_lifetime(brand)
        organization = str(_field(intent, "metadata", ORGANIZATION_KEY) or "")
        customer = _field(intent, "customer")
        return Hold(
            reference=intent.id,
            amount_cents=int(intent.amount),
            status=intent.status,
            lapses_at=lapses_at,
            our_reference=_field(intent, "metadata", REFERENCE_KEY),
            customer_id=customer if isinstance(customer, str) or customer is None else customer.id,
            organization_id=int(organization) if organization.isdigit() else None,
            created_at=_utc(_field(intent, "created")),
        )
