"""``DELETE /api/users/me/`` (issue 6; core/privacy.py): the person is anonymised, nothing personal
is left behind, while bookings, payments, the ledger, signatures and the audit log stay consistent
(``ledger_check`` and ``verify_signatures`` still pass); refused while anything is still open."""

import json

import pytest
from django.apps import apps
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import models
from django.test import RequestFactory
from rest_framework.test import APIClient

from bookings.models import Booking, BookingPhoto, VendorService
from core.accounts import password_reset_request
from core.addresses import address_create
from core.contact import contact_message_submit
from core.models import (
    Address,
    AuditLog,
    ContactMessage,
    Notification,
    OnboardingStatus,
    PhoneOTP,
    Role,
    User,
    VendorDocument,
)
from core.notifications import notify
from core.otp import otp_send
from core.request_context import reset_request_context, set_request_context
from core.services import user_register, vendor_document_upload
from core.tests.factories import PASSWORD, CustomerFactory, OpsFactory, VendorFactory
from core.tests.test_privacy_export import HOME, signed_booking
from core.tests.test_privacy_export import world as world
from payments.models import FakeGatewayObject, GatewayCustomer, IdempotencyRecord, PaymentAttempt, RedactionState
from signatures.models import Review, Signature

pytestmark = pytest.mark.django_db

NAME, SURNAME, EMAIL, PHONE = "Zenobia", "Quixley", "zenobia.q@example.com", "+919876501234"
USERNAME = "zenobiaq"
# Where the customer signed from: kept on the signature until the account is deleted.
SIGNED_FROM_IP, SIGNED_WITH_AGENT = "203.0.113.77", "ZenobiaPhone/9.1 (Quixley build)"
# What may keep a trace of the person, on purpose (core/privacy.py's docstring): the audit log is
# append-only (super admins only). Everything else is searched, the fake card gateway's storage
# (FakeGatewayObject: what Stripe keeps, the customer object with name and e-mail) included.
KEPT = {"core.AuditLog"}
TEXT_FIELDS = (models.CharField, models.TextField, models.JSONField, models.GenericIPAddressField)


def delete_account(client, password=PASSWORD):
    return client.delete("/api/users/me/", {"password": password}, format="json")


def traces(needles):
    """Every stored text value, in every table, that contains one of ``needles``."""
    needles = [needle.lower() for needle in needles]
    found = []
    for model in apps.get_models():
        label = model._meta.label
        if label in KEPT:
            continue
        fields = [
            field.name
            for field in model._meta.concrete_fields
            if isinstance(field, TEXT_FIELDS) and f"{label}.{field.name}" not in KEPT
        ]
        if not fields:
            continue
        for row in model._base_manager.values_list("pk", *fields):
            for name, value in zip(fields, row[1:], strict=True):
                if value is None:
                    continue
                text = json.dumps(value, default=str) if not isinstance(value, str) else value
                hit = [needle for needle in needles if needle in text.lower()]
                if hit:
                    found.append(f"{label}.{name} (pk {row[0]}): {hit}")
    return found


@pytest.fixture
def person(world):
    customer = world.customer
    customer.username = USERNAME
    customer.save(update_fields=["username"])
    return customer


def test_deleting_anonymises_the_person_and_keeps_the_books_and_the_chain_consistent(
    world, person, client_for, django_capture_on_commit_callbacks
):
    # given a customer with a signed and paid job, and traces of themselves everywhere
    address_create(user=person, **HOME)
    # signed from the customer's phone (the request's address and user agent go on the signature)
    signing = RequestFactory().post("/", REMOTE_ADDR=SIGNED_FROM_IP, HTTP_USER_AGENT=SIGNED_WITH_AGENT)
    context = set_request_context(signing)
    try:
        booking = signed_booking(
            world,
            django_capture_on_commit_callbacks,
            comments=f"Great work. {NAME} {SURNAME}, {PHONE}",
            signer_name=f"{NAME} {SURNAME}",
            chat=f"Call me on {PHONE} when you arrive",
        )
    finally:
        reset_request_context(context)
    Booking.objects.filter(pk=booking.pk).update(notes=f"Ask for {NAME} at the gate")
    with django_capture_on_commit_callbacks(execute=True):
        notify(user=person, kind="test.hello", title=f"Hello {NAME}", body=f"Your number {PHONE} is saved.")
        contact_message_submit(name=NAME, email=EMAIL, subject="Invoice", message=f"I am {NAME} {SURNAME}")
        password_reset_request(email=EMAIL)
        otp_send(phone=PHONE)
    api = APIClient()
    tokens = api.post("/auth/login/", {"username": EMAIL, "password": PASSWORD}, format="json").json()
    client_for(person).post("/api/users/me/addresses/", HOME, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert IdempotencyRecord.objects.filter(user=person).exists()
    searched = [NAME, SURNAME, EMAIL, PHONE, USERNAME, SIGNED_FROM_IP, SIGNED_WITH_AGENT]
    left = " ".join(traces(searched))
    # the set-up left traces, on the signature and at the card gateway among them
    for where in ("signer_name", "ip_address", "user_agent", "payments.FakeGatewayObject.data"):
        assert where in left, where
    signature = Signature.objects.get(booking=booking)
    assert signature.signature_image is not None
    gateway_customer = GatewayCustomer.objects.get(user=person)
    before = {
        "booking": Booking.objects.filter(pk=booking.pk).values("status", "total", "vendor_earning", "customer").get(),
        "attempt": PaymentAttempt.objects.filter(booking=booking).values("status", "amount_captured").get(),
        "photos": BookingPhoto.objects.filter(booking=booking).count(),
        "hash": signature.signature_hash,
        "image_sha256": signature.signature_image_sha256,
    }

    # when the person deletes their account (and the redaction at the gateway runs after commit)
    with django_capture_on_commit_callbacks(execute=True):
        response = delete_account(client_for(person))

    # then they are anonymised
    assert response.status_code == 204, response.content
    person.refresh_from_db()
    assert person.username == f"deleted-{person.pk.hex}"
    assert person.email == f"deleted-{person.pk.hex}@deleted.invalid"
    assert (person.first_name, person.last_name, person.phone) == ("", "", "")
    assert not person.is_active and not person.has_usable_password() and person.anonymised_at is not None
    # and no personal field is left behind, anywhere but the audit log — the gateway's copy included
    assert traces(searched) == []
    gateway_customer.refresh_from_db()
    assert (gateway_customer.redaction_state, gateway_customer.redaction_tries) == (RedactionState.DONE, 1)
    at_gateway = FakeGatewayObject.objects.get(pk=gateway_customer.customer_id).data
    assert (at_gateway["name"], at_gateway["email"]) == (None, None)
    assert not Address.objects.filter(user=person).exists()
    assert set(Notification.objects.filter(user=person).values_list("body", flat=True)) == {""}
    assert not PhoneOTP.objects.filter(phone=PHONE).exists()
    assert not IdempotencyRecord.objects.filter(user=person).exists()
    signature.refresh_from_db()
    assert signature.comments == "" and signature.comments_erased_at is not None
    assert (signature.signer_name, signature.ip_address, signature.user_agent) == ("", None, "")
    assert signature.signature_image is None and signature.signer_erased_at is not None
    assert signature.signature_image_sha256 == before["image_sha256"]  # still in the hash
    assert Review.objects.get(booking=booking).comments == ""
    # while the job, its money, photos and signed record stay as they were
    assert (
        Booking.objects.filter(pk=booking.pk).values("status", "total", "vendor_earning", "customer").get()
        == (before["booking"])
    )
    assert PaymentAttempt.objects.filter(booking=booking).values("status", "amount_captured").get() == before["attempt"]
    assert BookingPhoto.objects.filter(booking=booking).count() == before["photos"] == 2
    assert signature.signature_hash == before["hash"]
    call_command("ledger_check")
    call_command("verify_signatures")
    # and the account is closed for good
    assert api.post("/auth/login/", {"username": EMAIL, "password": PASSWORD}, format="json").status_code == 401
    assert api.post("/auth/refresh/", {"refresh": tokens["refresh"]}, format="json").status_code == 401
    stale = APIClient()
    stale.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    assert stale.get("/api/users/me/").status_code == 401
    entry = AuditLog.objects.get(action="user.anonymised", object_id=str(person.pk))
    assert entry.new_values["addresses_deleted"] == 2 and entry.new_values["signature_comments_erased"] == 1
    assert entry.new_values["signature_signers_erased"] == 1 and entry.new_values["gateway_customers_to_redact"] == 1
    assert NAME not in json.dumps(entry.new_values)
    # the address and number are free for a new account
    newcomer = user_register(email=EMAIL, password="New!Person42", first_name="Someone", phone=PHONE)
    assert newcomer.pk != person.pk


def test_a_wrong_password_is_a_400_and_nothing_changes(client_for):
    customer = CustomerFactory(first_name="Meera")
    address_create(user=customer, **HOME)

    response = delete_account(client_for(customer), password="Wrong!pass1")

    assert response.status_code == 400
    assert "password" in response.json()
    customer.refresh_from_db()
    assert customer.is_active and customer.first_name == "Meera"
    assert Address.objects.filter(user=customer).exists()
    assert delete_account(client_for(customer), password="").status_code == 400


def test_password_guesses_are_throttled(client_for):
    client = client_for(CustomerFactory())

    statuses = [delete_account(client, password="Wrong!pass1").status_code for _ in range(21)]

    assert statuses[:20] == [400] * 20 and statuses[20] == 429


def test_staff_accounts_are_not_deleted_here(client_for):
    ops = OpsFactory()

    response = delete_account(client_for(ops))

    assert response.status_code == 403
    ops.refresh_from_db()
    assert ops.is_active


def test_an_unfinished_booking_blocks_deletion(world, person, client_for):
    booking = world.complete()  # completed, not yet signed
    address_create(user=person, **HOME)

    response = delete_account(client_for(person))

    assert response.status_code == 409
    body = response.json()
    assert booking.booking_number in body["detail"] and len(body["reasons"]) == 1
    person.refresh_from_db()
    assert person.is_active and person.email == EMAIL and Address.objects.filter(user=person).exists()
    assert not AuditLog.objects.filter(action="user.anonymised").exists()


def test_money_still_owed_blocks_deletion(world, person, client_for, django_capture_on_commit_callbacks):
    # signed, but the capture that follows the commit has not run: the total is still owed
    booking = world.complete(method="card")
    with django_capture_on_commit_callbacks(execute=True):
        from signatures.services import signature_request, signature_sign

        request, _created = signature_request(booking=booking, user=world.vendor.user)
    with django_capture_on_commit_callbacks(execute=False):
        signature_sign(request=request, user=person, rating=5)

    response = delete_account(client_for(person))

    assert response.status_code == 409
    reasons = " ".join(response.json()["reasons"])
    assert f"A payment is still owed for booking {booking.booking_number}" in reasons
    assert "still being processed" in reasons
    person.refresh_from_db()
    assert person.is_active


def test_a_vendor_with_earnings_not_yet_paid_out_is_refused(world, client_for, django_capture_on_commit_callbacks):
    signed_booking(world, django_capture_on_commit_callbacks)
    vendor_user = world.vendor.user

    response = delete_account(client_for(vendor_user))

    assert response.status_code == 409
    assert "earnings balance is 850.00 INR" in response.json()["detail"]
    vendor_user.refresh_from_db()
    assert vendor_user.is_active


def test_a_vendor_with_nothing_open_is_anonymised_with_the_profile(client_for, django_capture_on_commit_callbacks):
    vendor = VendorFactory(display_name="Ravi Spotless Homes", payout_account_id="acct_1", bio="Ravi, 10 years")
    user = vendor.user
    service_offer = VendorService.objects.create(vendor=vendor, service=_service(), price="500.00")
    document = vendor_document_upload(
        vendor=vendor, kind="id_proof", file=ContentFile(b"%PDF-1.4 id", name="id.pdf"), actor=user
    )
    stored_name = document.file.name
    assert default_storage.exists(stored_name)

    with django_capture_on_commit_callbacks(execute=True):
        response = delete_account(client_for(user))

    assert response.status_code == 204, response.content
    vendor.refresh_from_db()
    assert vendor.display_name == "Deleted vendor" and vendor.bio == "" and vendor.payout_account_id == ""
    assert vendor.onboarding_status == OnboardingStatus.SUSPENDED and not vendor.is_available
    assert not vendor.pincodes.exists() and vendor.working_hours == {}
    assert not VendorDocument.objects.filter(vendor=vendor).exists()
    assert not default_storage.exists(stored_name)
    service_offer.refresh_from_db()
    assert not service_offer.is_active
    listed = APIClient().get("/api/vendors/?pincode=560034").json()
    assert str(vendor.pk) not in json.dumps(listed)
    user.refresh_from_db()
    assert user.role == Role.VENDOR and not user.is_active
    assert traces(["Ravi Spotless", "acct_1", "Ravi, 10 years"]) == []


def test_an_anonymised_account_is_gone_for_the_api(client_for):
    customer = CustomerFactory()
    client = client_for(customer)
    assert delete_account(client).status_code == 204

    assert client.get("/api/users/me/").status_code == 401
    assert User.objects.filter(pk=customer.pk, is_active=False).exists()


def test_contact_messages_from_an_unverified_address_are_not_touched(client_for):
    customer = CustomerFactory(email="shared@example.com", email_verified=False)
    contact_message_submit(name="Someone else", email="shared@example.com", subject="Hi", message="Not the customer")

    assert delete_account(client_for(customer)).status_code == 204

    assert ContactMessage.objects.get().message == "Not the customer"


# --- helpers ----------------------------------------------------------------------------------------


def _service():
    from bookings.tests.factories import ServiceFactory

    return ServiceFactory(name="Sofa cleaning")
