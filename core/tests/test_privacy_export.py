"""``GET /api/users/me/export/`` (issue 6; core/privacy.py): everything we hold about the caller,
table-driven, with a completeness check that fails when a model pointing at a person is added and
neither exported nor excluded with a reason."""

import json

import pytest
from django.apps import apps
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import connection, models
from django.test.utils import CaptureQueriesContext, isolate_apps

from bookings.services.chat import message_post
from core.addresses import address_create
from core.contact import contact_message_submit
from core.models import AuditLog, VendorProfile
from core.notifications import notify
from core.privacy import EXPORT_SECTIONS, NOT_EXPORTED, export_coverage_gaps, person_relations
from core.services import vendor_document_upload
from core.tests.factories import CustomerFactory, OpsFactory
from payments.models import AttemptStatus, PaymentAttempt
from signatures.services import signature_request, signature_sign
from signatures.tests.conftest import TOTAL, data_url, make_world, png_bytes

pytestmark = pytest.mark.django_db

HOME = {"label": "Home", "line1": "7 Jasmine Lane", "city": "Bengaluru", "pincode": "560034"}


@pytest.fixture
def world(settings):
    settings.PAYMENT_GATEWAY = "fake"
    world = make_world()
    customer = world.customer
    customer.first_name, customer.last_name = "Zenobia", "Quixley"
    customer.email, customer.phone, customer.email_verified = "zenobia.q@example.com", "+919876501234", True
    customer.save()
    return world


def signed_booking(world, on_commit, *, index=0, method="card", comments="", signer_name="", chat=""):
    """A booking of the world's customer, done, (optionally chatted about) and signed 5/5, paid."""
    booking = world.complete(index=index, method=method)
    if chat:
        message_post(booking=booking, user=world.customer, body=chat)
    with on_commit(execute=True):
        request, _created = signature_request(booking=booking, user=world.vendor.user)
    with on_commit(execute=True):
        signature_sign(
            request=request,
            user=world.customer,
            rating=5,
            comments=comments,
            signer_name=signer_name,
            signature_image=data_url(png_bytes()),
        )
    booking.refresh_from_db()
    assert booking.status == "signed"
    return booking


def export(client):
    response = client.get("/api/users/me/export/")
    assert response.status_code == 200, response.content[:500]
    return response, json.loads(response.content)


# --- completeness ----------------------------------------------------------------------------------


def test_every_relation_to_a_person_is_exported_or_excluded_with_a_reason():
    gaps, stale = export_coverage_gaps()

    assert gaps == set(), f"add these to core.privacy.EXPORT_SECTIONS or NOT_EXPORTED: {sorted(gaps)}"
    assert stale == set(), f"these registry entries name no relation any more: {sorted(stale)}"
    assert all(reason.strip() for reason in NOT_EXPORTED.values())
    # the walk does see the relations it must (a user FK, a vendor-profile FK, a one-to-one)
    assert {"core.Address.user", "payments.Earning.vendor", "core.VendorProfile.user"} <= person_relations()


def test_a_new_model_pointing_at_a_person_fails_the_check():
    user_model = apps.get_model(settings.AUTH_USER_MODEL)
    with isolate_apps("core"):

        class Scrapbook(models.Model):  # noqa: DJ008
            owner = models.ForeignKey(user_model, on_delete=models.CASCADE, related_name="+")

            class Meta:
                app_label = "core"

        class VendorBadge(models.Model):  # noqa: DJ008
            vendor = models.OneToOneField(VendorProfile, on_delete=models.CASCADE, related_name="+")

            class Meta:
                app_label = "core"

        gaps, stale = export_coverage_gaps(models=[*apps.get_models(), Scrapbook, VendorBadge])

    assert gaps == {"core.Scrapbook.owner", "core.VendorBadge.vendor"}
    assert stale == set()


def test_a_registry_entry_for_a_relation_that_is_gone_is_reported():
    without_addresses = [model for model in apps.get_models() if model._meta.label != "core.Address"]

    _gaps, stale = export_coverage_gaps(models=without_addresses)

    assert stale == {"core.Address.user"}


# --- content ---------------------------------------------------------------------------------------


def test_a_customer_gets_their_profile_addresses_bookings_payments_signatures_and_more(
    world, client_for, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    customer = world.customer
    address_create(user=customer, **HOME)
    booking = signed_booking(
        world,
        django_capture_on_commit_callbacks,
        comments="Spotless, thank you.",
        signer_name="Zenobia Q",
        chat="Please bring a ladder.",
    )
    notify(user=customer, kind="test.hello", title="Hello", body="Welcome to HomeServe.")
    contact_message_submit(name="Zenobia", email="zenobia.q@example.com", subject="Invoice", message="Need a GST bill")
    # someone else's data must not appear
    other = CustomerFactory(first_name="Othello")
    address_create(user=other, **{**HOME, "line1": "99 Elsewhere Street"})
    client = client_for(customer)

    with django_assert_max_num_queries(45):
        response, data = export(client)

    assert response["Content-Disposition"].startswith('attachment; filename="homeserve-data-')
    assert data["format"] == "homeserve-export/1"
    assert data["profile"]["email"] == "zenobia.q@example.com" and data["profile"]["last_name"] == "Quixley"
    assert [row["line1"] for row in data["addresses"]] == ["7 Jasmine Lane"]
    assert data["vendor_profile"] is None
    (row,) = data["bookings"]
    assert row["booking_number"] == booking.booking_number and row["as"] == "customer"
    assert row["status"] == "signed" and row["price"]["total"] == str(TOTAL)
    assert row["lines"][0]["service"] == "Deep cleaning"
    (payment,) = row["payments"]
    assert payment["method"] == "card" and payment["status"] == AttemptStatus.CAPTURED
    assert payment["amount"] == payment["amount_captured"] == "1180.00"
    assert "client_secret" not in payment and "gateway_intent_id" not in payment
    (signature,) = data["signatures"]
    assert signature["comments"] == "Spotless, thank you." and signature["signer_name"] == "Zenobia Q"
    assert signature["signature_image"].startswith("data:image/png;base64,")
    assert data["reviews"][0]["rating"] == 5 and data["reviews"][0]["as"] == "customer"
    assert [message["body"] for message in data["chat_messages"]] == ["Please bring a ladder."]
    assert data["chat_messages"][0]["from_me"] is True
    assert any(note["kind"] == "test.hello" for note in data["notifications"])
    assert [message["subject"] for message in data["contact_messages"]] == ["Invoice"]
    assert {"booking.created", "address.create"} <= {entry["action"] for entry in data["audit_entries"]}
    assert set(data["login_history"]) == {"sign_ins", "failed_attempts"}
    assert set(data["not_included"]) == set(NOT_EXPORTED)
    body = response.content.decode()
    assert "Othello" not in body and "99 Elsewhere Street" not in body
    # every section is present
    assert {section.name for section in EXPORT_SECTIONS} <= set(data)
    assert AuditLog.objects.filter(action="user.export", object_id=str(customer.pk)).exists()


def test_a_vendor_gets_their_profile_documents_jobs_and_earnings_but_not_the_customers_details(
    world, client_for, django_capture_on_commit_callbacks
):
    booking = signed_booking(world, django_capture_on_commit_callbacks)
    vendor = world.vendor
    vendor_document_upload(
        vendor=vendor, kind="id_proof", file=ContentFile(b"%PDF-1.4 id", name="aadhaar.pdf"), actor=vendor.user
    )

    _response, data = export(client_for(vendor.user))

    profile = data["vendor_profile"]
    assert profile["display_name"] == vendor.display_name and profile["pincodes"] == ["560034"]
    (document,) = profile["documents"]
    assert document["kind"] == "id_proof" and document["file_name"].endswith(".pdf")
    assert profile["services"][0]["service__name"] == "Deep cleaning"
    (job,) = data["bookings"]
    assert job["as"] == "vendor" and job["booking_number"] == booking.booking_number
    assert job["vendor_earning"] == "850.00"
    assert "address" not in job and "notes" not in job
    assert [earning["amount"] for earning in data["earnings"]] == ["850.00"]
    assert [offer["booking__booking_number"] for offer in data["job_offers"]] == [booking.booking_number]
    assert data["signatures"][0]["as"] == "vendor" and "comments" not in data["signatures"][0]
    assert data["reviews"][0]["as"] == "vendor"
    assert {photo["kind"] for photo in data["photos"]} <= {"before", "after"}
    assert [request["booking__booking_number"] for request in data["signature_requests"]] == [booking.booking_number]
    text = json.dumps(data)
    customer = world.customer
    assert customer.phone not in text and customer.email not in text and "Quixley" not in text


def test_the_export_needs_a_signed_in_caller(api_client):
    assert api_client.get("/api/users/me/export/").status_code == 401


def test_staff_may_export_their_own_data(client_for):
    ops = OpsFactory()

    _response, data = export(client_for(ops))

    assert data["profile"]["id"] == str(ops.pk)


def test_payments_appear_as_amounts_and_statuses_only(world, client_for):
    booking = world.complete(method="card")

    _response, data = export(client_for(world.customer))

    (payment,) = data["bookings"][0]["payments"]
    attempt = PaymentAttempt.objects.get(booking=booking)
    assert set(payment) == {
        "method",
        "status",
        "amount",
        "amount_captured",
        "amount_refunded",
        "currency",
        "created_at",
    }
    assert payment["status"] == attempt.status == AttemptStatus.AUTHORIZED


def test_the_export_does_not_grow_in_queries_with_the_bookings(world, client_for):
    client = client_for(world.customer)
    world.complete(index=0, method="card")
    with CaptureQueriesContext(connection) as one:
        export(client)
    for index in range(1, 5):
        world.complete(index=index, method="card" if index % 2 else "cash")
    with CaptureQueriesContext(connection) as five:
        _response, data = export(client)

    assert len(data["bookings"]) == 5
    assert len(five.captured_queries) == len(one.captured_queries)
