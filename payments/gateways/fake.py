"""The fake payment gateway: Stripe test mode, simulated in-process (ARCHITECTURE §2, §6).

The embedded run has no Stripe to talk to, so ``FakeGateway`` answers what Stripe's test mode
would: the same objects (PaymentIntent, SetupIntent, PaymentMethod, Refund, Transfer, Customer as
Stripe's JSON), the same statuses and errors, the same test cards, and idempotency keys honoured
the way Stripe honours them. It keeps its side of the story in ``FakeGatewayObject`` rows, as
Stripe would keep it on its side; nothing of ours reads those rows directly.

The simulation itself, ``StripeTestMode``, works on any ``store`` (the database here, a dict in
the local fake Stripe HTTP server the stripe adapter is tested against: payments/tests/
fake_stripe.py), so both gateways are held to one set of semantics:

PaymentIntent: ``requires_payment_method`` → (confirm) ``requires_action`` (3-D Secure) →
``requires_capture`` (manual capture, ``amount_capturable`` = amount) → (capture, all or part)
``succeeded`` (``amount_received`` = what was captured, the rest released) — or ``canceled``. A
declined card answers 402 and leaves the intent in ``requires_payment_method`` with
``last_payment_error``. Refunds add up to at most ``amount_received``.

Test cards (numbers for ``CardDetails``, or Stripe's test PaymentMethod ids):

| card | pm id | behaviour |
|---|---|---|
| 4242424242424242 (and 4000056655665556, 5555555555554444, 378282246310005) | pm_card_visa ... | authorises |
| 4000000000000002 | pm_card_chargeDeclined | declined: card_declined / generic_decline |
| 4000000000009995 | pm_card_chargeDeclinedInsufficientFunds | declined: insufficient_funds |
| 4000000000000069 | pm_card_chargeDeclinedExpiredCard | declined: expired_card |
| 4000000000000127 | pm_card_chargeDeclinedIncorrectCvc | declined: incorrect_cvc |
| 4000000000000119 | pm_card_chargeDeclinedProcessingError | declined: processing_error |
| 4000000000000341 | pm_card_chargeCustomerFail | can be saved, every charge declined |
| 4000002500003155 | pm_card_authenticationRequiredOnSetup | 3-D Secure unless saved for off-session use |
| 4000002760003184 | pm_card_authenticationRequired | 3-D Secure always (off-session: authentication_required) |

The declining cards cannot be saved either (a SetupIntent with them is declined), as in Stripe.
Any other Luhn-valid number is declined like a live card in test mode. 3-D Secure is completed
with ``confirm_payment_intent(id, authentication="pass")`` (or ``"fail"``), standing in for the
customer's bank page.
"""

import copy
import hashlib
import json
import re
import secrets
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date
from typing import Protocol

import stripe
from django.db import IntegrityError, transaction
from django.utils import timezone

from .base import WEBHOOK_TOLERANCE_SECONDS, IntentStatus, SetupIntentStatus, StripeModelGateway
from .errors import PaymentDeclined, WebhookSignatureInvalid, error_from_response


@dataclass(frozen=True)
class TestCard:
    brand: str
    # ok | decline (refused, cannot be saved) | charge_fail (saved fine, charges refused) |
    # auth_unless_setup | auth_always | live (a real card number: refused in test mode)
    behaviour: str = "ok"
    code: str = ""
    decline_code: str = ""
    message: str = ""


_DECLINED = "Your card was declined."
TEST_CARDS = {
    "4242424242424242": TestCard("visa"),
    "4000056655665556": TestCard("visa"),
    "5555555555554444": TestCard("mastercard"),
    "378282246310005": TestCard("amex"),
    "4000000000000002": TestCard("visa", "decline", "card_declined", "generic_decline", _DECLINED),
    "4000000000009995": TestCard(
        "visa", "decline", "card_declined", "insufficient_funds", "Your card has insufficient funds."
    ),
    "4000000000000069": TestCard("visa", "decline", "expired_card", "expired_card", "Your card has expired."),
    "4000000000000127": TestCard(
        "visa", "decline", "incorrect_cvc", "incorrect_cvc", "Your card's security code is incorrect."
    ),
    "4000000000000119": TestCard(
        "visa",
        "decline",
        "processing_error",
        "processing_error",
        "An error occurred while processing your card. Try again in a little bit.",
    ),
    "4000000000000341": TestCard("visa", "charge_fail", "card_declined", "generic_decline", _DECLINED),
    "4000002500003155": TestCard("visa", "auth_unless_setup"),
    "4000002760003184": TestCard("visa", "auth_always"),
}
LIVE_CARD = TestCard(
    "unknown",
    "decline",
    "card_declined",
    "test_mode_live_card",
    "Your card was declined. Your request was in test mode, but used a non test (live) card.",
)

# Stripe's shared test PaymentMethods; using one makes a new PaymentMethod of that card.
TEST_PAYMENT_METHODS = {
    "pm_card_visa": "4242424242424242",
    "pm_card_visa_debit": "4000056655665556",
    "pm_card_mastercard": "5555555555554444",
    "pm_card_amex": "378282246310005",
    "pm_card_chargeDeclined": "4000000000000002",
    "pm_card_visa_chargeDeclined": "4000000000000002",
    "pm_card_chargeDeclinedInsufficientFunds": "4000000000009995",
    "pm_card_visa_chargeDeclinedInsufficientFunds": "4000000000009995",
    "pm_card_chargeDeclinedExpiredCard": "4000000000000069",
    "pm_card_visa_chargeDeclinedExpiredCard": "4000000000000069",
    "pm_card_chargeDeclinedIncorrectCvc": "4000000000000127",
    "pm_card_visa_chargeDeclinedIncorrectCvc": "4000000000000127",
    "pm_card_chargeDeclinedProcessingError": "4000000000000119",
    "pm_card_visa_chargeDeclinedProcessingError": "4000000000000119",
    "pm_card_chargeCustomerFail": "4000000000000341",
    "pm_card_authenticationRequiredOnSetup": "4000002500003155",
    "pm_card_authenticationRequired": "4000002760003184",
}

AUTHENTICATION_FAILED = (
    "The provided PaymentMethod has failed authentication. You can provide payment_method_data or a new "
    "PaymentMethod to attempt to fulfill this PaymentIntent again."
)


def luhn_valid(number: str) -> bool:
    digits = [int(d) for d in reversed(number)]
    total = sum(digits[0::2]) + sum(sum(divmod(2 * d, 10)) for d in digits[1::2])
    return total % 10 == 0


class Store(Protocol):
    """Where the simulation keeps Stripe's objects (JSON dicts with ``id`` and ``object``).
    ``get`` returns a copy: a change counts only once ``put``. ``add`` raises ``Conflict`` when
    the id exists (idempotency records rely on it)."""

    Conflict: type[Exception]

    def atomic(self) -> AbstractContextManager: ...

    def get(self, object_id: str, *, for_update: bool = False) -> dict | None: ...

    def put(self, obj: dict) -> None: ...

    def add(self, obj: dict) -> None: ...


class DatabaseStore:
    """``FakeGatewayObject`` rows; each operation is one transaction, the object row locked."""

    Conflict = IntegrityError

    def atomic(self):
        return transaction.atomic()

    def get(self, object_id, *, for_update=False):
        from payments.models import FakeGatewayObject

        rows = FakeGatewayObject.objects.filter(pk=object_id)
        if for_update:
            rows = rows.select_for_update()
        row = rows.first()
        return copy.deepcopy(row.data) if row is not None else None

    def put(self, obj):
        from payments.models import FakeGatewayObject

        updated = FakeGatewayObject.objects.filter(pk=obj["id"]).update(data=obj, updated_at=timezone.now())
        if not updated:
            FakeGatewayObject.objects.create(id=obj["id"], kind=obj["object"], data=obj)

    def add(self, obj):
        from payments.models import FakeGatewayObject

        FakeGatewayObject.objects.create(id=obj["id"], kind=obj["object"], data=obj)


class _Fail(Exception):
    """An error answer: HTTP status and Stripe's ``error`` object."""

    def __init__(self, status: int, error: dict):
        self.status = status
        self.error = error
        super().__init__(error.get("message", ""))


def _invalid(message, *, code=None, param=None, status=400, **extra):
    error = {"type": "invalid_request_error", "message": message}
    if code:
        error["code"] = code
    if param:
        error["param"] = param
    return _Fail(status, {**error, **extra})


def _missing(kind: str, object_id: str, param: str = "id"):
    return _invalid(f"No such {kind}: '{object_id}'", code="resource_missing", param=param, status=404)


def _int_param(params, name, *, required=False, minimum=1):
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise _invalid(f"Missing required param: {name}.", code="parameter_missing", param=name)
        return None
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.isdigit())):
        raise _invalid(f"Invalid integer: {value}", code="parameter_invalid_integer", param=name)
    value = int(value)
    if value < minimum:
        raise _invalid(
            f"This value must be greater than or equal to {minimum}.", code="parameter_invalid_integer", param=name
        )
    return value


def _bool_param(params, name):
    value = params.get(name)
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _str_param(params, name, *, required=False, choices=None):
    value = params.get(name)
    if value in (None, ""):
        if required:
            raise _invalid(f"Missing required param: {name}.", code="parameter_missing", param=name)
        return None
    if not isinstance(value, str) or (choices and value not in choices):
        raise _invalid(f"Invalid {name}: {value!r}", code="parameter_invalid_string", param=name)
    return value


def _metadata_param(params) -> dict:
    metadata = params.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise _invalid("Invalid metadata: must be an object", param="metadata")
    return {str(k): str(v) for k, v in metadata.items()}


def _list_param(params, name) -> list | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, dict):  # a form-encoded list: name[0]=..., name[1]=...
        value = [value[key] for key in sorted(value, key=int)]
    return list(value)


class StripeTestMode:
    """Stripe's API in test mode, simulated over a ``Store``. ``handle`` answers one request
    with ``(http_status, json_body)`` — the object, or ``{"error": {...}}`` — exactly what the
    real API would put on the wire, idempotency included."""

    READ_OPERATIONS = frozenset({"payment_intents.retrieve", "setup_intents.retrieve"})

    def __init__(self, store: Store, *, id_tag: str = "", clock: Callable[[], float] = time.time, base_url: str = ""):
        self.store = store
        self.id_tag = id_tag  # "fake_" makes ids like pi_fake_… that nobody mistakes for Stripe's
        self.clock = clock
        self.base_url = base_url  # where the fake 3-D Secure page lives (the HTTP fake only)
        self.operations = {
            "customers.create": self._create_customer,
            "customers.update": self._update_customer,
            "payment_intents.create": self._create_payment_intent,
            "payment_intents.retrieve": self._retrieve_payment_intent,
            "payment_intents.confirm": self._confirm_payment_intent,
            "payment_intents.capture": self._capture_payment_intent,
            "payment_intents.cancel": self._cancel_payment_intent,
            "setup_intents.create": self._create_setup_intent,
            "setup_intents.retrieve": self._retrieve_setup_intent,
            "setup_intents.confirm": self._confirm_setup_intent,
            "refunds.create": self._create_refund,
            "transfers.create": self._create_transfer,
        }

    # --- the entry points -----------------------------------------------------------------------
    def handle(
        self, operation: str, *, object_id: str | None = None, params: dict | None = None, idempotency_key=None
    ) -> tuple[int, dict]:
        params = params or {}
        if operation not in self.operations:
            return 404, {"error": {"type": "invalid_request_error", "message": f"Unrecognized request: {operation}"}}
        if not idempotency_key or operation in self.READ_OPERATIONS:
            with self.store.atomic():
                return self._run(operation, object_id, params)
        # Stripe keeps the first answer to a key (success or card error) and replays it for the
        # same request; the same key with other parameters is an error. Validation errors are not
        # kept: nothing was done, the request may be corrected and sent again.
        record_id = self._record_id(idempotency_key)
        fingerprint = hashlib.sha256(
            json.dumps([operation, object_id, params], sort_keys=True, default=str).encode()
        ).hexdigest()
        try:
            with self.store.atomic():
                record = self.store.get(record_id, for_update=True)
                if record is not None:
                    return self._replay(record, fingerprint)
                status, body = self._run(operation, object_id, params)
                if status < 300 or status == 402:
                    self.store.add(
                        {
                            "id": record_id,
                            "object": "idempotency_key",
                            "fingerprint": fingerprint,
                            "status": status,
                            "body": body,
                            "created": int(self.clock()),
                        }
                    )
                    if operation == "customers.create" and status < 300:
                        self._note_replay(body["id"], record_id)
                return status, body
        except self.store.Conflict:
            # A concurrent request with the same key got there first: its answer stands.
            with self.store.atomic():
                record = self.store.get(record_id)
            if record is None:
                return 409, {
                    "error": {
                        "type": "idempotency_error",
                        "message": "There is currently another in-progress request using this Idempotent Key.",
                    }
                }
            return self._replay(record, fingerprint)

    @staticmethod
    def _record_id(idempotency_key: str) -> str:
        return "idem_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:48]

    def has_idempotency_record(self, idempotency_key: str) -> bool:
        return self.store.get(self._record_id(idempotency_key)) is not None

    def authenticate(self, object_id: str, outcome: str) -> tuple[int, dict]:
        """The customer on their bank's 3-D Secure page: ``"pass"`` or ``"fail"``."""
        with self.store.atomic():
            try:
                return 200, self._authenticate(object_id, outcome)
            except _Fail as fail:
                return fail.status, {"error": fail.error}

    def _replay(self, record: dict, fingerprint: str) -> tuple[int, dict]:
        if record["fingerprint"] != fingerprint:
            return 400, {
                "error": {
                    "type": "idempotency_error",
                    "message": "Keys for idempotent requests can only be used with the same parameters they were "
                    "first used with. Try using a key other than the one used in the original request.",
                }
            }
        return record["status"], record["body"]

    def _run(self, operation, object_id, params) -> tuple[int, dict]:
        handler = self.operations[operation]
        try:
            result = handler(object_id, params)
        except _Fail as fail:
            return fail.status, {"error": fail.error}
        return 200, _public(result)

    # --- helpers --------------------------------------------------------------------------------
    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_{self.id_tag}{secrets.token_hex(12)}"

    def _load(self, object_id, kind, *, param="id", for_update=True) -> dict:
        obj = self.store.get(object_id, for_update=for_update) if object_id else None
        if obj is None or obj.get("object") != kind:
            raise _missing(kind, object_id or "", param)
        return obj

    def _customer(self, params) -> str | None:
        customer = _str_param(params, "customer")
        if customer:
            self._load(customer, "customer", param="customer", for_update=False)
        return customer

    def _card_error(self, card: TestCard, *, decline_code=None, code=None, message=None, **extra) -> dict:
        return {
            "type": "card_error",
            "code": code or card.code,
            "decline_code": decline_code or card.decline_code,
            "message": message or card.message,
            **extra,
        }

    # --- customers ------------------------------------------------------------------------------
    def _create_customer(self, object_id, params):
        customer = {
            "id": self._new_id("cus"),
            "object": "customer",
            "email": _str_param(params, "email"),
            "name": _str_param(params, "name"),
            "metadata": _metadata_param(params),
            "created": int(self.clock()),
            "livemode": False,
        }
        self.store.put(customer)
        return customer

    def _update_customer(self, object_id, params):
        """Stripe's ``POST /v1/customers/{id}``: a field posted empty is unset (null); metadata
        is merged, a key posted empty removed. The replays of the create call are rewritten to
        the customer as it is now, so a redacted name or e-mail is not kept in them either."""
        customer = self._load(object_id, "customer")
        for name in ("email", "name", "phone", "description"):
            if name in params:
                value = params[name]
                if value is not None and not isinstance(value, str):
                    raise _invalid(f"Invalid {name}: {value!r}", code="parameter_invalid_string", param=name)
                customer[name] = value or None
        if "metadata" in params:
            if params["metadata"] in ("", None):
                customer["metadata"] = {}
            else:
                for key, value in _metadata_param(params).items():
                    if value == "":
                        customer["metadata"].pop(key, None)
                    else:
                        customer["metadata"][key] = value
        self.store.put(customer)
        for record_id in customer.get("_replays", []):
            record = self.store.get(record_id, for_update=True)
            if record is not None:
                record["body"] = _public(customer)
                self.store.put(record)
        return customer

    def _note_replay(self, customer_id, record_id):
        customer = self.store.get(customer_id, for_update=True)
        if customer is not None:
            customer.setdefault("_replays", []).append(record_id)
            self.store.put(customer)

    # --- payment methods ------------------------------------------------------------------------
    def _payment_method(self, params, *, owner: dict) -> dict:
        """The PaymentMethod a confirmation uses: an existing one, a new one from Stripe's shared
        test ids, or a new one from raw card data (``payment_method_data[card][number]`` …)."""
        pm_id = _str_param(params, "payment_method")
        data = params.get("payment_method_data")
        if pm_id and pm_id in TEST_PAYMENT_METHODS:
            return self._new_payment_method(TEST_PAYMENT_METHODS[pm_id], 12, date.today().year + 3)
        if pm_id:
            return self._load(pm_id, "payment_method", param="payment_method")
        if isinstance(data, dict) and isinstance(data.get("card"), dict):
            return self._payment_method_from_card(data["card"])
        if owner.get("payment_method"):
            return self._load(owner["payment_method"], "payment_method", param="payment_method")
        raise _invalid(
            "You cannot confirm this PaymentIntent because it's missing a payment method.",
            code="payment_intent_unexpected_state" if owner["object"] == "payment_intent" else "parameter_missing",
            param="payment_method",
        )

    def _payment_method_from_card(self, card: dict) -> dict:
        number = re.sub(r"[\s-]", "", str(card.get("number") or ""))
        if not number.isdigit() or not 12 <= len(number) <= 19 or not luhn_valid(number):
            raise _Fail(
                402, {"type": "card_error", "code": "incorrect_number", "message": "Your card number is incorrect."}
            )
        try:
            exp_month, exp_year = int(card.get("exp_month")), int(card.get("exp_year"))
        except (TypeError, ValueError):
            exp_month, exp_year = 0, 0
        if exp_year < 100:
            exp_year += 2000
        today = date.today()
        if not 1 <= exp_month <= 12:
            raise _Fail(
                402,
                {
                    "type": "card_error",
                    "code": "invalid_expiry_month",
                    "message": "Your card's expiration month is invalid.",
                },
            )
        if (exp_year, exp_month) < (today.year, today.month):
            code = "invalid_expiry_year" if exp_year < today.year else "invalid_expiry_month"
            raise _Fail(
                402, {"type": "card_error", "code": code, "message": "Your card's expiration date is in the past."}
            )
        cvc = str(card.get("cvc") or "")
        if not cvc.isdigit() or len(cvc) not in (3, 4):
            raise _Fail(
                402, {"type": "card_error", "code": "invalid_cvc", "message": "Your card's security code is invalid."}
            )
        return self._new_payment_method(number, exp_month, exp_year)

    def _new_payment_method(self, number: str, exp_month: int, exp_year: int) -> dict:
        card = TEST_CARDS.get(number, LIVE_CARD)
        test_number = number if number in TEST_CARDS else None
        pm = {
            "id": self._new_id("pm"),
            "object": "payment_method",
            "type": "card",
            "card": {
                "brand": card.brand,
                "last4": number[-4:],
                "exp_month": exp_month,
                "exp_year": exp_year,
                # Only a test number is ever fingerprinted or kept: a real card number typed into
                # the demo is declined, and nothing of it but the last four digits is stored.
                "fingerprint": hashlib.sha256(test_number.encode()).hexdigest()[:16] if test_number else None,
            },
            "customer": None,
            "created": int(self.clock()),
            "livemode": False,
            # The simulation's own notes (never sent): which test card this is, and whether it was
            # set up for off-session use (a SetupIntent or setup_future_usage that succeeded).
            "_test_card": test_number,
            "_off_session_ready": False,
        }
        self.store.put(pm)
        return pm

    @staticmethod
    def _behaviour(pm: dict) -> TestCard:
        return TEST_CARDS.get(pm.get("_test_card") or "", LIVE_CARD)

    def _attach(self, pm: dict, customer: str | None, *, off_session_ready: bool):
        if customer:
            pm["customer"] = customer
            if off_session_ready:
                pm["_off_session_ready"] = True
        self.store.put(pm)

    # --- payment intents ------------------------------------------------------------------------
    def _create_payment_intent(self, object_id, params):
        amount = _int_param(params, "amount", required=True)
        currency = _str_param(params, "currency", required=True).lower()
        capture_method = _str_param(params, "capture_method", choices=("automatic", "automatic_async", "manual"))
        setup_future_usage = _str_param(params, "setup_future_usage", choices=("on_session", "off_session"))
        confirm = _bool_param(params, "confirm")
        off_session = _bool_param(params, "off_session")
        if off_session and not confirm:
            raise _invalid("off_session can only be used with confirm=true.", param="off_session")
        if setup_future_usage == "off_session" and off_session:
            raise _invalid("You cannot use setup_future_usage with off_session=true.", param="setup_future_usage")
        customer = self._customer(params)
        intent_id = self._new_id("pi")
        intent = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_capturable": 0,
            "amount_received": 0,
            "canceled_at": None,
            "cancellation_reason": None,
            "capture_method": capture_method or "automatic",
            "client_secret": f"{intent_id}_secret_{secrets.token_urlsafe(18)}",
            "confirmation_method": "automatic",
            "created": int(self.clock()),
            "currency": currency,
            "customer": customer,
            "last_payment_error": None,
            "latest_charge": None,
            "livemode": False,
            "metadata": _metadata_param(params),
            "next_action": None,
            "payment_method": None,
            "payment_method_types": _list_param(params, "payment_method_types") or ["card"],
            "setup_future_usage": setup_future_usage,
            "status": IntentStatus.REQUIRES_PAYMENT_METHOD.value,
            "_amount_refunded": 0,
        }
        pm = None
        if params.get("payment_method"):
            pm = self._payment_method(params, owner=intent)
            intent["payment_method"] = pm["id"]
            intent["status"] = IntentStatus.REQUIRES_CONFIRMATION.value
        self.store.put(intent)
        if confirm:
            return self._confirm(intent, params, off_session=off_session, pm=pm)
        return intent

    def _retrieve_payment_intent(self, object_id, params):
        return self._load(object_id, "payment_intent", param="intent", for_update=False)

    def _confirm_payment_intent(self, object_id, params):
        intent = self._load(object_id, "payment_intent", param="intent")
        return self._confirm(intent, params, off_session=_bool_param(params, "off_session"))

    def _confirm(self, intent, params, *, off_session: bool, pm: dict | None = None):
        confirmable = (
            IntentStatus.REQUIRES_PAYMENT_METHOD,
            IntentStatus.REQUIRES_CONFIRMATION,
            IntentStatus.REQUIRES_ACTION,
        )
        if intent["status"] not in confirmable:
            raise self._unexpected_state(intent, "confirmed")
        try:
            pm = pm or self._payment_method(params, owner=intent)
        except _Fail as fail:
            if fail.status == 402:  # raw card data refused before any charge: the intent keeps its state
                fail.error["payment_intent"] = _public(intent)
            raise
        if pm.get("customer") and pm["customer"] != intent["customer"]:
            raise _invalid("The provided PaymentMethod belongs to another Customer.", param="payment_method")
        if off_session and pm.get("customer") != intent["customer"]:
            raise _invalid(
                "The PaymentMethod must be attached to the PaymentIntent's Customer to be used off-session.",
                param="payment_method",
            )
        intent["payment_method"] = pm["id"]
        card = self._behaviour(pm)
        if card.behaviour in ("decline", "charge_fail"):
            return self._decline(intent, pm, self._card_error(card))
        needs_authentication = card.behaviour == "auth_always" or (
            card.behaviour == "auth_unless_setup" and not (off_session and pm.get("_off_session_ready"))
        )
        if needs_authentication and off_session:
            return self._decline(
                intent,
                pm,
                self._card_error(
                    card,
                    code="authentication_required",
                    decline_code="authentication_required",
                    message="Your card was declined. This transaction requires authentication.",
                ),
                keep_payment_method=True,
            )
        if needs_authentication:
            intent.update(status=IntentStatus.REQUIRES_ACTION.value, next_action=self._next_action(intent["id"]))
            intent["last_payment_error"] = None
            self.store.put(intent)
            return intent
        return self._authorise(intent, pm)

    def _authorise(self, intent, pm):
        intent.update(
            last_payment_error=None,
            next_action=None,
            payment_method=pm["id"],
            latest_charge=self._new_id("ch"),
        )
        if intent["capture_method"] == "manual":
            intent.update(status=IntentStatus.REQUIRES_CAPTURE.value, amount_capturable=intent["amount"])
        else:
            intent.update(status=IntentStatus.SUCCEEDED.value, amount_received=intent["amount"])
        if intent.get("setup_future_usage") and intent.get("customer"):
            self._attach(pm, intent["customer"], off_session_ready=intent["setup_future_usage"] == "off_session")
        self.store.put(intent)
        return intent

    def _decline(self, intent, pm, error, *, keep_payment_method=False):
        error = {**error, "payment_method": _public(pm)}
        intent.update(
            status=IntentStatus.REQUIRES_PAYMENT_METHOD.value,
            last_payment_error=error,
            next_action=None,
            payment_method=pm["id"] if keep_payment_method else None,
            latest_charge=self._new_id("ch"),
        )
        self.store.put(intent)
        # The decline is kept on the intent (above) and answered as a 402 card error.
        raise _Fail(402, {**error, "payment_intent": _public(intent), "charge": intent["latest_charge"]})

    def _next_action(self, object_id):
        return {
            "type": "use_stripe_sdk",
            "use_stripe_sdk": {
                "type": "three_d_secure_redirect",
                "stripe_js": f"{self.base_url}/_fake/3ds/{object_id}",
            },
        }

    def _unexpected_state(self, obj, verb):
        kind = "PaymentIntent" if obj["object"] == "payment_intent" else "SetupIntent"
        return _invalid(
            f"This {kind} could not be {verb} because it has a status of {obj['status']}.",
            code=f"{obj['object']}_unexpected_state",
            **{obj["object"]: _public(obj)},
        )

    def _capture_payment_intent(self, object_id, params):
        intent = self._load(object_id, "payment_intent", param="intent")
        if intent["status"] != IntentStatus.REQUIRES_CAPTURE:
            raise self._unexpected_state(intent, "captured")
        amount = _int_param(params, "amount_to_capture")
        if amount is None:
            amount = intent["amount_capturable"]
        if amount > intent["amount_capturable"]:
            raise _invalid(
                "The amount to capture must be less than or equal to the amount capturable.",
                code="amount_too_large",
                param="amount_to_capture",
            )
        # The rest of the authorisation is released: amount_capturable drops to zero.
        intent.update(status=IntentStatus.SUCCEEDED.value, amount_received=amount, amount_capturable=0)
        self.store.put(intent)
        return intent

    def _cancel_payment_intent(self, object_id, params):
        intent = self._load(object_id, "payment_intent", param="intent")
        cancellable = (
            IntentStatus.REQUIRES_PAYMENT_METHOD,
            IntentStatus.REQUIRES_CONFIRMATION,
            IntentStatus.REQUIRES_ACTION,
            IntentStatus.REQUIRES_CAPTURE,
            IntentStatus.PROCESSING,
        )
        if intent["status"] not in cancellable:
            raise self._unexpected_state(intent, "canceled")
        reason = _str_param(
            params,
            "cancellation_reason",
            choices=("duplicate", "fraudulent", "requested_by_customer", "abandoned"),
        )
        intent.update(
            status=IntentStatus.CANCELED.value,
            amount_capturable=0,
            next_action=None,
            cancellation_reason=reason,
            canceled_at=int(self.clock()),
        )
        self.store.put(intent)
        return intent

    # --- 3-D Secure -----------------------------------------------------------------------------
    def _authenticate(self, object_id, outcome):
        obj = self.store.get(object_id, for_update=True)
        if obj is None or obj.get("object") not in ("payment_intent", "setup_intent"):
            raise _missing("intent", object_id)
        if obj["status"] != IntentStatus.REQUIRES_ACTION:
            raise self._unexpected_state(obj, "authenticated")
        pm = self._load(obj["payment_method"], "payment_method", param="payment_method")
        if outcome == "pass":
            if obj["object"] == "payment_intent":
                return _public(self._authorise(obj, pm))
            return _public(self._set_up(obj, pm))
        failure = {
            "type": "invalid_request_error",
            "code": f"{obj['object']}_authentication_failure",
            "message": AUTHENTICATION_FAILED,
            "payment_method": _public(pm),
        }
        error_field = "last_payment_error" if obj["object"] == "payment_intent" else "last_setup_error"
        obj.update(
            {
                "status": IntentStatus.REQUIRES_PAYMENT_METHOD.value,
                error_field: failure,
                "next_action": None,
                "payment_method": None,
            }
        )
        self.store.put(obj)
        return _public(obj)

    # --- setup intents --------------------------------------------------------------------------
    def _create_setup_intent(self, object_id, params):
        customer = self._customer(params)
        setup_id = self._new_id("seti")
        setup = {
            "id": setup_id,
            "object": "setup_intent",
            "client_secret": f"{setup_id}_secret_{secrets.token_urlsafe(18)}",
            "created": int(self.clock()),
            "customer": customer,
            "last_setup_error": None,
            "livemode": False,
            "metadata": _metadata_param(params),
            "next_action": None,
            "payment_method": None,
            "payment_method_types": _list_param(params, "payment_method_types") or ["card"],
            "status": SetupIntentStatus.REQUIRES_PAYMENT_METHOD.value,
            "usage": _str_param(params, "usage", choices=("on_session", "off_session")) or "off_session",
        }
        self.store.put(setup)
        return setup

    def _retrieve_setup_intent(self, object_id, params):
        return self._load(object_id, "setup_intent", param="intent", for_update=False)

    def _confirm_setup_intent(self, object_id, params):
        setup = self._load(object_id, "setup_intent", param="intent")
        confirmable = (
            SetupIntentStatus.REQUIRES_PAYMENT_METHOD,
            SetupIntentStatus.REQUIRES_CONFIRMATION,
            SetupIntentStatus.REQUIRES_ACTION,
        )
        if setup["status"] not in confirmable:
            raise self._unexpected_state(setup, "confirmed")
        pm = self._payment_method(params, owner=setup)
        card = self._behaviour(pm)
        if card.behaviour == "decline":
            error = {**self._card_error(card), "payment_method": _public(pm)}
            setup.update(status=SetupIntentStatus.REQUIRES_PAYMENT_METHOD.value, last_setup_error=error)
            setup["payment_method"] = None
            self.store.put(setup)
            raise _Fail(402, {**error, "setup_intent": _public(setup)})
        setup["payment_method"] = pm["id"]
        if card.behaviour in ("auth_unless_setup", "auth_always"):
            setup.update(status=SetupIntentStatus.REQUIRES_ACTION.value, next_action=self._next_action(setup["id"]))
            setup["last_setup_error"] = None
            self.store.put(setup)
            return setup
        return self._set_up(setup, pm)

    def _set_up(self, setup, pm):
        setup.update(
            status=SetupIntentStatus.SUCCEEDED.value, payment_method=pm["id"], last_setup_error=None, next_action=None
        )
        self._attach(pm, setup.get("customer"), off_session_ready=setup.get("usage") == "off_session")
        self.store.put(setup)
        return setup

    # --- refunds --------------------------------------------------------------------------------
    def _create_refund(self, object_id, params):
        intent_id = _str_param(params, "payment_intent")
        if not intent_id:
            raise _invalid(
                "One of charge or payment_intent is required.", code="parameter_missing", param="payment_intent"
            )
        intent = self._load(intent_id, "payment_intent", param="payment_intent")
        if intent["status"] != IntentStatus.SUCCEEDED:
            raise _invalid(
                f"This PaymentIntent has no successful charge to refund (status {intent['status']}).",
                code="payment_intent_unexpected_state",
                param="payment_intent",
            )
        refundable = intent["amount_received"] - intent.get("_amount_refunded", 0)
        if refundable <= 0:
            raise _invalid(
                f"Charge {intent['latest_charge']} has already been refunded.", code="charge_already_refunded"
            )
        amount = _int_param(params, "amount")
        if amount is None:
            amount = refundable
        if amount > refundable:
            raise _invalid(
                f"Refund amount ({amount}) is greater than unrefunded amount on charge ({refundable})",
                code="amount_too_large",
                param="amount",
            )
        reason = _str_param(params, "reason", choices=("duplicate", "fraudulent", "requested_by_customer"))
        refund = {
            "id": self._new_id("re"),
            "object": "refund",
            "amount": amount,
            "charge": intent["latest_charge"],
            "created": int(self.clock()),
            "currency": intent["currency"],
            "metadata": _metadata_param(params),
            "payment_intent": intent["id"],
            "reason": reason,
            "status": "succeeded",
        }
        intent["_amount_refunded"] = intent.get("_amount_refunded", 0) + amount
        self.store.put(intent)
        self.store.put(refund)
        return refund

    # --- Connect transfers ----------------------------------------------------------------------
    def _create_transfer(self, object_id, params):
        amount = _int_param(params, "amount", required=True)
        currency = _str_param(params, "currency", required=True).lower()
        destination = _str_param(params, "destination", required=True)
        if not re.fullmatch(r"acct_[A-Za-z0-9_]+", destination):
            raise _missing("destination", destination, "destination")
        transfer = {
            "id": self._new_id("tr"),
            "object": "transfer",
            "amount": amount,
            "amount_reversed": 0,
            "created": int(self.clock()),
            "currency": currency,
            "destination": destination,
            "livemode": False,
            "metadata": _metadata_param(params),
            "reversed": False,
            "transfer_group": _str_param(params, "transfer_group"),
        }
        self.store.add(transfer)  # a new id: an insert (put would first try an update)
        return transfer


def _public(obj: dict) -> dict:
    """The object as the API shows it: without the simulation's own ``_notes``."""
    return {key: value for key, value in obj.items() if not key.startswith("_")}


class FakeGateway(StripeModelGateway):
    """The fake adapter: ``StripeTestMode`` over ``FakeGatewayObject`` rows, in-process."""

    name = "fake"

    def __init__(self, *, webhook_secret: str = ""):
        self.webhook_secret = webhook_secret
        self.simulation = StripeTestMode(DatabaseStore(), id_tag="fake_")

    def _request(self, operation, *, object_id=None, params=None, idempotency_key=None):
        status, body = self.simulation.handle(
            operation, object_id=object_id, params=params, idempotency_key=idempotency_key
        )
        if status >= 400:
            raise error_from_response(status, body)
        return body

    def _card_params(self, card, payment_method_id):
        if card is not None and not payment_method_id:
            return {
                "payment_method_data": {
                    "type": "card",
                    "card": {
                        "number": card.number,
                        "exp_month": card.exp_month,
                        "exp_year": card.exp_year,
                        "cvc": card.cvc,
                    },
                }
            }
        return super()._card_params(card, payment_method_id)

    def _authenticate(self, object_id, authentication):
        if authentication not in ("pass", "fail"):
            raise ValueError('authentication must be "pass" or "fail"')
        status, body = self.simulation.authenticate(object_id, authentication)
        if status >= 400:
            raise error_from_response(status, body)
        error = body.get("last_payment_error") or body.get("last_setup_error") or {}
        if authentication == "fail":
            raise PaymentDeclined(
                error.get("message", ""), code=error.get("code"), http_status=402, intent_id=object_id
            )
        return body

    def confirm_payment_intent(
        self, intent_id, *, card=None, payment_method_id=None, authentication=None, idempotency_key=None
    ):
        if authentication is not None:
            self._authenticate(intent_id, authentication)
            return self.retrieve_payment_intent(intent_id)
        return super().confirm_payment_intent(
            intent_id, card=card, payment_method_id=payment_method_id, idempotency_key=idempotency_key
        )

    def confirm_setup_intent(
        self, setup_intent_id, *, card=None, payment_method_id=None, authentication=None, idempotency_key=None
    ):
        if authentication is not None:
            self._authenticate(setup_intent_id, authentication)
            return self.retrieve_setup_intent(setup_intent_id)
        return super().confirm_setup_intent(
            setup_intent_id, card=card, payment_method_id=payment_method_id, idempotency_key=idempotency_key
        )

    def verify_webhook(self, payload: bytes, signature_header: str) -> dict:
        # Stripe's own signature scheme (t=<timestamp>,v1=<HMAC-SHA256 of "t.payload">), so
        # webhook tests sign with stripe.WebhookSignature.generate_signature_header for both.
        try:
            stripe.WebhookSignature.verify_header(
                payload, signature_header, self.webhook_secret, tolerance=WEBHOOK_TOLERANCE_SECONDS
            )
            event = json.loads(payload)
        except (stripe.SignatureVerificationError, ValueError) as exc:
            raise WebhookSignatureInvalid(str(exc)) from exc
        if not isinstance(event, dict):
            raise WebhookSignatureInvalid("The webhook body is not a JSON object")
        return event
