"""A vendor's self-service: profile, working hours, pincodes, prices, documents, time off."""

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image

from bookings.models import VendorService
from bookings.tests.factories import ServiceFactory
from core.models import AuditLog, VendorDocument, VendorTimeOff
from core.tests.factories import CustomerFactory, OpsFactory, VendorFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def vendor():
    return VendorFactory()


@pytest.fixture
def vendor_api(client_for, vendor):
    return client_for(vendor.user)


def png_bytes(size=(8, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


# --- profile -------------------------------------------------------------------------------------


def test_vendor_reads_own_profile(vendor_api, vendor):
    response = vendor_api.get("/api/vendors/me/")

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(vendor.pk)
    assert body["user"]["id"] == str(vendor.user.pk)
    assert body["pincodes"] == ["560034"]
    assert body["working_hours"]["0"] == [["08:00", "20:00"]]
    assert body["onboarding_status"] == "approved"


@pytest.mark.parametrize("factory", [CustomerFactory, OpsFactory])
def test_a_non_vendor_gets_403(client_for, factory):
    api = client_for(factory())

    assert api.get("/api/vendors/me/").status_code == 403
    assert api.patch("/api/vendors/me/", {"bio": "x"}, format="json").status_code == 403
    assert api.get("/api/vendors/me/services/").status_code == 403
    assert api.get("/api/vendors/me/documents/").status_code == 403
    assert api.get("/api/vendors/me/time-off/").status_code == 403


def test_anonymous_gets_401(api_client):
    assert api_client.get("/api/vendors/me/").status_code == 401


def test_vendor_updates_profile_working_hours_and_pincodes(vendor_api, vendor):
    hours = {"0": [["09:00", "13:00"], ["14:00", "18:00"]], "5": [["10:00", "16:00"]]}

    response = vendor_api.patch(
        "/api/vendors/me/",
        {"display_name": "Sparkle Homes", "working_hours": hours, "pincodes": ["560038", "560034", "560102"]},
        format="json",
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["display_name"] == "Sparkle Homes"
    assert body["working_hours"] == hours
    assert body["pincodes"] == ["560034", "560038", "560102"]
    vendor.refresh_from_db()
    assert vendor.working_hours == hours
    assert sorted(vendor.pincodes.values_list("pincode", flat=True)) == ["560034", "560038", "560102"]
    assert AuditLog.objects.filter(action="vendor.update", object_id=str(vendor.pk)).count() == 1


def test_vendor_cannot_approve_themselves(vendor_api, vendor):
    vendor.onboarding_status = "pending"
    vendor.save(update_fields=["onboarding_status"])

    response = vendor_api.patch("/api/vendors/me/", {"onboarding_status": "approved", "rating_avg": "5.00"})

    assert response.status_code == 200
    vendor.refresh_from_db()
    assert vendor.onboarding_status == "pending"
    assert vendor.rating_avg == Decimal("0.00")


@pytest.mark.parametrize(
    "hours",
    [
        pytest.param({"7": [["09:00", "17:00"]]}, id="weekday-7"),
        pytest.param({"mon": [["09:00", "17:00"]]}, id="weekday-name"),
        pytest.param({"0": [["9am", "5pm"]]}, id="not-hh-mm"),
        pytest.param({"0": [["25:00", "26:00"]]}, id="hour-25"),
        pytest.param({"0": [["09:00"]]}, id="half-interval"),
        pytest.param({"0": "09:00-17:00"}, id="not-a-list"),
        pytest.param({"0": [["17:00", "09:00"]]}, id="ends-before-start"),
        pytest.param({"0": [["09:00", "13:00"], ["12:00", "18:00"]]}, id="overlap"),
        pytest.param({"0": [["14:00", "18:00"], ["09:00", "13:00"]]}, id="unsorted"),
        pytest.param([["09:00", "17:00"]], id="list-not-object"),
    ],
)
def test_bad_working_hours_are_refused(vendor_api, vendor, hours):
    response = vendor_api.patch("/api/vendors/me/", {"working_hours": hours}, format="json")

    assert response.status_code == 400
    assert "working_hours" in response.json()
    vendor.refresh_from_db()
    assert vendor.working_hours["0"] == [["08:00", "20:00"]]


@pytest.mark.parametrize(
    "pincodes",
    [["012345"], ["56003"], ["5600345"], ["abcdef"], "560034", [560034, "x"]],
)
def test_bad_pincodes_are_refused(vendor_api, vendor, pincodes):
    response = vendor_api.patch("/api/vendors/me/", {"pincodes": pincodes}, format="json")

    assert response.status_code == 400
    assert "pincodes" in response.json()
    assert list(vendor.pincodes.values_list("pincode", flat=True)) == ["560034"]


@pytest.mark.parametrize(
    "field,value",
    [("radius_km", "500"), ("base_lat", "91"), ("experience_years", 100), ("experience_years", -1)],
)
def test_out_of_range_profile_values_are_refused(vendor_api, field, value):
    response = vendor_api.patch("/api/vendors/me/", {field: value}, format="json")

    assert response.status_code == 400
    assert field in response.json()


# --- services and prices -------------------------------------------------------------------------


def test_vendor_sets_and_lists_a_price(vendor_api, vendor):
    service = ServiceFactory(name="AC repair")

    created = vendor_api.post("/api/vendors/me/services/", {"service_id": service.pk, "price": "749.50"}, format="json")
    updated = vendor_api.post("/api/vendors/me/services/", {"service_id": service.pk, "price": "799"}, format="json")
    listing = vendor_api.get("/api/vendors/me/services/")

    assert created.status_code == 201, created.json()
    assert created.json()["price"] == "749.50"
    assert updated.json()["price"] == "799.00"
    assert listing.status_code == 200
    assert listing.json() == [
        {"service_id": service.pk, "name": "AC repair", "price": "799.00", "duration_minutes": 60, "is_active": True}
    ]
    assert VendorService.objects.get(vendor=vendor, service=service).price == Decimal("799.00")


@pytest.mark.parametrize(
    "payload,field",
    [
        ({"service_id": 999999, "price": "100"}, "service_id"),
        ({"service_id": "abc", "price": "100"}, "service_id"),
        ({"service_id": 10**30, "price": "100"}, "service_id"),
        ({"price": "100"}, "service_id"),
        ({"service_id": "SERVICE", "price": "-1.00"}, "price"),
        ({"service_id": "SERVICE", "price": "ten"}, "price"),
        ({"service_id": "SERVICE", "price": "1.001"}, "price"),
    ],
)
def test_bad_service_prices_are_refused(vendor_api, vendor, payload, field):
    service = ServiceFactory()
    payload = {key: service.pk if value == "SERVICE" else value for key, value in payload.items()}

    response = vendor_api.post("/api/vendors/me/services/", payload, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not VendorService.objects.filter(vendor=vendor).exists()


def test_an_inactive_catalog_service_cannot_be_offered(vendor_api, vendor):
    service = ServiceFactory(is_active=False)

    response = vendor_api.post("/api/vendors/me/services/", {"service_id": service.pk, "price": "100"}, format="json")

    assert response.status_code == 400
    assert "service_id" in response.json()


# --- documents -----------------------------------------------------------------------------------


def test_vendor_uploads_a_png_document_and_its_file_is_never_exposed(vendor_api, vendor):
    upload = SimpleUploadedFile("aadhaar.png", png_bytes(), content_type="image/png")

    response = vendor_api.post("/api/vendors/me/documents/", {"kind": "id_proof", "file": upload}, format="multipart")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["kind"] == "id_proof"
    assert body["status"] == "pending"
    assert "file" not in body
    assert "/media/" not in str(body)
    document = VendorDocument.objects.get(vendor=vendor)
    assert document.file.name.endswith(".png")
    listing = vendor_api.get("/api/vendors/me/documents/").json()
    rows = listing["results"] if isinstance(listing, dict) else listing
    assert [row["id"] for row in rows] == [document.pk]
    assert "file" not in rows[0]
    assert "vendor-documents" not in str(listing)
    assert AuditLog.objects.filter(action="vendor.document_upload", object_id=str(document.pk)).exists()


def test_a_text_file_named_png_is_refused(vendor_api, vendor):
    upload = SimpleUploadedFile("aadhaar.png", b"this is not an image at all\n" * 10, content_type="image/png")

    response = vendor_api.post("/api/vendors/me/documents/", {"kind": "id_proof", "file": upload}, format="multipart")

    assert response.status_code == 400
    assert "file" in response.json()
    assert not VendorDocument.objects.exists()


def test_a_truncated_png_is_refused(vendor_api):
    upload = SimpleUploadedFile("id.png", png_bytes((64, 64))[:40], content_type="image/png")

    response = vendor_api.post("/api/vendors/me/documents/", {"kind": "id_proof", "file": upload}, format="multipart")

    assert response.status_code == 400
    assert "file" in response.json()


def test_an_html_file_named_pdf_is_refused_by_the_upload_service(vendor_api, vendor):
    # The check is the service's (core.documents), shared with the application page.
    from core.errors import InvalidInput
    from core.services import vendor_document_upload

    html = b"<!doctype html><script>alert(1)</script>"
    upload = SimpleUploadedFile("id.pdf", html, content_type="application/pdf")
    response = vendor_api.post("/api/vendors/me/documents/", {"kind": "id_proof", "file": upload}, format="multipart")
    assert response.status_code == 400
    assert response.json() == {"file": ["Upload a PDF, JPEG, PNG or WebP file."]}
    with pytest.raises(InvalidInput):
        vendor_document_upload(
            vendor=vendor, kind="id_proof", file=SimpleUploadedFile("id.pdf", html), actor=vendor.user
        )
    assert not VendorDocument.objects.exists()


def test_a_document_needs_a_known_kind(vendor_api):
    upload = SimpleUploadedFile("id.png", png_bytes(), content_type="image/png")

    response = vendor_api.post("/api/vendors/me/documents/", {"kind": "selfie", "file": upload}, format="multipart")

    assert response.status_code == 400
    assert "kind" in response.json()


def test_documents_are_listed_only_to_their_vendor(client_for, vendor_api):
    upload = SimpleUploadedFile("id.png", png_bytes(), content_type="image/png")
    response = vendor_api.post("/api/vendors/me/documents/", {"kind": "id_proof", "file": upload}, format="multipart")
    assert response.status_code == 201

    other = client_for(VendorFactory().user).get("/api/vendors/me/documents/").json()

    rows = other["results"] if isinstance(other, dict) else other
    assert rows == []


# --- time off ------------------------------------------------------------------------------------


def test_time_off_add_list_delete(vendor_api, vendor):
    starts = (timezone.now() + timedelta(days=2)).replace(microsecond=0)
    ends = starts + timedelta(hours=5)

    created = vendor_api.post(
        "/api/vendors/me/time-off/",
        {"starts_at": starts.isoformat(), "ends_at": ends.isoformat(), "reason": "Family function"},
        format="json",
    )

    assert created.status_code == 201, created.json()
    time_off_id = created.json()["id"]
    listing = vendor_api.get("/api/vendors/me/time-off/")
    assert [row["id"] for row in listing.json()] == [time_off_id]
    assert VendorTimeOff.objects.get(pk=time_off_id).starts_at == starts
    deleted = vendor_api.delete(f"/api/vendors/me/time-off/{time_off_id}/")
    assert deleted.status_code == 204
    assert not VendorTimeOff.objects.filter(pk=time_off_id).exists()
    assert vendor_api.get("/api/vendors/me/time-off/").json() == []
    actions = set(AuditLog.objects.filter(object_type="core.vendortimeoff").values_list("action", flat=True))
    assert actions == {"vendor.time_off_add", "vendor.time_off_remove"}


def test_time_off_must_end_after_it_starts(vendor_api):
    starts = timezone.now() + timedelta(days=2)

    response = vendor_api.post(
        "/api/vendors/me/time-off/",
        {"starts_at": starts.isoformat(), "ends_at": (starts - timedelta(hours=1)).isoformat()},
        format="json",
    )

    assert response.status_code == 400
    assert "ends_at" in response.json()
    assert not VendorTimeOff.objects.exists()


def test_time_off_refuses_a_naive_datetime(vendor_api):
    response = vendor_api.post(
        "/api/vendors/me/time-off/",
        {"starts_at": "2030-01-05T09:00:00", "ends_at": "2030-01-05T18:00:00+05:30"},
        format="json",
    )

    assert response.status_code == 400
    assert "starts_at" in response.json()
    assert not VendorTimeOff.objects.exists()


def test_another_vendors_time_off_is_404(client_for, vendor_api):
    other = VendorFactory()
    starts = timezone.now() + timedelta(days=3)
    theirs = VendorTimeOff.objects.create(vendor=other, starts_at=starts, ends_at=starts + timedelta(hours=2))

    response = vendor_api.delete(f"/api/vendors/me/time-off/{theirs.pk}/")

    assert response.status_code == 404
    assert VendorTimeOff.objects.filter(pk=theirs.pk).exists()
    assert vendor_api.get("/api/vendors/me/time-off/").json() == []
    assert vendor_api.delete("/api/vendors/me/time-off/999999/").status_code == 404


def test_a_document_over_10_mb_is_refused_with_413_and_nothing_stored(vendor_api, vendor):
    # a real PNG header followed by padding: the size decides before the content does
    big = SimpleUploadedFile("scan.png", png_bytes() + b"\0" * (10 * 1024 * 1024), content_type="image/png")
    response = vendor_api.post("/api/vendors/me/documents/", {"kind": "id_proof", "file": big}, format="multipart")
    assert response.status_code == 413
    assert "10 MB" in response.json()["detail"]
    assert not VendorDocument.objects.filter(vendor=vendor).exists()
