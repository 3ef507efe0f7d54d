"""Django admin for users, vendors, addresses, the audit log and the system settings.

The admin is an edge like the API: status fields (onboarding, verification, document review) and
money are shown, not edited; what may be edited goes through the same services the API uses, so
it is validated and audited the same way. Who may open what follows the staff groups made by
core/migrations/0002_staff_groups.py (ARCHITECTURE §3); the audit log and the system settings add
rules of their own that hold even for superusers.

The site itself (core/admin_site.py) lets only staff roles in, shows the dashboard on its index
and audits every save, delete and action of every ModelAdmin (core/admin_audit.py).

Onboarding (onboard_manager, super_admin): the vendor profile changelist is the application queue
(phone verification and documents at a glance); "Approve…", "Reject…" and "Suspend…" ask for a
reason and call ``core.onboarding.vendor_onboarding_decide`` (which refuses an approval while the
phone is unverified and notifies the vendor). Documents are previewed through an admin view that
checks the reviewer's permission on every request — never through a public URL.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import UserChangeForm, UserCreationForm, UsernameField
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.http import Http404, HttpResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import content_disposition_header
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from core import services
from core.admin_actions import SHOWN_ERRORS, action_form_page, bound_if_applied, error_text
from core.admin_audit import MASK, admin_audit
from core.admin_site import use_ops_admin_site
from core.models import (
    Address,
    AuditLog,
    DocumentStatus,
    Notification,
    NotificationDelivery,
    OnboardingStatus,
    Role,
    SystemSettings,
    User,
    VendorDocument,
    VendorPincode,
    VendorProfile,
    VendorTimeOff,
)
from core.onboarding import REASON_MAX_LENGTH, upcoming_holding_bookings, vendor_onboarding_decide

# Before any ModelAdmin below is registered: the default site becomes the operations site.
use_ops_admin_site(admin.site)


def is_super_admin(user) -> bool:
    """The super_admin role. ``user_set_role`` always pairs it with ``is_superuser``; a superuser
    made by ``manage.py createsuperuser`` (role left at its default) counts as well."""
    return bool(
        user.is_active and user.is_staff and (user.is_superuser or getattr(user, "role", None) == Role.SUPER_ADMIN)
    )


class ViewOnlyInline(admin.TabularInline):
    """Shown for context on the parent's page; never added, changed or deleted from there."""

    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- Users --------------------------------------------------------------------------------------


class ViewOnlyAdmin(admin.ModelAdmin):
    """Listed and viewed with the view permission; never added, changed or deleted here."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class StaffUserCreationForm(UserCreationForm):
    """The admin's "add user" form; the account itself is made by ``services.user_register``."""

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username", "email", "first_name", "last_name", "phone", "role")
        field_classes = {"username": UsernameField}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # user_register refuses a second account with the same e-mail, blank included.
        self.fields["email"].required = True


class StaffUserChangeForm(UserChangeForm):
    class Meta(UserChangeForm.Meta):
        model = User
        fields = "__all__"

    def clean_role(self):
        role = self.cleaned_data["role"]
        # user_set_role neither makes nor retires a vendor profile, so an account only becomes
        # (or stops being) a vendor through vendor sign-up and onboarding.
        if role != self.instance.role and Role.VENDOR in (role, self.instance.role):
            raise forms.ValidationError(_("An account cannot be turned into or out of a vendor account here."))
        return role


def _adopt(target: User, source: User):
    """Make the admin's unsaved ``target`` the row the service created, so the admin's log entry
    and redirect point at it."""
    for field in User._meta.concrete_fields:
        setattr(target, field.attname, getattr(source, field.attname))
    target._state.adding = False
    target._state.db = source._state.db


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    """Accounts of every role. The role is the one thing that decides staff access: changing it
    goes through ``services.user_set_role``, which sets is_staff, is_superuser and the staff group
    to match, so those three are never edited here."""

    form = StaffUserChangeForm
    add_form = StaffUserCreationForm
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        (_("Personal info"), {"fields": ("first_name", "last_name", "email", "phone")}),
        (_("Verification"), {"fields": ("email_verified", "phone_verified")}),
        (_("Role and access"), {"fields": ("role", "is_active", "is_staff", "is_superuser", "groups")}),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("username", "email", "first_name", "last_name", "phone", "role", "password1", "password2"),
            },
        ),
    )
    # Verification is proved by OTP / e-mail token; staff access follows the role.
    readonly_fields = (
        "email_verified",
        "phone_verified",
        "is_staff",
        "is_superuser",
        "groups",
        "last_login",
        "date_joined",
    )
    filter_horizontal = ()
    list_display = (
        "username",
        "email",
        "full_name",
        "role",
        "phone",
        "phone_verified",
        "email_verified",
        "is_active",
        "date_joined",
    )
    list_filter = ("role", "is_active", "phone_verified", "email_verified")
    search_fields = ("username", "email", "first_name", "last_name", "phone")
    ordering = ("-date_joined",)
    date_hierarchy = "date_joined"

    @admin.display(description=_("name"))
    def full_name(self, obj):
        return obj.get_full_name()

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if getattr(request.user, "role", None) == Role.ONBOARD_MANAGER:
            # Onboarding reviews vendors (§3): the vendor applicants' accounts (phone verified?
            # e-mail, joined) are theirs to see, nobody else's. Their view permission comes from
            # the groups migration (core/migrations/0002_staff_groups.py); this is its object-level
            # limit, so another account's page answers as a missing one.
            queryset = queryset.filter(role=Role.VENDOR)
        return queryset

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        if obj is not None and obj.pk == request.user.pk:
            # Nobody demotes themselves (and so, possibly, the last super admin) by accident.
            readonly = (*readonly, "role")
        return readonly

    def has_delete_permission(self, request, obj=None):
        # Accounts are anonymised (DELETE /api/users/me/), never deleted: bookings, payments and
        # the audit log keep pointing at them.
        return False

    def user_change_password(self, request, id, form_url=""):
        # Django's own page, which saves outside save_model: audited here (never the password).
        response = super().user_change_password(request, id, form_url)
        if request.method == "POST" and response.status_code == 302:
            admin_audit(
                request, action="admin.password_change", object_type="core.user", object_id=id, new={"password": MASK}
            )
        return response

    def save_model(self, request, obj, form, change):
        if not change:
            self._create_user(request, obj, form)
            return
        changed = set(form.changed_data)
        with transaction.atomic():
            account_changes = {
                field: form.cleaned_data[field] for field in services.ACCOUNT_ADMIN_FIELDS if field in changed
            }
            if account_changes:
                services.user_update_account(user=obj, actor=request.user, **account_changes)
            profile_changes = {
                field: form.cleaned_data[field] for field in services.USER_EDITABLE_FIELDS if field in changed
            }
            if profile_changes:
                services.user_update(user=obj, actor=request.user, **profile_changes)
            if "role" in changed:
                services.user_set_role(user=obj, role=form.cleaned_data["role"], actor=request.user)
        obj.refresh_from_db()

    @staticmethod
    def _create_user(request, obj, form):
        data = form.cleaned_data
        role = data["role"]
        with transaction.atomic():
            # Sign-up makes customers and vendors (a vendor gets a profile); staff roles are then
            # given by user_set_role, which also puts the account into its group.
            user = services.user_register(
                email=data["email"],
                password=data["password1"],
                role=Role.VENDOR if role == Role.VENDOR else Role.CUSTOMER,
                first_name=data.get("first_name", ""),
                last_name=data.get("last_name", ""),
                phone=data.get("phone", ""),
                username=data["username"],
                actor=request.user,
            )
            if role not in (Role.CUSTOMER, Role.VENDOR):
                services.user_set_role(user=user, role=role, actor=request.user)
        _adopt(obj, user)


# --- Vendors ------------------------------------------------------------------------------------


class VendorPincodeInline(ViewOnlyInline):
    model = VendorPincode
    fields = ("pincode",)
    readonly_fields = fields


class VendorTimeOffInline(ViewOnlyInline):
    model = VendorTimeOff
    fields = ("starts_at", "ends_at", "reason")
    readonly_fields = fields


# What a stored document is, from its first bytes (the upload was checked the same way; the
# file name's suffix is the uploader's and proves nothing). Anything else is only downloaded.
DOCUMENT_SIGNATURES = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)


def document_content_type(head: bytes) -> str | None:
    for magic, content_type in DOCUMENT_SIGNATURES:
        if head.startswith(magic):
            return content_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def may_review_documents(user) -> bool:
    """Document files are for who reviews vendors (onboarding managers, super admins): ops see
    that documents exist and their status, not the identity papers themselves."""
    return user.has_perm("core.change_vendordocument")


def document_preview_url(document) -> str:
    return reverse("admin:core_vendordocument_file", args=[document.pk])


@admin.display(description=_("file"))
def document_file(document):
    if not document.file:
        return "—"
    url = document_preview_url(document)
    return format_html('<a href="{}" target="_blank" rel="noopener">{}</a>', url, gettext("Open"))


@admin.display(description=_("preview"))
def document_preview(document):
    if not document.file:
        return "—"
    url = document_preview_url(document)
    # An <img> of a PDF shows its alt text; the link opens either kind.
    return format_html(
        '<a href="{}" target="_blank" rel="noopener"><img src="{}" alt="{}" loading="lazy" '
        'style="max-height:120px;max-width:200px;border:1px solid var(--hairline-color)"></a>',
        url,
        url,
        gettext("%(kind)s (PDF or image) — open") % {"kind": document.get_kind_display()},
    )


class VendorDocumentInline(ViewOnlyInline):
    model = VendorDocument
    fields = ("kind", "status", "review_note", "uploaded_at")
    readonly_fields = fields

    def get_fields(self, request, obj=None):
        return (*self.fields, "preview") if may_review_documents(request.user) else self.fields

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)

    preview = staticmethod(document_preview)


class OnboardingDecisionForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Sent to the vendor with the decision, and kept in the audit log."),
    )


class ApplicationQueueFilter(admin.SimpleListFilter):
    """The onboarding queue at a glance: who can be approved now, who must verify a phone first."""

    title = _("application")
    parameter_name = "application"

    def lookups(self, request, model_admin):
        return (
            ("ready", _("Waiting, phone verified")),
            ("phone", _("Waiting, phone not verified")),
        )

    def queryset(self, request, queryset):
        pending = queryset.filter(onboarding_status=OnboardingStatus.PENDING)
        if self.value() == "ready":
            return pending.filter(user__phone_verified=True)
        if self.value() == "phone":
            return pending.filter(user__phone_verified=False)
        return queryset


@admin.register(VendorProfile)
class VendorProfileAdmin(admin.ModelAdmin):
    """Vendor applications and profiles. Onboarding status, rating and the payout account are
    read-only (they change through the onboarding, review and payout services); profile edits go
    through ``services.vendor_profile_update`` like the vendor's own; the onboarding decisions are
    actions (module docstring)."""

    list_display = (
        "display_name",
        "user",
        "user_phone",
        "phone_verified",
        "onboarding_status",
        "documents_summary",
        "is_available",
        "rating_avg",
        "created_at",
    )
    list_select_related = ("user",)
    list_filter = (ApplicationQueueFilter, "onboarding_status", "is_available", "user__phone_verified")
    search_fields = ("display_name", "user__username", "user__email", "user__phone", "pincodes__pincode")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    fieldsets = (
        (None, {"fields": ("user", "display_name", "bio", "experience_years", "is_available")}),
        (_("Contact and verification"), {"fields": ("user_email", "user_phone", "phone_verified")}),
        (_("Services offered"), {"fields": ("services_offered",)}),
        (_("Service area"), {"fields": ("base_lat", "base_lng", "radius_km", "working_hours")}),
        (
            _("Status"),
            {"fields": ("onboarding_status", "rating_avg", "rating_count", "payout_account_id")},
        ),
        (_("Dates"), {"fields": ("created_at", "updated_at")}),
    )
    readonly_fields = (
        "user",
        "user_email",
        "user_phone",
        "phone_verified",
        "services_offered",
        "onboarding_status",
        "rating_avg",
        "rating_count",
        "payout_account_id",
        "created_at",
        "updated_at",
    )
    inlines = (VendorPincodeInline, VendorTimeOffInline, VendorDocumentInline)
    actions = ("approve_vendors", "reject_vendors", "suspend_vendors")

    @admin.display(description=_("phone"), ordering="user__phone")
    def user_phone(self, obj):
        return obj.user.phone or "—"

    @admin.display(description=_("e-mail"))
    def user_email(self, obj):
        return obj.user.email

    @admin.display(description=_("phone verified"), boolean=True, ordering="user__phone_verified")
    def phone_verified(self, obj):
        return obj.user.phone_verified

    @admin.display(description=_("documents"))
    def documents_summary(self, obj):
        total = getattr(obj, "document_count", None)
        if total is None:
            return "—"
        return gettext("%(total)d (%(pending)d to review)") % {"total": total, "pending": obj.pending_document_count}

    @admin.display(description=_("services and prices"))
    def services_offered(self, obj):
        offers = obj.services.select_related("service").order_by("service__name")
        if not offers:
            return "—"
        return format_html_join(
            "",
            "<div>{} — {} {}</div>",
            (
                (offer.service.name, offer.price, gettext("(inactive)") if not offer.is_active else "")
                for offer in offers
            ),
        )

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                document_count=Count("documents", distinct=True),
                pending_document_count=Count(
                    "documents", filter=Q(documents__status=DocumentStatus.PENDING), distinct=True
                ),
            )
        )

    def has_add_permission(self, request):
        # A vendor profile is made with the vendor's account (services.user_register).
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        changes = {
            field: form.cleaned_data[field] for field in services.VENDOR_EDITABLE_FIELDS if field in form.changed_data
        }
        if changes:
            services.vendor_profile_update(vendor=obj, actor=request.user, **changes)
        obj.refresh_from_db()

    # --- onboarding decisions -------------------------------------------------------------------

    def _decide(self, request, queryset, *, status, title, intro, submit, done):
        form = bound_if_applied(request, OnboardingDecisionForm)
        if not (form.is_bound and form.is_valid()):
            return action_form_page(self, request, queryset, form=form, title=title, intro=intro, submit=submit)
        decided = 0
        for vendor in queryset.select_related("user").order_by("created_at"):
            try:
                vendor_onboarding_decide(
                    vendor=vendor, status=status, reason=form.cleaned_data["reason"], actor=request.user
                )
            except SHOWN_ERRORS as error:
                self.message_user(request, f"{vendor.display_name}: {error_text(error)}", messages.ERROR)
                continue
            decided += 1
            if status == OnboardingStatus.SUSPENDED and (upcoming := upcoming_holding_bookings(vendor)):
                self.message_user(
                    request,
                    ngettext(
                        "%(name)s still holds %(count)d upcoming booking: reassign or cancel it.",
                        "%(name)s still holds %(count)d upcoming bookings: reassign or cancel them.",
                        upcoming,
                    )
                    % {"name": vendor.display_name, "count": upcoming},
                    messages.WARNING,
                )
        if decided:
            self.message_user(request, done % {"count": decided}, messages.SUCCESS)
        return None

    @admin.action(description=_("Approve…"), permissions=["change"])
    def approve_vendors(self, request, queryset):
        return self._decide(
            request,
            queryset,
            status=OnboardingStatus.APPROVED,
            title=gettext("Approve vendors"),
            intro=gettext(
                "Approved vendors start receiving jobs. A vendor whose phone number is not verified cannot be "
                "approved. Each vendor is told, with your note."
            ),
            submit=gettext("Approve"),
            done=gettext("%(count)d vendor(s) approved."),
        )

    @admin.action(description=_("Reject…"), permissions=["change"])
    def reject_vendors(self, request, queryset):
        return self._decide(
            request,
            queryset,
            status=OnboardingStatus.REJECTED,
            title=gettext("Reject vendor applications"),
            intro=gettext("Each vendor is told, with the reason, and may apply again."),
            submit=gettext("Reject"),
            done=gettext("%(count)d vendor(s) rejected."),
        )

    @admin.action(description=_("Suspend…"), permissions=["change"])
    def suspend_vendors(self, request, queryset):
        return self._decide(
            request,
            queryset,
            status=OnboardingStatus.SUSPENDED,
            title=gettext("Suspend vendors"),
            intro=gettext(
                "Suspended vendors get no new jobs; bookings they already hold stay theirs until reassigned or "
                "cancelled. Each vendor is told, with the reason."
            ),
            submit=gettext("Suspend"),
            done=gettext("%(count)d vendor(s) suspended."),
        )


@admin.register(VendorDocument)
class VendorDocumentAdmin(ViewOnlyAdmin):
    """The vendors' documents. The files are served by ``file_view`` (reviewers only), never by
    a public URL."""

    list_display = ("vendor", "kind", "status", "uploaded_at")
    list_select_related = ("vendor",)
    list_filter = ("status", "kind")
    search_fields = ("vendor__display_name", "vendor__user__email", "vendor__user__phone")
    date_hierarchy = "uploaded_at"
    fields = ("vendor", "kind", "status", "review_note", "uploaded_at")
    readonly_fields = fields

    file_link = staticmethod(document_file)

    def get_list_display(self, request):
        if may_review_documents(request.user):
            return (*self.list_display, "file_link")
        return self.list_display

    def get_fields(self, request, obj=None):
        return (*self.fields, "preview") if may_review_documents(request.user) else self.fields

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)

    preview = staticmethod(document_preview)

    def get_urls(self):
        return [
            path(
                "<path:object_id>/file/",
                self.admin_site.admin_view(self.file_view),
                name="core_vendordocument_file",
            ),
            *super().get_urls(),
        ]

    def file_view(self, request, object_id):
        """The document's file, for a reviewer, read from storage (local or a private bucket):
        images and PDFs shown inline, anything else only as a download."""
        if not may_review_documents(request.user):
            raise PermissionDenied
        document = self.get_object(request, unquote(object_id))
        if document is None or not document.file:
            raise Http404(gettext("No such document."))
        try:
            with document.file.storage.open(document.file.name, "rb") as handle:
                content = handle.read()
        except FileNotFoundError:
            raise Http404(gettext("The document's file is missing.")) from None
        content_type = document_content_type(content[:16])
        filename = f"{document.vendor_id}-{document.kind}-{document.pk}"
        response = HttpResponse(content, content_type=content_type or "application/octet-stream")
        response["Content-Disposition"] = content_disposition_header(
            as_attachment=content_type is None, filename=filename
        )
        response["X-Content-Type-Options"] = "nosniff"
        response["Cache-Control"] = "private, no-store"
        return response


# --- Addresses ----------------------------------------------------------------------------------


@admin.register(Address)
class AddressAdmin(admin.ModelAdmin):
    list_display = ("user", "label", "line1", "city", "pincode", "is_default", "created_at")
    list_select_related = ("user",)
    list_filter = ("is_default", "city")
    search_fields = ("line1", "line2", "city", "pincode", "user__username", "user__email", "user__phone")
    autocomplete_fields = ("user",)

    def get_readonly_fields(self, request, obj=None):
        # An address never moves to another person; bookings keep their own snapshot anyway.
        return ("user", "created_at") if obj is not None else ("created_at",)


# --- Audit log ----------------------------------------------------------------------------------


class AuditActorFilter(admin.SimpleListFilter):
    """Who acted: one staff member, any staff, the system (no actor), or customers and vendors
    acting on their own data. Lists staff only: customers are too many to list (search instead)."""

    title = _("actor")
    parameter_name = "actor"

    def lookups(self, request, model_admin):
        staff = User.objects.filter(is_staff=True).order_by("username").only("pk", "username")
        return [
            ("system", _("System (no user)")),
            ("staff", _("Any staff member")),
            ("customers_vendors", _("Customers and vendors")),
            *((str(user.pk), user.username) for user in staff),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        if value == "system":
            return queryset.filter(actor__isnull=True)
        if value == "staff":
            return queryset.filter(actor__is_staff=True)
        if value == "customers_vendors":
            return queryset.filter(actor__role__in=[Role.CUSTOMER, Role.VENDOR])
        try:
            return queryset.filter(actor_id=User._meta.pk.to_python(value))
        except ValidationError:
            return queryset.none()


@admin.register(AuditLog)
class AuditLogAdmin(ViewOnlyAdmin):
    """Append-only (ARCHITECTURE §11): nobody adds, changes or deletes entries here — not even a
    superuser, whose permissions Django would otherwise grant wholesale; a POST to an add, change
    or delete page is refused (403, and the refused attempt is itself logged). Only super admins
    see it, filtered by actor, object type and date."""

    list_display = ("created_at", "actor", "action", "object_type", "object_id", "ip_address")
    list_select_related = ("actor",)
    # object_type's distinct values come from an index; actions are searched.
    list_filter = (AuditActorFilter, "object_type", ("created_at", admin.DateFieldListFilter))
    search_fields = ("action", "object_type", "=object_id", "actor__username", "actor__email")
    date_hierarchy = "created_at"
    show_full_result_count = False
    # No actions at all, so "delete selected" is never offered.
    actions = None
    fields = (
        "created_at",
        "actor",
        "action",
        "object_type",
        "object_id",
        "old_values",
        "new_values",
        "ip_address",
        "user_agent",
    )
    readonly_fields = fields

    def has_view_permission(self, request, obj=None):
        return is_super_admin(request.user)


# --- System settings ----------------------------------------------------------------------------


@admin.register(SystemSettings)
class SystemSettingsAdmin(admin.ModelAdmin):
    """The single settings row: staff with the view permission may read it, only a super admin
    edits it, nobody deletes it, and a second row is never added."""

    list_display = ("__str__", "tax_rate", "commission_rate", "updated_at")
    readonly_fields = ("updated_at",)
    fieldsets = (
        (_("Rates"), {"fields": ("tax_rate", "commission_rate")}),
        (
            _("Cancellation and rescheduling"),
            {
                "fields": (
                    "free_cancel_minutes_after_booking",
                    "free_cancel_hours_before",
                    "full_fee_hours_before",
                    "late_cancel_fee_percent",
                    "reschedule_min_hours_before",
                    "max_reschedules",
                )
            },
        ),
        (
            _("Booking window and offers"),
            {
                "fields": (
                    "min_notice_hours",
                    "max_days_ahead",
                    "offer_timeout_minutes",
                    "max_offer_attempts",
                    "unpaid_expiry_minutes",
                    "travel_buffer_minutes",
                    "slot_step_minutes",
                    "start_early_minutes",
                )
            },
        ),
        (
            _("Signatures and payouts"),
            {"fields": ("signature_expiry_hours", "signature_auto_request_hours", "payout_hold_hours")},
        ),
        (None, {"fields": ("updated_at",)}),
    )

    def has_add_permission(self, request):
        return is_super_admin(request.user) and not SystemSettings.objects.exists()

    def has_change_permission(self, request, obj=None):
        return is_super_admin(request.user)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        changes = {field: form.cleaned_data[field] for field in form.changed_data if field in form.cleaned_data}
        saved = services.system_settings_update(actor=request.user, **changes)
        obj.pk, obj.updated_at = saved.pk, saved.updated_at


@admin.register(Notification)
class NotificationAdmin(ViewOnlyAdmin):
    list_display = ("created_at", "user", "kind", "title", "read_at")
    list_filter = ("kind", ("read_at", admin.EmptyFieldListFilter))
    search_fields = ("title", "user__email", "user__username")
    list_select_related = ("user",)
    date_hierarchy = "created_at"


@admin.register(NotificationDelivery)
class NotificationDeliveryAdmin(ViewOnlyAdmin):
    """SMS and e-mail copies; a failed one is where ops look when someone says "I got nothing"."""

    list_display = ("created_at", "channel", "kind", "to", "status", "attempts", "error_code", "sent_at")
    list_filter = ("status", "channel", "kind")
    search_fields = ("to", "provider_id", "error_code")
    date_hierarchy = "created_at"


from core import admin_contact  # noqa: E402, F401
