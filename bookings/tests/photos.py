"""Photo rows for tests that need a photographed job (completing one needs a before and an after
photo). Rows are written directly with a made-up SHA-256: the upload path itself — decoding,
re-encoding, storage — is tested in test_photos.py and the whole-flow API test."""

import hashlib
import uuid

from bookings.models import BookingPhoto, PhotoKind


def add_photo(booking, *, kind=PhotoKind.AFTER, content=None):
    content = content or uuid.uuid4().bytes
    return BookingPhoto.objects.create(
        booking=booking,
        kind=kind,
        image=f"booking-photos/test/{uuid.uuid4().hex}.jpg",
        sha256=hashlib.sha256(content).hexdigest(),
        uploaded_by=booking.vendor.user,
    )


def add_job_photos(booking):
    """One before and one after photo: enough to complete the job."""
    return [add_photo(booking, kind=PhotoKind.BEFORE), add_photo(booking, kind=PhotoKind.AFTER)]
