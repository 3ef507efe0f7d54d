"""The payment gateway interface (ARCHITECTURE §6; CONVENTIONS "one adapter per outside system").

``PaymentGateway`` is what the rest of the project calls. Amounts cross it as ``Decimal`` with a
currency code ("INR"); the adapters convert to the gateway's integer minor units with
``core.money.to_minor_units`` and back with Decimal arithmetic only — never a float.

Both adapters speak Stripe's object model (the fake gateway simulates Stripe test mode), so the
whole interface is implemented once here, in ``StripeModelGateway``, on top of one transport
method, ``_request(operation, ...) -> dict`` that answers Stripe-shaped JSON objects:

- ``payments.gateways.stripe.StripeGateway``: the real stripe SDK (``StripeClient``, ``client.v1``).
- ``payments.gateways.fake.FakeGateway``: in-process, Stripe test-mode semantics, stored in
  ``FakeGatewayObject`` rows.

Failures are the exceptions of ``payments.gateways.errors``.
"""

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from core.money import money, to_minor_units

from .errors import InvalidPaymentRequest


class IntentStatus(StrEnum):
    """A PaymentIntent's status, as Stripe names it."""

    REQUIRES_PAYMENT_METHOD = "requires_payment_method"
    REQUIRES_CONFIRMATION = "requires_confirmation"
    REQUIRES_ACTION = "requires_action"  # 3-D Secure: the customer must authenticate
    PROCESSING = "processing"
    REQUIRES_CAPTURE = "requires_capture"  # authorised; the hold can be captured or released
    SUCCEEDED = "succeeded"  # captured (amount_received)
    CANCELED = "canceled"  # voided: nothing was taken, the hold is released


class SetupIntentStatus(StrEnum):
    REQUIRES_PAYMENT_METHOD = "requires_payment_method"
    REQUIRES_CONFIRMATION = "requires_confirmation"
    REQUIRES_ACTION = "requires_action"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"  # the card is saved on the customer for off-session charges
    CANCELED = "canceled"


# Stripe's cancellation and refund reasons; anything else goes into metadata.
CANCELLATION_REASONS = frozenset({"duplicate", "fraudulent", "requested_by_customer", "abandoned"})
REFUND_REASONS = frozenset({"duplicate", "fraudulent", "requested_by_customer"})

# ISO 4217 currencies that Stripe counts in whole units (no minor unit).
ZERO_DECIMAL_CURRENCIES = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"}
)


def minor_unit_places(currency: str) -> int:
    return 0 if currency.upper() in ZERO_DECIMAL_CURRENCIES else 2


def to_gateway_amount(amount: Decimal, currency: str) -> int:
    """``Decimal("1456.42")`` INR → ``145642``. Refuses floats, non-positive amounts and amounts
    with more places than the currency has: rounding money is the caller's job (core.money), a
    gateway call must never round it silently."""
    if isinstance(amount, float):
        raise TypeError("Money must not be a float")
    amount = Decimal(amount)
    places = minor_unit_places(currency)
    if amount <= 0:
        raise ValueError(f"A gateway amount must be positive, got {amount}")
    if amount != amount.quantize(Decimal(1).scaleb(-places)):
        raise ValueError(f"{amount} {currency} has more decimal places than the currency allows")
    return to_minor_units(amount, places)


def from_gateway_amount(minor: int, currency: str) -> Decimal:
    """``145642`` INR → ``Decimal("1456.42")``, exactly."""
    return money(Decimal(int(minor)).scaleb(-minor_unit_places(currency)))


@dataclass(frozen=True)
class CardDetails:
    """Card data typed by the customer — only ever for the fake gateway (with Stripe the card
    goes from the browser to Stripe.js and never reaches our server). Masked in ``repr`` so it
    cannot end up in a log."""

    number: str = field(repr=False)
    exp_month: int
    exp_year: int
    cvc: str = field(repr=False)

    @property
    def last4(self) -> str:
        return self.number[-4:]


@dataclass(frozen=True)
class Customer:
    id: str
    email: str
    name: str


@dataclass(frozen=True)
class Intent:
    """A PaymentIntent. ``amount_capturable`` is what an authorisation still holds;
    ``amount_received`` what was captured."""

    id: str
    status: str
    amount: Decimal
    currency: str
    amount_capturable: Decimal
    amount_received: Decimal
    client_secret: str | None
    customer_id: str | None
    payment_method_id: str | None
    capture_method: str
    last_error_code: str | None
    last_error_decline_code: str | None
    next_action_type: str | None
    metadata: Mapping[str, str]


@dataclass(frozen=True)
class SetupIntent:
    id: str
    status: str
    client_secret: str | None
    customer_id: str | None
    payment_method_id: str | None
    last_error_code: str | None
    last_error_decline_code: str | None
    next_action_type: str | None


@dataclass(frozen=True)
class Refund:
    id: str
    intent_id: str | None
    amount: Decimal
    currency: str
    status: str
    reason: str | None


@dataclass(frozen=True)
class Transfer:
    id: str
    amount: Decimal
    currency: str
    destination: str
    status: str  # "paid", or "reversed" once fully reversed
    metadata: Mapping[str, str]


class PaymentGateway(abc.ABC):
    """What the project may ask of a card payment gateway. Every call that moves or reserves
    money takes our own ``idempotency_key``: the same key (with the same arguments) returns the
    first call's result instead of acting twice, so a retried task is safe."""

    name: str

    @abc.abstractmethod
    def create_customer(
        self, *, email: str, name: str, idempotency_key: str, metadata: Mapping[str, str] | None = None
    ) -> Customer: ...

    @abc.abstractmethod
    def redact_customer(self, customer_id: str, *, idempotency_key: str) -> Customer:
        """Forget who the customer is (account deletion): blank the name, e-mail, phone and
        description of the gateway's customer object, keeping the object itself so refunds and
        disputes of past payments still work. A customer the gateway no longer has counts as
        redacted (returned with empty fields)."""

    @abc.abstractmethod
    def create_payment_intent(
        self,
        *,
        amount: Decimal,
        currency: str,
        customer_id: str | None,
        metadata: Mapping[str, str] | None,
        idempotency_key: str,
    ) -> Intent:
        """A card PaymentIntent with manual capture (authorise now, capture later) that saves
        the card for off-session use (``setup_future_usage=off_session``) when there is a
        customer. Status ``requires_payment_method``; ``client_secret`` goes to the browser."""

    @abc.abstractmethod
    def confirm_payment_intent(
        self,
        intent_id: str,
        *,
        card: CardDetails | None = None,
        payment_method_id: str | None = None,
        authentication: str | None = None,
        idempotency_key: str | None = None,
    ) -> Intent:
        """Authorise. Returns the intent in ``requires_capture`` (authorised) or
        ``requires_action`` (3-D Secure: the customer must authenticate); raises
        ``PaymentDeclined`` when the card is refused (the intent is back in
        ``requires_payment_method`` and may be confirmed again with another card).
        ``authentication="pass"|"fail"`` completes 3-D Secure on the fake gateway; with Stripe
        the browser does it (Stripe.js) and the server only re-reads the intent."""

    @abc.abstractmethod
    def retrieve_payment_intent(self, intent_id: str) -> Intent: ...

    @abc.abstractmethod
    def capture_payment_intent(self, intent_id: str, *, amount: Decimal | None = None, idempotency_key: str) -> Intent:
        """Capture ``amount`` (default: all that is authorised); a partial capture releases the
        rest. An intent that is already captured is returned as it is, not an error — compare
        its ``amount_received`` when that matters."""

    @abc.abstractmethod
    def cancel_payment_intent(
        self, intent_id: str, *, idempotency_key: str | None = None, reason: str = "requested_by_customer"
    ) -> Intent:
        """Void: release the authorisation. Cancelling a cancelled intent returns it."""

    @abc.abstractmethod
    def refund(
        self,
        intent_id: str,
        *,
        amount: Decimal | None = None,
        idempotency_key: str,
        reason: str = "requested_by_customer",
        metadata: Mapping[str, str] | None = None,
    ) -> Refund:
        """Refund ``amount`` (default: all that is left) of a captured intent; more than is left
        raises ``InvalidPaymentRequest``. ``reason`` is one of Stripe's (duplicate, fraudulent,
        requested_by_customer); our own words go in ``metadata``."""

    @abc.abstractmethod
    def create_setup_intent(
        self, *, customer_id: str, idempotency_key: str, metadata: Mapping[str, str] | None = None
    ) -> SetupIntent:
        """Save a card for off-session charges later (bookings far ahead, §6)."""

    @abc.abstractmethod
    def confirm_setup_intent(
        self,
        setup_intent_id: str,
        *,
        card: CardDetails | None = None,
        payment_method_id: str | None = None,
        authentication: str | None = None,
        idempotency_key: str | None = None,
    ) -> SetupIntent: ...

    @abc.abstractmethod
    def retrieve_setup_intent(self, setup_intent_id: str) -> SetupIntent: ...

    @abc.abstractmethod
    def charge_off_session(
        self,
        *,
        customer_id: str,
        payment_method_id: str,
        amount: Decimal,
        currency: str,
        capture: bool,
        idempotency_key: str,
        metadata: Mapping[str, str] | None = None,
    ) -> Intent:
        """Charge a saved card without the customer: authorise only (``capture=False``, status
        ``requires_capture``) or take the money at once (``succeeded``). Raises
        ``AuthenticationRequired`` when the bank insists on the customer, ``PaymentDeclined``
        when the card is refused (``intent_id`` names the failed intent either way)."""

    @abc.abstractmethod
    def create_transfer(
        self,
        *,
        amount: Decimal,
        currency: str,
        destination_account: str,
        idempotency_key: str,
        metadata: Mapping[str, str] | None = None,
    ) -> Transfer:
        """Move money from the platform balance to a vendor's connected account (payouts)."""

    @abc.abstractmethod
    def verify_webhook(self, payload: bytes, signature_header: str) -> dict:
        """The event in a webhook body, after checking its Stripe-Signature header (HMAC-SHA256
        with the webhook secret, timestamp at most 300 s old). Raises
        ``WebhookSignatureInvalid``."""


WEBHOOK_TOLERANCE_SECONDS = 300


def _id(value) -> str | None:
    """An id from a field that may hold the id or the expanded object."""
    if isinstance(value, Mapping):
        return value.get("id")
    return value or None


def _metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    # Stripe stores metadata values as strings; say so here rather than be surprised later.
    return {str(key): str(value) for key, value in (metadata or {}).items()}


def intent_from_stripe(data: Mapping) -> Intent:
    currency = data["currency"]
    error = data.get("last_payment_error") or {}
    next_action = data.get("next_action") or {}
    return Intent(
        id=data["id"],
        status=data["status"],
        amount=from_gateway_amount(data["amount"], currency),
        currency=currency.upper(),
        amount_capturable=from_gateway_amount(data.get("amount_capturable") or 0, currency),
        amount_received=from_gateway_amount(data.get("amount_received") or 0, currency),
        client_secret=data.get("client_secret"),
        customer_id=_id(data.get("customer")),
        payment_method_id=_id(data.get("payment_method")),
        capture_method=data.get("capture_method") or "automatic",
        last_error_code=error.get("code"),
        last_error_decline_code=error.get("decline_code"),
        next_action_type=next_action.get("type"),
        metadata=dict(data.get("metadata") or {}),
    )


def setup_intent_from_stripe(data: Mapping) -> SetupIntent:
    error = data.get("last_setup_error") or {}
    next_action = data.get("next_action") or {}
    return SetupIntent(
        id=data["id"],
        status=data["status"],
        client_secret=data.get("client_secret"),
        customer_id=_id(data.get("customer")),
        payment_method_id=_id(data.get("payment_method")),
        last_error_code=error.get("code"),
        last_error_decline_code=error.get("decline_code"),
        next_action_type=next_action.get("type"),
    )


class StripeModelGateway(PaymentGateway):
    """The interface implemented over Stripe's REST objects. Subclasses provide the transport:
    ``_request(operation, object_id=None, params=None, idempotency_key=None) -> dict`` for the
    operations ``customers.{create,update}``, ``payment_intents.{create,retrieve,confirm,capture,cancel}``,
    ``setup_intents.{create,retrieve,confirm}``, ``refunds.create``, ``transfers.create``,
    answering the Stripe object as a plain dict or raising a ``GatewayError``."""

    webhook_secret: str

    @abc.abstractmethod
    def _request(
        self,
        operation: str,
        *,
        object_id: str | None = None,
        params: dict | None = None,
        idempotency_key: str | None = None,
    ) -> dict: ...

    def _card_params(self, card: CardDetails | None, payment_method_id: str | None) -> dict:
        if card is not None and payment_method_id:
            raise ValueError("Pass a card or a payment method, not both")
        if card is not None:
            raise InvalidPaymentRequest(
                f"The {self.name} gateway never takes card numbers: the browser confirms with Stripe.js "
                "(or pass a PaymentMethod id)."
            )
        if payment_method_id:
            return {"payment_method": payment_method_id}
        return {}

    # --- customers ------------------------------------------------------------------------------
    def create_customer(self, *, email, name, idempotency_key, metadata=None):
        data = self._request(
            "customers.create",
            params={"email": email, "name": name, "metadata": _metadata(metadata)},
            idempotency_key=idempotency_key,
        )
        return Customer(id=data["id"], email=data.get("email") or "", name=data.get("name") or "")

    def redact_customer(self, customer_id, *, idempotency_key):
        # Stripe unsets a field posted empty; the object stays (its payments point at it).
        params = {"name": "", "email": "", "phone": "", "description": ""}
        try:
            data = self._request(
                "customers.update", object_id=customer_id, params=params, idempotency_key=idempotency_key
            )
        except InvalidPaymentRequest as exc:
            if exc.code == "resource_missing":  # deleted at the gateway already: nothing left to forget
                return Customer(id=customer_id, email="", name="")
            raise
        return Customer(id=data["id"], email=data.get("email") or "", name=data.get("name") or "")

    # --- payment intents ------------------------------------------------------------------------
    def create_payment_intent(self, *, amount, currency, customer_id, metadata, idempotency_key):
        params = {
            "amount": to_gateway_amount(amount, currency),
            "currency": currency.lower(),
            "capture_method": "manual",
            # Cards only: no redirect-based methods, so a server-side confirmation never needs a
            # return_url, and the hold/capture flow of §6 applies to every attempt.
            "payment_method_types": ["card"],
            "metadata": _metadata(metadata),
        }
        if customer_id:
            # Saving the card needs a customer to attach it to.
            params["customer"] = customer_id
            params["setup_future_usage"] = "off_session"
        return intent_from_stripe(
            self._request("payment_intents.create", params=params, idempotency_key=idempotency_key)
        )

    def confirm_payment_intent(
        self, intent_id, *, card=None, payment_method_id=None, authentication=None, idempotency_key=None
    ):
        data = self._request(
            "payment_intents.confirm",
            object_id=intent_id,
            params=self._card_params(card, payment_method_id),
            idempotency_key=idempotency_key,
        )
        return intent_from_stripe(data)

    def retrieve_payment_intent(self, intent_id):
        return intent_from_stripe(self._request("payment_intents.retrieve", object_id=intent_id))

    def capture_payment_intent(self, intent_id, *, amount=None, idempotency_key):
        params = {}
        if amount is not None:
            intent = self.retrieve_payment_intent(intent_id)
            params["amount_to_capture"] = to_gateway_amount(amount, intent.currency)
        try:
            data = self._request(
                "payment_intents.capture", object_id=intent_id, params=params, idempotency_key=idempotency_key
            )
        except InvalidPaymentRequest as exc:
            # A capture that already happened (a retry whose first answer was lost, a webhook
            # that got there first) is a success: re-read and return what was captured.
            if exc.code == "payment_intent_unexpected_state":
                intent = self.retrieve_payment_intent(intent_id)
                if intent.status == IntentStatus.SUCCEEDED:
                    return intent
            raise
        return intent_from_stripe(data)

    def cancel_payment_intent(self, intent_id, *, idempotency_key=None, reason="requested_by_customer"):
        params = {"cancellation_reason": reason} if reason in CANCELLATION_REASONS else {}
        try:
            data = self._request(
                "payment_intents.cancel", object_id=intent_id, params=params, idempotency_key=idempotency_key
            )
        except InvalidPaymentRequest as exc:
            if exc.code == "payment_intent_unexpected_state":
                intent = self.retrieve_payment_intent(intent_id)
                if intent.status == IntentStatus.CANCELED:
                    return intent
            raise
        return intent_from_stripe(data)

    def refund(self, intent_id, *, amount=None, idempotency_key, reason="requested_by_customer", metadata=None):
        if reason not in REFUND_REASONS:
            raise ValueError(f"refund reason must be one of {sorted(REFUND_REASONS)}; put other words in metadata")
        params = {"payment_intent": intent_id, "reason": reason, "metadata": _metadata(metadata)}
        if amount is not None:
            intent = self.retrieve_payment_intent(intent_id)
            params["amount"] = to_gateway_amount(amount, intent.currency)
        data = self._request("refunds.create", params=params, idempotency_key=idempotency_key)
        return Refund(
            id=data["id"],
            intent_id=_id(data.get("payment_intent")),
            amount=from_gateway_amount(data["amount"], data["currency"]),
            currency=data["currency"].upper(),
            status=data.get("status") or "succeeded",
            reason=data.get("reason"),
        )

    # --- saved cards and off-session charges ----------------------------------------------------
    def create_setup_intent(self, *, customer_id, idempotency_key, metadata=None):
        params = {
            "customer": customer_id,
            "usage": "off_session",
            "payment_method_types": ["card"],
            "metadata": _metadata(metadata),
        }
        return setup_intent_from_stripe(
            self._request("setup_intents.create", params=params, idempotency_key=idempotency_key)
        )

    def confirm_setup_intent(
        self, setup_intent_id, *, card=None, payment_method_id=None, authentication=None, idempotency_key=None
    ):
        data = self._request(
            "setup_intents.confirm",
            object_id=setup_intent_id,
            params=self._card_params(card, payment_method_id),
            idempotency_key=idempotency_key,
        )
        return setup_intent_from_stripe(data)

    def retrieve_setup_intent(self, setup_intent_id):
        return setup_intent_from_stripe(self._request("setup_intents.retrieve", object_id=setup_intent_id))

    def charge_off_session(
        self, *, customer_id, payment_method_id, amount, currency, capture, idempotency_key, metadata=None
    ):
        params = {
            "amount": to_gateway_amount(amount, currency),
            "currency": currency.lower(),
            "customer": customer_id,
            "payment_method": payment_method_id,
            "payment_method_types": ["card"],
            "capture_method": "automatic" if capture else "manual",
            "off_session": True,
            "confirm": True,
            "metadata": _metadata(metadata),
        }
        return intent_from_stripe(
            self._request("payment_intents.create", params=params, idempotency_key=idempotency_key)
        )

    # --- Connect --------------------------------------------------------------------------------
    def create_transfer(self, *, amount, currency, destination_account, idempotency_key, metadata=None):
        params = {
            "amount": to_gateway_amount(amount, currency),
            "currency": currency.lower(),
            "destination": destination_account,
            "metadata": _metadata(metadata),
        }
        data = self._request("transfers.create", params=params, idempotency_key=idempotency_key)
        fully_reversed = bool(data.get("reversed"))
        return Transfer(
            id=data["id"],
            amount=from_gateway_amount(data["amount"], data["currency"]),
            currency=data["currency"].upper(),
            destination=_id(data.get("destination")) or destination_account,
            status="reversed" if fully_reversed else "paid",
            metadata=dict(data.get("metadata") or {}),
        )
