from datetime import timedelta
from decimal import Decimal

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from bookings.models import (
    Booking,
    BookingEvent,
    BookingLine,
    BookingStatus,
    OfferOutcome,
    PaymentMethod,
    Service,
    ServiceCategory,
    VendorService,
)
from core.api.base import ModelSerializer
from core.api.serializers import AwareDateTimeField
from core.models import VendorProfile
from core.validators import validate_pincode
from payments.api.serializers import BookingPaymentSerializer
from signatures.api.serializers import ReviewSerializer

# The largest id a BigAutoField holds: a larger number overflows the database driver (a 500), so
# it is refused as bad input instead.
MAX_ID = 2**63 - 1


def validate_calendar_day(value):
    """Slots exist only within days of today; a day years away is refused rather than computed
    (at the ends of the calendar the time-zone arithmetic overflows: a 500)."""
    if abs(value - timezone.localdate()) > timedelta(days=366):
        raise serializers.ValidationError(_("Pick a day within a year of today."))


# Once a vendor has confirmed, each side sees the other's phone and the exact address (§3).
CONTACT_VISIBLE_STATUSES = {
    BookingStatus.CONFIRMED,
    BookingStatus.IN_PROGRESS,
    BookingStatus.COMPLETED,
    BookingStatus.AWAITING_SIGNATURE,
    BookingStatus.SIGNED,
    BookingStatus.DISPUTED,
}


class CategorySerializer(ModelSerializer):
    class Meta:
        model = ServiceCategory
        fields = ["id", "name", "slug"]


class ServiceSerializer(ModelSerializer):
    category = CategorySerializer(read_only=True)

    class Meta:
        model = Service
        fields = ["id", "name", "slug", "category", "description", "base_price", "duration_minutes"]


class VendorServiceSerializer(ModelSerializer):
    service_id = serializers.IntegerField(source="service.id", read_only=True)
    name = serializers.CharField(source="service.name", read_only=True)
    duration_minutes = serializers.IntegerField(source="service.duration_minutes", read_only=True)

    class Meta:
        model = VendorService
        fields = ["service_id", "name", "price", "duration_minutes", "is_active"]


class VendorServiceWriteSerializer(serializers.Serializer):
    service_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    price = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=Decimal("0.00"))
    is_active = serializers.BooleanField(default=True)


class VendorListSerializer(ModelSerializer):
    distance_km = serializers.SerializerMethodField()
    price = serializers.DecimalField(max_digits=12, decimal_places=2, read_only=True, allow_null=True)
    services = VendorServiceSerializer(source="active_services", many=True, read_only=True)

    class Meta:
        model = VendorProfile
        fields = [
            "id",
            "display_name",
            "bio",
            "experience_years",
            "rating_avg",
            "rating_count",
            "distance_km",
            "price",
            "services",
        ]

    # null when no point is known to measure from (no pincode or lat/lng in the search).
    @extend_schema_field(serializers.FloatField(allow_null=True))
    def get_distance_km(self, vendor):
        distance = getattr(vendor, "distance_km", None)
        return None if distance is None else round(float(distance), 2)


class VendorDetailSerializer(VendorListSerializer):
    pincodes = serializers.SerializerMethodField()
    recent_reviews = serializers.SerializerMethodField()
    reviews_count = serializers.SerializerMethodField()

    class Meta(VendorListSerializer.Meta):
        fields = [*VendorListSerializer.Meta.fields, "pincodes", "working_hours", "recent_reviews", "reviews_count"]

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_pincodes(self, vendor):
        return sorted(p.pincode for p in vendor.pincodes.all())

    def _reviews(self, vendor):
        # The newest visible reviews and their count: one query for the page (signatures.selectors).
        if getattr(vendor, "_recent_reviews", None) is None:
            from signatures.selectors import vendor_recent_reviews

            vendor._recent_reviews = vendor_recent_reviews(vendor)
        return vendor._recent_reviews

    @extend_schema_field(ReviewSerializer(many=True))
    def get_recent_reviews(self, vendor):
        return ReviewSerializer(self._reviews(vendor)[0], many=True).data

    @extend_schema_field(OpenApiTypes.INT)
    def get_reviews_count(self, vendor):
        return self._reviews(vendor)[1]


class VendorSearchParams(serializers.Serializer):
    service = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    pincode = serializers.CharField(required=False, validators=[validate_pincode])
    lat = serializers.DecimalField(required=False, max_digits=9, decimal_places=6, min_value=-90, max_value=90)
    lng = serializers.DecimalField(required=False, max_digits=9, decimal_places=6, min_value=-180, max_value=180)
    radius_km = serializers.DecimalField(required=False, max_digits=5, decimal_places=1, min_value=0, max_value=200)
    min_rating = serializers.DecimalField(required=False, max_digits=3, decimal_places=2, min_value=0, max_value=5)
    max_price = serializers.DecimalField(required=False, max_digits=12, decimal_places=2, min_value=0)
    available_on = serializers.DateField(required=False, validators=[validate_calendar_day])
    ordering = serializers.ChoiceField(
        required=False,
        choices=["rating", "-rating", "price", "-price", "distance", "-distance"],
    )

    def validate(self, attrs):
        if ("lat" in attrs) != ("lng" in attrs):
            raise serializers.ValidationError({"lat": [_("Give both lat and lng.")]})
        if "radius_km" in attrs and "lat" not in attrs:
            raise serializers.ValidationError({"radius_km": [_("radius_km needs lat and lng.")]})
        ordering = attrs.get("ordering", "")
        if ordering.endswith("distance") and "lat" not in attrs and "pincode" not in attrs:
            raise serializers.ValidationError({"ordering": [_("Ordering by distance needs lat+lng or a pincode.")]})
        return attrs


class AvailabilityParams(serializers.Serializer):
    date = serializers.DateField(validators=[validate_calendar_day])
    service = serializers.CharField(help_text=_("A service id, or several separated by commas for one visit."))

    def validate_service(self, value):
        try:
            ids = [int(part) for part in value.split(",") if part.strip()]
        except ValueError:
            raise serializers.ValidationError(_("Give service ids separated by commas.")) from None
        if not ids or len(ids) > 10 or len(set(ids)) != len(ids) or not all(1 <= i <= MAX_ID for i in ids):
            raise serializers.ValidationError(_("Give 1 to 10 distinct service ids."))
        return ids


class SlotSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()


class AvailabilitySerializer(serializers.Serializer):
    date = serializers.DateField()
    timezone = serializers.CharField()
    duration_minutes = serializers.IntegerField()
    slots = SlotSerializer(many=True)


# --- Bookings ------------------------------------------------------------------------------------


class AddressInputSerializer(serializers.Serializer):
    line1 = serializers.CharField(max_length=200)
    line2 = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    city = serializers.CharField(max_length=100)
    pincode = serializers.CharField(validators=[validate_pincode])
    lat = serializers.DecimalField(max_digits=9, decimal_places=6, min_value=-90, max_value=90, required=False)
    lng = serializers.DecimalField(max_digits=9, decimal_places=6, min_value=-180, max_value=180, required=False)


class LineInputSerializer(serializers.Serializer):
    service_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    quantity = serializers.IntegerField(min_value=1, max_value=10, default=1)


class BookingCreateSerializer(serializers.Serializer):
    service_id = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False)
    lines = LineInputSerializer(many=True, required=False, max_length=10)
    scheduled_at = AwareDateTimeField()
    address = AddressInputSerializer(required=False)
    address_id = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False)
    vendor_id = serializers.UUIDField(required=False, allow_null=True)
    notes = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")
    promo_code = serializers.CharField(max_length=32, required=False, allow_blank=True)
    payment_method = serializers.ChoiceField(choices=PaymentMethod.choices)

    def validate(self, attrs):
        if ("service_id" in attrs) == bool(attrs.get("lines")):
            raise serializers.ValidationError({"service_id": [_("Give either service_id or lines.")]})
        if "service_id" in attrs:
            attrs["lines"] = [{"service_id": attrs.pop("service_id"), "quantity": 1}]
        if ("address" in attrs) == ("address_id" in attrs):
            raise serializers.ValidationError({"address": [_("Give either address or address_id.")]})
        return attrs


class RescheduleSerializer(serializers.Serializer):
    scheduled_at = AwareDateTimeField()


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class CancelSerializer(ReasonSerializer):
    refund_amount = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        min_value=Decimal("0.00"),
        required=False,
        help_text=_("Operations staff only: refund other than the policy's (needs a reason)."),
    )


class CaptureSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500)
    amount = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        min_value=Decimal("0.01"),
        required=False,
        help_text=_("Capture less than the total (a settled dispute); the rest of the hold is released."),
    )


class BookingLineSerializer(ModelSerializer):
    class Meta:
        model = BookingLine
        fields = ["service_id", "service_name", "quantity", "unit_price", "duration_minutes", "line_total"]


class BookingEventSerializer(ModelSerializer):
    at = serializers.DateTimeField(source="created_at")

    class Meta:
        model = BookingEvent
        fields = ["event", "from_status", "to_status", "note", "at"]


class PriceSerializer(serializers.Serializer):
    subtotal = serializers.DecimalField(max_digits=12, decimal_places=2)
    discount = serializers.DecimalField(max_digits=12, decimal_places=2)
    tax = serializers.DecimalField(max_digits=12, decimal_places=2)
    total = serializers.DecimalField(max_digits=12, decimal_places=2)
    commission = serializers.DecimalField(max_digits=12, decimal_places=2)
    vendor_earning = serializers.DecimalField(max_digits=12, decimal_places=2)
    platform_fee = serializers.DecimalField(max_digits=12, decimal_places=2)
    currency = serializers.CharField()
    tax_rate = serializers.DecimalField(max_digits=6, decimal_places=4)
    commission_rate = serializers.DecimalField(max_digits=6, decimal_places=4)


class BookingVendorSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    display_name = serializers.CharField()
    rating_avg = serializers.DecimalField(max_digits=3, decimal_places=2)
    phone = serializers.CharField(allow_null=True)


class BookingCustomerSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    phone = serializers.CharField(allow_null=True)


class BookingAddressSerializer(serializers.Serializer):
    line1 = serializers.CharField(allow_null=True)
    line2 = serializers.CharField(allow_null=True)
    city = serializers.CharField()
    pincode = serializers.CharField()
    lat = serializers.DecimalField(max_digits=9, decimal_places=6, allow_null=True)
    lng = serializers.DecimalField(max_digits=9, decimal_places=6, allow_null=True)


class OfferSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=OfferOutcome.choices)
    sent_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()


class BookingSerializer(ModelSerializer):
    """A booking as its viewer may see it: the other party's phone and the exact address appear
    only once a vendor has confirmed (§3)."""

    vendor = serializers.SerializerMethodField()
    customer = serializers.SerializerMethodField()
    lines = BookingLineSerializer(many=True, read_only=True)
    address = serializers.SerializerMethodField()
    price = serializers.SerializerMethodField()
    payment = serializers.SerializerMethodField()
    offer = serializers.SerializerMethodField()

    class Meta:
        model = Booking
        fields = [
            "id",
            "booking_number",
            "status",
            "vendor",
            "customer",
            "lines",
            "scheduled_at",
            "ends_at",
            "address",
            "notes",
            "price",
            "payment_method",
            "payment",
            "offer",
            "needs_manual_assignment",
            "reschedule_count",
            "cancelled_by",
            "cancellation_reason",
            "cancellation_fee",
            "refund_amount",
            "created_at",
        ]

    def _viewer(self):
        request = self.context.get("request")
        return getattr(request, "user", None)

    def _nested(self, serializer_class):
        """One instance of ``serializer_class`` for every row this serializer writes: a list of
        bookings is one BookingSerializer for all rows, and building a serializer's fields
        (a ModelSerializer's especially) costs more than writing a row with it."""
        cache = self.__dict__.setdefault("_nested_serializers", {})
        if serializer_class not in cache:
            cache[serializer_class] = serializer_class(context=self.context)
        return cache[serializer_class]

    def _contact_visible(self, booking):
        """Contacts are shared between the two parties of a confirmed booking: its customer and
        the vendor holding it — not a vendor who was offered it earlier and rejected or let the
        offer lapse (they still see the booking in their history)."""
        if booking.status not in CONTACT_VISIBLE_STATUSES:
            return False
        viewer = self._viewer()
        if viewer is None or not viewer.is_authenticated:
            return False
        if viewer.pk == booking.customer_id:
            return True
        return booking.vendor is not None and booking.vendor.user_id == viewer.pk

    def _is_staff_viewer(self):
        viewer = self._viewer()
        return bool(viewer and viewer.is_ops)

    @extend_schema_field(BookingVendorSerializer(allow_null=True))
    def get_vendor(self, booking):
        vendor = booking.vendor
        if vendor is None:
            return None
        show_phone = self._contact_visible(booking) or self._is_staff_viewer()
        return {
            "id": str(vendor.pk),
            "display_name": vendor.display_name,
            "rating_avg": str(vendor.rating_avg),
            "phone": vendor.user.phone if show_phone and vendor.user.phone else None,
        }

    @extend_schema_field(BookingCustomerSerializer)
    def get_customer(self, booking):
        customer = booking.customer
        show = self._contact_visible(booking) or self._is_staff_viewer()
        viewer = self._viewer()
        is_self = viewer is not None and viewer.pk == customer.pk
        return {
            "id": str(customer.pk),
            "name": customer.get_full_name() or customer.username,
            "phone": customer.phone if (show or is_self) and customer.phone else None,
        }

    @extend_schema_field(BookingAddressSerializer)
    def get_address(self, booking):
        viewer = self._viewer()
        exact = (
            self._contact_visible(booking)
            or self._is_staff_viewer()
            or (viewer is not None and viewer.pk == booking.customer_id)
        )
        return {
            "line1": booking.address_line1 if exact else None,
            "line2": booking.address_line2 if exact else None,
            "city": booking.address_city,
            "pincode": booking.address_pincode,
            "lat": str(booking.address_lat) if exact and booking.address_lat is not None else None,
            "lng": str(booking.address_lng) if exact and booking.address_lng is not None else None,
        }

    @extend_schema_field(PriceSerializer)
    def get_price(self, booking):
        return self._nested(PriceSerializer).to_representation(
            {
                "subtotal": booking.subtotal,
                "discount": booking.discount,
                "tax": booking.tax,
                "total": booking.total,
                "commission": booking.commission,
                "vendor_earning": booking.vendor_earning,
                "platform_fee": booking.platform_fee,
                "currency": booking.currency,
                "tax_rate": booking.tax_rate,
                "commission_rate": booking.commission_rate,
            }
        )

    @extend_schema_field(BookingPaymentSerializer(allow_null=True))
    def get_payment(self, booking):
        """The active attempt, else the latest (null for a zero total: nothing to pay)."""
        attempts = list(booking.payment_attempts.all())  # prefetched by the selectors
        if not attempts:
            return None
        current = next((a for a in attempts if a.is_active), None) or max(attempts, key=lambda a: a.created_at)
        current.booking = booking
        return self._nested(BookingPaymentSerializer).to_representation(current)

    @extend_schema_field(OfferSerializer(allow_null=True))
    def get_offer(self, booking):
        """For a vendor: their offer on this booking (the latest), so they see its deadline."""
        viewer = self._viewer()
        vendor = getattr(viewer, "vendor_profile", None) if viewer is not None and viewer.is_vendor else None
        if vendor is None:
            return None
        offers = [o for o in booking.offers.all() if o.vendor_id == vendor.pk]
        if not offers:
            return None
        return self._nested(OfferSerializer).to_representation(offers[-1])


class BookingDetailSerializer(BookingSerializer):
    timeline = BookingEventSerializer(source="events", many=True, read_only=True)

    class Meta(BookingSerializer.Meta):
        fields = [*BookingSerializer.Meta.fields, "timeline"]


class PromoValidateSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=32)
    amount = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=Decimal("0.00"))


class PromoValidateResponseSerializer(serializers.Serializer):
    code = serializers.CharField()
    valid = serializers.BooleanField()
    discount = serializers.DecimalField(max_digits=12, decimal_places=2)
    amount_after_discount = serializers.DecimalField(max_digits=12, decimal_places=2)
