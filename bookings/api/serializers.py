from datetime import timedelta
from decimal import Decimal

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from bookings.api.documents import booking_document
from bookings.models import (
    Booking,
    BookingEvent,
    BookingLine,
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


# The bounds of ``LineInputSerializer.quantity``: the visit the slots are for is one a booking can be.
MAX_QUANTITY = 10


class AvailabilityParams(serializers.Serializer):
    """What the slots are for: the services of a new visit (``service`` with ``quantity``), or a
    booking of the caller's to move (``booking``) — one or the other, never both, so that it is
    plain which length the slots have."""

    date = serializers.DateField(validators=[validate_calendar_day])
    service = serializers.CharField(
        required=False,
        help_text=_("A service id, or several separated by commas for one visit. Required unless booking is given."),
    )
    quantity = serializers.RegexField(
        r"^[0-9]+(,[0-9]+)*$",
        required=False,
        # Not trimmed: what the documented pattern refuses, the API refuses.
        trim_whitespace=False,
        error_messages={"invalid": _("Give whole numbers separated by commas, one for each service.")},
        help_text=_(
            "How many of each service, separated by commas in the order of service (each 1 to 10); "
            "1 each when left out. The visit lasts the sum of duration × quantity, as the booking will."
        ),
    )
    booking = serializers.UUIDField(
        required=False,
        help_text=_(
            "One of your bookings this vendor holds, to move it: the slots are sized by its length and "
            "its own current time counts as free. Needs signing in; instead of service and quantity."
        ),
    )

    def validate_service(self, value):
        try:
            ids = [int(part) for part in value.split(",") if part.strip()]
        except ValueError:
            raise serializers.ValidationError(_("Give service ids separated by commas.")) from None
        if not ids or len(ids) > 10 or len(set(ids)) != len(ids) or not all(1 <= i <= MAX_ID for i in ids):
            raise serializers.ValidationError(_("Give 1 to 10 distinct service ids."))
        return ids

    def validate_quantity(self, value):
        # Python's ``$`` lets a trailing newline past the pattern, so each part is checked again
        # for ASCII digits only; a part of three digits or more is out of range anyway (and int()
        # of thousands of digits raises).
        parts = value.split(",")
        if not all(part.isascii() and part.isdigit() for part in parts):
            raise serializers.ValidationError(self.fields["quantity"].error_messages["invalid"])
        if not all(len(part) <= 2 and 1 <= int(part) <= MAX_QUANTITY for part in parts):
            raise serializers.ValidationError(_("Each quantity must be between 1 and %(n)d.") % {"n": MAX_QUANTITY})
        return [int(part) for part in parts]

    def validate(self, attrs):
        if "booking" in attrs:
            if "service" in attrs or "quantity" in attrs:
                raise serializers.ValidationError(
                    {"booking": [_("Give a booking to move, or services and quantities: not both.")]}
                )
            return attrs
        if "service" not in attrs:
            raise serializers.ValidationError({"service": [_("Give the services, or a booking to move.")]})
        services = attrs["service"]
        quantities = attrs.get("quantity") or [1] * len(services)
        if len(quantities) != len(services):
            raise serializers.ValidationError(
                {
                    "quantity": [
                        _("Give one quantity for each service: %(n)d, separated by commas.") % {"n": len(services)}
                    ]
                }
            )
        attrs["lines"] = list(zip(services, quantities, strict=True))
        return attrs


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

    # The fields declare the document for the schema; ``booking_document`` (bookings/api/
    # documents.py) writes it, for every answer that carries a booking.

    vendor = BookingVendorSerializer(read_only=True, allow_null=True)
    customer = BookingCustomerSerializer(read_only=True)
    lines = BookingLineSerializer(many=True, read_only=True)
    address = BookingAddressSerializer(read_only=True)
    price = PriceSerializer(read_only=True)
    payment = BookingPaymentSerializer(read_only=True, allow_null=True)
    offer = OfferSerializer(
        read_only=True, allow_null=True, help_text=_("For a vendor: their offer on this booking (the latest).")
    )

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

    def to_representation(self, instance):
        request = self.context.get("request")
        return booking_document(instance, viewer=getattr(request, "user", None))


class BookingDetailSerializer(BookingSerializer):
    timeline = BookingEventSerializer(source="events", many=True, read_only=True)

    class Meta(BookingSerializer.Meta):
        fields = [*BookingSerializer.Meta.fields, "timeline"]

    def to_representation(self, instance):
        document = super().to_representation(instance)
        document["timeline"] = self.fields["timeline"].to_representation(instance.events.all())
        return document


class PromoValidateSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=32)
    amount = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=Decimal("0.00"))


class PromoValidateResponseSerializer(serializers.Serializer):
    code = serializers.CharField()
    valid = serializers.BooleanField()
    discount = serializers.DecimalField(max_digits=12, decimal_places=2)
    amount_after_discount = serializers.DecimalField(max_digits=12, decimal_places=2)
