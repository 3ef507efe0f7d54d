"""The whole job through the API on PostgreSQL, nothing made behind the API's back: book and pay
by card → accept → start → upload a before and an after photo (multipart, real images) → complete
→ request the signature → the customer signs with the link's token → captured once → the vendor's
earning; then the photo checksums in the signed record are the stored files' SHA-256 and the chain
verifies (issue 5, "Tests", first item)."""

import hashlib
import io

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from PIL import Image
from rest_framework.test import APIClient

from bookings.models import Booking, BookingPhoto
from core.models import SystemSettings
from payments.models import Earning, OperationKind, PaymentOperation
from signatures.tests.conftest import ADDRESS, TOTAL, VENDOR_EARNING, data_url, png_bytes, sign_token, slot

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def jpeg(color) -> io.BytesIO:
    buffer = io.BytesIO()
    Image.new("RGB", (800, 600), color).save(buffer, format="JPEG", quality=85)
    buffer.seek(0)
    buffer.name = "photo.jpg"
    return buffer


class Caller:
    """One party's API client; each request's after-commit work runs when it returns."""

    def __init__(self, client, on_commit):
        self.client, self.on_commit = client, on_commit

    def post(self, url, data=None, status=200, fmt="json"):
        with self.on_commit(execute=True):
            response = self.client.post(url, data or {}, format=fmt)
        assert response.status_code == status, (url, response.status_code, response.content[:500])
        return response.json()

    def get(self, url, status=200):
        response = self.client.get(url)
        assert response.status_code == status, (url, response.status_code, response.content[:500])
        return response


def test_book_pay_photograph_complete_sign_capture_earn(world, client_for, django_capture_on_commit_callbacks):
    customer = Caller(client_for(world.customer), django_capture_on_commit_callbacks)
    vendor = Caller(client_for(world.vendor.user), django_capture_on_commit_callbacks)
    anonymous = Caller(APIClient(), django_capture_on_commit_callbacks)
    config = SystemSettings.load()
    config.start_early_minutes = 5 * 24 * 60  # the job is days ahead; let the vendor start it now
    config.save(update_fields=["start_early_minutes"])

    # the customer books the vendor and pays by card
    booking = customer.post(
        "/api/bookings/",
        {
            "lines": [{"service_id": str(world.service.pk), "quantity": 1}],
            "scheduled_at": slot(0).isoformat(),
            "vendor_id": str(world.vendor.pk),
            "payment_method": "card",
            "address": ADDRESS,
        },
        status=201,
    )
    paid = customer.post(
        f"/api/payments/{booking['payment']['id']}/confirm/",
        {"card_number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"},
    )
    assert paid["status"] == "authorized"
    url = f"/api/bookings/{booking['id']}"

    # the vendor accepts and starts; completing without photos is refused
    assert vendor.post(f"{url}/accept_booking/")["status"] == "confirmed"
    assert vendor.post(f"{url}/start_booking/")["status"] == "in_progress"
    refused = vendor.post(f"{url}/complete_booking/", status=409)
    assert "before and one after photo" in refused["detail"]

    # the vendor uploads a before and an after photo
    uploaded = {
        kind: vendor.post(f"{url}/photos/", {"image": jpeg(color), "kind": kind}, status=201, fmt="multipart")
        for kind, color in (("before", (120, 90, 60)), ("after", (240, 240, 235)))
    }
    listed = customer.get(f"{url}/photos/").json()
    assert sorted(p["kind"] for p in listed) == ["after", "before"]
    for photo in BookingPhoto.objects.filter(booking_id=booking["id"]):
        with default_storage.open(photo.image.name) as stored:
            assert hashlib.sha256(stored.read()).hexdigest() == photo.sha256 == uploaded[photo.kind]["sha256"]

    # completes, and asks for the signature
    assert vendor.post(f"{url}/complete_booking/")["status"] == "completed"
    request = vendor.post(f"{url}/request_signature/", status=201)

    # the customer signs from the link, without logging in
    signed = anonymous.post(
        f"/api/signatures/{request['id']}/sign/",
        {
            "token": sign_token(Booking.objects.get(pk=booking["id"])),
            "satisfaction_rating": 4,
            "comments": "Good work.",
            "signer_name": "Asha Rao",
            "signature_image": data_url(png_bytes()),
        },
    )
    assert signed["status"] == "signed"

    # captured once, and the vendor's earning is there
    after = customer.get(f"{url}/").json()
    assert after["status"] == "signed"
    assert (after["payment"]["status"], after["payment"]["amount_captured"]) == ("captured", str(TOTAL))
    assert PaymentOperation.objects.filter(booking_id=booking["id"], kind=OperationKind.CAPTURE).count() == 1
    earnings = vendor.get("/api/earnings/").json()
    assert earnings["totals"]["pending"] == str(VENDOR_EARNING)  # on hold until the payout window
    assert [(row["amount"], row["count"]) for row in earnings["rows"]] == [(str(VENDOR_EARNING), 1)]
    assert Earning.objects.get(booking_id=booking["id"]).amount == VENDOR_EARNING

    # the signed record holds the stored photos' checksums, and the hash verifies
    record = customer.get(f"/api/signatures/{request['id']}/").json()["signature"]
    assert sorted(record["photo_checksums"]) == sorted(p["sha256"] for p in uploaded.values())
    verified = customer.get(f"/api/signatures/{request['id']}/verify/").json()
    assert verified["valid"] is True and verified["computed_hash"] == signed["signature_hash"]
    call_command("verify_signatures")
    call_command("ledger_check")
