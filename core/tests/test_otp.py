"""One-time codes by SMS (§10, §11): send limits, expiry, attempts, single use, hashing, sign-in,
and the vendor approval the verified phone unlocks. The SMS goes through the real twilio SDK to a
local fake of the Twilio API, which is also where the tests read the code from."""

import hashlib
import re
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from core.errors import InvalidInput
from core.models import DeliveryStatus, NotificationDelivery, OnboardingStatus, PhoneOTP, Role
from core.otp import OTP_MAX_ATTEMPTS, OTP_MAX_SENDS, otp_send
from core.services import vendor_set_onboarding_status
from core.tests.factories import CustomerFactory, OpsFactory, UserFactory, VendorFactory

pytestmark = pytest.mark.django_db

PHONE = "+919876500001"


@pytest.fixture
def send(api_client, fake_twilio, django_capture_on_commit_callbacks):
    """POST /auth/send-otp/ with the after-commit SMS task run; returns the response."""

    def post(phone=PHONE):
        with django_capture_on_commit_callbacks(execute=True):
            return api_client.post("/auth/send-otp/", {"phone": phone}, format="json")

    return post


@pytest.fixture
def verify(api_client):
    def post(otp, phone=PHONE):
        return api_client.post("/auth/verify-otp/", {"phone": phone, "otp": otp}, format="json")

    return post


def last_code(fake_twilio, phone=PHONE):
    bodies = [m["body"] for m in fake_twilio.messages if m["to"] == phone]
    assert bodies, f"no SMS to {phone}"
    return re.search(r"\b(\d{6})\b", bodies[-1]).group(1)


def other_code(code):
    return f"{(int(code) + 1) % 1_000_000:06d}"


# --- sending ----------------------------------------------------------------------------------------


def test_send_otp_texts_a_six_digit_code_and_stores_only_its_hash(send, fake_twilio):
    response = send()

    assert response.status_code == 200, response.json()
    assert response.json()["expires_in"] == 300
    assert len(fake_twilio.messages) == 1
    message = fake_twilio.messages[0]
    assert message["to"] == PHONE
    code = last_code(fake_twilio)
    assert "HomeServe" in message["body"] and "5 minutes" in message["body"]
    otp = PhoneOTP.objects.get(phone=PHONE)
    assert otp.expires_at - otp.created_at == timedelta(minutes=5)
    assert len(otp.code_hash) == 64 and otp.code_hash != code
    # The plain code is nowhere in the database: not in the code row, not in its delivery row.
    stored = [*PhoneOTP.objects.values_list(), *NotificationDelivery.objects.values_list()]
    assert all(code not in str(value) for row in stored for value in row)
    delivery = NotificationDelivery.objects.get(kind="otp")
    assert delivery.status == DeliveryStatus.SENT and delivery.provider_id == message["sid"]


def test_the_stored_hash_is_keyed_with_the_secret_key(send, verify, fake_twilio, settings):
    send()
    code = last_code(fake_twilio)
    otp = PhoneOTP.objects.get()

    # Not a plain digest anyone could tabulate for all 10^6 codes…
    assert otp.code_hash not in {
        hashlib.sha256(code.encode()).hexdigest(),
        hashlib.sha256(f"{PHONE}:{code}".encode()).hexdigest(),
    }
    # …but bound to the server's key: with another key the right code no longer matches.
    settings.SECRET_KEY = "another-key-" + "x" * 40
    assert verify(code).status_code == 400
    assert PhoneOTP.objects.get().attempts == 1


@pytest.mark.parametrize("phone", ["9876500001", "+0123456789", "+91abc", "", "+91987650000112345"])
def test_a_number_not_in_international_format_is_400_on_phone(send, fake_twilio, phone):
    response = send(phone)

    assert response.status_code == 400
    assert "phone" in response.json()
    assert not PhoneOTP.objects.exists() and fake_twilio.requests == []


def test_spaces_and_dashes_people_type_are_ignored(send, fake_twilio):
    response = send("+91 98765-00001")

    assert response.status_code == 200
    assert fake_twilio.messages[0]["to"] == PHONE


def test_the_fourth_code_within_an_hour_is_429_with_retry_after(send, fake_twilio):
    for _ in range(OTP_MAX_SENDS):
        assert send().status_code == 200

    response = send()

    assert response.status_code == 429
    assert 3500 < int(response["Retry-After"]) <= 3600
    assert "detail" in response.json()
    assert PhoneOTP.objects.count() == OTP_MAX_SENDS
    assert len(fake_twilio.messages) == OTP_MAX_SENDS
    # Another number is not affected.
    assert send("+919876500002").status_code == 200


def test_the_limit_is_a_rolling_hour(send, fake_twilio):
    for _ in range(OTP_MAX_SENDS):
        send()
    oldest = PhoneOTP.objects.order_by("created_at").first()
    PhoneOTP.objects.filter(pk=oldest.pk).update(created_at=timezone.now() - timedelta(minutes=61))

    assert send().status_code == 200
    assert send().status_code == 429


def test_a_new_code_makes_the_older_one_worthless(send, verify, fake_twilio):
    send()
    first = last_code(fake_twilio)
    send()
    second = last_code(fake_twilio)
    if first == second:
        pytest.skip("the two random codes happened to be equal")

    assert verify(first).status_code == 400
    assert verify(second).status_code == 200


def test_a_number_twilio_rejects_is_recorded_and_the_next_request_says_why(send, fake_twilio):
    fake_twilio.reject_number(PHONE, code=21614)

    first = send()  # sending is asynchronous: the request itself succeeds

    assert first.status_code == 200
    delivery = NotificationDelivery.objects.get(kind="otp")
    assert delivery.status == DeliveryStatus.FAILED and delivery.error_code == "21614"
    assert len(fake_twilio.requests) == 1  # a rejection is not retried

    second = send()

    assert second.status_code == 400
    assert "not a mobile number" in second.json()["phone"][0]
    assert PhoneOTP.objects.count() == 1 and len(fake_twilio.requests) == 1


def test_a_provider_outage_retries_the_code_sms(send, fake_twilio):
    fake_twilio.fail_next(status=503, times=2)

    assert send().status_code == 200

    assert [r.status for r in fake_twilio.requests] == [503, 503, 201]
    assert NotificationDelivery.objects.get(kind="otp").status == DeliveryStatus.SENT


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_cannot_send_more_than_three_codes(settings):
    settings.SMS_BACKEND = "console"
    barrier = threading.Barrier(6)
    outcomes = []

    def request():
        try:
            barrier.wait()
            otp_send(phone=PHONE)
            outcomes.append("sent")
        except Exception as error:
            outcomes.append(type(error).__name__)
        finally:
            connection.close()

    threads = [threading.Thread(target=request) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(outcomes) == ["OTPThrottled"] * 3 + ["sent"] * 3
    assert PhoneOTP.objects.filter(phone=PHONE).count() == 3


# --- verifying ---------------------------------------------------------------------------------------


def test_the_right_code_signs_in_the_account_with_that_number(send, verify, fake_twilio, api_client):
    user = CustomerFactory(phone=PHONE, phone_verified=False)
    send()

    response = verify(last_code(fake_twilio))

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["verified"] is True
    assert body["user"] == {"id": str(user.pk), "username": user.username, "email": user.email, "role": "customer"}
    user.refresh_from_db()
    assert user.phone_verified is True
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {body['access']}")
    me = api_client.get("/api/users/me/")
    assert me.status_code == 200 and me.json()["id"] == str(user.pk)
    assert api_client.post("/auth/refresh/", {"refresh": body["refresh"]}, format="json").status_code == 200


def test_a_number_without_an_account_is_verified_but_signs_nobody_in(send, verify, fake_twilio):
    send()

    response = verify(last_code(fake_twilio))

    assert response.status_code == 200
    assert response.json() == {"verified": True, "access": None, "refresh": None, "user": None}
    assert PhoneOTP.objects.get().used_at is not None


def test_a_staff_account_is_verified_but_must_sign_in_with_its_password(send, verify, fake_twilio):
    ops = OpsFactory(phone=PHONE, phone_verified=False)
    send()

    response = verify(last_code(fake_twilio))

    assert response.status_code == 200
    assert response.json()["access"] is None and response.json()["user"] is None
    ops.refresh_from_db()
    assert ops.phone_verified is True


def test_a_used_code_cannot_be_used_again(send, verify, fake_twilio):
    CustomerFactory(phone=PHONE)
    send()
    code = last_code(fake_twilio)
    assert verify(code).status_code == 200

    again = verify(code)

    assert again.status_code == 400
    assert "already used" in again.json()["otp"][0]
    assert "access" not in again.json()


def test_an_expired_code_is_400(send, verify, fake_twilio):
    send()
    code = last_code(fake_twilio)
    PhoneOTP.objects.update(
        created_at=timezone.now() - timedelta(minutes=5, seconds=1), expires_at=timezone.now() - timedelta(seconds=1)
    )

    response = verify(code)

    assert response.status_code == 400
    assert "expired" in response.json()["otp"][0]
    assert PhoneOTP.objects.get().used_at is None


def test_a_code_for_another_number_is_400_on_phone(send, verify, fake_twilio):
    send()

    response = verify(last_code(fake_twilio), phone="+919876500009")

    assert response.status_code == 400
    assert "No code was sent" in response.json()["phone"][0]
    assert PhoneOTP.objects.get().attempts == 0


def test_wrong_codes_count_down_and_the_fifth_kills_the_code(send, verify, fake_twilio):
    user = CustomerFactory(phone=PHONE, phone_verified=False)
    send()
    code = last_code(fake_twilio)

    answers = [verify(other_code(code)) for _ in range(OTP_MAX_ATTEMPTS)]

    assert [a.status_code for a in answers] == [400] * OTP_MAX_ATTEMPTS
    assert "4 attempts left" in answers[0].json()["otp"][0]
    assert "1 attempt left" in answers[3].json()["otp"][0]
    assert "No attempts left" in answers[4].json()["otp"][0]
    assert PhoneOTP.objects.get().attempts == OTP_MAX_ATTEMPTS
    # Dead: even the right code is refused now, with when to ask for a new one.
    dead = verify(code)
    assert dead.status_code == 429
    assert dead["Retry-After"] == "0"  # a new code may be requested right away
    assert "new code" in dead.json()["detail"]
    user.refresh_from_db()
    assert user.phone_verified is False


def test_a_dead_code_on_a_number_out_of_sends_says_when_to_come_back(send, verify, fake_twilio):
    for _ in range(OTP_MAX_SENDS):
        send()
    code = last_code(fake_twilio)
    for _ in range(OTP_MAX_ATTEMPTS):
        verify(other_code(code))

    dead = verify(code)

    assert dead.status_code == 429
    assert 3500 < int(dead["Retry-After"]) <= 3600


def test_a_malformed_code_is_400_and_not_counted(send, verify, fake_twilio):
    send()

    response = verify("12ab")

    assert response.status_code == 400 and "otp" in response.json()
    assert PhoneOTP.objects.get().attempts == 0


# --- onboarding --------------------------------------------------------------------------------------


def test_a_vendor_can_be_approved_once_the_code_proves_their_phone(send, verify, fake_twilio):
    vendor = VendorFactory(
        user=UserFactory(role=Role.VENDOR, phone=PHONE, phone_verified=False),
        onboarding_status=OnboardingStatus.PENDING,
    )
    manager = OpsFactory()
    with pytest.raises(InvalidInput):
        vendor_set_onboarding_status(vendor=vendor, status=OnboardingStatus.APPROVED, actor=manager)

    send()
    response = verify(last_code(fake_twilio))
    assert response.status_code == 200 and response.json()["user"]["role"] == "vendor"

    approved = vendor_set_onboarding_status(vendor=vendor, status=OnboardingStatus.APPROVED, actor=manager)
    assert approved.onboarding_status == OnboardingStatus.APPROVED
