"""Payment gateways (ARCHITECTURE §6): one interface, two adapters, chosen by ``PAYMENT_GATEWAY``.

- ``fake`` (the embedded default): Stripe test mode simulated in-process (``fake.FakeGateway``).
- ``stripe``: the real stripe SDK (``stripe.StripeGateway``).

``get_gateway()`` is the one way in; see ``base.PaymentGateway`` for the operations and
``errors`` for what they raise.
"""

import functools

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from .base import (
    CardDetails,
    Customer,
    Intent,
    IntentStatus,
    PaymentGateway,
    Refund,
    SetupIntent,
    SetupIntentStatus,
    Transfer,
)
from .errors import (
    AuthenticationRequired,
    GatewayError,
    GatewayUnavailable,
    InvalidPaymentRequest,
    PaymentDeclined,
    WebhookSignatureInvalid,
)

__all__ = [
    "AuthenticationRequired",
    "CardDetails",
    "Customer",
    "GatewayError",
    "GatewayUnavailable",
    "Intent",
    "IntentStatus",
    "InvalidPaymentRequest",
    "PaymentDeclined",
    "PaymentGateway",
    "Refund",
    "SetupIntent",
    "SetupIntentStatus",
    "Transfer",
    "WebhookSignatureInvalid",
    "get_gateway",
]


@functools.lru_cache(maxsize=8)
def _build_gateway(name: str, options: tuple) -> PaymentGateway:
    if name == "fake":
        from .fake import FakeGateway

        return FakeGateway(**dict(options))
    if name == "stripe":
        from .stripe import StripeGateway

        return StripeGateway(**dict(options))
    gateway_class = import_string(name)
    if not (isinstance(gateway_class, type) and issubclass(gateway_class, PaymentGateway)):
        raise ImproperlyConfigured(f"PAYMENT_GATEWAY={name!r} is not a PaymentGateway")
    return gateway_class()


def get_gateway() -> PaymentGateway:
    """The configured gateway. Instances are reused (the Stripe client keeps its connections)
    for as long as the settings they were built from stay the same."""
    name = getattr(settings, "PAYMENT_GATEWAY", "fake") or "fake"
    options: tuple = ()
    if name == "fake":
        options = (("webhook_secret", settings.STRIPE_WEBHOOK_SECRET),)
    elif name == "stripe":
        options = (
            ("secret_key", settings.STRIPE_SECRET_KEY),
            ("webhook_secret", settings.STRIPE_WEBHOOK_SECRET),
            ("api_base", settings.STRIPE_API_BASE),
            ("timeout", float(settings.STRIPE_TIMEOUT_SECONDS)),
            ("max_network_retries", int(settings.STRIPE_MAX_NETWORK_RETRIES)),
        )
    return _build_gateway(name, options)
