"""Read queries for signature requests, the ops signature queue and reviews."""

from django.db.models import Count, Exists, OuterRef, Window

from bookings.models import Booking, BookingStatus
from core.models import Role
from signatures.models import Review, SignatureRequest, SignatureRequestStatus

RECENT_REVIEWS = 5


def signature_requests_visible_to(user):
    """Requests the user may see (§3): a customer those of their bookings, a vendor those of the
    bookings they hold, ops all; anyone else none. The drawn image is left out (``defer``): lists
    never need it."""
    queryset = SignatureRequest.objects.select_related("booking", "signature").defer("signature__signature_image")
    if user.role == Role.CUSTOMER:
        return queryset.filter(booking__customer=user)
    if user.role == Role.VENDOR:
        vendor = getattr(user, "vendor_profile", None)
        return queryset.filter(booking__vendor=vendor) if vendor is not None else queryset.none()
    if user.role in (Role.OPS_MANAGER, Role.SUPER_ADMIN):
        return queryset
    return queryset.none()


def signature_attention_queue():
    """The ops signature queue: bookings still awaiting a signature whose request expired and
    that have no open one — until someone sends a new request, captures by hand or cancels."""
    requests = SignatureRequest.objects.filter(booking=OuterRef("pk"))
    return (
        Booking.objects.filter(status=BookingStatus.AWAITING_SIGNATURE)
        .filter(Exists(requests.filter(status=SignatureRequestStatus.EXPIRED)))
        .exclude(Exists(requests.filter(status=SignatureRequestStatus.OPEN)))
    )


def vendor_recent_reviews(vendor) -> tuple[list[Review], int]:
    """The vendor's newest visible reviews and how many visible reviews they have, in one query
    (the count rides on each row as a window aggregate; no rows means none)."""
    rows = list(
        Review.objects.filter(vendor=vendor, is_hidden=False)
        .select_related("customer")
        .only("id", "rating", "comments", "created_at", "customer__first_name", "customer__last_name")
        .annotate(visible_count=Window(Count("id")))
        .order_by("-created_at", "-id")[:RECENT_REVIEWS]
    )
    return rows, (rows[0].visible_count if rows else 0)
