"""The signing page with Django's test client (issue 7): by the link /sign/<token>, or logged in."""

import io
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone
from PIL import Image

from bookings.models import BookingStatus
from bookings.services.photos import photo_upload
from bookings.tests.photos import add_photo
from core.tests.factories import CustomerFactory
from core.tests.pages import logged_in
from signatures.services import signature_request
from signatures.tests.conftest import data_url, png_bytes, sign_token

pytestmark = pytest.mark.django_db


@pytest.fixture
def awaiting(world):
    booking = world.complete()
    signature_request(booking=booking, user=world.vendor.user)
    booking.refresh_from_db()
    return booking


def test_the_link_opens_the_page_without_a_login(awaiting):
    token = sign_token(awaiting)
    response = Client().get(f"/sign/{token}")
    assert response.status_code == 200
    assert awaiting.booking_number in response.content.decode()
    assert Client().get(f"/sign/{token}/").status_code == 200


def test_sign_by_link_with_a_drawn_signature(awaiting):
    token = sign_token(awaiting)
    response = Client().post(
        f"/sign/{token}", {"satisfaction_rating": "4", "comments": "Good", "signature_image": data_url(png_bytes())}
    )
    assert response.status_code == 200 and response.context["state"] == "done"
    awaiting.refresh_from_db()
    assert awaiting.status == BookingStatus.SIGNED
    assert awaiting.signature.signature_image_sha256
    again = Client().post(f"/sign/{token}", {"satisfaction_rating": "5"})
    assert again.context["state"] == "signed"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({}, "satisfaction_rating"),
        ({"satisfaction_rating": "9"}, "satisfaction_rating"),
        ({"satisfaction_rating": "2"}, "comments"),
        ({"satisfaction_rating": "4", "signature_image": "data:image/png;base64,AAAA"}, "signature_image"),
    ],
)
def test_signing_errors_are_inline(awaiting, data, field):
    response = Client().post(f"/sign/{sign_token(awaiting)}", data)
    assert response.status_code == 200
    assert field in response.context["form"].errors
    awaiting.refresh_from_db()
    assert awaiting.status == BookingStatus.AWAITING_SIGNATURE


def test_a_low_rating_with_a_comment_opens_a_dispute(awaiting):
    Client().post(f"/sign/{sign_token(awaiting)}", {"satisfaction_rating": "1", "comments": "Broke a tap"})
    awaiting.refresh_from_db()
    assert awaiting.status == BookingStatus.DISPUTED


def test_unknown_and_expired_links(world):
    assert Client().get("/sign/not-a-real-token").status_code == 404
    booking = world.complete(index=1)
    # A request made 49 hours ago: past its 48 hours.
    signature_request(booking=booking, user=world.vendor.user, now=timezone.now() - timedelta(hours=49))
    response = Client().get(f"/sign/{sign_token(booking)}")
    assert response.status_code == 410
    assert "This link has expired" in response.content.decode()
    late = Client().post(f"/sign/{sign_token(booking)}", {"satisfaction_rating": "5"})
    assert late.status_code == 410
    booking.refresh_from_db()
    assert booking.status == BookingStatus.AWAITING_SIGNATURE


def test_signing_logged_in_from_the_booking_page(awaiting, world):
    client = logged_in(world.customer)
    assert client.get(f"/bookings/{awaiting.pk}/").context["signature_request"] is not None
    response = client.post(f"/bookings/{awaiting.pk}/sign/", {"satisfaction_rating": "5"})
    assert response["Location"] == f"/bookings/{awaiting.pk}/"
    awaiting.refresh_from_db()
    assert awaiting.status == BookingStatus.SIGNED
    assert logged_in(CustomerFactory()).get(f"/bookings/{awaiting.pk}/sign/").status_code == 404


def test_the_link_shows_only_its_own_jobs_photos(world, settings):
    # given: a completed job with a photo stored through the upload service (re-encoded, with a
    # thumbnail), sent for signing; and another job with its own photo
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"}}
    booking = world.complete()
    picture = io.BytesIO()
    Image.new("RGB", (640, 480), (30, 160, 90)).save(picture, "JPEG")
    photo, _created = photo_upload(
        booking=booking,
        user=world.vendor.user,
        kind="after",
        image_file=SimpleUploadedFile("after.jpg", picture.getvalue(), content_type="image/jpeg"),
    )
    signature_request(booking=booking, user=world.vendor.user)
    token = sign_token(booking)
    stranger = add_photo(world.complete(index=1))

    # then: the link shows its own job's photo, and nothing else
    own = Client().get(f"/sign/{token}/photos/{photo.pk}/")
    assert own.status_code == 200
    assert own["Content-Type"] == "image/jpeg"
    with Image.open(io.BytesIO(own.content)) as thumbnail:
        assert thumbnail.format == "JPEG" and max(thumbnail.size) < 640
    assert Client().get(f"/sign/{token}/photos/{stranger.pk}/").status_code == 404
    assert Client().get(f"/sign/nope/photos/{photo.pk}/").status_code == 404
