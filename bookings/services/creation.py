"""Creating a booking: validation, pricing, the slot hold, the number, readiness."""

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from bookings.availability import booking_window_bounds, is_on_grid, vendor_can_take, within_working_hours
from bookings.locks import lock_vendors
from bookings.models import (
    Booking,
    BookingLine,
    BookingNumberCounter,
    PaymentMethod,
    Service,
    VendorService,
)
from bookings.selectors import vendors_bookable, vendors_serving
from bookings.services.common import SlotTaken, platform_settings, record_event
from bookings.services.offers import booking_mark_ready, eligible_vendors
from bookings.services.pricing import PricedLine
from bookings.services.promos import promo_redeem
from bookings.services.quotes import booking_quote
from core.audit import audit_record
from core.errors import Forbidden, InvalidInput
from core.geo import pincode_coordinates
from core.models import Address, Role, VendorProfile
from core.validators import PINCODE_RE
from payments.checkout import attempt_open, payment_pending

MAX_LINES = 10
MAX_QUANTITY = 10


@dataclass(frozen=True)
class AddressSnapshot:
    line1: str
    line2: str
    city: str
    pincode: str
    lat: Decimal | None
    lng: Decimal | None


def resolve_address(*, customer, address: dict | None, address_id=None) -> AddressSnapshot:
    if address_id is not None:
        saved = Address.objects.filter(pk=address_id, user=customer).first() if str(address_id).isdigit() else None
        if saved is None:
            raise InvalidInput(fields={"address_id": [_("No saved address with this id.")]})
        snapshot = AddressSnapshot(saved.line1, saved.line2, saved.city, saved.pincode, saved.lat, saved.lng)
    elif address:
        snapshot = AddressSnapshot(
            address.get("line1", ""),
            address.get("line2", "") or "",
            address.get("city", ""),
            str(address.get("pincode", "")),
            address.get("lat"),
            address.get("lng"),
        )
    else:
        raise InvalidInput(fields={"address": [_("Give an address or a saved address_id.")]})
    errors = {}
    if not snapshot.line1:
        errors["line1"] = [_("This field is required.")]
    if not snapshot.city:
        errors["city"] = [_("This field is required.")]
    if not PINCODE_RE.match(snapshot.pincode):
        errors["pincode"] = [_("A pincode is 6 digits and does not start with 0.")]
    if (snapshot.lat is None) != (snapshot.lng is None):
        errors["lat"] = [_("Give both lat and lng, or neither.")]
    if errors:
        raise InvalidInput(fields={"address": errors})
    if snapshot.lat is None:
        coords = pincode_coordinates(snapshot.pincode)
        if coords:
            snapshot = replace(snapshot, lat=coords[0], lng=coords[1])
    return snapshot


def _load_services(lines):
    if not lines:
        raise InvalidInput(fields={"lines": [_("A booking needs at least one service.")]})
    if len(lines) > MAX_LINES:
        raise InvalidInput(fields={"lines": [_("At most %(n)d services in one visit.") % {"n": MAX_LINES}]})
    ids = [line["service_id"] for line in lines]
    if len(set(ids)) != len(ids):
        raise InvalidInput(fields={"lines": [_("List each service once; use quantity for more.")]})
    services = Service.objects.in_bulk(ids)
    missing = [sid for sid in ids if sid not in services or not services[sid].is_active]
    if missing:
        raise InvalidInput(
            fields={"service_id": [_("Unknown service: %(ids)s.") % {"ids": ", ".join(map(str, missing))}]}
        )
    for line in lines:
        if not 1 <= int(line.get("quantity", 1)) <= MAX_QUANTITY:
            raise InvalidInput(fields={"quantity": [_("Quantity must be between 1 and %(n)d.") % {"n": MAX_QUANTITY}]})
    return services


def validate_start(*, scheduled_at, config, now):
    earliest, latest = booking_window_bounds(config, now)
    if scheduled_at <= now:
        raise InvalidInput(fields={"scheduled_at": [_("This time is in the past.")]})
    if scheduled_at < earliest:
        raise InvalidInput(
            fields={"scheduled_at": [_("Bookings need at least %(h)d hours' notice.") % {"h": config.min_notice_hours}]}
        )
    if scheduled_at > latest:
        raise InvalidInput(
            fields={
                "scheduled_at": [_("Bookings can be made at most %(d)d days ahead.") % {"d": config.max_days_ahead}]
            }
        )
    if not is_on_grid(scheduled_at, config):
        raise InvalidInput(
            fields={"scheduled_at": [_("Start on a %(m)d-minute boundary.") % {"m": config.slot_step_minutes}]}
        )


def next_booking_number(now) -> str:
    """BK-YYYYMMDD-NNNNNN, counted per day in the platform time zone. The counter row stays
    locked until the booking's transaction ends, so numbers are never reused."""
    day = timezone.localdate(now)
    BookingNumberCounter.objects.bulk_create([BookingNumberCounter(day=day)], ignore_conflicts=True)
    BookingNumberCounter.objects.filter(day=day).update(last_value=F("last_value") + 1)
    value = BookingNumberCounter.objects.get(day=day).last_value
    return f"BK-{day:%Y%m%d}-{value:06d}"


def _is_overlap_violation(error: IntegrityError) -> bool:
    cause = error.__cause__
    return getattr(cause, "sqlstate", None) == "23P01" or "booking_no_vendor_overlap" in str(error)


def booking_create(
    *,
    customer,
    lines: list[dict],
    scheduled_at,
    address: dict | None = None,
    address_id=None,
    vendor_id=None,
    notes: str = "",
    promo_code: str | None = None,
    payment_method: str = PaymentMethod.CARD,
    now=None,
) -> Booking:
    """Create a pending booking and start its assignment.

    With ``vendor_id`` the chosen vendor's prices apply and that vendor's time is held at once (a
    taken slot → 409); otherwise catalog prices apply and the platform offers the booking to the
    best eligible vendor, refusing with 409 when no vendor is free at that time."""
    now = now or timezone.now()
    if customer.role != Role.CUSTOMER:
        raise Forbidden(_("Only customers can book."))
    if payment_method not in PaymentMethod.values:
        raise InvalidInput(fields={"payment_method": [_("Choose card or cash.")]})
    if scheduled_at.tzinfo is None:
        raise InvalidInput(fields={"scheduled_at": [_("Give the time with its UTC offset.")]})
    # In UTC, so that start + duration is real elapsed time even across a DST change (Python
    # adds to a ZoneInfo datetime in wall-clock time).
    scheduled_at = scheduled_at.astimezone(UTC)
    config = platform_settings()
    services = _load_services(lines)
    validate_start(scheduled_at=scheduled_at, config=config, now=now)
    place = resolve_address(customer=customer, address=address, address_id=address_id)
    duration = timedelta(
        minutes=sum(services[line["service_id"]].duration_minutes * int(line.get("quantity", 1)) for line in lines)
    )
    ends_at = scheduled_at + duration
    service_ids = sorted(services)

    vendor = None
    if vendor_id is not None:
        vendor = _chosen_vendor(vendor_id, service_ids=service_ids, place=place)
        if not within_working_hours(vendor, scheduled_at, ends_at):
            raise InvalidInput(fields={"scheduled_at": [_("The vendor does not work at that time.")]})
        if not vendor_can_take(vendor, scheduled_at, ends_at, config=config):
            # Read once without the lock first. When many customers go for one slot at once, all
            # but the first find it taken here and hear 409 at once, instead of each queuing for
            # the vendor's row lock (holding a pooled connection) to be told the same. A slot that
            # looks free is checked again under the lock (_create_locked): this only refuses early.
            raise SlotTaken()
        prices = dict(
            VendorService.objects.filter(vendor=vendor, service_id__in=service_ids, is_active=True).values_list(
                "service_id", "price"
            )
        )
    else:
        prices = {sid: service.base_price for sid, service in services.items()}

    priced = [
        PricedLine(
            service=services[line["service_id"]],
            quantity=int(line.get("quantity", 1)),
            unit_price=prices[line["service_id"]],
            duration_minutes=services[line["service_id"]].duration_minutes,
        )
        for line in lines
    ]
    try:
        with transaction.atomic():
            booking = _create_locked(
                customer=customer,
                vendor=vendor,
                priced=priced,
                scheduled_at=scheduled_at,
                ends_at=ends_at,
                place=place,
                notes=notes,
                promo_code=promo_code,
                payment_method=payment_method,
                config=config,
                now=now,
                service_ids=service_ids,
            )
            # The booking is offered once its payment is ready (§5): at once for cash or a
            # zero total; a card booking waits for its card (payments.checkout).
            attempt_open(booking=booking, now=now)
            if not payment_pending(booking):
                booking_mark_ready(booking=booking, now=now, actor=customer)
    except IntegrityError as error:
        if _is_overlap_violation(error):
            raise SlotTaken() from None
        raise
    booking.refresh_from_db()
    return booking


def _chosen_vendor(vendor_id, *, service_ids, place) -> VendorProfile:
    try:
        vendor_uuid = uuid.UUID(str(vendor_id))
    except ValueError:
        vendor = None
    else:
        vendor = (
            vendors_serving(
                vendors_bookable(), service_ids=service_ids, pincode=place.pincode, lat=place.lat, lng=place.lng
            )
            .filter(pk=vendor_uuid)
            .first()
        )
    if vendor is None:
        raise InvalidInput(fields={"vendor_id": [_("This vendor does not offer these services at this address.")]})
    return vendor


def _create_locked(
    *,
    customer,
    vendor,
    priced,
    scheduled_at,
    ends_at,
    place,
    notes,
    promo_code,
    payment_method,
    config,
    now,
    service_ids,
):
    buffer = timedelta(minutes=config.travel_buffer_minutes)
    if vendor is not None:
        lock_vendors([vendor.pk])
        if not vendor_can_take(vendor, scheduled_at, ends_at, config=config):
            raise SlotTaken()
    elif not eligible_vendors(
        service_ids=service_ids,
        pincode=place.pincode,
        lat=place.lat,
        lng=place.lng,
        start=scheduled_at,
        end=ends_at,
        config=config,
        now=now,
    ):
        raise SlotTaken(_("No vendor is free at that time for this address; try another slot."))

    quote = booking_quote(
        lines=priced, promo_code=promo_code, customer=customer, config=config, now=now, lock_promo=True
    )
    price, promo = quote.price, quote.promo
    booking = Booking.objects.create(
        booking_number=next_booking_number(now),
        customer=customer,
        vendor=vendor,
        vendor_chosen_by_customer=vendor is not None,
        scheduled_at=scheduled_at,
        ends_at=ends_at,
        blocked_until=ends_at + buffer,
        notes=notes or "",
        payment_method=payment_method,
        address_line1=place.line1,
        address_line2=place.line2,
        address_city=place.city,
        address_pincode=place.pincode,
        address_lat=place.lat,
        address_lng=place.lng,
        promo_code=promo,
        created_at=now,
        **price.as_dict(),
    )
    BookingLine.objects.bulk_create(
        [
            BookingLine(
                booking=booking,
                service=line.service,
                service_name=line.service.name,
                quantity=line.quantity,
                unit_price=line.unit_price,
                duration_minutes=line.duration_minutes,
                line_total=line.line_total,
            )
            for line in priced
        ]
    )
    if promo is not None:
        promo_redeem(promo=promo, user=customer, booking=booking, discount=price.discount)
    record_event(booking=booking, actor=customer, event="created", to_status=booking.status)
    audit_record(
        actor=customer,
        action="booking.created",
        obj=booking,
        new={"status": booking.status, "total": booking.total, "vendor": booking.vendor_id},
    )
    return booking
