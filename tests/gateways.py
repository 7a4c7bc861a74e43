"""`StrictGateway`: an in-memory `PaymentGateway` that enforces the rules localstripe lets slip.

localstripe ignores idempotency keys, captures a hold after it was cancelled and
refunds more than was charged. Stripe does none of that, and our duplicate
protection must be tested against a gateway that behaves like Stripe. This one:

- replays an idempotency key: same key and same parameters → the same result (a
  decline too); same key with other parameters → `PermanentGatewayError("idempotency")`;
- captures only a hold in `requires_capture`, once, for at most the amount held;
  never after a release or a lapse; releases once; refunds at most what was captured;
- can decline a card, require authentication, be down for the next N calls
  (`TransientGatewayError`, nothing done), or do the next N calls that change
  something and lose the answer (`TransientGatewayError` after the fact, as a
  network timeout would; a lost answer to a read is just a failed read, so reads
  neither count against `lose_answers` nor lose anything);
- lists holds by customer and reference (`holds_for`, read-after-write consistent
  like Stripe's list), lists every live hold (`live_holds`, like Stripe's search),
  reads one by id (`get_hold`), and keeps a fee on every capture and charge
  (Stripe's US card price, 2.9% + 30¢) and none back on a refund;
- runs on its own clock (`clock`, naive UTC), so a test can move time and see
  holds lapse (`lapse_all_due()`), or set a hold's lapse time (`set_lapses_at`);
- counts every call (`calls["place_hold"]`) and every hold it really placed
  (`holds(reference)`, `live(reference_prefix)`), so a test can say "exactly one hold".

It is thread-safe (one lock), so racing tests can share it.
"""

import itertools
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from webapp.payments.gateway import (
    CardDetails,
    Charge,
    Hold,
    PermanentGatewayError,
    SetupIntent,
    TransientGatewayError,
)

VISA_OFF_SESSION_HOLD = timedelta(days=4, hours=18)
OTHER_CARDS_HOLD = timedelta(days=7)
# Calls that only read: a lost answer to one of them changes nothing.
READS = frozenset(
    {"find_hold", "get_hold", "holds_for", "live_holds", "find_refund", "card_details"}
)


def stripe_fee(amount_cents: int) -> int:
    """Stripe's standard US card price: 2.9% + 30¢ (rounded to the cent)."""
    return (amount_cents * 29 + 500) // 1000 + 30


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass
class StoredCard:
    details: CardDetails
    customer_id: str | None = None
    declines: bool = False
    needs_authentication: bool = False


@dataclass
class Intent:
    id: str
    reference: str
    customer_id: str
    payment_method_id: str
    amount_cents: int
    manual: bool
    status: str
    created_at: datetime
    lapses_at: datetime | None = None
    captured_cents: int = 0
    refunded_cents: int = 0
    organization_id: int | None = None
    fee_cents: int | None = None
    refunds: list = field(default_factory=list)  # [(refund id, amount, reference)]


@dataclass
class StoredSetup:
    id: str
    customer_id: str
    client_secret: str
    status: str = "requires_payment_method"
    payment_method_id: str | None = None


def _unexpected_state(intent: Intent, action: str) -> PermanentGatewayError:
    return PermanentGatewayError(
        f"This PaymentIntent could not be {action} because it has a status of {intent.status}.",
        "payment_intent_unexpected_state",
    )


@dataclass(eq=False)
class StrictGateway:
    publishable_key: str = "pk_test_strict"
    js_url: str = "http://127.0.0.1:9/js.stripe.com/v3/"
    replays_idempotency_keys: bool = True

    calls: Counter = field(default_factory=Counter)
    customers: dict[str, dict] = field(default_factory=dict)
    cards: dict[str, StoredCard] = field(default_factory=dict)
    setups: dict[str, StoredSetup] = field(default_factory=dict)
    intents: dict[str, Intent] = field(default_factory=dict)
    _replays: dict[str, tuple[tuple, object]] = field(default_factory=dict)
    clock: Callable[[], datetime] = _utcnow
    _down_for: int = 0
    _down_only: frozenset | None = None
    _lose_answers: int = 0
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _lock: threading.RLock = field(default_factory=threading.RLock)

    # Controls for tests

    def go_down(self, calls: int, *, only: set[str] | None = None) -> None:
        """The next `calls` calls (of the names in `only`, when given) fail with a
        transient error and do nothing."""
        self._down_for = calls
        self._down_only = frozenset(only) if only else None

    def lose_answers(self, calls: int) -> None:
        """The next `calls` calls take effect, then fail with a transient error."""
        self._lose_answers = calls

    def add_card(
        self,
        customer_id: str | None = None,
        *,
        brand: str = "visa",
        last4: str = "4242",
        exp_month: int = 12,
        exp_year: int = 2030,
        declines: bool = False,
        needs_authentication: bool = False,
    ) -> CardDetails:
        """A card as Stripe.js would create it, attached to `customer_id` when given."""
        with self._lock:
            details = CardDetails(self._new_id("pm"), brand, last4, exp_month, exp_year)
            self.cards[details.payment_method_id] = StoredCard(
                details, customer_id, declines, needs_authentication
            )
            return details

    def confirm_setup(self, setup_intent_id: str, **card) -> str:
        """What Stripe.js does in the browser: a card confirmed on the SetupIntent."""
        with self._lock:
            setup = self.setups[setup_intent_id]
            setup.payment_method_id = self.add_card(setup.customer_id, **card).payment_method_id
            setup.status = "succeeded"
            return setup.payment_method_id

    def decline(self, payment_method_id: str) -> None:
        self.cards[payment_method_id].declines = True

    def require_authentication(self, payment_method_id: str) -> None:
        self.cards[payment_method_id].needs_authentication = True

    def lapse(self, hold_reference: str) -> Hold:
        """The card network let the hold go (Stripe then reports it canceled)."""
        with self._lock:
            intent = self.intents[hold_reference]
            if intent.status != "requires_capture":
                raise _unexpected_state(intent, "expired")
            intent.status = "canceled"
            return self._hold(intent)

    def set_lapses_at(self, hold_reference: str, when: datetime) -> None:
        """The card network will let this hold go at `when` (naive UTC)."""
        with self._lock:
            self.intents[hold_reference].lapses_at = when

    def lapse_all_due(self) -> list[str]:
        """Every live hold whose lapse time has passed on `clock` lapses; their ids."""
        with self._lock:
            due = [
                intent.id
                for intent in self.intents.values()
                if intent.status == "requires_capture" and intent.lapses_at <= self.clock()
            ]
            for intent_id in due:
                self.intents[intent_id].status = "canceled"
            return due

    def live(self, reference_prefix: str = "preauth-") -> list[Intent]:
        """Holds that hold money right now, whose reference starts with the prefix."""
        return [
            intent
            for intent in self.intents.values()
            if intent.manual
            and intent.status == "requires_capture"
            and intent.reference.startswith(reference_prefix)
        ]

    def holds(self, reference: str | None = None) -> list[Intent]:
        """Holds really placed (authorized), whatever became of them since."""
        return [
            intent
            for intent in self.intents.values()
            if intent.manual
            and intent.lapses_at is not None
            and (reference is None or intent.reference == reference)
        ]

    # PaymentGateway

    def create_customer(self, *, name: str, email: str | None, reference: str) -> str:
        def create():
            customer_id = self._new_id("cus")
            self.customers[customer_id] = {"name": name, "email": email, "reference": reference}
            return customer_id

        params = ("create_customer", name, email, reference)
        return self._call("create_customer", f"customer-{reference}", params, create)

    def create_setup_intent(self, *, customer_id: str) -> SetupIntent:
        def create():
            self._require_customer(customer_id)
            setup_id = self._new_id("seti")
            self.setups[setup_id] = StoredSetup(setup_id, customer_id, f"{setup_id}_secret_x")
            return SetupIntent(setup_id, f"{setup_id}_secret_x")

        return self._call("create_setup_intent", None, (), create)

    def setup_intent_card(self, *, setup_intent_id: str, customer_id: str) -> str:
        def read():
            setup = self.setups.get(setup_intent_id)
            if setup is None:
                raise PermanentGatewayError("No such setup intent.", "resource_missing")
            if setup.customer_id != customer_id:
                raise PermanentGatewayError("That card setup is someone else's.", "wrong_customer")
            if setup.status != "succeeded" or setup.payment_method_id is None:
                raise PermanentGatewayError("The card was not confirmed.", "setup_incomplete")
            return setup.payment_method_id

        return self._call("setup_intent_card", None, (), read)

    def card_details(self, payment_method_id: str) -> CardDetails:
        return self._call("card_details", None, (), lambda: self._card(payment_method_id).details)

    def attach_card(self, *, customer_id: str, payment_method_id: str) -> CardDetails:
        def attach():
            self._require_customer(customer_id)
            card = self._card(payment_method_id)
            if card.customer_id not in (None, customer_id):
                raise PermanentGatewayError(
                    "That card belongs to another customer.", "wrong_customer"
                )
            if card.declines:
                raise PermanentGatewayError("Your card was declined.", "card_declined")
            card.customer_id = customer_id
            return card.details

        return self._call("attach_card", None, (), attach)

    def detach_card(self, payment_method_id: str) -> None:
        def detach():
            card = self.cards.get(payment_method_id)
            if card is not None:
                card.customer_id = None

        return self._call("detach_card", None, (), detach)

    def place_hold(
        self,
        *,
        customer_id,
        payment_method_id,
        amount_cents,
        reference,
        idempotency_key,
        organization_id=None,
    ):
        params = ("place_hold", customer_id, payment_method_id, amount_cents, reference)
        return self._call(
            "place_hold",
            idempotency_key,
            params,
            lambda: self._hold(
                self._confirm(
                    customer_id,
                    payment_method_id,
                    amount_cents,
                    reference,
                    manual=True,
                    organization_id=organization_id,
                )
            ),
        )

    def find_hold(self, reference: str) -> Hold | None:
        def find():
            found = [i for i in self.intents.values() if i.manual and i.reference == reference]
            if not found:
                return None
            rank = {"requires_capture": 0, "succeeded": 1}
            return self._hold(min(found, key=lambda intent: rank.get(intent.status, 9)))

        return self._call("find_hold", None, (), find)

    def get_hold(self, hold_reference: str) -> Hold | None:
        def get():
            intent = self.intents.get(hold_reference)
            return self._hold(intent) if intent is not None else None

        return self._call("get_hold", None, (), get)

    def holds_for(self, *, customer_id: str, reference_prefix: str) -> list[Hold]:
        def find():
            return [
                self._hold(intent)
                for intent in self.intents.values()
                if intent.manual
                and intent.customer_id == customer_id
                and intent.reference.startswith(reference_prefix)
            ]

        return self._call("holds_for", None, (), find)

    def live_holds(self) -> list[Hold]:
        return self._call("live_holds", None, (), lambda: [self._hold(i) for i in self.live()])

    def find_refund(self, *, charge_reference: str, reference: str) -> Charge | None:
        def find():
            intent = self._intent(charge_reference)
            for refund_id, amount, ours in intent.refunds:
                if ours == reference:
                    return Charge(refund_id, amount)
            return None

        return self._call("find_refund", None, (), find)

    def capture(self, *, hold_reference: str, amount_cents: int, idempotency_key: str) -> Hold:
        def capture():
            intent = self._intent(hold_reference)
            if not intent.manual or intent.status != "requires_capture":
                raise _unexpected_state(intent, "captured")
            if not 0 < amount_cents <= intent.amount_cents:
                raise PermanentGatewayError(
                    f"amount_to_capture must be between 1 and {intent.amount_cents}.",
                    "amount_too_large",
                )
            intent.status = "succeeded"
            intent.captured_cents = amount_cents
            intent.fee_cents = stripe_fee(amount_cents)
            return Hold(intent.id, amount_cents, intent.status, fee_cents=intent.fee_cents)

        params = ("capture", hold_reference, amount_cents)
        return self._call("capture", idempotency_key, params, capture)

    def release(self, *, hold_reference: str, idempotency_key: str) -> Hold:
        def release():
            intent = self._intent(hold_reference)
            if intent.status not in ("requires_capture", "requires_payment_method"):
                raise _unexpected_state(intent, "canceled")
            intent.status = "canceled"
            return Hold(intent.id, intent.amount_cents, intent.status)

        return self._call("release", idempotency_key, ("release", hold_reference), release)

    def charge(
        self,
        *,
        customer_id,
        payment_method_id,
        amount_cents,
        reference,
        idempotency_key,
        organization_id=None,
    ):
        def charge():
            intent = self._confirm(
                customer_id,
                payment_method_id,
                amount_cents,
                reference,
                manual=False,
                organization_id=organization_id,
            )
            return Charge(intent.id, intent.amount_cents, intent.fee_cents)

        params = ("charge", customer_id, payment_method_id, amount_cents, reference)
        return self._call("charge", idempotency_key, params, charge)

    def refund(
        self,
        *,
        charge_reference: str,
        amount_cents: int,
        idempotency_key: str,
        reference: str | None = None,
    ) -> Charge:
        def refund():
            intent = self._intent(charge_reference)
            if intent.status != "succeeded":
                raise _unexpected_state(intent, "refunded")
            left = intent.captured_cents - intent.refunded_cents
            if not 0 < amount_cents <= left:
                raise PermanentGatewayError(
                    f"Refund amount ({amount_cents}) is greater than unrefunded amount ({left}).",
                    "amount_too_large",
                )
            intent.refunded_cents += amount_cents
            refund_id = self._new_id("re")
            intent.refunds.append((refund_id, amount_cents, reference))
            return Charge(refund_id, amount_cents, 0)

        params = ("refund", charge_reference, amount_cents)
        return self._call("refund", idempotency_key, params, refund)

    # Machinery

    def _call(self, name: str, key: str | None, params: tuple, action):
        with self._lock:
            self.calls[name] += 1
            if self._down_for > 0 and (self._down_only is None or name in self._down_only):
                self._down_for -= 1
                raise TransientGatewayError("The payment service could not be reached.", "down")
            if key is not None and key in self._replays:
                saved_params, outcome = self._replays[key]
                if saved_params != params:
                    raise PermanentGatewayError(
                        f"Keys for idempotent requests can only be used with the same "
                        f"parameters they were first used with ({key}).",
                        "idempotency",
                    )
            else:
                try:
                    outcome = action()
                except PermanentGatewayError as error:
                    outcome = error
                if key is not None:
                    self._replays[key] = (params, outcome)
            if self._lose_answers > 0 and name not in READS:
                self._lose_answers -= 1
                raise TransientGatewayError("The connection was reset.", "unreachable")
            if isinstance(outcome, PermanentGatewayError):
                raise outcome
            return outcome

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_strict{next(self._ids)}"

    def _require_customer(self, customer_id: str) -> None:
        if customer_id not in self.customers:
            raise PermanentGatewayError(f"No such customer: '{customer_id}'", "resource_missing")

    def _card(self, payment_method_id: str) -> StoredCard:
        card = self.cards.get(payment_method_id)
        if card is None:
            raise PermanentGatewayError(
                f"No such PaymentMethod: '{payment_method_id}'", "resource_missing"
            )
        return card

    def _intent(self, reference: str) -> Intent:
        intent = self.intents.get(reference)
        if intent is None:
            raise PermanentGatewayError(f"No such PaymentIntent: '{reference}'", "resource_missing")
        return intent

    def _confirm(
        self, customer_id, payment_method_id, amount_cents, reference, *, manual, organization_id
    ):
        self._require_customer(customer_id)
        card = self._card(payment_method_id)
        if card.customer_id != customer_id:
            raise PermanentGatewayError(
                "The card is not attached to this customer.", "payment_method_not_attached"
            )
        if amount_cents <= 0:
            raise PermanentGatewayError("The amount must be more than zero.", "invalid_amount")
        now = self.clock()
        intent = Intent(
            id=self._new_id("pi"),
            reference=reference,
            customer_id=customer_id,
            payment_method_id=payment_method_id,
            amount_cents=amount_cents,
            manual=manual,
            status="requires_payment_method",
            created_at=now,
            organization_id=organization_id,
        )
        self.intents[intent.id] = intent
        if card.needs_authentication:
            raise PermanentGatewayError(
                "This payment requires the cardholder to authenticate.", "authentication_required"
            )
        if card.declines:
            raise PermanentGatewayError("Your card was declined.", "card_declined")
        if manual:
            intent.status = "requires_capture"
            lifetime = VISA_OFF_SESSION_HOLD if card.details.brand == "visa" else OTHER_CARDS_HOLD
            intent.lapses_at = now + lifetime
        else:
            intent.status = "succeeded"
            intent.captured_cents = amount_cents
            intent.fee_cents = stripe_fee(amount_cents)
        return intent

    def _hold(self, intent: Intent) -> Hold:
        lapses_at = intent.lapses_at if intent.status == "requires_capture" else None
        return Hold(
            intent.id,
            intent.amount_cents,
            intent.status,
            lapses_at,
            our_reference=intent.reference,
            customer_id=intent.customer_id,
            organization_id=intent.organization_id,
            created_at=intent.created_at,
            fee_cents=intent.fee_cents,
        )
