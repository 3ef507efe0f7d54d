"""The vendor's own pages with Django's test client: application and schedule (issue 7)."""

import logging
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from bookings.models import VendorService
from bookings.tests.factories import ServiceFactory
from core.models import OnboardingStatus
from core.tests.factories import CustomerFactory, VendorFactory, VendorUserFactory
from core.tests.pages import logged_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def applicant():
    return VendorFactory(onboarding_status=OnboardingStatus.PENDING, user=VendorUserFactory(phone_verified=False))


def test_vendor_pages_are_for_vendors():
    assert Client().get("/vendor/apply/")["Location"].startswith("/login/?next=/vendor/apply/")
    customer = logged_in(CustomerFactory())
    for url in ("/vendor/apply/", "/vendor/schedule/", "/vendor/", "/vendor/earnings/"):
        assert customer.get(url).status_code == 403


def test_application_profile_and_area(applicant):
    client = logged_in(applicant.user)
    page = client.get("/vendor/apply/")
    assert page.status_code == 200 and b"Pending review" in page.content
    response = client.post(
        "/vendor/apply/",
        {
            "action": "profile",
            "display_name": "Spark Electricals",
            "bio": "",
            "experience_years": 6,
            "base_pincode": "560038",
            "radius_km": "8",
            "pincodes": "560034, 560066",
        },
    )
    assert response.status_code == 302
    applicant.refresh_from_db()
    assert applicant.display_name == "Spark Electricals"
    assert applicant.base_lat is not None
    assert sorted(applicant.pincodes.values_list("pincode", flat=True)) == ["560034", "560038", "560066"]


def test_application_errors_are_inline(applicant):
    response = logged_in(applicant.user).post(
        "/vendor/apply/",
        {"action": "profile", "display_name": "", "experience_years": 99, "radius_km": "8", "pincodes": "012345"},
    )
    errors = response.context["profile_form"].errors
    assert set(errors) == {"display_name", "experience_years", "pincodes"}


def test_services_and_prices(applicant):
    cleaning, plumbing = ServiceFactory(), ServiceFactory()
    client = logged_in(applicant.user)
    client.post("/vendor/apply/", {"action": "services", f"price_{cleaning.pk}": "799.50", f"price_{plumbing.pk}": ""})
    offer = VendorService.objects.get(vendor=applicant)
    assert (offer.service, str(offer.price), offer.is_active) == (cleaning, "799.50", True)
    bad = client.post("/vendor/apply/", {"action": "services", f"price_{cleaning.pk}": "abc"})
    assert bad.status_code == 200
    assert b"Enter a price like 499 or 499.50." in bad.content
    client.post("/vendor/apply/", {"action": "services", f"price_{cleaning.pk}": ""})
    assert not VendorService.objects.get(vendor=applicant).is_active


@pytest.mark.parametrize("raw", ["NaN", "sNaN", "-nan", "Infinity", "-Infinity", "inf", "1e400", "-1", "4.999", "1e10"])
def test_a_price_that_is_not_money_is_refused_inline(applicant, raw):
    # NaN, sNaN and infinities parse as Decimals; comparing or sizing them used to answer 500.
    cleaning, plumbing = ServiceFactory(), ServiceFactory()
    response = logged_in(applicant.user).post(
        "/vendor/apply/", {"action": "services", f"price_{cleaning.pk}": raw, f"price_{plumbing.pk}": "650"}
    )
    assert response.status_code == 200
    [row] = [row for row in response.context["service_rows"] if row["service"] == cleaning]
    assert row["error"] == "Enter a price like 499 or 499.50."
    assert row["value"] == raw
    assert not VendorService.objects.filter(vendor=applicant, service=cleaning).exists()


def test_the_price_service_refuses_what_is_not_money(applicant):
    from decimal import Decimal

    from bookings.services.catalog import vendor_service_set
    from core.errors import InvalidInput

    service = ServiceFactory()
    for price in (Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity"), Decimal("-1"), Decimal("0.001"), "abc"):
        with pytest.raises(InvalidInput) as refused:
            vendor_service_set(vendor=applicant, service_id=service.pk, price=price, actor=applicant.user)
        assert "price" in refused.value.fields
    offer = vendor_service_set(vendor=applicant, service_id=service.pk, price=Decimal("499.5"), actor=applicant.user)
    assert str(offer.price) == "499.50"


def test_document_upload(applicant):
    client = logged_in(applicant.user)
    upload = SimpleUploadedFile("id.pdf", b"%PDF-1.4 test", content_type="application/pdf")
    assert client.post("/vendor/apply/", {"action": "document", "kind": "id_proof", "file": upload}).status_code == 302
    assert applicant.documents.get().kind == "id_proof"
    missing = client.post("/vendor/apply/", {"action": "document", "kind": "id_proof"})
    assert "file" in missing.context["document_form"].errors


def png_bytes() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 120, 200)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "content", "content_type"),
    [
        ("id.pdf", b"<!doctype html><script>alert(1)</script>", "application/pdf"),
        ("id.html", b"<html><body>not a document</body></html>", "text/html"),
        ("id.png", b"\x89PNG\r\n\x1a\n truncated", "image/png"),
    ],
)
def test_the_page_refuses_a_document_that_is_not_pdf_or_an_image(applicant, name, content, content_type):
    # The file's content decides, as on the API: the same check, in the upload service.
    upload = SimpleUploadedFile(name, content, content_type=content_type)
    response = logged_in(applicant.user).post(
        "/vendor/apply/", {"action": "document", "kind": "id_proof", "file": upload}
    )
    assert response.status_code == 200
    assert response.context["document_form"].errors["file"] == ["Upload a PDF, JPEG, PNG or WebP file."]
    assert not applicant.documents.exists()


def test_the_page_takes_an_image_document_and_refuses_one_over_10_mb(applicant):
    client = logged_in(applicant.user)
    photo = SimpleUploadedFile("licence.png", png_bytes(), content_type="image/png")
    assert client.post("/vendor/apply/", {"action": "document", "kind": "id_proof", "file": photo}).status_code == 302
    big = SimpleUploadedFile("scan.png", png_bytes() + b"\0" * (10 * 1024 * 1024), content_type="image/png")
    response = client.post("/vendor/apply/", {"action": "document", "kind": "id_proof", "file": big})
    assert response.context["document_form"].errors["file"] == ["A document may be at most 10 MB."]
    assert applicant.documents.count() == 1


def test_phone_verification_by_code(applicant, caplog, django_capture_on_commit_callbacks):
    caplog.set_level(logging.INFO, logger="core.sms")
    client = logged_in(applicant.user)
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/vendor/apply/", {"action": "send_code"})
    code = caplog.text.split(" is your HomeServe verification code")[0][-6:]
    wrong = "000000" if code != "000000" else "000001"
    response = client.post("/vendor/apply/", {"action": "verify", "otp": wrong})
    assert response.context["code_form"].errors["otp"] == ["Wrong code. 4 attempts left."]
    client.post("/vendor/apply/", {"action": "verify", "otp": code})
    applicant.user.refresh_from_db()
    assert applicant.user.phone_verified


def test_working_hours_time_off_and_availability():
    vendor = VendorFactory()
    client = logged_in(vendor.user)
    assert client.get("/vendor/schedule/").status_code == 200
    client.post("/vendor/schedule/", {"action": "hours", "day_0": "09:00-13:00, 14:00-18:00", "day_6": ""})
    vendor.refresh_from_db()
    assert vendor.working_hours == {"0": [["09:00", "13:00"], ["14:00", "18:00"]]}
    bad = client.post("/vendor/schedule/", {"action": "hours", "day_1": "9 to 5"})
    assert bad.context["hours_form"].errors["day_1"] == ["Write times as HH:MM-HH:MM."]
    overlap = client.post("/vendor/schedule/", {"action": "hours", "day_1": "09:00-13:00, 12:00-14:00"})
    assert overlap.status_code == 200 and overlap.context["hours_form"].errors

    start = timezone.localtime() + timedelta(days=2)
    client.post(
        "/vendor/schedule/",
        {
            "action": "time_off",
            "starts_at": start.strftime("%Y-%m-%dT%H:%M"),
            "ends_at": (start + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M"),
            "reason": "Wedding",
        },
    )
    time_off = vendor.time_off.get()
    backwards = client.post(
        "/vendor/schedule/",
        {
            "action": "time_off",
            "starts_at": start.strftime("%Y-%m-%dT%H:%M"),
            "ends_at": start.strftime("%Y-%m-%dT%H:%M"),
        },
    )
    assert "ends_at" in backwards.context["time_off_form"].errors
    other = VendorFactory()
    assert (
        logged_in(other.user).post("/vendor/schedule/", {"action": "remove_time_off", "id": time_off.pk}).status_code
        == 404
    )
    client.post("/vendor/schedule/", {"action": "remove_time_off", "id": time_off.pk})
    assert not vendor.time_off.exists()

    client.post("/vendor/schedule/", {"action": "availability", "is_available": "0"})
    vendor.refresh_from_db()
    assert not vendor.is_available
