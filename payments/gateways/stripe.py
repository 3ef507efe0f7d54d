"""The stripe adapter: the real stripe SDK (``stripe.StripeClient``, ``client.v1.*``).

Configuration (marketplace/settings/base.py): ``STRIPE_SECRET_KEY``, ``STRIPE_WEBHOOK_SECRET``,
``STRIPE_API_BASE`` (``https://api.stripe.com``; tests point it at a local fake of Stripe's API,
production forces the default), ``STRIPE_TIMEOUT_SECONDS``, ``STRIPE_MAX_NETWORK_RETRIES``.

Every POST carries an idempotency key — ours when the caller gives one (``capture-<payment id>``
...), else the SDK's own — so the SDK's retries of timeouts, refused connections, 409s and 5xx are
safe, and so is a task retrying the whole call later.

Errors, by what Stripe answered (``errors.error_from_response``; the SDK's classes in brackets):

- 402 card_error (``CardError``) → ``PaymentDeclined`` with ``decline_code`` and ``user_message``;
  code ``authentication_required`` → ``AuthenticationRequired``.
- 429 (``RateLimitError``), 5xx and 409 (``APIError``), no answer at all (``APIConnectionError``:
  timeout, refused or reset connection) → ``GatewayUnavailable``: retry.
- 401 (``AuthenticationError``), 403 (``PermissionError``) → ``GatewayUnavailable``, logged as an
  error: our key is wrong or lacks a permission — nothing the customer can fix, and the same call
  works once ops fix the key, so the caller's retries (then the ops queue) are the right path.
- other 4xx (``InvalidRequestError``, ``IdempotencyError``) → ``InvalidPaymentRequest``; except
  a capture of an intent already captured, or a cancel of one already cancelled
  (``payment_intent_unexpected_state``): the intent is re-read and returned.

Card numbers never reach this adapter: in real use the browser confirms with Stripe.js and the
server re-reads the intent; server-side confirmation takes a PaymentMethod id (Stripe's test ids
like ``pm_card_visa`` in tests).
"""

import logging

import stripe
from django.core.exceptions import ImproperlyConfigured

from .base import WEBHOOK_TOLERANCE_SECONDS, StripeModelGateway
from .errors import GatewayUnavailable, InvalidPaymentRequest, WebhookSignatureInvalid, error_from_response

logger = logging.getLogger(__name__)


class StripeGateway(StripeModelGateway):
    name = "stripe"

    def __init__(
        self,
        *,
        secret_key: str,
        webhook_secret: str,
        api_base: str = stripe.DEFAULT_API_BASE,
        timeout: float = 30.0,
        max_network_retries: int = 2,
    ):
        if not secret_key:
            raise ImproperlyConfigured("PAYMENT_GATEWAY=stripe needs STRIPE_SECRET_KEY.")
        self.webhook_secret = webhook_secret
        self.client = stripe.StripeClient(
            secret_key,
            base_addresses={"api": api_base or stripe.DEFAULT_API_BASE},
            max_network_retries=max_network_retries,
            # The SDK's own requests-based client, with our timeout: the default waits 80 s,
            # far longer than a request or task should hang on a stuck connection.
            http_client=stripe.RequestsClient(timeout=timeout),
        )

    def _call(self, operation, object_id, params, options):
        v1 = self.client.v1
        match operation:
            case "customers.create":
                return v1.customers.create(params=params, options=options)
            case "customers.update":
                return v1.customers.update(object_id, params=params, options=options)
            case "payment_intents.create":
                return v1.payment_intents.create(params=params, options=options)
            case "payment_intents.retrieve":
                return v1.payment_intents.retrieve(object_id, options=options)
            case "payment_intents.confirm":
                return v1.payment_intents.confirm(object_id, params=params, options=options)
            case "payment_intents.capture":
                return v1.payment_intents.capture(object_id, params=params, options=options)
            case "payment_intents.cancel":
                return v1.payment_intents.cancel(object_id, params=params, options=options)
            case "setup_intents.create":
                return v1.setup_intents.create(params=params, options=options)
            case "setup_intents.retrieve":
                return v1.setup_intents.retrieve(object_id, options=options)
            case "setup_intents.confirm":
                return v1.setup_intents.confirm(object_id, params=params, options=options)
            case "refunds.create":
                return v1.refunds.create(params=params, options=options)
            case "transfers.create":
                return v1.transfers.create(params=params, options=options)
        raise ValueError(f"unknown gateway operation {operation}")

    def _request(self, operation, *, object_id=None, params=None, idempotency_key=None):
        options = {"idempotency_key": idempotency_key} if idempotency_key else {}
        try:
            return self._call(operation, object_id, params or {}, options).to_dict()
        except stripe.APIConnectionError as exc:
            # No answer at all (after the SDK's own retries): a timeout, a refused or reset
            # connection. The request may or may not have reached Stripe; retry with the same key.
            raise GatewayUnavailable(f"Stripe unreachable during {operation}: {exc.user_message}") from exc
        except stripe.StripeError as exc:
            if not exc.http_status:
                raise GatewayUnavailable(f"Stripe error during {operation}: {exc}") from exc
            error = error_from_response(exc.http_status, exc.json_body, request_id=exc.request_id)
            if exc.http_status in (401, 403):
                logger.error("Stripe refused our API key during %s: %s", operation, exc)
            elif isinstance(error, InvalidPaymentRequest):
                logger.warning("Stripe refused %s: %s", operation, exc)
            raise error from exc

    def confirm_payment_intent(
        self, intent_id, *, card=None, payment_method_id=None, authentication=None, idempotency_key=None
    ):
        if authentication is not None:
            raise InvalidPaymentRequest(
                "3-D Secure is completed in the browser by Stripe.js; re-read the intent instead."
            )
        return super().confirm_payment_intent(
            intent_id, card=card, payment_method_id=payment_method_id, idempotency_key=idempotency_key
        )

    def confirm_setup_intent(
        self, setup_intent_id, *, card=None, payment_method_id=None, authentication=None, idempotency_key=None
    ):
        if authentication is not None:
            raise InvalidPaymentRequest(
                "3-D Secure is completed in the browser by Stripe.js; re-read the setup intent instead."
            )
        return super().confirm_setup_intent(
            setup_intent_id, card=card, payment_method_id=payment_method_id, idempotency_key=idempotency_key
        )

    def verify_webhook(self, payload: bytes, signature_header: str) -> dict:
        try:
            event = stripe.Webhook.construct_event(
                payload, signature_header, self.webhook_secret, tolerance=WEBHOOK_TOLERANCE_SECONDS
            )
        except (stripe.SignatureVerificationError, ValueError) as exc:
            raise WebhookSignatureInvalid(str(exc)) from exc
        return event.to_dict()
