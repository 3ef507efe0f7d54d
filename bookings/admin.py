"""Django admin for the catalog, vendor prices, bookings and promo codes.

Bookings are a read-only record here: status, assignment and money change only through the
booking services, so a booking page never saves anything. The booking page shows the timeline,
offers, photos (served through the admin's own photo view after a permission check), the signature
with its verification, payment attempts, operations and ledger lines, and the notifications sent
about the booking. The changelist filters by status, scheduled dates, pincode, vendor, payment
status and "needs attention" (bookings/admin_filters.py) and exports its rows as CSV.

What ops do to a booking are admin actions, each calling one service (core/admin_actions.py):
assign a vendor by hand (``bookings.services.assignment.booking_assign_by_ops``; the form lists
only the vendors eligible and free for the slot), cancel with the policy's refund or another
amount and a reason (``booking_cancel``), resolve a dispute (``signatures.services.dispute_resolve``),
capture by hand with a reason (``booking_capture_by_ops``), send a new signature request
(``signature_request``). Vendor prices and promo redemptions are likewise shown, not edited.
"""

from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count, OuterRef, Q, Subquery
from django.http import Http404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from bookings.admin_filters import (
    DateRangeFilter,
    NeedsAttentionFilter,
    PaymentStatusFilter,
    PincodeFilter,
    VendorFilter,
)
from bookings.api.photos import photo_file_response
from bookings.models import (
    Booking,
    BookingEvent,
    BookingLine,
    BookingOffer,
    BookingReminder,
    Message,
    PromoCode,
    PromoRedemption,
    Service,
    ServiceCategory,
    VendorService,
)
from bookings.services.assignment import (
    REASON_MAX_LENGTH,
    booking_assign_by_ops,
    booking_assignable_vendors,
    booking_can_assign_by_ops,
)
from bookings.services.common import BookingConflict
from bookings.services.transitions import booking_cancel, booking_capture_by_ops
from core.admin import ViewOnlyAdmin, ViewOnlyInline
from core.admin_actions import (
    SHOWN_ERRORS,
    OpsActionsAdmin,
    action_form_page,
    bound_if_applied,
    error_text,
    form_add_errors,
)
from core.admin_export import CsvExportMixin
from core.errors import InvalidInput, NotFound
from core.models import MONEY_DIGITS, MONEY_PLACES, Notification
from payments.models import LedgerTransaction, PaymentAttempt, PaymentOperation
from signatures.hashing import signature_verify
from signatures.models import Signature
from signatures.services import (
    OUTCOME_CANCEL_REFUND,
    OUTCOME_CAPTURE_FULL,
    OUTCOME_CAPTURE_PARTIAL,
    dispute_resolve,
    signature_request,
)

# At most this many chat messages on a booking's page (the newest).
MESSAGES_SHOWN = 200
# At most this many notifications on a booking's page (a long dispute can send many).
NOTIFICATIONS_SHOWN = 200

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


def _vendor_choice_label(candidate) -> str:
    vendor = candidate.vendor
    parts = [vendor.display_name]
    if vendor.rating_count:
        parts.append(gettext("rating %(avg)s (%(count)d)") % {"avg": vendor.rating_avg, "count": vendor.rating_count})
    distance = getattr(vendor, "distance_km", None)
    if distance is not None:
        parts.append(gettext("%(km).1f km") % {"km": float(distance)})
    parts.append(gettext("score %(score)s") % {"score": candidate.score})
    return " — ".join(parts)


class AssignVendorForm(forms.Form):
    """Only the vendors eligible and free for the booking's slot are offered as choices."""

    vendor = forms.ChoiceField(label=_("Vendor"), widget=forms.RadioSelect)
    reason = forms.CharField(
        label=_("Reason"),
        max_length=REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("E.g. “offers ran out; agreed with the vendor by phone”. The customer and vendor are told."),
    )

    def __init__(self, *args, candidates=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.vendors = {str(candidate.vendor.pk): candidate.vendor for candidate in candidates}
        self.fields["vendor"].choices = [
            (str(candidate.vendor.pk), _vendor_choice_label(candidate)) for candidate in candidates
        ]

    def clean_vendor(self):
        return self.vendors[self.cleaned_data["vendor"]]


REFUND_POLICY = "policy"
REFUND_AMOUNT = "amount"


class OpsCancelForm(forms.Form):
    refund = forms.ChoiceField(
        label=_("Refund"),
        choices=[
            (REFUND_POLICY, _("As the policy says: a cancellation by ops refunds the whole total")),
            (REFUND_AMOUNT, _("Another amount (kept amount is split with the vendor)")),
        ],
        initial=REFUND_POLICY,
        widget=forms.RadioSelect,
    )
    amount = forms.DecimalField(
        label=_("Refund amount"),
        required=False,
        min_value=Decimal("0"),
        max_digits=MONEY_DIGITS,
        decimal_places=MONEY_PLACES,
        help_text=_("Only for another amount: between 0 and the booking's total."),
    )
    reason = forms.CharField(label=_("Reason"), max_length=500, widget=forms.Textarea(attrs={"rows": 3}))

    def clean(self):
        data = super().clean()
        if data.get("refund") == REFUND_AMOUNT and data.get("amount") is None and "amount" not in self.errors:
            self.add_error("amount", gettext("Enter the amount to refund."))
        return data


# What the booking changelist can export (core/admin_export.py): one row per booking.
BOOKING_CSV_COLUMNS = (
    (_("booking"), lambda b: b.booking_number),
    (_("status"), lambda b: b.status),
    (_("scheduled at"), lambda b: b.scheduled_at),
    (_("ends at"), lambda b: b.ends_at),
    (_("created at"), lambda b: b.created_at),
    (_("customer"), lambda b: b.customer.get_full_name() or b.customer.username),
    (_("customer e-mail"), lambda b: b.customer.email),
    (_("vendor"), lambda b: b.vendor.display_name if b.vendor_id else ""),
    (_("city"), lambda b: b.address_city),
    (_("pincode"), lambda b: b.address_pincode),
    (_("payment method"), lambda b: b.payment_method),
    (_("payment status"), lambda b: b.payment_status or ""),
    (_("currency"), lambda b: b.currency),
    (_("subtotal"), lambda b: b.subtotal),
    (_("discount"), lambda b: b.discount),
    (_("tax"), lambda b: b.tax),
    (_("total"), lambda b: b.total),
    (_("commission"), lambda b: b.commission),
    (_("vendor earning"), lambda b: b.vendor_earning),
    (_("platform fee"), lambda b: b.platform_fee),
    (_("cancelled by"), lambda b: b.cancelled_by),
    (_("cancellation fee"), lambda b: b.cancellation_fee),
    (_("refund amount"), lambda b: b.refund_amount),
    (_("notes"), lambda b: b.notes),
)


@admin.register(Booking)
class BookingAdmin(CsvExportMixin, OpsActionsAdmin):
    """Every booking, read-only, with its lines, timeline and offers, its photos, signature,
    payments, ledger and notifications, and the ops actions.

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
        "payment_status_display",
        "total_with_currency",
        "needs_manual_assignment",
        "created_at",
    )
    list_select_related = ("customer", "vendor")
    list_filter = (
        NeedsAttentionFilter,
        "status",
        DateRangeFilter,
        PincodeFilter,
        ("vendor", VendorFilter),
        PaymentStatusFilter,
        "payment_method",
        "needs_manual_assignment",
        "cancelled_by",
    )
    search_fields = (
        "=booking_number",
        "customer__email",
        "customer__phone",
        "customer__username",
        "vendor__display_name",
        "=address_pincode",
    )
    date_hierarchy = "scheduled_at"
    show_full_result_count = False
    fieldsets = BOOKING_FIELDSETS
    readonly_fields = tuple(field for _title, options in BOOKING_FIELDSETS for field in options["fields"])
    inlines = (BookingLineInline, BookingEventInline, BookingOfferInline)
    actions = ("assign_vendor", "cancel_booking", "resolve_dispute", "capture_by_hand", "send_signature_request")
    csv_columns = BOOKING_CSV_COLUMNS
    csv_name = "bookings"

    @admin.display(description=_("total"), ordering="total")
    def total_with_currency(self, obj):
        return f"{obj.total} {obj.currency}"

    @admin.display(description=_("payment"), ordering="payment_status")
    def payment_status_display(self, obj):
        return obj.payment_status or "—"

    def get_queryset(self, request):
        active = PaymentAttempt.objects.filter(booking=OuterRef("pk"), is_active=True)
        return super().get_queryset(request).annotate(payment_status=Subquery(active.values("status")[:1]))

    # --- the booking's page ----------------------------------------------------------------------

    def get_urls(self):
        return [
            path(
                "<path:object_id>/photos/<uuid:photo_id>/<str:variant>/",
                self.admin_site.admin_view(self.photo_view),
                name="bookings_booking_photo",
            ),
            *super().get_urls(),
        ]

    def photo_view(self, request, object_id, photo_id, variant):
        """A job photo (or its thumbnail) for staff who may view the booking, read from storage —
        photos are never linked by a storage URL (bookings/api/photos.py)."""
        booking = self.get_object(request, unquote(object_id))
        if booking is None:
            raise Http404(gettext("No such booking."))
        if not self.has_view_permission(request, booking):
            raise PermissionDenied
        photo = booking.photos.filter(pk=photo_id).select_related("booking").first()
        if photo is None:
            raise Http404(gettext("No such photo."))
        try:
            return photo_file_response(photo, variant)
        except NotFound:
            raise Http404(gettext("No such photo.")) from None

    def change_view(self, request, object_id, form_url="", extra_context=None):
        booking = self.get_object(request, unquote(object_id))
        panels = booking_panels(booking) if booking is not None and self.has_view_permission(request, booking) else {}
        return super().change_view(request, object_id, form_url, {**panels, **(extra_context or {})})

    # --- actions ---------------------------------------------------------------------------------

    def _one_booking(self, request, queryset):
        bookings = list(queryset[:2])
        if len(bookings) != 1:
            self.message_user(request, gettext("Select exactly one booking for this action."), messages.ERROR)
            return None
        return bookings[0]

    def _form_action(
        self, request, queryset, *, form_class, run, done, title, intro, submit, check=None, form_kwargs=None
    ):
        """One booking, a form, one service call: errors of the input go back onto the form, a
        refusal of the service becomes a message. ``check`` (optional) refuses the booking before
        the form is shown; ``done`` makes the success message from the updated booking."""
        booking = self._one_booking(request, queryset)
        if booking is None:
            return None
        try:
            if check is not None:
                check(booking)
            form = bound_if_applied(request, form_class, **(form_kwargs(booking) if form_kwargs else {}))
        except SHOWN_ERRORS as error:
            self.message_user(request, f"{booking.booking_number}: {error_text(error)}", messages.ERROR)
            return None
        if form.is_bound and form.is_valid():
            try:
                booking = run(booking, form.cleaned_data)
            except InvalidInput as error:
                form_add_errors(form, error)
            except SHOWN_ERRORS as error:
                self.message_user(request, f"{booking.booking_number}: {error_text(error)}", messages.ERROR)
                return None
            else:
                self.message_user(request, done(booking), messages.SUCCESS)
                return None
        return action_form_page(
            self,
            request,
            queryset,
            form=form,
            title=title % {"number": booking.booking_number},
            intro=intro(booking) if callable(intro) else intro,
            submit=submit,
        )

    @staticmethod
    def _now_status(text):
        return lambda booking: text % {"number": booking.booking_number, "status": booking.status}

    @admin.action(description=_("Assign a vendor…"), permissions=["change"])
    def assign_vendor(self, request, queryset):
        def candidates_of(booking):
            candidates = booking_assignable_vendors(booking=booking)
            if not candidates:
                raise BookingConflict(gettext("No eligible vendor is free for this booking's slot."))
            return {"candidates": candidates}

        return self._form_action(
            request,
            queryset,
            form_class=AssignVendorForm,
            check=lambda booking: booking_can_assign_by_ops(booking=booking),
            form_kwargs=candidates_of,
            run=lambda booking, data: booking_assign_by_ops(
                booking=booking, vendor=data["vendor"], user=request.user, reason=data["reason"]
            ),
            done=lambda booking: (
                gettext("%(number)s assigned to %(vendor)s: the booking is now %(status)s.")
                % {"number": booking.booking_number, "vendor": booking.vendor.display_name, "status": booking.status}
            ),
            title=gettext("Assign a vendor to %(number)s"),
            intro=lambda booking: (
                gettext(
                    "%(when)s, pincode %(pincode)s. Only vendors who are approved, available, offer every service "
                    "of the booking, serve its place and are free for the slot are listed, best first. The booking "
                    "is confirmed with the vendor you choose (agree it with them first) at its current price."
                )
                % {
                    "when": timezone.localtime(booking.scheduled_at).strftime("%d %b %Y %H:%M"),
                    "pincode": booking.address_pincode,
                }
            ),
            submit=gettext("Assign"),
        )

    @admin.action(description=_("Cancel with a refund…"), permissions=["change"])
    def cancel_booking(self, request, queryset):
        return self._form_action(
            request,
            queryset,
            form_class=OpsCancelForm,
            run=lambda booking, data: booking_cancel(
                booking=booking,
                user=request.user,
                reason=data["reason"],
                refund_amount=data["amount"] if data["refund"] == REFUND_AMOUNT else None,
            ),
            done=lambda booking: (
                gettext("%(number)s cancelled: %(refund)s %(currency)s refunded.")
                % {"number": booking.booking_number, "refund": booking.refund_amount, "currency": booking.currency}
            ),
            title=gettext("Cancel %(number)s"),
            intro=lambda booking: (
                gettext(
                    "Total %(total)s %(currency)s (%(status)s). Both parties are told; the refund, and any amount "
                    "kept, move through the payment gateway after the cancellation is saved."
                )
                % {"total": booking.total, "currency": booking.currency, "status": booking.get_status_display()}
            ),
            submit=gettext("Cancel the booking"),
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
            done=self._now_status(gettext("Dispute on %(number)s resolved: the booking is now %(status)s.")),
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
            done=self._now_status(gettext("Payment of %(number)s sent for capture: the booking is now %(status)s.")),
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


def booking_panels(booking) -> dict:
    """What the booking's page shows below its inlines: photos (served by the admin's photo view),
    the signature with its verification, signature requests, payment attempts and operations, the
    ledger, and the notifications sent about the booking. A fixed number of queries."""
    photos = list(booking.photos.all())
    for photo in photos:
        photo.admin_thumbnail_url = reverse(
            "admin:bookings_booking_photo", args=[booking.pk, photo.pk, "thumbnail" if photo.thumbnail else "image"]
        )
        photo.admin_image_url = reverse("admin:bookings_booking_photo", args=[booking.pk, photo.pk, "image"])
    signature = Signature.objects.filter(booking=booking).first()
    return {
        "booking_photos": photos,
        "booking_signature": signature,
        "booking_signature_check": signature_verify(signature) if signature is not None else None,
        "booking_signature_requests": list(booking.signature_requests.select_related("created_by")),
        "booking_attempts": list(PaymentAttempt.objects.filter(booking=booking).order_by("created_at")),
        "booking_operations": list(PaymentOperation.objects.filter(booking=booking).order_by("created_at")),
        "booking_ledger": list(
            LedgerTransaction.objects.filter(booking=booking).select_related("created_by").prefetch_related("lines")
        ),
        "booking_notifications": list(
            Notification.objects.filter(data__booking_id=str(booking.pk))
            .select_related("user")
            .prefetch_related("deliveries")
            .order_by("created_at", "id")[:NOTIFICATIONS_SHOWN]
        ),
        # The customer–vendor chat, read only (disputes): the newest, oldest first.
        "booking_messages": list(
            Message.objects.filter(booking=booking).select_related("sender").order_by("-id")[:MESSAGES_SHOWN]
        )[::-1],
    }


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
