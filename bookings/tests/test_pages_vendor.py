"""Vendor pages of bookings with Django's test client (issue 7): dashboard, job page, actions."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from PIL import Image

from bookings.models import BookingStatus
from bookings.tests.factories import VendorServiceFactory
from core.models import SystemSettings
from core.tests.factories import CustomerFactory, VendorFactory
from core.tests.pages import ALL_DAY, logged_in, make_market

pytestmark = pytest.mark.django_db


@pytest.fixture
def market():
    config = SystemSettings.load()
    config.start_early_minutes = 7 * 24 * 60  # tests start jobs booked for later today or tomorrow
    config.save()
    return make_market()


def jpeg():
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), (10, 120, 80)).save(buffer, format="JPEG")
    return SimpleUploadedFile("p.jpg", buffer.getvalue(), content_type="image/jpeg")


def test_dashboard_shows_offers_with_their_deadline(market):
    booking = market.book()
    response = logged_in(market.vendor.user).get("/vendor/")
    assert response.status_code == 200
    [offer] = response.context["offers"]
    assert offer.booking == booking
    html = response.content.decode()
    assert 'data-live-ws="/ws/vendor/jobs/"' in html and "data-expires-at" in html


def test_accept_from_the_dashboard(market):
    booking = market.book()
    client = logged_in(market.vendor.user)
    response = client.post(f"/vendor/jobs/{booking.pk}/accept/")
    assert response["Location"] == f"/vendor/jobs/{booking.pk}/"
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED
    # A second vendor cannot take it: not offered to them → 404, as the API answers.
    other = VendorFactory(working_hours=ALL_DAY)
    VendorServiceFactory(vendor=other, service=market.service)
    assert logged_in(other.user).post(f"/vendor/jobs/{booking.pk}/accept/").status_code == 404
    assert logged_in(other.user).get(f"/vendor/jobs/{booking.pk}/").status_code == 404


def test_unknown_actions_and_customers_are_refused(market):
    booking = market.book()
    assert logged_in(market.vendor.user).post(f"/vendor/jobs/{booking.pk}/explode/").status_code == 404
    assert logged_in(market.vendor.user).get(f"/vendor/jobs/{booking.pk}/accept/").status_code == 405
    assert logged_in(market.customer).post(f"/vendor/jobs/{booking.pk}/accept/").status_code == 403


def test_reject_sends_the_vendor_back_to_the_dashboard(market):
    booking = market.book()
    response = logged_in(market.vendor.user).post(f"/vendor/jobs/{booking.pk}/reject/", {"reason": "Too far"})
    assert response["Location"] == "/vendor/"
    booking.refresh_from_db()
    assert booking.vendor is None


def test_job_page_work_through_to_the_signature_request(market):
    booking = market.book()
    client = logged_in(market.vendor.user)
    page = client.get(f"/vendor/jobs/{booking.pk}/")
    assert page.context["view"]["address"]["line1"] is None  # exact address only once accepted
    client.post(f"/vendor/jobs/{booking.pk}/accept/")
    assert client.get(f"/vendor/jobs/{booking.pk}/").context["view"]["address"]["line1"] == "12 Lake View Road"
    client.post(f"/vendor/jobs/{booking.pk}/start/")
    refused = client.post(f"/vendor/jobs/{booking.pk}/complete/", follow=True)
    assert "Upload at least one before and one after photo" in refused.content.decode()
    client.post(f"/vendor/jobs/{booking.pk}/photos/", {"kind": "before", "image": jpeg()})
    not_an_image = client.post(
        f"/vendor/jobs/{booking.pk}/photos/",
        {"kind": "after", "image": SimpleUploadedFile("x.jpg", b"not a picture", content_type="image/jpeg")},
        follow=True,
    )
    assert not_an_image.status_code == 200
    assert booking.photos.count() == 1
    client.post(f"/vendor/jobs/{booking.pk}/photos/", {"kind": "after", "image": jpeg()})
    assert client.post(f"/vendor/jobs/{booking.pk}/complete/").status_code == 302
    client.post(f"/vendor/jobs/{booking.pk}/request-signature/")
    booking.refresh_from_db()
    assert booking.status == BookingStatus.AWAITING_SIGNATURE
    assert booking.signature_requests.count() == 1


def test_photo_upload_errors_are_messages(market):
    booking = market.book()
    client = logged_in(market.vendor.user)
    client.post(f"/vendor/jobs/{booking.pk}/accept/")
    early = client.post(f"/vendor/jobs/{booking.pk}/photos/", {"kind": "before", "image": jpeg()}, follow=True)
    assert "only while the job is in progress" in early.content.decode()
    missing = client.post(f"/vendor/jobs/{booking.pk}/photos/", {"kind": "before"}, follow=True)
    assert missing.status_code == 200 and not booking.photos.exists()


def test_dashboard_query_count_does_not_grow_with_jobs(market):
    client = logged_in(market.vendor.user)

    def add(n, offset):
        for index in range(n):
            # The first free time of a day shifts as that day fills: ten jobs a day.
            booking = market.book(customer=CustomerFactory(), start=market.slot(day_offset=2 + (offset + index) // 10))
            client.post(f"/vendor/jobs/{booking.pk}/accept/")

    def count():
        client.get("/vendor/")
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/vendor/").status_code == 200
        return len(captured)

    add(10, 0)
    few = count()
    add(40, 10)
    assert count() == few
