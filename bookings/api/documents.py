"""A booking as the API shows it (§10), written out by hand.

Every answer that carries a booking — the list, the detail, each transition, the pages that show
the API's view and the ``ws/bookings/`` snapshot — is made by ``booking_document``. It was a DRF
serializer of method and nested fields; writing it out is about twenty times quicker per row
(DRF's generic field loop, with its attribute lookups and per-field ``to_representation``, cost
0.3 ms a booking, more than the SQL for a page of them), and the booking list is the API's most
frequent read. ``BookingSerializer`` still declares the fields, for the OpenAPI schema (the
schemathesis tests check answers against it), and bookings/tests/test_booking_list_read.py checks
that a listed booking reads exactly as its detail for every kind of viewer.

``booking`` is a ``Booking`` with ``vendor``, ``vendor.user`` and ``customer`` loaded and ``lines``
and ``payment_attempts`` (and, for a vendor viewer, ``offers``) prefetched — or a row of the same
shape from ``bookings.selectors.booking_list_rows``. Only the attributes read below are needed.

Formats are DRF's, so the two renderings cannot be told apart: UUIDs as strings, decimals as
strings with the field's places, datetimes in ISO 8601 in the current time zone with ``Z`` for
UTC, and ``None`` as null.
"""

from decimal import Decimal

from django.utils import timezone

from bookings.models import VENDOR_CONFIRMED_STATUSES

# Once a vendor has confirmed, each side sees the other's phone and the exact address (§3).
CONTACT_VISIBLE_STATUSES = frozenset(VENDOR_CONFIRMED_STATUSES)
# The payment states in which the paying customer still has to confirm their card.
CARD_AWAITING_CUSTOMER = ("requires_payment_method", "requires_action")

_PLACES = {places: Decimal(1).scaleb(-places) for places in (2, 4, 6)}


def decimal_text(value, places: int):
    """A decimal as DRF's ``DecimalField`` writes it (COERCE_DECIMAL_TO_STRING): fixed point with
    exactly ``places`` decimals, or None."""
    if value is None:
        return None
    if not isinstance(value, Decimal):
        value = Decimal(value)
    return format(value.quantize(_PLACES[places]), "f")


def datetime_text(value, zone=None):
    """A datetime as DRF's ``DateTimeField`` writes it: ISO 8601 in the current time zone (or
    ``zone``, when the caller looked it up once for many values), with ``Z`` for UTC; None stays
    None."""
    if value is None:
        return None
    text = value.astimezone(zone or timezone.get_current_timezone()).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def person_name(first_name: str, last_name: str, username: str) -> str:
    """``User.get_full_name() or username``, from the columns alone."""
    return f"{first_name} {last_name}".strip() or username


def contact_visible(booking, viewer) -> bool:
    """Contacts are shared between the two parties of a confirmed booking: its customer and the
    vendor holding it — not a vendor who was offered it earlier and rejected or let the offer
    lapse (they still see the booking in their history)."""
    if booking.status not in CONTACT_VISIBLE_STATUSES:
        return False
    if viewer is None or not viewer.is_authenticated:
        return False
    if viewer.pk == booking.customer_id:
        return True
    return booking.vendor is not None and booking.vendor.user_id == viewer.pk


def is_ops_viewer(viewer) -> bool:
    return bool(viewer is not None and getattr(viewer, "is_ops", False))


def viewer_vendor(viewer):
    """The viewer's vendor profile when they are a vendor (they are shown their offer), else None."""
    if viewer is None or not getattr(viewer, "is_vendor", False):
        return None
    return getattr(viewer, "vendor_profile", None)


def line_document(line) -> dict:
    return {
        "service_id": line.service_id,
        "service_name": line.service_name,
        "quantity": line.quantity,
        "unit_price": decimal_text(line.unit_price, 2),
        "duration_minutes": line.duration_minutes,
        "line_total": decimal_text(line.line_total, 2),
    }


def payment_document(attempt, booking, viewer) -> dict:
    """The compact payment inside a booking. The client secret is shown to the paying customer
    only, and only while the card still has to be confirmed."""
    secret = None
    if (
        attempt.method == "card"
        and attempt.client_secret
        and viewer is not None
        and booking.customer_id == viewer.pk
        and attempt.status in CARD_AWAITING_CUSTOMER
    ):
        secret = attempt.client_secret
    return {
        "id": str(attempt.id),
        "method": attempt.method,
        "status": attempt.status,
        "amount": decimal_text(attempt.amount, 2),
        "currency": attempt.currency,
        "client_secret": secret,
        "amount_captured": decimal_text(attempt.amount_captured, 2),
        "amount_refunded": decimal_text(attempt.amount_refunded, 2),
    }


def current_payment(attempts):
    """The active attempt, else the latest; None when there is none (a zero total)."""
    if not attempts:
        return None
    return next((a for a in attempts if a.is_active), None) or max(attempts, key=lambda a: a.created_at)


def booking_document(booking, *, viewer, zone=None) -> dict:
    """The booking as ``viewer`` (a user, or None) may see it: the other party's phone and the
    exact address appear only once a vendor has confirmed (§3); ops staff see them always, the
    customer always sees their own address and phone.

    Times are written in ``zone``, by default the current time zone. A caller writing many
    bookings looks that up once and passes it: under ASGI the lookup goes through asgiref's
    context-local storage and cost as much as the rest of a document (bench profile)."""
    shared = contact_visible(booking, viewer)
    ops = is_ops_viewer(viewer)
    zone = zone or timezone.get_current_timezone()
    own = viewer is not None and viewer.pk == booking.customer_id

    vendor = booking.vendor
    vendor_part = None
    if vendor is not None:
        vendor_phone = vendor.user.phone if shared or ops else None
        vendor_part = {
            "id": str(vendor.pk),
            "display_name": vendor.display_name,
            "rating_avg": str(vendor.rating_avg),
            "phone": vendor_phone or None,
        }

    customer = booking.customer
    customer_phone = customer.phone if shared or ops or own else None

    exact = shared or ops or own
    lat, lng = booking.address_lat, booking.address_lng

    payment = current_payment(list(booking.payment_attempts.all()))

    offer_part = None
    mine = viewer_vendor(viewer)
    if mine is not None:
        offers = [o for o in booking.offers.all() if o.vendor_id == mine.pk]
        if offers:
            offer = offers[-1]
            offer_part = {
                "outcome": offer.outcome,
                "sent_at": datetime_text(offer.sent_at, zone),
                "expires_at": datetime_text(offer.expires_at, zone),
            }

    return {
        "id": str(booking.id),
        "booking_number": booking.booking_number,
        "status": booking.status,
        "vendor": vendor_part,
        "customer": {
            "id": str(customer.pk),
            "name": person_name(customer.first_name, customer.last_name, customer.username),
            "phone": customer_phone or None,
        },
        "lines": [line_document(line) for line in booking.lines.all()],
        "scheduled_at": datetime_text(booking.scheduled_at, zone),
        "ends_at": datetime_text(booking.ends_at, zone),
        "address": {
            "line1": booking.address_line1 if exact else None,
            "line2": booking.address_line2 if exact else None,
            "city": booking.address_city,
            "pincode": booking.address_pincode,
            "lat": decimal_text(lat, 6) if exact else None,
            "lng": decimal_text(lng, 6) if exact else None,
        },
        "notes": booking.notes,
        "price": {
            "subtotal": decimal_text(booking.subtotal, 2),
            "discount": decimal_text(booking.discount, 2),
            "tax": decimal_text(booking.tax, 2),
            "total": decimal_text(booking.total, 2),
            "commission": decimal_text(booking.commission, 2),
            "vendor_earning": decimal_text(booking.vendor_earning, 2),
            "platform_fee": decimal_text(booking.platform_fee, 2),
            "currency": booking.currency,
            "tax_rate": decimal_text(booking.tax_rate, 4),
            "commission_rate": decimal_text(booking.commission_rate, 4),
        },
        "payment_method": booking.payment_method,
        "payment": payment_document(payment, booking, viewer) if payment is not None else None,
        "offer": offer_part,
        "needs_manual_assignment": booking.needs_manual_assignment,
        "reschedule_count": booking.reschedule_count,
        "cancelled_by": booking.cancelled_by,
        "cancellation_reason": booking.cancellation_reason,
        "cancellation_fee": decimal_text(booking.cancellation_fee, 2),
        "refund_amount": decimal_text(booking.refund_amount, 2),
        "created_at": datetime_text(booking.created_at, zone),
    }
