"""Read queries for the catalog, vendors and bookings."""

from datetime import timedelta
from decimal import Decimal

from django.db.models import (
    Exists,
    F,
    FloatField,
    Min,
    OuterRef,
    Prefetch,
    Q,
    Subquery,
    Value,
)
from django.db.models.functions import ASin, Cast, Cos, Power, Radians, Sin, Sqrt

from bookings.availability import free_slots_of_any, vendors_free_on
from bookings.models import Booking, BookingOffer, Service, VendorService
from core.geo import EARTH_RADIUS_KM, pincode_coordinates
from core.models import OnboardingStatus, Role, VendorPincode, VendorProfile


def services_active():
    return Service.objects.filter(is_active=True).select_related("category")


def distance_expression(lat, lng):
    """Haversine distance in km from (lat, lng) to the vendor's base, computed by the database
    (PostgreSQL natively; Django registers the maths functions on SQLite)."""
    lat1 = Radians(Value(float(lat), output_field=FloatField()))
    lng1 = Radians(Value(float(lng), output_field=FloatField()))
    lat2 = Radians(Cast("base_lat", FloatField()))
    lng2 = Radians(Cast("base_lng", FloatField()))
    a = Power(Sin((lat2 - lat1) / 2), 2) + Cos(lat1) * Cos(lat2) * Power(Sin((lng2 - lng1) / 2), 2)
    return 2 * EARTH_RADIUS_KM * ASin(Sqrt(a))


def vendors_bookable():
    return VendorProfile.objects.filter(onboarding_status=OnboardingStatus.APPROVED, is_available=True)


def vendors_serving(queryset, *, service_ids=(), pincode=None, lat=None, lng=None, radius_km=None):
    """Narrow ``queryset`` to vendors offering every service in ``service_ids`` who serve the
    location: the pincode is in their list, or the point lies inside their radius. Annotates
    ``distance_km`` when a point is known (given, or from the pincode table)."""
    for service_id in service_ids:
        queryset = queryset.filter(
            Exists(
                VendorService.objects.filter(
                    vendor=OuterRef("pk"), service_id=service_id, is_active=True, service__is_active=True
                )
            )
        )
    if lat is None and pincode:
        coords = pincode_coordinates(pincode)
        if coords:
            lat, lng = coords
    if lat is not None and lng is not None:
        queryset = queryset.annotate(distance_km=distance_expression(lat, lng))
    area = Q()
    if pincode:
        area |= Q(Exists(VendorPincode.objects.filter(vendor=OuterRef("pk"), pincode=pincode)))
    if lat is not None and lng is not None:
        limit = Decimal(str(radius_km)) if radius_km is not None else None
        if limit is None:
            area |= Q(base_lat__isnull=False, distance_km__lte=F("radius_km"))
        elif pincode:
            area |= Q(base_lat__isnull=False, distance_km__lte=float(limit))
        else:
            area = Q(base_lat__isnull=False, distance_km__lte=float(limit))
    if area:
        queryset = queryset.filter(area)
    return queryset


def platform_free_slots(*, service_ids, pincode, lat=None, lng=None, day, duration, now=None):
    """The slots on ``day`` the platform can offer when it picks the vendor: the starts at which
    at least one approved, available vendor serving every service in ``service_ids`` and the
    location is free for a visit of ``duration`` (``free_slots_of_any``). Which vendor gets the
    booking is decided at the time (bookings.services.offers.eligible_vendors, the same rules)."""
    vendors = vendors_serving(vendors_bookable(), service_ids=service_ids, pincode=pincode, lat=lat, lng=lng)
    vendors = vendors.filter(working_hours__has_key=str(day.weekday()))
    return free_slots_of_any(list(vendors), day, duration, now=now)


def vendor_detail_queryset():
    return VendorProfile.objects.select_related("user").prefetch_related(
        "pincodes",
        Prefetch(
            "services",
            queryset=VendorService.objects.filter(is_active=True, service__is_active=True).select_related("service"),
            to_attr="active_services",
        ),
    )


def bookings_visible_to(user):
    """Object-level visibility (§3): customers their own; vendors what was offered to or is held
    by them; ops everything; anyone else nothing."""
    queryset = Booking.objects.all()
    if user.role == Role.CUSTOMER:
        return queryset.filter(customer=user)
    if user.role == Role.VENDOR:
        vendor = getattr(user, "vendor_profile", None)
        if vendor is None:
            return queryset.none()
        offered = BookingOffer.objects.filter(booking=OuterRef("pk"), vendor=vendor)
        # A booking still waiting for its card is not shown to the vendor it is meant for: it
        # reaches them as an offer once it is ready.
        return queryset.filter(Q(vendor=vendor, ready_at__isnull=False) | Q(Exists(offered)))
    if user.role in (Role.OPS_MANAGER, Role.SUPER_ADMIN):
        return queryset
    return queryset.none()


def booking_list_queryset(user):
    return (
        bookings_visible_to(user)
        .select_related("vendor", "vendor__user", "customer")
        .prefetch_related("lines", "offers", "payment_attempts")
    )


def booking_detail_queryset(user):
    return booking_list_queryset(user).prefetch_related("events")


def vendor_search(
    *,
    service=None,
    pincode=None,
    lat=None,
    lng=None,
    radius_km=None,
    min_rating=None,
    max_price=None,
    available_on=None,
    ordering=None,
    now=None,
):
    """Approved, available vendors for the search page and ``GET /api/vendors/``.

    ``price`` is the vendor's price for ``service`` (or their cheapest service without one);
    ``available_on`` keeps vendors with at least one free slot that day for the service's length."""
    queryset = vendors_serving(
        vendors_bookable(),
        service_ids=[service] if service else [],
        pincode=pincode,
        lat=lat,
        lng=lng,
        radius_km=radius_km,
    )
    if service:
        price = Subquery(
            VendorService.objects.filter(
                vendor=OuterRef("pk"), service_id=service, is_active=True, service__is_active=True
            ).values("price")[:1]
        )
        queryset = queryset.annotate(price=price)
    else:
        queryset = queryset.annotate(
            price=Min("services__price", filter=Q(services__is_active=True, services__service__is_active=True))
        )
    if min_rating is not None:
        queryset = queryset.filter(rating_avg__gte=min_rating)
    if max_price is not None:
        queryset = queryset.filter(price__lte=max_price)
    if available_on is not None:
        minutes = Service.objects.filter(pk=service).values_list("duration_minutes", flat=True).first() or 60
        weekday_workers = queryset.filter(working_hours__has_key=str(available_on.weekday()))
        free = vendors_free_on(weekday_workers, available_on, timedelta(minutes=minutes), now=now)
        queryset = queryset.filter(pk__in=[v.pk for v in free])
    order = {
        "rating": ["rating_avg", "rating_count"],
        "-rating": ["-rating_avg", "-rating_count"],
        "price": ["price"],
        "-price": ["-price"],
        "distance": ["distance_km"],
        "-distance": ["-distance_km"],
    }.get(ordering or "", ["-rating_avg", "-rating_count"])
    return queryset.order_by(*order, "pk").prefetch_related(
        Prefetch(
            "services",
            queryset=VendorService.objects.filter(is_active=True, service__is_active=True).select_related("service"),
            to_attr="active_services",
        )
    )
