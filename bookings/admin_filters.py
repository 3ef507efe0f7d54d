"""Changelist filters of the booking admin, and what "needs attention" means for ops.

The attention reasons are conditions on a booking row (``attention_conditions``), so the
"needs attention" filter, its counts and the dashboard's counts are one definition, each counted
in a single aggregate query however many bookings there are.
"""

from datetime import datetime, time, timedelta

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext_lazy as _

from bookings.availability import platform_zone
from bookings.models import Booking, BookingOffer, BookingStatus, OfferOutcome
from payments.models import (
    AttemptStatus,
    Earning,
    OperationState,
    PaymentAttempt,
    PaymentOperation,
    PayoutStatus,
    ReconciliationIssue,
)
from signatures.models import SignatureRequest, SignatureRequestStatus

# An open offer this close to its deadline (or past it, not yet swept) needs a look.
OFFER_EXPIRING_WITHIN = timedelta(minutes=5)

ATTENTION_LABELS = {
    "manual_assignment": _("Manual assignment queue"),
    "offer_expiring": _("Offers expiring soon"),
    "signature_expired": _("Expired signature requests"),
    "disputed": _("Disputes"),
    "payment_failed": _("Failed payments"),
    "payout_failed": _("Failed payouts"),
}


def attention_conditions(now=None) -> dict[str, Q]:
    """{reason: condition on Booking} for every reason a booking waits for ops."""
    now = now or timezone.now()
    booking = OuterRef("pk")
    requests = SignatureRequest.objects.filter(booking=booking)
    return {
        # offers ran out (§5): ops pick the vendor
        "manual_assignment": Q(status=BookingStatus.PENDING, needs_manual_assignment=True),
        "offer_expiring": Q(status=BookingStatus.PENDING)
        & Q(
            Exists(
                BookingOffer.objects.filter(
                    booking=booking, outcome=OfferOutcome.PENDING, expires_at__lte=now + OFFER_EXPIRING_WITHIN
                )
            )
        ),
        # signatures.selectors.signature_attention_queue: expired, and no new request sent yet
        "signature_expired": Q(status=BookingStatus.AWAITING_SIGNATURE)
        & Q(Exists(requests.filter(status=SignatureRequestStatus.EXPIRED)))
        & ~Q(Exists(requests.filter(status=SignatureRequestStatus.OPEN))),
        "disputed": Q(status=BookingStatus.DISPUTED),
        # a money movement given up after its retries, or a difference with the gateway still open
        "payment_failed": Q(Exists(PaymentOperation.objects.filter(booking=booking, state=OperationState.FAILED)))
        | Q(Exists(ReconciliationIssue.objects.filter(attempt__booking=booking, resolved_at__isnull=True))),
        "payout_failed": Q(Exists(Earning.objects.filter(booking=booking, payout__status=PayoutStatus.FAILED))),
    }


def attention_any(now=None) -> Q:
    condition = Q()
    for reason in attention_conditions(now).values():
        condition |= reason
    return condition


def attention_counts(queryset=None, *, now=None) -> dict[str, int]:
    """How many bookings (of ``queryset``, default all) wait for each reason: one query."""
    queryset = Booking.objects.all() if queryset is None else queryset
    conditions = attention_conditions(now)
    return queryset.order_by().aggregate(
        **{key: Count("pk", filter=condition) for key, condition in conditions.items()},
        any=Count("pk", filter=attention_any(now)),
    )


class NeedsAttentionFilter(admin.SimpleListFilter):
    title = _("needs attention")
    parameter_name = "attention"

    def lookups(self, request, model_admin):
        # The admin builds its filters twice per changelist: count once per request.
        counts = getattr(request, "_ops_attention_counts", None)
        if counts is None:
            counts = request._ops_attention_counts = attention_counts()
        return [("any", _("Any reason (%(count)d)") % {"count": counts["any"]})] + [
            (key, f"{label} ({counts[key]})") for key, label in ATTENTION_LABELS.items()
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        if value == "any":
            return queryset.filter(attention_any())
        conditions = attention_conditions()
        if value not in conditions:
            raise IncorrectLookupParameters(value)
        return queryset.filter(conditions[value])


class PaymentStatusFilter(admin.SimpleListFilter):
    """The status of the booking's active payment attempt (or none: cash collected by hand, a zero
    total, or every attempt ended)."""

    title = _("payment status")
    parameter_name = "payment"

    def lookups(self, request, model_admin):
        return [*AttemptStatus.choices, ("none", _("No active payment"))]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        active = PaymentAttempt.objects.filter(booking=OuterRef("pk"), is_active=True)
        if value == "none":
            return queryset.exclude(Exists(active))
        if value not in AttemptStatus.values:
            raise IncorrectLookupParameters(value)
        return queryset.filter(Exists(active.filter(status=value)))


def _other_params(changelist, own) -> list[tuple[str, str]]:
    """The changelist's other query parameters (filters, search, ordering), for the hidden fields
    of a filter's form."""
    return [(name, value) for name, values in changelist.filter_params.items() if name not in own for value in values]


class InputListFilter(admin.ListFilter):
    """A filter typed into a small form (a value with too many choices to list)."""

    template = "admin/input_filter.html"
    parameter_name = None
    placeholder = ""

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        if self.parameter_name in params:
            value = params.pop(self.parameter_name)
            value = value[-1] if isinstance(value, list) else value
            if value.strip():
                self.used_parameters[self.parameter_name] = value.strip()

    def value(self):
        return self.used_parameters.get(self.parameter_name)

    def has_output(self):
        return True

    def expected_parameters(self):
        return [self.parameter_name]

    def choices(self, changelist):
        # The template needs: the current value, and the other parameters to keep.
        yield {
            "parameter_name": self.parameter_name,
            "value": self.value() or "",
            "placeholder": self.placeholder,
            "keep": _other_params(changelist, self.expected_parameters()),
            "clear_url": changelist.get_query_string(remove=[self.parameter_name]),
        }


class PincodeFilter(InputListFilter):
    title = _("pincode")
    parameter_name = "pincode"
    placeholder = "560034"

    def queryset(self, request, queryset):
        value = self.value()
        # Anything that is not a stored pincode simply matches nothing.
        return queryset if value is None else queryset.filter(address_pincode=value)


class DateRangeFilter(admin.ListFilter):
    """Bookings scheduled between two local dates (both included), from a two-field form."""

    title = _("scheduled between")
    template = "admin/date_range_filter.html"
    field_name = "scheduled_at"
    from_param = "scheduled_from"
    to_param = "scheduled_to"

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        self.dates = {}
        for name in (self.from_param, self.to_param):
            if name in params:
                value = params.pop(name)
                value = (value[-1] if isinstance(value, list) else value).strip()
                if not value:
                    continue
                try:
                    parsed = parse_date(value)
                except ValueError:
                    parsed = None
                if parsed is None:
                    raise IncorrectLookupParameters(name)
                self.dates[name] = parsed
                self.used_parameters[name] = value

    def has_output(self):
        return True

    def expected_parameters(self):
        return [self.from_param, self.to_param]

    def _start_of(self, day):
        return datetime.combine(day, time(), tzinfo=platform_zone())

    def queryset(self, request, queryset):
        if self.from_param in self.dates:
            queryset = queryset.filter(**{f"{self.field_name}__gte": self._start_of(self.dates[self.from_param])})
        if self.to_param in self.dates:
            end = self._start_of(self.dates[self.to_param] + timedelta(days=1))
            queryset = queryset.filter(**{f"{self.field_name}__lt": end})
        return queryset

    def choices(self, changelist):
        yield {
            "from_param": self.from_param,
            "to_param": self.to_param,
            "from_value": self.used_parameters.get(self.from_param, ""),
            "to_value": self.used_parameters.get(self.to_param, ""),
            "keep": _other_params(changelist, self.expected_parameters()),
            "clear_url": changelist.get_query_string(remove=[self.from_param, self.to_param]),
        }


class VendorFilter(admin.RelatedOnlyFieldListFilter):
    """The vendors that hold at least one booking, by name."""

    def field_choices(self, field, request, model_admin):
        # The admin builds its filters twice per changelist: list the vendors once per request.
        choices = getattr(request, "_ops_vendor_choices", None)
        if choices is None:
            choices = request._ops_vendor_choices = sorted(
                super().field_choices(field, request, model_admin), key=lambda choice: str(choice[1]).lower()
            )
        return choices
