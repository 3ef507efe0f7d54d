"""Before/after job photos (ARCHITECTURE §7): who may add and see them, when, what is accepted
(decoded JPEG/PNG/WebP ≤ 10 MB, no bombs), what is stored (re-encoded, upright, no EXIF, with a
thumbnail and the stored file's SHA-256), and how they are served (only through the API)."""

import hashlib
import io
import struct
import zlib
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from PIL import ExifTags, Image

from bookings.api.photos import MAX_PHOTO_REQUEST_BYTES
from bookings.images import MAX_PHOTO_BYTES, MAX_PHOTO_PIXELS
from bookings.models import Booking, BookingEvent, BookingPhoto, BookingStatus
from bookings.services.common import BookingConflict
from bookings.services.photos import MAX_PHOTOS_PER_BOOKING, photo_list, photo_upload
from bookings.services.transitions import booking_accept, booking_complete, booking_reject, booking_start
from bookings.tests.conftest import NOW, ist
from bookings.tests.factories import VendorServiceFactory
from bookings.tests.photos import add_job_photos
from core.errors import Forbidden, InvalidInput, NotFound, PayloadTooLarge
from core.models import AuditLog
from core.tests.factories import CustomerFactory, OpsFactory, VendorFactory
from marketplace.settings.media import default_storage_config

pytestmark = pytest.mark.django_db

START = ist(3, 10)
MINUTE = timedelta(minutes=1)


@pytest.fixture(autouse=True)
def _fresh_storage(settings):
    # Every test gets an empty in-memory storage, so it can tell exactly which files it left.
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"}}


# --- images made for the tests -------------------------------------------------------------------


def image_bytes(fmt="JPEG", size=(64, 48), color=(200, 80, 40), mode="RGB", **save_params) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, fmt, **save_params)
    return buffer.getvalue()


def noisy_jpeg(size=(400, 300)) -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise(size, 80).convert("RGB").save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def jpeg_with_gps_and_orientation(orientation=1) -> bytes:
    """A 200 × 100 JPEG, red on the left and blue on the right, with a camera's EXIF: make,
    orientation and the GPS position where it was taken."""
    image = Image.new("RGB", (200, 100), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 100, 100))
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneMaker"
    exif[ExifTags.Base.Orientation] = orientation
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (12.0, 56.0, 7.2)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (77.0, 37.0, 28.2)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif, quality=95)
    return buffer.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_declaring(width: int, height: int, *, rows: int | None = None) -> bytes:
    """A grayscale PNG whose header declares ``width`` × ``height``. With ``rows`` the image data
    holds that many all-black rows (``rows=height`` is a complete, valid image: a decompression
    bomb a few hundred KB small); otherwise a token IDAT."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    compressor = zlib.compressobj(9)
    if rows is None:
        idat = compressor.compress(b"\0" * 64)
    else:
        row = b"\0" * (width + 1)  # filter byte + pixels
        idat = b"".join(compressor.compress(row) for _ in range(rows))
    idat += compressor.flush()
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def upload(data: bytes, name="photo.jpg", content_type="image/jpeg"):
    return SimpleUploadedFile(name, data, content_type=content_type)


def stored_bytes(name: str) -> bytes:
    with default_storage.open(name, "rb") as handle:
        return handle.read()


# --- bookings at each stage ----------------------------------------------------------------------


@pytest.fixture
def confirmed(make_booking, customer, vendor):
    booking = make_booking(customer=customer, vendor=vendor, start=START)
    return booking_accept(booking=booking, user=vendor.user, now=NOW + MINUTE)


@pytest.fixture
def job(confirmed, vendor):
    """The booking in progress: the vendor is at the customer's home."""
    return booking_start(booking=confirmed, user=vendor.user, now=START)


def complete(booking, vendor):
    return booking_complete(booking=booking, user=vendor.user, now=START + timedelta(hours=2))


def add_photo(booking, vendor, kind="before", data=None, **kwargs):
    photo, created = photo_upload(
        booking=booking, user=vendor.user, kind=kind, image_file=upload(data or image_bytes()), **kwargs
    )
    assert created
    return photo


def photos_url(booking):
    return f"/api/bookings/{booking.pk}/photos/"


def post_photo(client, booking, data, *, kind="before", name="photo.jpg", caption="", content_type="image/jpeg"):
    return client.post(
        photos_url(booking),
        {"image": upload(data, name, content_type), "kind": kind, "caption": caption},
        format="multipart",
    )


# --- upload validation ---------------------------------------------------------------------------


def test_a_jpeg_is_stored_re_encoded_with_a_thumbnail_and_the_stored_files_checksum(client_for, job, vendor):
    response = post_photo(
        client_for(vendor.user), job, noisy_jpeg((640, 480)), name="Priya-home-sink.jpg", caption="  Kitchen sink  "
    )

    assert response.status_code == 201, response.content
    body = response.json()
    photo = BookingPhoto.objects.get(booking=job)
    stored = stored_bytes(photo.image.name)
    assert body["sha256"] == photo.sha256 == hashlib.sha256(stored).hexdigest()
    assert (body["width"], body["height"], body["size_bytes"]) == (640, 480, len(stored))
    assert (body["kind"], body["caption"]) == ("before", "Kitchen sink")
    assert Image.open(io.BytesIO(stored)).format == "JPEG"
    assert photo.image.name.startswith("booking-photos/") and photo.image.name.endswith(".jpg")
    # a random name: nothing of the upload's own name, nothing to guess
    assert photo.image.name.rsplit("/", 1)[1] == f"{photo.pk.hex}.jpg"
    thumbnail = Image.open(io.BytesIO(stored_bytes(photo.thumbnail.name)))
    assert thumbnail.format == "JPEG"
    assert thumbnail.size == (320, 240)
    assert body["image_url"].endswith(f"/api/bookings/{job.pk}/photos/{photo.pk}/image/")
    assert body["thumbnail_url"].endswith(f"/api/bookings/{job.pk}/photos/{photo.pk}/thumbnail/")


def test_an_11_mb_upload_is_refused_with_413_before_it_is_parsed(client_for, job, vendor):
    big = image_bytes("PNG") + b"\0" * (11 * 1024 * 1024)

    response = post_photo(client_for(vendor.user), job, big, name="photo.png")

    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert "10 MB" in response.json()["detail"]
    assert not BookingPhoto.objects.exists()


@pytest.mark.parametrize("content_type", ["multipart/form-data; boundary=x", "application/octet-stream"])
def test_an_11_mb_raw_request_body_is_a_413_json_whatever_its_type(client_for, job, vendor, content_type):
    response = client_for(vendor.user).generic(
        "POST", photos_url(job), data=b"x" * (11 * 1024 * 1024), content_type=content_type
    )

    assert response.status_code == 413
    assert "10 MB" in response.json()["detail"]


def test_a_file_just_over_10_mb_in_a_request_under_the_raw_limit_is_a_413(client_for, job, vendor):
    # given: the request as a whole passes the Content-Length check, the file part does not
    data = image_bytes("PNG") + b"\0" * (MAX_PHOTO_BYTES + 1 - len(image_bytes("PNG")))
    assert len(data) == MAX_PHOTO_BYTES + 1 < MAX_PHOTO_REQUEST_BYTES - 1024

    response = post_photo(client_for(vendor.user), job, data, name="photo.png")

    assert response.status_code == 413
    assert "10 MB" in response.json()["detail"]
    assert not BookingPhoto.objects.exists()


def test_an_image_sent_as_a_plain_form_field_over_the_memory_limit_is_a_413(client_for, job, vendor, settings):
    # A part without a filename is a form field, held in memory up to DATA_UPLOAD_MAX_MEMORY_SIZE.
    too_much = "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)

    response = client_for(vendor.user).post(photos_url(job), {"image": too_much, "kind": "before"}, format="multipart")

    assert response.status_code == 413
    assert response.json()["detail"]


def test_the_service_refuses_over_10_mb_whatever_the_caller(job, vendor):
    with pytest.raises(PayloadTooLarge):
        photo_upload(booking=job, user=vendor.user, kind="before", image_file=upload(b"\xff" * (MAX_PHOTO_BYTES + 1)))
    assert not BookingPhoto.objects.exists()


@pytest.mark.parametrize(
    ("data", "name", "content_type"),
    [
        (b"just some notes, not a picture\n" * 20, "photo.png", "image/png"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", "photo.jpg", "image/jpeg"),
        (image_bytes("GIF"), "photo.gif", "image/gif"),
        (image_bytes("GIF"), "photo.png", "image/png"),
        (image_bytes("BMP"), "photo.jpg", "image/jpeg"),
        (image_bytes("TIFF"), "photo.webp", "image/webp"),
    ],
    ids=["text-named-png", "pdf-named-jpg", "gif", "gif-named-png", "bmp-named-jpg", "tiff-named-webp"],
)
def test_anything_but_a_decoded_jpeg_png_or_webp_is_a_400(client_for, job, vendor, data, name, content_type):
    response = post_photo(client_for(vendor.user), job, data, name=name, content_type=content_type)

    assert response.status_code == 400
    assert response.json()["image"] == ["Upload a JPEG, PNG or WebP photo."]
    assert not BookingPhoto.objects.exists()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_a_truncated_image_is_a_400(client_for, job, vendor, fmt):
    buffer = io.BytesIO()
    Image.effect_noise((400, 300), 80).convert("RGB").save(buffer, fmt)
    whole = buffer.getvalue()

    response = post_photo(client_for(vendor.user), job, whole[: len(whole) // 2])

    assert response.status_code == 400
    assert response.json()["image"]
    assert not BookingPhoto.objects.exists()


@pytest.mark.parametrize(
    "bomb",
    [
        pytest.param(lambda: png_declaring(100_000, 100_000), id="10-gigapixel-header"),
        pytest.param(lambda: png_declaring(7100, 7100, rows=7100), id="50-megapixel-valid-png"),
    ],
)
def test_a_png_decompression_bomb_is_a_400(client_for, job, vendor, bomb):
    data = bomb()
    width, height = struct.unpack(">II", data[16:24])  # from the IHDR chunk
    assert len(data) < 1024 * 1024  # a small file…
    assert width * height > MAX_PHOTO_PIXELS  # …declaring more pixels than we decode

    response = post_photo(client_for(vendor.user), job, data, name="photo.png", content_type="image/png")

    assert response.status_code == 400
    assert response.json()["image"] == ["This image's dimensions are too large."]
    assert not BookingPhoto.objects.exists()


def test_exif_gps_is_removed_from_the_stored_file(job, vendor):
    # given: a phone's JPEG that says where the customer lives
    original = jpeg_with_gps_and_orientation()
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(ExifTags.IFD.GPSInfo)

    photo = add_photo(job, vendor, data=original)

    for name in (photo.image.name, photo.thumbnail.name):
        stored = stored_bytes(name)
        image = Image.open(io.BytesIO(stored))
        assert not image.getexif()
        assert not image.getexif().get_ifd(ExifTags.IFD.GPSInfo)
        assert "exif" not in image.info
        assert b"Exif" not in stored
        assert b"PhoneMaker" not in stored


def test_the_exif_orientation_is_applied_before_it_is_dropped(job, vendor):
    # Orientation 6: the camera was turned; viewers rotate the picture 90° clockwise.
    photo = add_photo(job, vendor, data=jpeg_with_gps_and_orientation(orientation=6))

    image = Image.open(io.BytesIO(stored_bytes(photo.image.name))).convert("RGB")
    assert (photo.width, photo.height) == image.size == (100, 200)
    red, _, blue = image.getpixel((50, 20))
    assert red > 200 and blue < 60  # the left (red) half is now on top
    red, _, blue = image.getpixel((50, 180))
    assert blue > 200 and red < 60


def test_webp_is_accepted_and_stored_as_webp(client_for, job, vendor):
    response = post_photo(
        client_for(vendor.user), job, image_bytes("WEBP", size=(800, 400)), name="p.webp", content_type="image/webp"
    )

    assert response.status_code == 201, response.content
    photo = BookingPhoto.objects.get(booking=job)
    assert photo.image.name.endswith(".webp")
    assert Image.open(io.BytesIO(stored_bytes(photo.image.name))).format == "WEBP"
    assert Image.open(io.BytesIO(stored_bytes(photo.thumbnail.name))).size == (320, 160)


def test_a_png_keeps_its_transparency(job, vendor):
    photo = add_photo(job, vendor, data=image_bytes("PNG", mode="RGBA", color=(10, 200, 10, 0)))

    image = Image.open(io.BytesIO(stored_bytes(photo.image.name)))
    assert (image.format, image.mode) == ("PNG", "RGBA")
    assert image.getpixel((0, 0))[3] == 0


def test_a_phones_multi_picture_jpeg_is_accepted_as_a_plain_jpeg(job, vendor):
    buffer = io.BytesIO()
    Image.new("RGB", (300, 200), (1, 2, 3)).save(
        buffer, "MPO", save_all=True, append_images=[Image.new("RGB", (30, 20))]
    )

    photo = add_photo(job, vendor, data=buffer.getvalue())

    image = Image.open(io.BytesIO(stored_bytes(photo.image.name)))
    assert (image.format, image.size) == ("JPEG", (300, 200))


def test_a_large_photo_is_kept_at_4096_px_on_its_long_edge(job, vendor):
    photo = add_photo(job, vendor, data=image_bytes("JPEG", size=(6000, 3000)))

    assert (photo.width, photo.height) == (4096, 2048)
    assert Image.open(io.BytesIO(stored_bytes(photo.image.name))).size == (4096, 2048)


def test_a_caption_over_200_characters_is_a_400(client_for, job, vendor):
    response = post_photo(client_for(vendor.user), job, image_bytes(), caption="x" * 201)

    assert response.status_code == 400
    assert "caption" in response.json()


def test_an_unknown_kind_is_a_400(client_for, job, vendor):
    response = post_photo(client_for(vendor.user), job, image_bytes(), kind="during")

    assert response.status_code == 400
    assert "kind" in response.json()


# --- who may add photos, and when ----------------------------------------------------------------


def test_only_the_vendor_holding_the_booking_may_upload(client_for, api_client, job, customer, ops):
    stranger_vendor = VendorFactory()

    assert post_photo(client_for(customer), job, image_bytes()).status_code == 403
    assert post_photo(client_for(ops), job, image_bytes()).status_code == 403
    assert post_photo(client_for(stranger_vendor.user), job, image_bytes()).status_code == 404
    assert post_photo(client_for(CustomerFactory()), job, image_bytes()).status_code == 404
    assert post_photo(api_client, job, image_bytes()).status_code == 401
    assert not BookingPhoto.objects.exists()


def test_a_vendor_who_declined_the_booking_may_neither_upload_nor_look(make_booking, customer, vendor):
    # given: the vendor was offered the booking and declined it: they still see the booking
    booking = make_booking(customer=customer, vendor=vendor, start=START)
    booking = booking_reject(booking=booking, user=vendor.user, reason="Too far", now=NOW + MINUTE)
    assert booking.vendor_id is None

    with pytest.raises(Forbidden):
        photo_upload(booking=booking, user=vendor.user, kind="before", image_file=upload(image_bytes()))
    with pytest.raises(Forbidden):
        photo_list(booking=booking, user=vendor.user)


def test_before_photos_only_while_the_job_is_in_progress(client_for, confirmed, vendor):
    api = client_for(vendor.user)

    refused = post_photo(api, confirmed, image_bytes(), kind="before")
    assert refused.status_code == 409
    assert refused.json()["status"] == "confirmed"

    booking_start(booking=confirmed, user=vendor.user, now=START)
    assert post_photo(api, confirmed, image_bytes(), kind="before").status_code == 201
    assert post_photo(api, confirmed, image_bytes(color=(9, 9, 9)), kind="after").status_code == 201

    complete(confirmed, vendor)
    assert post_photo(api, confirmed, image_bytes(color=(1, 1, 1)), kind="before").status_code == 409
    assert BookingPhoto.objects.filter(booking=confirmed, kind="before").count() == 1


def test_after_photos_while_in_progress_or_completed(client_for, confirmed, vendor):
    api = client_for(vendor.user)

    assert post_photo(api, confirmed, image_bytes(), kind="after").status_code == 409

    booking_start(booking=confirmed, user=vendor.user, now=START)
    assert post_photo(api, confirmed, image_bytes(color=(1, 2, 3)), kind="after").status_code == 201
    assert post_photo(api, confirmed, image_bytes(color=(3, 2, 1)), kind="before").status_code == 201

    complete(confirmed, vendor)
    assert post_photo(api, confirmed, image_bytes(color=(4, 5, 6)), kind="after").status_code == 201

    # Once a signature is requested the photos are part of what is signed: no more.
    Booking.objects.filter(pk=confirmed.pk).update(status=BookingStatus.AWAITING_SIGNATURE)
    assert post_photo(api, confirmed, image_bytes(color=(7, 8, 9)), kind="after").status_code == 409
    assert BookingPhoto.objects.filter(booking=confirmed, kind="after").count() == 2


def test_a_booking_takes_at_most_20_photos(job, vendor):
    for index in range(MAX_PHOTOS_PER_BOOKING):
        add_photo(job, vendor, kind="before" if index % 2 else "after", data=image_bytes("PNG", color=(index, 0, 0)))

    with pytest.raises(InvalidInput) as refused:
        photo_upload(
            booking=job, user=vendor.user, kind="after", image_file=upload(image_bytes("PNG", color=(0, 0, 99)))
        )

    assert "20" in str(refused.value.fields["image"][0])
    assert BookingPhoto.objects.filter(booking=job).count() == MAX_PHOTOS_PER_BOOKING
    # a retry of the 20th upload is still recognised, not refused
    last = image_bytes("PNG", color=(MAX_PHOTOS_PER_BOOKING - 1, 0, 0))
    photo, created = photo_upload(booking=job, user=vendor.user, kind="before", image_file=upload(last))
    assert not created and photo.booking_id == job.pk


def test_the_same_picture_sent_again_returns_the_photo_already_stored(client_for, job, vendor):
    api = client_for(vendor.user)
    data = noisy_jpeg()
    first = post_photo(api, job, data, kind="after")
    files = _all_files()

    again = post_photo(api, job, data, kind="after")  # a retry after a lost answer

    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert BookingPhoto.objects.filter(booking=job).count() == 1
    assert _all_files() == files and len(files) == 2  # the photo and its thumbnail, nothing left over
    # the same picture as the other kind is a photo of its own
    assert post_photo(api, job, data, kind="before").status_code == 201


def test_an_upload_is_on_the_timeline_audited_and_pushed_to_the_booking_socket(
    job, vendor, django_capture_on_commit_callbacks
):
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    from core.realtime import booking_group

    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(booking_group(job.pk), channel)

    with django_capture_on_commit_callbacks(execute=True):
        photo = add_photo(job, vendor, kind="before", caption="Leaking tap")

    message = async_to_sync(layer.receive)(channel)["message"]
    assert (message["type"], message["event"], message["status"]) == ("booking.update", "photo_added", "in_progress")
    assert message["data"]["photo"] == {"id": str(photo.pk), "kind": "before"}
    event = BookingEvent.objects.filter(booking=job, event="photo_added").get()
    assert (event.actor, event.note) == (vendor.user, "before")
    audit = AuditLog.objects.get(action="booking.photo_added", object_id=str(photo.pk))
    assert audit.actor == vendor.user
    assert audit.new_values["sha256"] == photo.sha256


# --- who may see them ----------------------------------------------------------------------------


@pytest.fixture
def job_with_photos(job, vendor):
    add_photo(job, vendor, kind="before", data=image_bytes(color=(10, 10, 10)), caption="Before")
    add_photo(job, vendor, kind="after", data=image_bytes(color=(20, 20, 20)), caption="After")
    return job


def test_participants_and_ops_list_the_photos(client_for, job_with_photos, customer, vendor, ops):
    for user in (customer, vendor.user, ops):
        response = client_for(user).get(photos_url(job_with_photos))
        assert response.status_code == 200, user
        assert [(p["kind"], p["caption"]) for p in response.json()] == [("before", "Before"), ("after", "After")]


def test_nobody_else_sees_the_photos(client_for, api_client, job_with_photos):
    assert client_for(CustomerFactory()).get(photos_url(job_with_photos)).status_code == 404
    assert client_for(VendorFactory().user).get(photos_url(job_with_photos)).status_code == 404
    assert api_client.get(photos_url(job_with_photos)).status_code == 401
    assert client_for(CustomerFactory()).get("/api/bookings/not-a-uuid/photos/").status_code == 404


def test_the_image_and_thumbnail_are_served_to_participants_only(client_for, api_client, job_with_photos, customer):
    photo = BookingPhoto.objects.filter(booking=job_with_photos).first()
    listed = client_for(customer).get(photos_url(job_with_photos)).json()[0]

    image = client_for(customer).get(listed["image_url"], HTTP_ACCEPT="image/avif,image/webp,image/*")
    assert image.status_code == 200
    assert image["Content-Type"] == "image/jpeg"
    assert "private" in image["Cache-Control"]
    body = image.content
    assert hashlib.sha256(body).hexdigest() == photo.sha256 == listed["sha256"]

    thumbnail = client_for(customer).get(listed["thumbnail_url"])
    assert thumbnail.status_code == 200
    assert thumbnail.content == stored_bytes(photo.thumbnail.name)

    stranger = client_for(CustomerFactory()).get(listed["image_url"], HTTP_ACCEPT="image/*")
    assert stranger.status_code == 404
    assert stranger.json() == {"detail": "Not found."}
    assert client_for(VendorFactory().user).get(listed["thumbnail_url"]).status_code == 404
    assert api_client.get(listed["image_url"]).status_code == 401


def test_a_photo_is_not_served_under_another_booking(client_for, job_with_photos, make_booking, customer, service):
    photo = BookingPhoto.objects.filter(booking=job_with_photos).first()
    other_vendor = VendorFactory()
    VendorServiceFactory(vendor=other_vendor, service=service)
    other = make_booking(customer=customer, vendor=other_vendor, start=ist(4, 10))

    response = client_for(customer).get(f"/api/bookings/{other.pk}/photos/{photo.pk}/image/")

    assert response.status_code == 404


def test_the_api_never_hands_out_a_storage_url(client_for, job_with_photos, customer):
    response = client_for(customer).get(photos_url(job_with_photos))

    assert response.status_code == 200
    assert b"booking-photos" not in response.content
    assert b"/media/" not in response.content


def test_listing_photos_costs_the_same_queries_for_2_or_12(client_for, job_with_photos, vendor, customer, ops):
    def queries_for(user):
        api = client_for(user)  # (making its token is a query of its own)
        with CaptureQueriesContext(connection) as captured:
            response = api.get(photos_url(job_with_photos))
        assert response.status_code == 200
        return len(captured), len(response.json())

    before = {user.pk: queries_for(user) for user in (customer, vendor.user, ops)}
    for index in range(10):
        add_photo(job_with_photos, vendor, kind="after", data=image_bytes("PNG", color=(0, index, 0)))
    after = {user.pk: queries_for(user) for user in (customer, vendor.user, ops)}

    for user in (customer, vendor.user, ops):
        assert before[user.pk][1] == 2 and after[user.pk][1] == 12
        # the user (JWT), the booking, the photos; and for the vendor their vendor profile
        assert before[user.pk][0] == after[user.pk][0] <= 4


def test_listing_photos_stays_within_its_query_budget(
    client_for, job_with_photos, vendor, django_assert_max_num_queries
):
    for index in range(10):
        add_photo(job_with_photos, vendor, kind="after", data=image_bytes("PNG", color=(0, 0, index)))
    api = client_for(vendor.user)

    # the user (JWT), the vendor profile, the booking, the photos
    with django_assert_max_num_queries(4):
        response = api.get(photos_url(job_with_photos))

    assert len(response.json()) == 12


def test_a_missing_booking_or_photo_is_a_404(client_for, job, customer):
    from uuid import uuid4

    assert client_for(customer).get(f"/api/bookings/{uuid4()}/photos/").status_code == 404
    assert client_for(customer).get(f"/api/bookings/{job.pk}/photos/{uuid4()}/image/").status_code == 404
    with pytest.raises(NotFound):
        photo_list(booking=job, user=CustomerFactory())


def test_ops_sees_them_through_the_service_too(job_with_photos):
    assert photo_list(booking=job_with_photos, user=OpsFactory()).count() == 2


def test_a_refused_upload_under_the_lock_leaves_no_file_behind(job, vendor):
    # given: the status changes between the upload's first check and its insert — simulated by
    # uploading to a stale copy of the booking after it was completed elsewhere
    stale = Booking.objects.get(pk=job.pk)
    add_job_photos(job)
    complete(job, vendor)
    files_before = _all_files()

    with pytest.raises(BookingConflict):
        photo_upload(booking=stale, user=vendor.user, kind="before", image_file=upload(image_bytes()))

    assert _all_files() == files_before
    assert BookingPhoto.objects.count() == 2


def _all_files():
    found = set()

    def walk(path):
        directories, files = default_storage.listdir(path)
        found.update(f"{path}/{name}" for name in files)
        for directory in directories:
            walk(f"{path}/{directory}")

    if default_storage.exists("booking-photos"):
        walk("booking-photos")
    return found


# --- an S3-compatible bucket (marketplace/settings/media.py) -------------------------------------


def test_without_a_bucket_uploads_are_local_files(monkeypatch):
    monkeypatch.delenv("MEDIA_S3_BUCKET", raising=False)

    assert default_storage_config() == {"BACKEND": "django.core.files.storage.FileSystemStorage"}


def test_photos_round_trip_through_a_private_s3_bucket(monkeypatch, settings, client_for, job, vendor, customer):
    import boto3
    from moto import mock_aws

    # given: the environment of a deployment with a bucket (moto answers S3's API in-process)
    for name, value in {
        "MEDIA_S3_BUCKET": "homeserve-media",
        "MEDIA_S3_PREFIX": "prod",
        "AWS_S3_REGION_NAME": "ap-south-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_S3_ENDPOINT_URL", raising=False)
    with mock_aws():
        s3 = boto3.client("s3", region_name="ap-south-1")
        s3.create_bucket(Bucket="homeserve-media", CreateBucketConfiguration={"LocationConstraint": "ap-south-1"})
        settings.STORAGES = {**settings.STORAGES, "default": default_storage_config()}
        assert settings.STORAGES["default"]["BACKEND"] == "storages.backends.s3.S3Storage"

        # when
        created = post_photo(client_for(vendor.user), job, noisy_jpeg())
        assert created.status_code == 201, created.content
        photo = BookingPhoto.objects.get(booking=job)

        # then: both files are in the bucket under the prefix, private, with the recorded checksum
        keys = {item["Key"] for item in s3.list_objects_v2(Bucket="homeserve-media")["Contents"]}
        assert keys == {f"prod/{photo.image.name}", f"prod/{photo.thumbnail.name}"}
        stored = s3.get_object(Bucket="homeserve-media", Key=f"prod/{photo.image.name}")["Body"].read()
        assert hashlib.sha256(stored).hexdigest() == photo.sha256
        grants = s3.get_object_acl(Bucket="homeserve-media", Key=f"prod/{photo.image.name}")["Grants"]
        assert all("URI" not in grant["Grantee"] for grant in grants)  # no AllUsers / AuthenticatedUsers
        # and the customer gets the file through the API, read from the bucket
        image = client_for(customer).get(created.json()["image_url"])
        assert image.status_code == 200
        assert image.content == stored
