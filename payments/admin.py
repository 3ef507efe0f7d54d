"""Django admin for payments: attempts, operations, payouts, earnings, the ledger, webhook events,
reconciliation issues and gateway customers (ARCHITECTURE §3, §4, §6).

Money changes only through the payment services, never through a model form: nobody adds,
edits or deletes these rows here (not even a superuser), and every object page is a view. What
ops do are admin actions and one per-attempt page, each calling one service:

- payment attempt → "Refund…" with an amount (default: all that is refundable) and a reason
  (``payments.operations.payment_refund``, as ``POST /api/payments/{id}/refund/``), and "Record a
  manual payment" (``payments.manual.manual_payment_record``), a page of its own linked from the
  attempt;
- payment operations → "Retry failed operations" (``operation_retry``);
- payouts → "Run the payout batch now" (``payouts_run``, a button on the changelist), "Retry failed
  payouts" (``payout_retry``) and "Mark paid by bank transfer…" (``payout_mark_paid``, asking for
  the bank's reference);
- reconciliation issues → "Resolve…" with a note (``reconciliation_issue_resolve``) and "Apply the
  gateway's state" (``reconciliation_issue_sync``, where the gateway is ahead).

They are offered to, and checked against, the model's *change* permission (staff groups,
core/migrations/0002_staff_groups.py: ops managers and super admins), which here is asked only
without an object: an object page is never a change form. A service's refusal is shown as an
admin message or a form error, never as a 500. The payment and payout changelists export their
rows, as filtered, as CSV (core/admin_export.py).
"""

from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Subquery, Sum
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.admin import ViewOnlyAdmin, ViewOnlyInline
from core.admin_actions import (
    SHOWN_ERRORS,
    OpsActionsAdmin,
    action_form_page,
    bound_if_applied,
    error_text,
    form_add_errors,
)
from core.admin_audit import admin_audit
from core.admin_export import CsvExportMixin
from core.errors import InvalidInput
from core.models import MONEY_DIGITS, MONEY_PLACES, SystemSettings
from payments.manual import MANUAL_PAYMENT_METHODS, REFERENCE_MAX_LENGTH, booking_amount_owed, manual_payment_record
from payments.models import (
    Earning,
    GatewayCustomer,
    LedgerLine,
    LedgerTransaction,
    OperationState,
    PaymentAttempt,
    PaymentOperation,
    Payout,
    PayoutStatus,
    ReconciliationIssue,
    WebhookEvent,
)
from payments.operations import operation_retry, payment_refund, refundable_amount
from payments.payouts import payout_mark_paid, payout_retry, payouts_run
from payments.reconciliation import NOTE_MAX_LENGTH, reconciliation_issue_resolve, reconciliation_issue_sync


def _booking_number(booking):
    return booking.booking_number if booking is not None else "—"


# --- Payment attempts ----------------------------------------------------------------------------


class PaymentOperationInline(ViewOnlyInline):
    model = PaymentOperation
    fk_name = "attempt"
    fields = ("created_at", "kind", "state", "amount", "tries", "next_try_at", "reference", "last_error", "finished_at")
    readonly_fields = fields
    show_change_link = True


class LedgerTransactionInline(ViewOnlyInline):
    model = LedgerTransaction
    fk_name = "attempt"
    fields = ("created_at", "kind", "reference", "memo", "lines_summary", "created_by")
    readonly_fields = fields
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("created_by").prefetch_related("lines")

    @admin.display(description=_("lines (debit +, credit −)"))
    def lines_summary(self, obj):
        return "; ".join(f"{line.account} {line.amount}" for line in obj.lines.all())


class ManualPaymentForm(forms.Form):
    METHOD_LABELS = {
        "cash": _("Cash, paid to ops"),
        "bank_transfer": _("Bank transfer"),
        "upi": _("UPI"),
        "cheque": _("Cheque"),
    }

    amount = forms.DecimalField(
        label=_("Amount"), max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES, min_value=Decimal("0.01")
    )
    method = forms.ChoiceField(label=_("Paid by"))
    reference = forms.CharField(
        label=_("Reference"),
        max_length=REFERENCE_MAX_LENGTH,
        help_text=_("The receipt number, or the bank's / UPI transaction reference."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["method"].choices = [
            (method, self.METHOD_LABELS.get(method, method)) for method in MANUAL_PAYMENT_METHODS
        ]


class RefundForm(forms.Form):
    amount = forms.DecimalField(
        label=_("Amount"),
        required=False,
        max_digits=MONEY_DIGITS,
        decimal_places=MONEY_PLACES,
        min_value=Decimal("0.01"),
        help_text=_("Leave empty to refund everything still refundable."),
    )
    reason = forms.CharField(label=_("Reason"), max_length=500, widget=forms.Textarea(attrs={"rows": 3}))


PAYMENT_CSV_COLUMNS = (
    (_("booking"), lambda a: a.booking.booking_number),
    (_("payment"), lambda a: a.pk),
    (_("method"), lambda a: a.method),
    (_("status"), lambda a: a.status),
    (_("active"), lambda a: a.is_active),
    (_("currency"), lambda a: a.currency),
    (_("amount"), lambda a: a.amount),
    (_("captured"), lambda a: a.amount_captured),
    (_("refunded"), lambda a: a.amount_refunded),
    (_("gateway"), lambda a: a.gateway),
    (_("gateway intent"), lambda a: a.gateway_intent_id),
    (_("failure"), lambda a: a.failure_code),
    (_("created at"), lambda a: a.created_at),
    (_("authorised at"), lambda a: a.authorized_at),
    (_("captured at"), lambda a: a.captured_at),
)


@admin.register(PaymentAttempt)
class PaymentAttemptAdmin(CsvExportMixin, OpsActionsAdmin):
    """Every payment attempt with its operations and ledger entries. Ops refund a captured card
    payment ("Refund…"); a payment made outside the gateway is recorded from the attempt's page
    ("Record a manual payment"), for the attempt's booking."""

    list_display = (
        "booking_number",
        "method",
        "status",
        "amount",
        "amount_captured",
        "amount_refunded",
        "currency",
        "created_at",
    )
    list_select_related = ("booking",)
    list_filter = ("status", "method", "gateway")
    search_fields = ("=booking__booking_number", "=gateway_intent_id")
    date_hierarchy = "created_at"
    show_full_result_count = False
    actions = ("refund_payment",)
    csv_columns = PAYMENT_CSV_COLUMNS
    csv_name = "payments"
    # The client secret lets a browser confirm the payment: nobody in the admin needs it.
    fieldsets = (
        (None, {"fields": ("booking", "method", "status", "is_active", "amount", "currency")}),
        (_("Money"), {"fields": ("amount_captured", "amount_refunded", "authorized_at", "captured_at", "ended_at")}),
        (
            _("Gateway"),
            {
                "fields": (
                    "gateway",
                    "gateway_intent_id",
                    "gateway_setup_intent_id",
                    "gateway_customer_id",
                    "gateway_payment_method_id",
                    "failure_code",
                    "failure_message",
                )
            },
        ),
        (_("Dates"), {"fields": ("created_at", "updated_at")}),
    )
    readonly_fields = tuple(field for _title, options in fieldsets for field in options["fields"])
    inlines = (PaymentOperationInline, LedgerTransactionInline)

    @admin.display(description=_("booking"), ordering="booking__booking_number")
    def booking_number(self, obj):
        return obj.booking.booking_number

    @admin.action(description=_("Refund…"), permissions=["change"])
    def refund_payment(self, request, queryset):
        attempts = list(queryset.select_related("booking")[:2])
        if len(attempts) != 1:
            self.message_user(request, gettext("Select exactly one payment to refund."), messages.ERROR)
            return None
        (attempt,) = attempts
        number = attempt.booking.booking_number
        form = bound_if_applied(request, RefundForm)
        if form.is_bound and form.is_valid():
            try:
                op = payment_refund(
                    attempt=attempt,
                    actor=request.user,
                    reason=form.cleaned_data["reason"],
                    amount=form.cleaned_data["amount"],
                )
            except InvalidInput as error:
                form_add_errors(form, error)
            except SHOWN_ERRORS as error:
                self.message_user(request, f"{number}: {error_text(error)}", messages.ERROR)
                return None
            else:
                self.message_user(
                    request,
                    gettext("Refund of %(amount)s %(currency)s for %(number)s sent to the gateway.")
                    % {"amount": op.amount, "currency": attempt.currency, "number": number},
                    messages.SUCCESS,
                )
                return None
        return action_form_page(
            self,
            request,
            queryset.select_related("booking"),
            form=form,
            title=gettext("Refund the payment of %(number)s") % {"number": number},
            intro=gettext(
                "Captured %(captured)s %(currency)s, refunded %(refunded)s; %(refundable)s can still be refunded. "
                "The refund goes to the customer's card after it is saved, and is posted to the ledger."
            )
            % {
                "captured": attempt.amount_captured,
                "refunded": attempt.amount_refunded,
                "refundable": refundable_amount(attempt),
                "currency": attempt.currency,
            },
            submit=gettext("Refund"),
        )

    def get_urls(self):
        opts = self.model._meta
        return [
            path(
                "<path:object_id>/manual-payment/",
                self.admin_site.admin_view(self.manual_payment_view),
                name=f"{opts.app_label}_{opts.model_name}_manual_payment",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "can_record_manual_payment": self.has_change_permission(request)}
        return super().change_view(request, object_id, form_url, extra_context)

    def manual_payment_view(self, request, object_id):
        """Record a payment the customer made outside the gateway for this attempt's booking."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        attempt = self.get_object(request, unquote(object_id))
        if attempt is None:
            raise Http404(gettext("No such payment."))
        booking = attempt.booking
        owed = booking_amount_owed(booking)
        form = ManualPaymentForm(request.POST or None, initial={"amount": owed, "method": "bank_transfer"})
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                recorded = manual_payment_record(
                    booking=booking,
                    amount=data["amount"],
                    method=data["method"],
                    reference=data["reference"],
                    actor=request.user,
                )
            except InvalidInput as error:
                form_add_errors(form, error)
            except SHOWN_ERRORS as error:
                form.add_error(None, error_text(error))
            else:
                posted = recorded.ledger_transaction
                if recorded.created:
                    text = gettext("Recorded %(amount)s %(currency)s paid by %(method)s for booking %(number)s.")
                else:
                    text = gettext(
                        "This payment (%(method)s, %(amount)s %(currency)s) was already recorded for %(number)s."
                    )
                self.message_user(
                    request,
                    text
                    % {
                        "amount": data["amount"],
                        "currency": booking.currency,
                        "method": data["method"],
                        "number": booking.booking_number,
                    },
                    messages.SUCCESS if recorded.created else messages.WARNING,
                )
                self.log_change(request, attempt, f"manual payment {posted.reference} ({posted.pk})")
                admin_audit(
                    request,
                    action="admin.manual_payment",
                    object_type=self.model._meta.label_lower,
                    object_id=attempt.pk,
                    new={**data, "booking": booking.booking_number, "ledger_transaction": posted.pk},
                )
                opts = self.model._meta
                return HttpResponseRedirect(
                    reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[attempt.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Record a manual payment for booking %(number)s") % {"number": booking.booking_number},
            "opts": self.model._meta,
            "original": attempt,
            "booking": booking,
            "owed": owed,
            "form": form,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/payments/paymentattempt/manual_payment.html", context)


# --- Payment operations --------------------------------------------------------------------------


@admin.register(PaymentOperation)
class PaymentOperationAdmin(OpsActionsAdmin):
    """Money movements run after commit (payments/operations.py). A failed one was given up and
    flagged; ops fix the cause and send it round again."""

    list_display = ("created_at", "booking_number", "kind", "state", "amount", "tries", "next_try_at", "finished_at")
    list_select_related = ("booking",)
    list_filter = ("state", "kind")
    search_fields = ("=booking__booking_number", "=key", "=reference")
    date_hierarchy = "created_at"
    show_full_result_count = False
    actions = ("retry_failed_operations",)
    fields = (
        "booking",
        "attempt",
        "kind",
        "key",
        "amount",
        "reason",
        "state",
        "tries",
        "next_try_at",
        "lease_until",
        "last_error",
        "reference",
        "created_by",
        "created_at",
        "finished_at",
    )
    readonly_fields = fields

    @admin.display(description=_("booking"), ordering="booking__booking_number")
    def booking_number(self, obj):
        return obj.booking.booking_number

    @admin.action(description=_("Retry failed operations"), permissions=["change"])
    def retry_failed_operations(self, request, queryset):
        skipped = 0
        for op in queryset.select_related("booking"):
            if op.state != OperationState.FAILED:
                skipped += 1
                continue
            name = f"{op.get_kind_display()} ({op.booking.booking_number})"
            try:
                op = operation_retry(op=op, actor=request.user)
            except SHOWN_ERRORS as error:
                self.message_user(request, f"{name}: {error_text(error)}", messages.ERROR)
                continue
            level = {
                OperationState.SUCCEEDED: messages.SUCCESS,
                OperationState.FAILED: messages.ERROR,
            }.get(op.state, messages.INFO)
            self.message_user(
                request, gettext("%(name)s sent again: now %(state)s.") % {"name": name, "state": op.state}, level
            )
        if skipped:
            self.message_user(
                request, gettext("%(count)s operation(s) skipped: only failed ones are retried.") % {"count": skipped}
            )


# --- Payouts and earnings ------------------------------------------------------------------------


class PayoutEarningInline(ViewOnlyInline):
    model = Earning
    fields = ("booking", "amount", "currency", "available_at", "created_at")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("booking")


class BankReferenceForm(forms.Form):
    bank_reference = forms.CharField(
        label=_("Bank reference"),
        max_length=100,
        help_text=_("The reference of the bank transfer that paid this payout."),
    )


PAYOUT_CSV_COLUMNS = (
    (_("payout"), lambda p: p.number),
    (_("vendor"), lambda p: p.vendor.display_name),
    (_("vendor id"), lambda p: p.vendor_id),
    (_("currency"), lambda p: p.currency),
    (_("amount"), lambda p: p.amount),
    (_("status"), lambda p: p.status),
    (_("destination account"), lambda p: p.destination_account),
    (_("gateway transfer"), lambda p: p.gateway_transfer_id),
    (_("bank reference"), lambda p: p.bank_reference),
    (_("tries"), lambda p: p.tries),
    (_("last error"), lambda p: p.last_error),
    (_("created at"), lambda p: p.created_at),
    (_("paid at"), lambda p: p.paid_at),
)


@admin.register(Payout)
class PayoutAdmin(CsvExportMixin, OpsActionsAdmin):
    """Payouts to vendors (payments/payouts.py). The scheduled batch can be run at once from the
    changelist; a failed payout is retried through the gateway or, once paid by bank transfer,
    marked paid with the bank's reference."""

    list_display = ("number", "vendor", "amount", "currency", "status", "tries", "created_at", "paid_at")
    list_select_related = ("vendor",)
    list_filter = ("status",)
    search_fields = ("=number", "vendor__display_name", "=gateway_transfer_id", "=bank_reference")
    date_hierarchy = "created_at"
    show_full_result_count = False
    actions = ("retry_failed_payouts", "mark_paid_by_bank_transfer")
    csv_columns = PAYOUT_CSV_COLUMNS
    csv_name = "payouts"
    change_list_template = "admin/payments/payout/change_list.html"
    fields = (
        "number",
        "vendor",
        "amount",
        "currency",
        "status",
        "destination_account",
        "gateway_transfer_id",
        "bank_reference",
        "tries",
        "next_try_at",
        "last_error",
        "created_at",
        "paid_at",
        "created_by",
    )
    readonly_fields = fields
    inlines = (PayoutEarningInline,)

    def get_urls(self):
        return [
            path("run/", self.admin_site.admin_view(self.run_view), name="payments_payout_run"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_run_payouts": self.has_change_permission(request)}
        return super().changelist_view(request, extra_context)

    def run_view(self, request):
        """Run the payout batch now (``payouts_run``), after a confirmation page: every vendor's
        payable balance, past the hold, is paid out as the scheduled job would."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        changelist = reverse("admin:payments_payout_changelist")
        if request.method != "POST":
            context = {
                **self.admin_site.each_context(request),
                "title": gettext("Run the payout batch now"),
                "opts": self.model._meta,
                "hold_hours": SystemSettings.load().payout_hold_hours,
            }
            return TemplateResponse(request, "admin/payments/payout/run_confirm.html", context)
        try:
            created = payouts_run()
        except SHOWN_ERRORS as error:
            self.message_user(request, error_text(error), messages.ERROR)
            return HttpResponseRedirect(changelist)
        by_status = {status: [p for p in created if p.status == status] for status in PayoutStatus.values}
        admin_audit(
            request,
            action="admin.payouts_run",
            object_type=self.model._meta.label_lower,
            new={"payouts": [p.number for p in created], **{s: len(rows) for s, rows in by_status.items()}},
        )
        if not created:
            self.message_user(request, gettext("Nothing to pay out: no vendor has a payable balance now."))
        else:
            self.message_user(
                request,
                gettext("%(count)d payout(s) made: %(paid)d paid, %(pending)d pending, %(failed)d failed.")
                % {
                    "count": len(created),
                    "paid": len(by_status[PayoutStatus.PAID]),
                    "pending": len(by_status[PayoutStatus.PENDING]),
                    "failed": len(by_status[PayoutStatus.FAILED]),
                },
                messages.WARNING if by_status[PayoutStatus.FAILED] else messages.SUCCESS,
            )
        return HttpResponseRedirect(changelist)

    @admin.action(description=_("Retry failed payouts"), permissions=["change"])
    def retry_failed_payouts(self, request, queryset):
        skipped = 0
        for payout in queryset:
            if payout.status != PayoutStatus.FAILED:
                skipped += 1
                continue
            try:
                payout = payout_retry(payout=payout, actor=request.user)
            except SHOWN_ERRORS as error:
                self.message_user(request, f"{payout.number}: {error_text(error)}", messages.ERROR)
                continue
            level = {PayoutStatus.PAID: messages.SUCCESS, PayoutStatus.FAILED: messages.ERROR}.get(
                payout.status, messages.INFO
            )
            self.message_user(
                request,
                gettext("Payout %(number)s sent again: now %(status)s.")
                % {"number": payout.number, "status": payout.status},
                level,
            )
        if skipped:
            self.message_user(
                request, gettext("%(count)s payout(s) skipped: only failed ones are retried.") % {"count": skipped}
            )

    @admin.action(description=_("Mark paid by bank transfer…"), permissions=["change"])
    def mark_paid_by_bank_transfer(self, request, queryset):
        payouts = list(queryset[:2])
        if len(payouts) != 1:
            self.message_user(
                request, gettext("Select exactly one payout: each bank transfer has its own reference."), messages.ERROR
            )
            return None
        (payout,) = payouts
        form = bound_if_applied(request, BankReferenceForm)
        if form.is_bound and form.is_valid():
            try:
                payout = payout_mark_paid(
                    payout=payout, bank_reference=form.cleaned_data["bank_reference"], actor=request.user
                )
            except InvalidInput as error:
                form_add_errors(form, error)
            except SHOWN_ERRORS as error:
                self.message_user(request, f"{payout.number}: {error_text(error)}", messages.ERROR)
                return None
            else:
                self.message_user(
                    request,
                    gettext("Payout %(number)s marked paid by bank transfer %(reference)s.")
                    % {"number": payout.number, "reference": payout.bank_reference},
                    messages.SUCCESS,
                )
                return None
        return action_form_page(
            self,
            request,
            queryset,
            form=form,
            title=gettext("Mark payout %(number)s paid by bank transfer") % {"number": payout.number},
            intro=gettext(
                "Only a failed payout can be marked paid: its gateway transfer was reversed in the ledger, and "
                "the bank transfer is posted from the bank account instead."
            ),
            submit=gettext("Mark paid"),
        )


@admin.register(Earning)
class EarningAdmin(ViewOnlyAdmin):
    list_display = ("created_at", "vendor", "booking_number", "amount", "currency", "available_at", "payout")
    list_select_related = ("vendor", "booking", "payout")
    list_filter = (("payout", admin.EmptyFieldListFilter),)
    search_fields = ("=booking__booking_number", "vendor__display_name", "=payout__number")
    date_hierarchy = "created_at"
    show_full_result_count = False
    actions = None
    fields = ("vendor", "booking", "ledger_transaction", "amount", "currency", "available_at", "payout", "created_at")
    readonly_fields = fields

    @admin.display(description=_("booking"), ordering="booking__booking_number")
    def booking_number(self, obj):
        return obj.booking.booking_number


# --- Ledger --------------------------------------------------------------------------------------


class LedgerLineInline(ViewOnlyInline):
    model = LedgerLine
    fields = ("account", "amount", "currency")
    readonly_fields = fields


@admin.register(LedgerTransaction)
class LedgerTransactionAdmin(ViewOnlyAdmin):
    """The ledger, append-only (payments/ledger.py): shown, never added, changed or deleted here —
    a correction is a new transaction posted by a service."""

    list_display = ("created_at", "kind", "booking_number", "amount", "reference", "memo", "created_by")
    list_select_related = ("booking", "created_by")
    list_filter = ("kind",)
    search_fields = ("=idempotency_key", "=reference", "=booking__booking_number")
    date_hierarchy = "created_at"
    show_full_result_count = False
    actions = None
    fields = ("kind", "idempotency_key", "booking", "attempt", "reference", "memo", "created_at", "created_by")
    readonly_fields = fields
    inlines = (LedgerLineInline,)

    def get_queryset(self, request):
        debits = (
            LedgerLine.objects.filter(transaction=OuterRef("pk"), amount__gt=0)
            .values("transaction")
            .annotate(total=Sum("amount"))
            .values("total")
        )
        return super().get_queryset(request).annotate(debit_total=Subquery(debits))

    @admin.display(description=_("amount"), ordering="debit_total")
    def amount(self, obj):
        return obj.debit_total

    @admin.display(description=_("booking"), ordering="booking__booking_number")
    def booking_number(self, obj):
        return _booking_number(obj.booking)


# --- Gateway events and customers ----------------------------------------------------------------


@admin.register(WebhookEvent)
class WebhookEventAdmin(ViewOnlyAdmin):
    list_display = ("received_at", "gateway", "type", "event_id", "state", "processed_at")
    list_filter = ("state", "gateway", "type")
    search_fields = ("=event_id", "type")
    date_hierarchy = "received_at"
    show_full_result_count = False
    actions = None
    fields = ("gateway", "event_id", "type", "state", "error", "received_at", "processed_at", "payload")
    readonly_fields = fields


@admin.register(GatewayCustomer)
class GatewayCustomerAdmin(ViewOnlyAdmin):
    # The redaction of a deleted account's record at the gateway (payments/customers.py): a
    # failed one is for ops to finish at the gateway by hand (they are notified).
    list_display = ("user", "gateway", "customer_id", "created_at", "redaction_state", "redacted_at")
    list_select_related = ("user",)
    list_filter = ("gateway", "redaction_state")
    search_fields = ("=customer_id", "user__email", "user__username")
    actions = None
    fields = (
        "user",
        "gateway",
        "customer_id",
        "created_at",
        "redaction_state",
        "redaction_tries",
        "redaction_next_try_at",
        "redaction_error",
        "redacted_at",
    )
    readonly_fields = fields


# --- Reconciliation ------------------------------------------------------------------------------


class IssueStatusFilter(admin.SimpleListFilter):
    title = _("status")
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return (("open", _("Open")), ("resolved", _("Resolved")))

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.filter(resolved_at__isnull=True)
        if self.value() == "resolved":
            return queryset.filter(resolved_at__isnull=False)
        return queryset


class ResolveForm(forms.Form):
    note = forms.CharField(
        label=_("Note"),
        max_length=NOTE_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("What was decided or done (refunded in the gateway's dashboard, ledger adjusted, accepted…)."),
    )


@admin.register(ReconciliationIssue)
class ReconciliationIssueAdmin(OpsActionsAdmin):
    """Differences the daily reconciliation found between a payment and the gateway
    (payments/reconciliation.py). Ops act (at the gateway, with a refund, an adjustment…) and
    resolve the issue with a note; where the gateway is ahead they may apply its state."""

    list_display = (
        "found_at",
        "booking_number",
        "local_state",
        "gateway_state",
        "is_open",
        "resolved_at",
        "resolved_by",
    )
    list_select_related = ("attempt__booking", "resolved_by")
    list_filter = (IssueStatusFilter,)
    search_fields = ("=attempt__booking__booking_number", "=attempt__gateway_intent_id")
    date_hierarchy = "found_at"
    actions = ("resolve_issues", "apply_gateway_state")
    fields = ("attempt", "found_at", "local_state", "gateway_state", "detail", "resolved_at", "resolved_by", "note")
    readonly_fields = fields

    @admin.display(description=_("booking"), ordering="attempt__booking__booking_number")
    def booking_number(self, obj):
        return obj.attempt.booking.booking_number

    @admin.display(description=_("open"), boolean=True)
    def is_open(self, obj):
        return obj.resolved_at is None

    @admin.action(description=_("Resolve…"), permissions=["change"])
    def resolve_issues(self, request, queryset):
        form = bound_if_applied(request, ResolveForm)
        if form.is_bound and form.is_valid():
            resolved = 0
            for issue in queryset:
                try:
                    reconciliation_issue_resolve(issue=issue, actor=request.user, note=form.cleaned_data["note"])
                except SHOWN_ERRORS as error:
                    self.message_user(request, f"#{issue.pk}: {error_text(error)}", messages.WARNING)
                else:
                    resolved += 1
            if resolved:
                self.message_user(
                    request, gettext("%(count)s issue(s) resolved.") % {"count": resolved}, messages.SUCCESS
                )
            return None
        return action_form_page(
            self,
            request,
            queryset.select_related("attempt__booking"),
            form=form,
            title=gettext("Resolve reconciliation issues"),
            intro=gettext("Say what was decided or done; the note is kept with each issue and in the audit log."),
            submit=gettext("Resolve"),
        )

    @admin.action(description=_("Apply the gateway's state (where the gateway is ahead)"), permissions=["change"])
    def apply_gateway_state(self, request, queryset):
        for issue in queryset.select_related("attempt__booking"):
            number = issue.attempt.booking.booking_number
            try:
                issue = reconciliation_issue_sync(issue=issue, actor=request.user)
            except SHOWN_ERRORS as error:
                self.message_user(request, f"#{issue.pk} ({number}): {error_text(error)}", messages.ERROR)
                continue
            if issue.resolved_at is not None:
                self.message_user(request, f"#{issue.pk} ({number}): {issue.note}", messages.SUCCESS)
            else:
                self.message_user(
                    request,
                    gettext("#%(pk)s (%(number)s) still differs: %(detail)s")
                    % {"pk": issue.pk, "number": number, "detail": issue.detail},
                    messages.WARNING,
                )
