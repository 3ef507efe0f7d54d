import secrets

import pytest

from payments.tests.fake_stripe import FakeStripe


@pytest.fixture
def fake_stripe(settings):
    """The stripe gateway, with the real SDK pointed at a local fake of Stripe's API."""
    fake = FakeStripe().start()
    settings.PAYMENT_GATEWAY = "stripe"
    settings.STRIPE_SECRET_KEY = fake.api_key
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_fake"
    settings.STRIPE_WEBHOOK_SECRET = "whsec_" + secrets.token_hex(16)
    settings.STRIPE_API_BASE = fake.base_url
    settings.STRIPE_TIMEOUT_SECONDS = 5
    settings.STRIPE_MAX_NETWORK_RETRIES = 2
    yield fake
    fake.stop()
