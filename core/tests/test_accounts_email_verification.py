"""E-mail verification (issue 6; core/accounts.py) and the rule it serves: booking and payment
receipts are e-mailed only to a proved address (core/notifications.py)."""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from core.accounts import EMAIL_VERIFICATION_KIND, email_verification_token, email_verify
from core.errors import InvalidInput
from core.models import AuditLog, NotificationDelivery, Role, User
from core.notifications import notify
from core.tests.factories import CustomerFactory, OpsFactory, VendorFactory

pytestmark = pytest.mark.django_db

LINK_RE = re.compile(r"https://homeserve\.example/account/verify-email/(?P<token>[^/\s]+)/")


@pytest.fixture(autouse=True)
def _site(settings):
    settings.SITE_URL = "https://homeserve.example"


def link_token(email):
    sent = [message for message in mail.outbox if message.to == [email]]
    assert sent, f"no e-mail to {email}"
    match = LINK_RE.search(sent[-1].body)
    assert match, sent[-1].body
    return match["token"]


def register(api_client, on_commit, email="kavya@example.com"):
    with on_commit(execute=True):
        response = api_client.post(
            "/auth/register/",
            {"email": email, "password": "Clean!Home24", "first_name": "Kavya", "phone": "+919845012345"},
            format="json",
        )
    assert response.status_code == 201, response.json()
    return response.json()


def verify(api_client, token):
    return api_client.post("/auth/verify-email/", {"token": token}, format="json")


def test_sign_up_sends_a_link_that_verifies_the_address(api_client, django_capture_on_commit_callbacks):
    registered = register(api_client, django_capture_on_commit_callbacks)
    assert registered["user"]["email_verified"] is False
    assert mail.outbox[-1].subject == "Confirm your e-mail address for HomeServe"
    token = link_token("kavya@example.com")

    response = verify(api_client, token)

    assert response.status_code == 200, response.json()
    assert response.json()["email_verified"] is True
    user = User.objects.get(email="kavya@example.com")
    assert user.email_verified
    assert AuditLog.objects.filter(action="user.email_verified", object_id=str(user.pk)).exists()
    # verifying again is harmless
    assert verify(api_client, token).status_code == 200
    # the link is not stored anywhere
    assert token not in repr(list(NotificationDelivery.objects.values_list()))


def test_an_expired_link_is_refused():
    user = CustomerFactory()
    issued = timezone.now() - timedelta(hours=73)
    token = email_verification_token(user, now=issued)

    with pytest.raises(InvalidInput) as error:
        email_verify(token=token)

    assert "expired" in str(error.value.fields["token"][0])
    assert email_verify(token=token, now=issued + timedelta(hours=71)).email_verified


def test_a_forged_or_tampered_link_is_a_400(api_client):
    user = CustomerFactory()
    token = email_verification_token(user)

    for bad in ("", "nonsense", token[:-2] + ("AA" if not token.endswith("AA") else "BB"), token + "x"):
        response = verify(api_client, bad)
        assert response.status_code == 400, bad
        assert "token" in response.json()
    user.refresh_from_db()
    assert not user.email_verified


def test_changing_the_address_sends_a_new_link_and_voids_the_old_one(
    api_client, client_for, django_capture_on_commit_callbacks
):
    user = CustomerFactory(email="old@example.com")
    old_token = email_verification_token(user)

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(user).patch("/api/users/me/", {"email": "new@example.com"}, format="json")

    assert response.status_code == 200
    stale = verify(api_client, old_token)
    assert stale.status_code == 400 and "no longer" in stale.json()["token"][0]
    assert verify(api_client, link_token("new@example.com")).status_code == 200
    user.refresh_from_db()
    assert (user.email, user.email_verified) == ("new@example.com", True)


def test_resend_is_for_the_signed_in_and_throttled(api_client, client_for, django_capture_on_commit_callbacks):
    user = CustomerFactory(email="mine@example.com")
    client = client_for(user)

    assert api_client.post("/auth/verify-email/resend/").status_code == 401
    statuses = []
    for _ in range(4):
        with django_capture_on_commit_callbacks(execute=True):
            statuses.append(client.post("/auth/verify-email/resend/").status_code)

    assert statuses == [200, 200, 200, 429]
    assert NotificationDelivery.objects.filter(kind=EMAIL_VERIFICATION_KIND, to="mine@example.com").count() == 3
    assert verify(api_client, link_token("mine@example.com")).status_code == 200


def test_resend_when_already_verified_sends_nothing(client_for):
    user = CustomerFactory(email_verified=True)

    response = client_for(user).post("/auth/verify-email/resend/")

    assert response.status_code == 200
    assert response.json()["sent"] is False
    assert not NotificationDelivery.objects.filter(kind=EMAIL_VERIFICATION_KIND).exists()


# --- receipts go only to verified addresses --------------------------------------------------------


def channels_of(notification):
    return set(notification.deliveries.values_list("channel", flat=True))


@pytest.mark.parametrize("kind", ["booking.accepted", "booking.cancelled", "payment.failed", "booking.reminder_24h"])
def test_an_unverified_customer_gets_receipts_in_app_and_by_sms_but_not_by_e_mail(
    kind, django_capture_on_commit_callbacks
):
    customer = CustomerFactory(email="unproved@example.com")

    with django_capture_on_commit_callbacks(execute=True):
        notification = notify(user=customer, kind=kind, title="Booking confirmed", body="BK-1 is confirmed.")

    assert channels_of(notification) == {"sms"}
    assert mail.outbox == []


def test_a_verified_customer_gets_the_e_mail_receipt(django_capture_on_commit_callbacks):
    customer = CustomerFactory(email="proved@example.com", email_verified=True)

    with django_capture_on_commit_callbacks(execute=True):
        notification = notify(user=customer, kind="booking.accepted", title="Booking confirmed", body="BK-1.")

    assert channels_of(notification) == {"sms", "email"}
    assert [message.to for message in mail.outbox] == [["proved@example.com"]]


def test_messages_that_are_not_receipts_still_reach_an_unverified_address(django_capture_on_commit_callbacks):
    customer = CustomerFactory()
    vendor = VendorFactory()

    with django_capture_on_commit_callbacks(execute=True):
        link = notify(user=customer, kind="signature.requested", title="Please sign", body="Open the link.")
        offer = notify(user=vendor.user, kind="job.offer", title="New job", body="Accept within 15 minutes.")

    assert channels_of(link) == {"sms", "email"}
    assert channels_of(offer) == {"sms", "email"}


def test_staff_receive_e_mail_receipts_without_verifying(django_capture_on_commit_callbacks):
    ops = OpsFactory(email="ops@example.com")
    assert ops.role == Role.OPS_MANAGER and not ops.email_verified

    with django_capture_on_commit_callbacks(execute=True):
        notification = notify(user=ops, kind="payment.dispute", title="Chargeback", body="BK-1", sms=False)

    assert channels_of(notification) == {"email"}
