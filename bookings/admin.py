"""Django admin for the catalog, vendor prices, bookings and promo codes.

Bookings are a read-only record here: status, assignment and money change only through the
booking services, so a booking page never saves anything; what ops do to a booking are admin
actions, each calling one service (core/admin_actions.py): resolve a dispute
(``signatures.services.dispute_resolve``), capture by hand with a reason
(``booking_capture_by_ops``), send a new signature request (``signature_request``). Vendor prices
and promo redemptions are likewise shown, not edited.
"""

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Q
from django.utils.translation import gettext
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
from bookings.services.transitions import booking_capture_by_ops
from core.admin import ViewOnlyAdmin, ViewOnlyInline
from core.admin_actions import (
    SHOWN_ERRORS,
    OpsActionsAdmin,
    action_form_page,
    bound_if_applied,
    error_text,
    form_add_errors,
)
from core.errors import InvalidInput
from core.models import MONEY_DIGITS, MONEY_PLACES
from signatures.services import (
    OUTCOME_CANCEL_REFUND,
    OUTCOME_CAPTURE_FULL,
    OUTCOME_CAPTURE_PARTIAL,
    dispute_resolve,
    signature_request,
)

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


class DisputeResolutionForm(forms.Form):
    outcome = forms.ChoiceField(
        label=_("Decision"),
        choices=[
            (OUTCOME_CAPTURE_FULL, _("Capture in full (the customer pays the whole total)")),
            (OUTCOME_CAPTURE_PARTIAL, _("Capture part, refund or release the rest")),
            (OUTCOME_CANCEL_REFUND, _("Cancel with a full refund")),
        ],
        widget=forms.RadioSelect,
    )
    amount = forms.DecimalField(
        label=_("Amount the customer pays"),
        required=False,
        max_digits=MONEY_DIGITS,
        decimal_places=MONEY_PLACES,
        help_text=_("Only for a part capture: more than 0 and less than the booking's total."),
    )
    reason = forms.CharField(label=_("Reason"), max_length=500, widget=forms.Textarea(attrs={"rows": 3}))


class ManualCaptureForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Why the payment is taken without the customer's signature (e.g. confirmed by phone)."),
    )


@admin.register(Booking)
class BookingAdmin(OpsActionsAdmin):
    """Every booking, read-only, with its lines, timeline and offers, and the ops actions.

    ``has_change_permission`` is False for every object, so the page is a view and a POST to it
    is refused (403) before anything is saved; asked without an object it is the model's change
    permission (ops managers, super admins), which unlocks the actions."""

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
    actions = ("resolve_dispute", "capture_by_hand", "send_signature_request")

    @admin.display(description=_("total"), ordering="total")
    def total_with_currency(self, obj):
        return f"{obj.total} {obj.currency}"

    def _one_booking(self, request, queryset):
        bookings = list(queryset[:2])
        if len(bookings) != 1:
            self.message_user(request, gettext("Select exactly one booking for this action."), messages.ERROR)
            return None
        return bookings[0]

    def _form_action(self, request, queryset, *, form_class, run, done, title, intro, submit):
        """One booking, a form, one service call: errors of the input go back onto the form, a
        refusal of the service becomes a message."""
        booking = self._one_booking(request, queryset)
        if booking is None:
            return None
        form = bound_if_applied(request, form_class)
        if form.is_bound and form.is_valid():
            try:
                booking = run(booking, form.cleaned_data)
            except InvalidInput as error:
                form_add_errors(form, error)
            except SHOWN_ERRORS as error:
                self.message_user(request, f"{booking.booking_number}: {error_text(error)}", messages.ERROR)
                return None
            else:
                self.message_user(request, done % {"number": booking.booking_number, "status": booking.status})
                return None
        return action_form_page(
            self,
            request,
            queryset,
            form=form,
            title=title % {"number": booking.booking_number},
            intro=intro,
            submit=submit,
        )

    @admin.action(description=_("Resolve the dispute…"), permissions=["change"])
    def resolve_dispute(self, request, queryset):
        return self._form_action(
            request,
            queryset,
            form_class=DisputeResolutionForm,
            run=lambda booking, data: dispute_resolve(
                booking=booking,
                user=request.user,
                outcome=data["outcome"],
                amount=data["amount"],
                reason=data["reason"],
            ),
            done=gettext("Dispute on %(number)s resolved: the booking is now %(status)s."),
            title=gettext("Resolve the dispute on %(number)s"),
            intro=gettext(
                "Both parties are told of the decision and the money moves through the payment gateway after "
                "it is saved; the decision and its reason are audited."
            ),
            submit=gettext("Resolve"),
        )

    @admin.action(description=_("Capture the payment by hand…"), permissions=["change"])
    def capture_by_hand(self, request, queryset):
        return self._form_action(
            request,
            queryset,
            form_class=ManualCaptureForm,
            run=lambda booking, data: booking_capture_by_ops(booking=booking, user=request.user, reason=data["reason"]),
            done=gettext("Payment of %(number)s sent for capture: the booking is now %(status)s."),
            title=gettext("Capture the payment of %(number)s by hand"),
            intro=gettext(
                "For a completed job whose signature did not come (an expired request, a customer who confirmed "
                "by phone). The booking becomes signed and its full total is captured."
            ),
            submit=gettext("Capture"),
        )

    @admin.action(description=_("Send a new signature request"), permissions=["change"])
    def send_signature_request(self, request, queryset):
        for booking in queryset.order_by("scheduled_at"):
            try:
                signature_request(booking=booking, user=request.user)
            except SHOWN_ERRORS as error:
                self.message_user(request, f"{booking.booking_number}: {error_text(error)}", messages.ERROR)
            else:
                self.message_user(
                    request,
                    gettext("%(number)s: the customer has a signing link.") % {"number": booking.booking_number},
                )


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
