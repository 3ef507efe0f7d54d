"""Read queries for the catalog, vendors and bookings."""

import json
import uuid
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import connection
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
from core.prepared import fetch_all


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


# Newest first; ties (two bookings at the same time, in an ops list) by id so pages never overlap.
# The PostgreSQL read below sorts its page by the same two columns.
BOOKING_LIST_ORDER = ("-scheduled_at", "pk")

_BOOKING_COLUMNS = (
    "id", "booking_number", "status", "customer_id", "vendor_id", "scheduled_at", "ends_at",
    "address_line1", "address_line2", "address_city", "address_pincode", "address_lat", "address_lng",
    "notes", "subtotal", "discount", "tax", "total", "commission", "vendor_earning", "platform_fee",
    "currency", "tax_rate", "commission_rate", "payment_method", "needs_manual_assignment",
    "reschedule_count", "cancelled_by", "cancellation_reason", "cancellation_fee", "refund_amount",
    "created_at",
)  # fmt: skip
_VENDOR_COLUMNS = ("display_name", "rating_avg", "user_id")
_CUSTOMER_COLUMNS = ("first_name", "last_name", "username", "phone")
_LINE_COLUMNS = ("service_id", "service_name", "quantity", "unit_price", "duration_minutes", "line_total")
_LINE_DECIMALS = ("unit_price", "line_total")
_PAYMENT_COLUMNS = (
    "id", "method", "status", "is_active", "amount", "currency", "client_secret", "amount_captured",
    "amount_refunded", "created_at",
)  # fmt: skip
_PAYMENT_DECIMALS = ("amount", "amount_captured", "amount_refunded")
_OFFER_COLUMNS = ("vendor_id", "outcome", "sent_at", "expires_at")


class _Row:
    """A booking (or its vendor, customer, line, payment, offer) with the attributes
    ``booking_document`` reads, made from one row of the list's query."""

    def __init__(self, **values):
        self.__dict__.update(values)


class _Loaded(list):
    """Related rows already read, answering ``.all()`` as a prefetched manager does."""

    def all(self):
        return self


def _json_rows(raw, decimals=(), datetimes=(), uuids=()):
    """The rows of a ``json_agg`` column (numbers and times were sent as text: JSON has no
    decimals, and a float would lose cents)."""
    if raw is None:
        return _Loaded()
    if isinstance(raw, str | bytes):
        raw = json.loads(raw)
    rows = _Loaded()
    for item in raw:
        for name in decimals:
            if item[name] is not None:
                item[name] = Decimal(item[name])
        for name in datetimes:
            if item[name] is not None:
                item[name] = datetime.fromisoformat(item[name])
        for name in uuids:
            if item[name] is not None:
                item[name] = uuid.UUID(item[name])
        rows.append(_Row(**item))
    return rows


class BookingListRows:
    """The bookings of ``queryset`` (visibility and filters applied, ``BOOKING_LIST_ORDER``) a
    page at a time, as plain rows for ``booking_document``, with the number of them all.

    On PostgreSQL a page is one prepared query (core/prepared.py) that also counts the list and
    reads the page's vendors, customers, lines, payment attempts and (for a vendor) offers, the
    related rows aggregated as JSON per booking. The visibility and filters stay the ORM's: the
    query embeds ``queryset``'s own SQL; only the columns are written here. Against the ORM's
    five queries with model instances it is a third of the time (the SQL compiler alone, for
    over a hundred joined columns, took longer than this whole read). Elsewhere (SQLite, the
    embedded run) the page is read through the ORM."""

    def __init__(self, queryset, *, viewer):
        self.queryset = queryset
        self.viewer = viewer

    def count(self) -> int:
        return self.queryset.count()

    def page(self, offset: int, limit: int):
        """``(rows, total)``; ``total`` is None when the page is empty past the first one (the
        count came with the rows), and the caller asks ``count()`` if it needs it."""
        if connection.vendor != "postgresql" or self.queryset.query.is_empty():
            related = self.queryset.select_related("vendor", "vendor__user", "customer").prefetch_related(
                "lines", "payment_attempts"
            )
            if viewer_is_vendor(self.viewer):
                related = related.prefetch_related("offers")
            rows = list(related[offset : offset + limit])
            return rows, (self.count() if rows or offset == 0 else None)
        ids_sql, ids_params = self.queryset.values("id").query.sql_with_params()
        count_sql, count_params = _unordered(ids_sql, ids_params) or (
            self.queryset.order_by().values("id").query.sql_with_params()
        )
        vendor = getattr(self.viewer, "vendor_profile", None) if viewer_is_vendor(self.viewer) else None
        template = _PAGE_SQL_WITH_OFFERS if vendor is not None else _PAGE_SQL
        # Placeholders in the order they appear: the offers' and the count's subqueries sit in
        # the select list, before FROM. Only constants and the ORM's parameterised SQL are joined.
        sql = template.replace("{counted}", count_sql).replace("{visible}", ids_sql)
        params = [*([vendor.pk] if vendor is not None else []), *count_params, *ids_params, limit, offset]
        values = fetch_all(sql, params)
        if not values:
            return [], (0 if offset == 0 else None)
        return [self._row(row) for row in values], values[0][-1]

    @staticmethod
    def _row(values):
        booking_end = len(_BOOKING_COLUMNS)
        booking = dict(zip(_BOOKING_COLUMNS, values[:booking_end], strict=True))
        vendor_values = values[booking_end : booking_end + len(_VENDOR_COLUMNS)]
        vendor_phone = values[booking_end + len(_VENDOR_COLUMNS)]
        customer_start = booking_end + len(_VENDOR_COLUMNS) + 1
        customer_values = values[customer_start : customer_start + len(_CUSTOMER_COLUMNS)]
        lines, payments, offers, _total = values[customer_start + len(_CUSTOMER_COLUMNS) :]
        vendor = None
        if booking["vendor_id"] is not None:
            vendor = _Row(
                pk=booking["vendor_id"],
                **dict(zip(_VENDOR_COLUMNS, vendor_values, strict=True)),
                user=_Row(phone=vendor_phone),
            )
        customer = _Row(pk=booking["customer_id"], **dict(zip(_CUSTOMER_COLUMNS, customer_values, strict=True)))
        return _Row(
            **booking,
            pk=booking["id"],
            vendor=vendor,
            customer=customer,
            lines=_json_rows(lines, decimals=_LINE_DECIMALS),
            payment_attempts=_json_rows(payments, decimals=_PAYMENT_DECIMALS, datetimes=("created_at",), uuids=("id",)),
            offers=_json_rows(offers, datetimes=("sent_at", "expires_at"), uuids=("vendor_id",)),
        )


def _unordered(sql: str, params):
    """``sql`` without its final ORDER BY — the count needs no sort — when that clause is plain
    columns (no parameters, no parentheses, so it cannot belong to a subquery); else None and
    the caller compiles the unordered query (compiling costs more than this whole read's SQL)."""
    head, found, tail = sql.rpartition(" ORDER BY ")
    if not found or "%s" in tail or "(" in tail or ")" in tail:
        return None
    return head, params


def _json_pairs(alias, columns, as_text=()):
    """``'name', alias.name, ...`` for json_build_object; the ``as_text`` columns cast to text."""
    return ", ".join(f"'{name}', {alias}.{name}{'::text' if name in as_text else ''}" for name in columns)


def _page_sql(offers: str) -> str:
    """The page query around the ORM's SQL for the visible ids (``{visible}``, ordered). Built
    once at import from the column names above (S608: no input reaches this text)."""
    columns = [
        *(f"b.{name}" for name in _BOOKING_COLUMNS),
        *(f"v.{name}" for name in _VENDOR_COLUMNS),
        "vu.phone",
        *(f"c.{name}" for name in _CUSTOMER_COLUMNS),
        f"(SELECT json_agg(json_build_object({_json_pairs('l', _LINE_COLUMNS, _LINE_DECIMALS)}) ORDER BY l.id)"  # noqa: S608
        " FROM bookings_bookingline l WHERE l.booking_id = b.id)",
        f"(SELECT json_agg(json_build_object({_json_pairs('p', _PAYMENT_COLUMNS, _PAYMENT_DECIMALS)}))"  # noqa: S608
        " FROM payments_paymentattempt p WHERE p.booking_id = b.id)",
        offers,
        "(SELECT count(*) FROM ({counted}) counted)",
    ]
    return (
        "SELECT " + ", ".join(columns) + " FROM ({visible} LIMIT %s OFFSET %s) page"  # noqa: S608
        " JOIN bookings_booking b ON b.id = page.id"
        " JOIN core_user c ON c.id = b.customer_id"
        " LEFT JOIN core_vendorprofile v ON v.id = b.vendor_id"
        " LEFT JOIN core_user vu ON vu.id = v.user_id"
        " ORDER BY b.scheduled_at DESC, b.id"
    )


_PAGE_SQL = _page_sql("NULL")
_PAGE_SQL_WITH_OFFERS = _page_sql(
    f"(SELECT json_agg(json_build_object({_json_pairs('o', _OFFER_COLUMNS)}) ORDER BY o.sent_at, o.id)"  # noqa: S608
    " FROM bookings_bookingoffer o WHERE o.booking_id = b.id AND o.vendor_id = %s)"
)


def viewer_is_vendor(viewer) -> bool:
    return viewer is not None and getattr(viewer, "role", None) == Role.VENDOR


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
