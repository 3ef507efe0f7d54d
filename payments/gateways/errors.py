"""What can go wrong at a payment gateway, in the terms a caller acts on (CONVENTIONS: "one adapter
per outside system ... with an exception hierarchy that separates 'tell the user' errors from
gateway faults").

- ``PaymentDeclined``: the card did not pay. Tell the customer ``user_message`` and let them try
  another card; retrying the same call gives the same answer.
  ``AuthenticationRequired`` (a ``PaymentDeclined``): the bank wants the customer to authenticate
  (3-D Secure) and they are not there — an off-session charge. Bring them back on-session.
- ``InvalidPaymentRequest``: the gateway refused the request itself — our bug or a state the
  object is not in (capturing a cancelled intent, refunding more than was received, an unknown
  id, an idempotency key reused with other parameters). Retrying will not help; ops look at it.
- ``GatewayUnavailable``: the gateway or the network is in trouble — 5xx, 409 lock conflicts, rate
  limits, timeouts, refused connections — or our credentials are wrong (401/403: ops must fix the
  configuration, after which the same call succeeds). Retry with backoff, with the same
  idempotency key.
- ``WebhookSignatureInvalid``: a webhook whose Stripe-Signature does not verify, is older than the
  tolerance, or whose body is not a JSON event. Answer 400.

Both adapters turn the gateway's answer into one of these with ``error_from_response``, from the
HTTP status and Stripe's error JSON ``{"error": {"type", "code", "decline_code", "message", ...}}``
(the fake gateway speaks the same JSON), so the two cannot classify differently.
"""

from collections.abc import Mapping

from django.utils.translation import gettext_lazy as _


class GatewayError(Exception):
    #: Whether the same call, with the same idempotency key, may succeed later.
    retryable = False

    def __init__(
        self,
        message: str = "",
        *,
        code: str | None = None,
        http_status: int | None = None,
        intent_id: str | None = None,
        request_id: str | None = None,
    ):
        self.message = message
        self.code = code
        self.http_status = http_status
        # The PaymentIntent / SetupIntent the error concerns, when the gateway names one (a
        # declined confirmation leaves the intent in requires_payment_method: re-read it).
        self.intent_id = intent_id
        self.request_id = request_id
        super().__init__(message)

    def __repr__(self):
        return (
            f"{self.__class__.__name__}(message={self.message!r}, code={self.code!r}, "
            f"http_status={self.http_status!r}, intent_id={self.intent_id!r})"
        )


GENERIC_DECLINE = _("Your card was declined. Try another card, or contact your bank.")

# What to tell the customer, by Stripe decline code (or error code when there is no decline code).
# Codes that hint at fraud (lost_card, stolen_card, fraudulent, pickup_card ...) get the generic
# text on purpose: Stripe advises not to tell a possible fraudster why the card was refused.
DECLINE_MESSAGES = {
    "generic_decline": GENERIC_DECLINE,
    "card_declined": GENERIC_DECLINE,
    "do_not_honor": GENERIC_DECLINE,
    "insufficient_funds": _("Your card has insufficient funds. Try another card."),
    "card_velocity_exceeded": _("Your card has reached its limit. Try another card."),
    "withdrawal_count_limit_exceeded": _("Your card has reached its limit. Try another card."),
    "expired_card": _("Your card has expired. Check the expiry date or use another card."),
    "incorrect_cvc": _("The card's security code (CVC) is incorrect."),
    "invalid_cvc": _("The card's security code (CVC) is incorrect."),
    "incorrect_number": _("The card number is incorrect."),
    "invalid_number": _("The card number is incorrect."),
    "invalid_expiry_month": _("The card's expiry month is invalid."),
    "invalid_expiry_year": _("The card's expiry year is invalid."),
    "processing_error": _("An error occurred while processing your card. Try again in a moment."),
    "try_again_later": _("An error occurred while processing your card. Try again in a moment."),
    "card_not_supported": _("This card does not support this kind of payment. Try another card."),
    "currency_not_supported": _("This card does not support payments in this currency. Try another card."),
    "test_mode_live_card": _("Your card was declined: only test cards work here. Use a test card."),
    "authentication_required": _("Your bank needs you to confirm this payment. Complete the payment again."),
    "payment_intent_authentication_failure": _(
        "We could not verify your card with your bank. Try again, or use another card."
    ),
    "setup_intent_authentication_failure": _(
        "We could not verify your card with your bank. Try again, or use another card."
    ),
}


class PaymentDeclined(GatewayError):
    """The card was refused. ``decline_code`` is the issuer's reason when the gateway gives one
    (insufficient_funds, expired_card ...); ``code`` is Stripe's error code (card_declined,
    expired_card, incorrect_cvc, authentication_required ...)."""

    def __init__(self, message: str = "", *, decline_code: str | None = None, **kwargs):
        self.decline_code = decline_code
        super().__init__(message, **kwargs)

    @property
    def user_message(self):
        return DECLINE_MESSAGES.get(self.decline_code or "") or DECLINE_MESSAGES.get(self.code or "", GENERIC_DECLINE)


class AuthenticationRequired(PaymentDeclined):
    """An off-session charge the bank wants the customer to authenticate: ask them to pay again
    on-session (the intent in ``intent_id`` can be confirmed with the same card)."""


class InvalidPaymentRequest(GatewayError):
    """The gateway refused the request (our bug or a state conflict); retrying will not help."""


class GatewayUnavailable(GatewayError):
    """The gateway could not answer now; retry later with the same idempotency key."""

    retryable = True


class WebhookSignatureInvalid(GatewayError):
    """A webhook that does not verify (bad signature, stale timestamp, not a JSON event)."""


def error_from_response(http_status: int, body: Mapping | None, *, request_id: str | None = None) -> GatewayError:
    """The error for one of the gateway's error answers (Stripe's error JSON)."""
    error = (body or {}).get("error") or {}
    if not isinstance(error, Mapping):
        error = {}
    code = error.get("code")
    message = error.get("message") or ""
    intent = error.get("payment_intent") or error.get("setup_intent")
    intent_id = intent.get("id") if isinstance(intent, Mapping) else intent
    common = {"code": code, "http_status": http_status, "intent_id": intent_id, "request_id": request_id}
    if http_status == 402 or error.get("type") == "card_error":
        decline_code = error.get("decline_code")
        if code == "authentication_required" or decline_code == "authentication_required":
            return AuthenticationRequired(message, decline_code=decline_code, **common)
        return PaymentDeclined(message, decline_code=decline_code, **common)
    if http_status == 429 or code in ("rate_limit", "lock_timeout"):
        return GatewayUnavailable(message or "rate limited", **common)
    if http_status >= 500 or http_status == 409:
        return GatewayUnavailable(message or f"gateway answered {http_status}", **common)
    if http_status in (401, 403):
        # Our API key is wrong, revoked or lacks a permission: nothing the customer did, and the
        # same call succeeds once ops fix the configuration — so a fault, retried, not a refusal.
        return GatewayUnavailable(f"gateway refused our credentials ({http_status}): {message}", **common)
    return InvalidPaymentRequest(message or f"gateway answered {http_status}", **common)
