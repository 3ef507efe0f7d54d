"""Row locks for bookings, taken in one order everywhere: the booking first, then vendor rows in
primary-key order. Creating a booking has no booking row yet and locks only the vendor. Never hold
these across a call to a gateway or SMS provider."""

from core.models import VendorProfile


def lock_vendors(vendor_ids):
    """Lock vendor rows in primary-key order so two transactions never wait on each other in a
    cycle. Locking the vendor serialises every change to that vendor's calendar."""
    ids = sorted({str(v) for v in vendor_ids if v is not None})
    if not ids:
        return {}
    rows = VendorProfile.objects.select_for_update().filter(pk__in=ids).order_by("pk")
    return {str(v.pk): v for v in rows}


def lock_booking(booking_id):
    from bookings.models import Booking

    return Booking.objects.select_for_update().get(pk=booking_id)
