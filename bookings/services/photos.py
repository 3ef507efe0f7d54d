"""Before/after photos of a job (ARCHITECTURE §7).

The vendor holding the booking adds them: ``before`` while the job is in progress, ``after`` while
it is in progress or just completed (until a signature is requested, whose hash covers the photos'
checksums). The booking's customer, its vendor and ops see them. Files go through Django's storage
API (local files, or an S3-compatible bucket: marketplace/settings/media.py) and are only ever
served by the authenticated endpoints in bookings/api/photos.py.
"""

import uuid

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from bookings.events import booking_message
from bookings.images import photo_process, read_upload
from bookings.locks import lock_booking
from bookings.models import Booking, BookingPhoto, BookingStatus, PhotoKind
from bookings.services.common import BookingConflict, record_event, require_actor
from core.audit import audit_record
from core.errors import Forbidden, InvalidInput, NotFound
from core.realtime import booking_group, publish_on_commit

MAX_PHOTOS_PER_BOOKING = 20
MAX_CAPTION_LENGTH = BookingPhoto._meta.get_field("caption").max_length

UPLOAD_STATUSES = {
    PhotoKind.BEFORE: {BookingStatus.IN_PROGRESS},
    PhotoKind.AFTER: {BookingStatus.IN_PROGRESS, BookingStatus.COMPLETED},
}


def _holds(user, booking: Booking) -> bool:
    vendor = getattr(user, "vendor_profile", None)
    return vendor is not None and booking.vendor_id == vendor.pk


def photo_can_view(*, booking: Booking, user) -> None:
    """Raise unless ``user`` may see the booking's photos: its customer, the vendor holding it,
    ops. A vendor who was only offered the booking sees the booking but not inside the home:
    403. Anyone else: 404."""
    if require_actor(user, booking, "customer", "vendor", "ops") == "vendor" and not _holds(user, booking):
        raise Forbidden(_("Only the vendor doing this job can see its photos."))


def photo_can_upload(*, booking: Booking, user, kind: str) -> None:
    """Raise unless ``user`` may add a ``kind`` photo to ``booking`` now: NotFound (404) for
    whoever may not see the booking, Forbidden (403) for anyone but the vendor holding it,
    BookingConflict (409) outside the statuses that allow that kind, InvalidInput (400) for an
    unknown kind. (The photo limit is checked apart, after a retried upload has been recognised.)"""
    require_actor(user, booking, "vendor")
    if not _holds(user, booking):
        raise Forbidden(_("Only the vendor doing this job can add photos."))
    if kind not in UPLOAD_STATUSES:
        raise InvalidInput(fields={"kind": [_("Choose before or after.")]})
    if booking.status not in UPLOAD_STATUSES[kind]:
        if kind == PhotoKind.BEFORE:
            message = _("Before photos can be added only while the job is in progress.")
        else:
            message = _("After photos can be added only while the job is in progress or just completed.")
        raise BookingConflict(message, booking=booking)


def _require_room(booking: Booking) -> None:
    """InvalidInput (400) once the booking has MAX_PHOTOS_PER_BOOKING photos."""
    if BookingPhoto.objects.filter(booking=booking).count() >= MAX_PHOTOS_PER_BOOKING:
        raise InvalidInput(
            fields={"image": [_("A booking can have at most %(n)d photos.") % {"n": MAX_PHOTOS_PER_BOOKING}]}
        )


def photo_upload(*, booking: Booking, user, kind: str, image_file, caption: str = "", now=None):
    """Check, re-encode and store a photo; returns ``(photo, created)``.

    Uploading the very same picture again as the same kind (a retried request) returns the
    photo already stored, with ``created`` False. The image work and the storage writes happen
    before the booking row is locked (the bucket may be across a network), and everything is
    checked again under the lock; if the insert then fails, the stored files are deleted."""
    now = now or timezone.now()
    caption = (caption or "").strip()
    if len(caption) > MAX_CAPTION_LENGTH:
        raise InvalidInput(fields={"caption": [_("At most %(n)d characters.") % {"n": MAX_CAPTION_LENGTH}]})
    photo_can_upload(booking=booking, user=user, kind=kind)
    processed = photo_process(read_upload(image_file))
    sha256 = processed.sha256

    existing = BookingPhoto.objects.filter(booking=booking, kind=kind, sha256=sha256).first()
    if existing is not None:
        return existing, False
    _require_room(booking)

    photo = BookingPhoto(
        id=uuid.uuid4(),
        booking=booking,
        kind=kind,
        caption=caption,
        sha256=sha256,
        width=processed.width,
        height=processed.height,
        size_bytes=len(processed.data),
        uploaded_by=user,
        created_at=now,
    )
    # Random names: nothing about the customer, the vendor or the upload's own name, and nothing
    # to guess.
    photo.image.save(f"{photo.id.hex}{processed.extension}", ContentFile(processed.data), save=False)
    try:
        photo.thumbnail.save(f"{photo.id.hex}{processed.extension}", ContentFile(processed.thumbnail), save=False)
        with transaction.atomic():
            photo, created = _photo_insert(photo=photo, user=user, now=now)
    except BaseException:
        _delete_files(photo)
        raise
    if not created:
        _delete_files(photo)
        photo = BookingPhoto.objects.get(booking=booking, kind=kind, sha256=sha256)
    return photo, created


def _photo_insert(*, photo: BookingPhoto, user, now):
    """Insert ``photo`` with its timeline event, audit entry and ``booking.update`` message.

    Called inside a transaction; locks the booking, so the checks made before the upload (status,
    holder, the photo limit, a duplicate) hold at the moment of the insert."""
    booking = lock_booking(photo.booking_id)
    photo_can_upload(booking=booking, user=user, kind=photo.kind)
    if BookingPhoto.objects.filter(booking=booking, kind=photo.kind, sha256=photo.sha256).exists():
        return photo, False
    _require_room(booking)
    photo.booking = booking
    photo.save(force_insert=True)
    record_event(
        booking=booking,
        actor=user,
        event="photo_added",
        from_status=booking.status,
        to_status=booking.status,
        note=photo.kind,
    )
    audit_record(
        actor=user,
        action="booking.photo_added",
        obj=photo,
        new={
            "booking": booking.pk,
            "kind": photo.kind,
            "sha256": photo.sha256,
            "size_bytes": photo.size_bytes,
            "caption": photo.caption,
        },
    )
    message = booking_message(booking, event="photo_added", note=photo.kind)
    message["at"] = now.isoformat()
    message["data"]["photo"] = {"id": str(photo.pk), "kind": photo.kind}
    publish_on_commit(booking_group(booking.pk), message)
    return photo, True


def _delete_files(photo: BookingPhoto) -> None:
    for field in (photo.image, photo.thumbnail):
        if field:
            field.delete(save=False)


def photo_list(*, booking: Booking, user):
    """The booking's photos, oldest first, for its customer, holding vendor and ops."""
    photo_can_view(booking=booking, user=user)
    return BookingPhoto.objects.filter(booking=booking).order_by("created_at", "id")


def photo_get(*, booking: Booking, user, photo_id) -> BookingPhoto:
    """One photo of ``booking`` for someone who may see them; NotFound for any other id."""
    queryset = photo_list(booking=booking, user=user)
    try:
        photo = queryset.filter(pk=uuid.UUID(str(photo_id))).first()
    except ValueError:
        photo = None
    if photo is None:
        raise NotFound()
    photo.booking = booking
    return photo
