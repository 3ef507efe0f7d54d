import pytest

from core.tests.fake_twilio import FakeTwilio

TWILIO_FROM = "+15005550006"


@pytest.fixture
def fake_twilio(settings):
    """The twilio SMS backend, with the real SDK pointed at a local fake of the Twilio API."""
    fake = FakeTwilio().start()
    settings.SMS_BACKEND = "twilio"
    settings.TWILIO_ACCOUNT_SID = fake.account_sid
    settings.TWILIO_AUTH_TOKEN = fake.auth_token
    settings.TWILIO_FROM_NUMBER = TWILIO_FROM
    settings.TWILIO_MESSAGING_SERVICE_SID = ""
    settings.TWILIO_API_BASE_URL = fake.base_url
    settings.TWILIO_TIMEOUT_SECONDS = 5
    yield fake
    fake.stop()
