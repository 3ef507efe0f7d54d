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
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import ASin, Cast, Cos, Power, Radians, Sin, Sqrt

from bookings.availability import free_slots_of_any, vendors_free_on
from bookings.models import Booking, BookingOffer, Service, VendorSearchEntry, VendorService
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
    queryset = (
        bookings_visible_to(user)
        .select_related("vendor", "vendor__user", "customer")
        .prefetch_related("lines", "payment_attempts")
    )
    if user.role == Role.VENDOR:
        # Only a vendor is shown an offer on a booking (their own: the serializer's ``offer``, the
        # job page); for everyone else the offers would be a query per list read for nothing.
        queryset = queryset.prefetch_related("offers")
    return queryset


def booking_detail_queryset(user):
    return booking_list_queryset(user).prefetch_related("events")


SEARCH_ORDERS = {
    "rating": ["rating_avg", "rating_count"],
    "-rating": ["-rating_avg", "-rating_count"],
    "price": ["price"],
    "-price": ["-price"],
    "distance": ["distance_km"],
    "-distance": ["-distance_km"],
}
DEFAULT_SEARCH_ORDER = "-rating"


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
    ``available_on`` keeps vendors with at least one free slot that day for the service's length.

    A search by service and pincode (the search page's, and the common API one) reads the
    search index (bookings/search_index.py): one ordered index range, however many vendors
    there are. Anything else — a point and radius of the caller's own, or no service — is worked
    out live from the vendors' data (``vendors_serving``); both give the same vendors."""
    order = SEARCH_ORDERS.get(ordering or "", SEARCH_ORDERS[DEFAULT_SEARCH_ORDER])
    if service and pincode and lat is None and lng is None and radius_km is None:
        queryset = _vendor_search_indexed(service=service, pincode=pincode, min_rating=min_rating, max_price=max_price)
        sort = [f"{'-' if key.startswith('-') else ''}search_entries__{key.lstrip('-')}" for key in order]
    else:
        queryset = _vendor_search_live(
            service=service,
            pincode=pincode,
            lat=lat,
            lng=lng,
            radius_km=radius_km,
            min_rating=min_rating,
            max_price=max_price,
        )
        sort = order
    if available_on is not None:
        minutes = Service.objects.filter(pk=service).values_list("duration_minutes", flat=True).first() or 60
        weekday_workers = queryset.filter(working_hours__has_key=str(available_on.weekday()))
        free = vendors_free_on(weekday_workers, available_on, timedelta(minutes=minutes), now=now)
        queryset = queryset.filter(pk__in=[v.pk for v in free])
    return queryset.order_by(*sort, "pk").prefetch_related(
        Prefetch(
            "services",
            queryset=VendorService.objects.filter(is_active=True, service__is_active=True).select_related("service"),
            to_attr="active_services",
        )
    )


class CountedQuerySet(QuerySet):
    """A queryset whose ``count()`` is answered by a cheaper query known to count the same rows
    (``counted_by``). Any further filter forgets it, as does a slice (which counts itself)."""

    _counter = None

    def counted_by(self, counter):
        clone = self._chain()
        clone._counter = counter
        return clone

    def _clone(self):
        clone = super()._clone()
        clone._counter = self._counter
        return clone

    def _filter_or_exclude(self, negate, args, kwargs):
        clone = super()._filter_or_exclude(negate, args, kwargs)
        clone._counter = None
        return clone

    def count(self):
        if self._counter is not None and self._result_cache is None and not self.query.is_sliced:
            return self._counter.count()
        return super().count()


def _vendor_search_indexed(*, service, pincode, min_rating, max_price):
    # Filter and annotate through ONE join to the index rows of (service, pincode) — one filter()
    # call, since each call on a multi-valued relation would join it again; Django reuses that
    # join for the annotations and the ordering. The index holds one row per matching vendor and
    # only bookable vendors, so the count reads the index alone (an index-only scan) instead of
    # joining every match to its vendor; the page's 20 rows check the vendor's status again.
    conditions = {"service_id": service, "pincode": pincode}
    if min_rating is not None:
        conditions["rating_avg__gte"] = min_rating
    if max_price is not None:
        conditions["price__lte"] = max_price
    queryset = (
        CountedQuerySet(VendorProfile)
        .filter(
            onboarding_status=OnboardingStatus.APPROVED,
            is_available=True,
            **{f"search_entries__{key}": value for key, value in conditions.items()},
        )
        .annotate(price=F("search_entries__price"), distance_km=F("search_entries__distance_km"))
    )
    return queryset.counted_by(VendorSearchEntry.objects.filter(**conditions))


def _vendor_search_live(*, service, pincode, lat, lng, radius_km, min_rating, max_price):
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
    return queryset
