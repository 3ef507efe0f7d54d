"""The SMS adapter: the real twilio SDK against a local fake of the Twilio Messages API, and the
console backend of the embedded default."""

import logging
import os
import secrets
import socket
import subprocess
import sys

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured

from core.sms import ConsoleSMSBackend, SMSProviderFault, SMSRejected, TwilioSMSBackend, get_sms_backend, send_sms
from core.tests.conftest import TWILIO_FROM


def test_twilio_backend_sends_through_the_sdk_with_basic_auth_and_form_fields(fake_twilio):
    sent = send_sms(to="+919812345678", body="Your booking BK-1 is confirmed.")

    assert len(fake_twilio.messages) == 1
    request = fake_twilio.requests[0]
    assert request.method == "POST"
    assert request.path == f"/2010-04-01/Accounts/{fake_twilio.account_sid}/Messages.json"
    assert request.auth == (fake_twilio.account_sid, fake_twilio.auth_token)
    assert request.form == {"To": "+919812345678", "From": TWILIO_FROM, "Body": "Your booking BK-1 is confirmed."}
    assert sent.provider_id == fake_twilio.messages[0]["sid"]
    assert sent.provider_id.startswith("SM")
    assert sent.status == "queued"


def test_twilio_backend_uses_the_messaging_service_when_configured(fake_twilio, settings):
    settings.TWILIO_MESSAGING_SERVICE_SID = "MG" + "1" * 32

    send_sms(to="+919812345678", body="hello")

    form = fake_twilio.requests[0].form
    assert form["MessagingServiceSid"] == "MG" + "1" * 32
    assert "From" not in form


@pytest.mark.parametrize(
    ("code", "words"),
    [
        pytest.param(21211, "not a valid mobile number", id="21211-invalid-to"),
        pytest.param(21614, "not a mobile number", id="21614-landline"),
        pytest.param(21610, "opted out", id="21610-unsubscribed"),
    ],
)
def test_a_recipient_error_becomes_sms_rejected_with_a_message_for_the_user(fake_twilio, code, words):
    fake_twilio.reject_number("+919800000001", code=code)

    with pytest.raises(SMSRejected) as raised:
        send_sms(to="+919800000001", body="hello")

    assert raised.value.code == code
    assert raised.value.status == 400
    assert words in str(raised.value.user_message)
    assert fake_twilio.messages == []


def test_twilio_validates_the_number_itself_and_answers_21211(fake_twilio):
    with pytest.raises(SMSRejected) as raised:
        send_sms(to="98123", body="hello")
    assert raised.value.code == 21211
    assert "98123" in raised.value.message  # Twilio's own text, kept for ops in last_error


@pytest.mark.parametrize(
    ("status", "code"),
    [
        pytest.param(500, 20500, id="500"),
        pytest.param(503, 20500, id="503"),
        pytest.param(429, 20429, id="429-too-many-requests"),
    ],
)
def test_provider_trouble_becomes_a_retryable_fault(fake_twilio, status, code):
    fake_twilio.fail_next(status=status, code=code)

    with pytest.raises(SMSProviderFault) as raised:
        send_sms(to="+919812345678", body="hello")

    assert raised.value.status == status
    assert raised.value.code == code
    assert not isinstance(raised.value, SMSRejected)


def test_wrong_credentials_are_a_fault_for_ops_not_the_users_problem(fake_twilio, settings):
    settings.TWILIO_AUTH_TOKEN = "not-the-token"

    with pytest.raises(SMSProviderFault) as raised:
        send_sms(to="+919812345678", body="hello")

    assert raised.value.status == 401
    assert raised.value.code == 20003
    assert fake_twilio.messages == []


def test_a_provider_that_does_not_answer_in_time_is_a_fault(fake_twilio, settings):
    settings.TWILIO_TIMEOUT_SECONDS = 0.3
    fake_twilio.delay = 1.0

    with pytest.raises(SMSProviderFault, match="unreachable"):
        send_sms(to="+919812345678", body="hello")


def test_a_refused_connection_is_a_fault(settings):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    backend = TwilioSMSBackend(
        account_sid="AC" + "0" * 32,
        auth_token="token",
        from_number=TWILIO_FROM,
        api_base_url=f"http://127.0.0.1:{port}",
        timeout=2,
    )

    with pytest.raises(SMSProviderFault):
        backend.send(to="+919812345678", body="hello")


def test_console_backend_writes_the_message_to_the_log(settings, caplog):
    settings.SMS_BACKEND = "console"
    caplog.set_level(logging.INFO, logger="core.sms")

    sent = send_sms(to="+919812345678", body="Your code is 123456")

    assert isinstance(get_sms_backend(), ConsoleSMSBackend)
    assert sent.provider_id.startswith("console-")
    assert "+919812345678" in caplog.text and "Your code is 123456" in caplog.text


def test_the_setting_chooses_the_backend_and_twilio_needs_its_credentials(settings):
    settings.SMS_BACKEND = "twilio"
    settings.TWILIO_ACCOUNT_SID = ""
    settings.TWILIO_AUTH_TOKEN = ""
    with pytest.raises(ImproperlyConfigured):
        get_sms_backend()

    settings.TWILIO_ACCOUNT_SID = "AC" + "0" * 32
    settings.TWILIO_AUTH_TOKEN = "token"
    settings.TWILIO_FROM_NUMBER = ""
    settings.TWILIO_MESSAGING_SERVICE_SID = ""
    with pytest.raises(ImproperlyConfigured):
        get_sms_backend()

    settings.TWILIO_FROM_NUMBER = TWILIO_FROM
    assert isinstance(get_sms_backend(), TwilioSMSBackend)


def _production_check(**extra):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "marketplace.settings.production",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "homeserve.example",
        "DATABASE_URL": "postgres://homeserve@db.internal:5432/homeserve",
        "REDIS_URL": "redis://cache.internal:6379/0",
        "PAYMENT_GATEWAY": "fake",
        **extra,
    }
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM_NUMBER", "TWILIO_MESSAGING_SERVICE_SID"):
        if name not in extra:
            env.pop(name, None)
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=django_settings.BASE_DIR,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_production_refuses_to_start_with_twilio_but_no_credentials():
    missing = _production_check(SMS_BACKEND="twilio")
    assert missing.returncode != 0
    assert "TWILIO_ACCOUNT_SID" in missing.stderr

    configured = _production_check(
        SMS_BACKEND="twilio",
        TWILIO_ACCOUNT_SID="AC" + "0" * 32,
        TWILIO_AUTH_TOKEN="token",
        TWILIO_FROM_NUMBER=TWILIO_FROM,
    )
    assert configured.returncode == 0, configured.stderr
