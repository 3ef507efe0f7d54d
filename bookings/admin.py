"""Django admin for the catalog, vendor prices, bookings and promo codes.

Bookings are a read-only record here: status, assignment and money change only through the
booking services (ops actions that call them come as admin actions later), so a booking page never
saves anything. Vendor prices and promo redemptions are likewise shown, not edited.
"""

from django.contrib import admin
from django.db.models import Count, Q
from django.utils.translation import gettext_lazy as _

from bookings.models import (
    Booking,
    BookingEvent,
    BookingLine,
    BookingOffer,
    BookingReminder,
    PromoCode,
    PromoRedemption,
    Service,
    ServiceCategory,
    VendorService,
)
from core.admin import ViewOnlyAdmin, ViewOnlyInline

# --- Catalog ------------------------------------------------------------------------------------


@admin.register(ServiceCategory)
class ServiceCategoryAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "position", "service_count")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}

    @admin.display(description=_("services"), ordering="service_count")
    def service_count(self, obj):
        return obj.service_count

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(service_count=Count("services"))


@admin.register(Service)
class ServiceAdmin(admin.ModelAdmin):
    """Catalog services. The base price may be edited: bookings snapshot their prices, so a new
    price only applies to bookings made afterwards."""

    list_display = ("name", "category", "base_price", "duration_minutes", "is_active")
    list_select_related = ("category",)
    list_filter = ("is_active", "category")
    search_fields = ("name", "slug", "category__name")
    prepopulated_fields = {"slug": ("name",)}

    def has_delete_permission(self, request, obj=None):
        # Booking lines and vendor prices point at services; deactivate instead.
        return False


@admin.register(VendorService)
class VendorServiceAdmin(ViewOnlyAdmin):
    """What each vendor offers at what price — set by the vendor (services.catalog.vendor_service_set)."""

    list_display = ("vendor", "service", "price", "is_active")
    list_select_related = ("vendor", "service")
    list_filter = ("is_active", "service__category")
    search_fields = ("vendor__display_name", "service__name")


# --- Bookings -----------------------------------------------------------------------------------


class BookingLineInline(ViewOnlyInline):
    model = BookingLine
    fields = ("service_name", "quantity", "unit_price", "duration_minutes", "line_total")
    readonly_fields = fields


class BookingEventInline(ViewOnlyInline):
    model = BookingEvent
    fields = ("created_at", "event", "from_status", "to_status", "actor", "note")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")


class BookingOfferInline(ViewOnlyInline):
    model = BookingOffer
    fields = ("vendor", "sent_at", "expires_at", "outcome", "responded_at", "reason", "score")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("vendor")


BOOKING_FIELDSETS = (
    (
        None,
        {
            "fields": (
                "booking_number",
                "status",
                "customer",
                "vendor",
                "vendor_chosen_by_customer",
                "scheduled_at",
                "ends_at",
                "blocked_until",
                "payment_method",
                "notes",
            )
        },
    ),
    (
        _("Address"),
        {
            "fields": (
                "address_line1",
                "address_line2",
                "address_city",
                "address_pincode",
                "address_lat",
                "address_lng",
            )
        },
    ),
    (
        _("Price"),
        {
            "fields": (
                "currency",
                "subtotal",
                "discount",
                "tax",
                "total",
                "commission",
                "vendor_earning",
                "platform_fee",
                "tax_rate",
                "commission_rate",
                "promo_code",
            )
        },
    ),
    (
        _("Assignment"),
        {"fields": ("ready_at", "offer_round_started_at", "needs_manual_assignment", "reschedule_count")},
    ),
    (
        _("Cancellation"),
        {"fields": ("cancelled_by", "cancellation_reason", "cancellation_fee", "refund_amount")},
    ),
    (
        _("Dates"),
        {"fields": ("created_at", "confirmed_at", "started_at", "completed_at", "cancelled_at", "updated_at")},
    ),
)


@admin.register(Booking)
class BookingAdmin(ViewOnlyAdmin):
    """Every booking, read-only, with its lines, timeline and offers.

    ``has_change_permission`` is False for everyone, so the page is a view and a POST to it is
    refused (403) before anything is saved. Ops actions (assign, cancel, refund …) will be admin
    actions calling the booking services; give them their own permission check
    (``request.user.has_perm("bookings.change_booking")``) rather than "change", which this
    admin deliberately never grants."""

    list_display = (
        "booking_number",
        "status",
        "scheduled_at",
        "customer",
        "vendor",
        "address_pincode",
        "payment_method",
        "total_with_currency",
        "needs_manual_assignment",
        "created_at",
    )
    list_select_related = ("customer", "vendor")
    list_filter = ("status", "payment_method", "needs_manual_assignment", "vendor_chosen_by_customer", "cancelled_by")
    search_fields = (
        "=booking_number",
        "customer__email",
        "customer__phone",
        "customer__username",
        "vendor__display_name",
        "=address_pincode",
    )
    date_hierarchy = "scheduled_at"
    fieldsets = BOOKING_FIELDSETS
    readonly_fields = tuple(field for _title, options in BOOKING_FIELDSETS for field in options["fields"])
    inlines = (BookingLineInline, BookingEventInline, BookingOfferInline)
    actions = None

    @admin.display(description=_("total"), ordering="total")
    def total_with_currency(self, obj):
        return f"{obj.total} {obj.currency}"


# --- Promo codes --------------------------------------------------------------------------------


class PromoRedemptionInline(ViewOnlyInline):
    model = PromoRedemption
    fields = ("booking", "user", "discount", "released", "created_at")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("booking", "user")


@admin.register(PromoCode)
class PromoCodeAdmin(admin.ModelAdmin):
    """Promo codes. A code is never deleted (redemptions point at it): deactivate it instead. Its
    code is fixed once created; other terms may change and apply to later bookings only."""

    list_display = (
        "code",
        "kind",
        "value",
        "min_order",
        "max_discount",
        "valid_from",
        "valid_until",
        "is_active",
        "live_redemptions",
    )
    list_filter = ("is_active", "kind")
    search_fields = ("code", "description")
    date_hierarchy = "created_at"
    inlines = (PromoRedemptionInline,)

    @admin.display(description=_("uses"), ordering="live_redemptions")
    def live_redemptions(self, obj):
        return obj.live_redemptions

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(live_redemptions=Count("redemptions", filter=Q(redemptions__released=False)))
        )

    def get_readonly_fields(self, request, obj=None):
        return ("code", "created_at") if obj is not None else ("created_at",)

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(PromoRedemption)
class PromoRedemptionAdmin(ViewOnlyAdmin):
    list_display = ("promo", "booking", "user", "discount", "released", "created_at")
    list_select_related = ("promo", "booking", "user")
    list_filter = ("released",)
    search_fields = ("=promo__code", "=booking__booking_number", "user__email")
    date_hierarchy = "created_at"


@admin.register(BookingReminder)
class BookingReminderAdmin(ViewOnlyAdmin):
    list_display = ("sent_at", "booking", "kind", "user")
    list_filter = ("kind",)
    search_fields = ("booking__booking_number",)
    list_select_related = ("booking", "user")
