"""Django admin for users, vendors, addresses, the audit log and the system settings.

The admin is an edge like the API: status fields (onboarding, verification, document review) and
money are shown, not edited; what may be edited goes through the same services the API uses, so
it is validated and audited the same way. Who may open what follows the staff groups made by
core/migrations/0002_staff_groups.py (ARCHITECTURE §3); the audit log and the system settings add
rules of their own that hold even for superusers.
"""

import os

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import UserChangeForm, UserCreationForm, UsernameField
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from core import services
from core.models import (
    Address,
    AuditLog,
    Notification,
    NotificationDelivery,
    Role,
    SystemSettings,
    User,
    VendorDocument,
    VendorPincode,
    VendorProfile,
    VendorTimeOff,
)


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


@admin.display(description=_("file"))
def document_file_name(document):
    # Only the name: vendor documents are never linked from a public URL.
    return os.path.basename(document.file.name) if document.file else "—"


class VendorDocumentInline(ViewOnlyInline):
    model = VendorDocument
    fields = ("kind", "status", "review_note", "file_name", "uploaded_at")
    readonly_fields = fields

    file_name = staticmethod(document_file_name)


@admin.register(VendorProfile)
class VendorProfileAdmin(admin.ModelAdmin):
    """Vendor applications and profiles. Onboarding status, rating and the payout account are
    read-only (they change through the onboarding, review and payout services); profile edits go
    through ``services.vendor_profile_update`` like the vendor's own."""

    list_display = (
        "display_name",
        "user",
        "user_phone",
        "onboarding_status",
        "is_available",
        "rating_avg",
        "rating_count",
        "created_at",
    )
    list_select_related = ("user",)
    list_filter = ("onboarding_status", "is_available", "user__phone_verified")
    search_fields = ("display_name", "user__username", "user__email", "user__phone", "pincodes__pincode")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    fieldsets = (
        (None, {"fields": ("user", "display_name", "bio", "experience_years", "is_available")}),
        (_("Service area"), {"fields": ("base_lat", "base_lng", "radius_km", "working_hours")}),
        (
            _("Status"),
            {"fields": ("onboarding_status", "rating_avg", "rating_count", "payout_account_id")},
        ),
        (_("Dates"), {"fields": ("created_at", "updated_at")}),
    )
    readonly_fields = (
        "user",
        "onboarding_status",
        "rating_avg",
        "rating_count",
        "payout_account_id",
        "created_at",
        "updated_at",
    )
    inlines = (VendorPincodeInline, VendorTimeOffInline, VendorDocumentInline)

    @admin.display(description=_("phone"), ordering="user__phone")
    def user_phone(self, obj):
        return obj.user.phone

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


@admin.register(VendorDocument)
class VendorDocumentAdmin(ViewOnlyAdmin):
    """The document review queue. Reviewing (approve/reject) comes as admin actions that call
    the onboarding services; until then documents are shown, not edited."""

    list_display = ("vendor", "kind", "status", "file_name", "uploaded_at")
    list_select_related = ("vendor",)
    list_filter = ("status", "kind")
    search_fields = ("vendor__display_name", "vendor__user__email", "vendor__user__phone")
    date_hierarchy = "uploaded_at"
    fields = ("vendor", "kind", "status", "review_note", "file_name", "uploaded_at")
    readonly_fields = fields

    file_name = staticmethod(document_file_name)


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


@admin.register(AuditLog)
class AuditLogAdmin(ViewOnlyAdmin):
    """Append-only (ARCHITECTURE §11): nobody adds, changes or deletes entries here — not even a
    superuser, whose permissions Django would otherwise grant wholesale. Only super admins see it."""

    list_display = ("created_at", "actor", "action", "object_type", "object_id", "ip_address")
    list_select_related = ("actor",)
    # Only object_type as a filter: its distinct values come from an index; actions are searched.
    list_filter = ("object_type",)
    search_fields = ("action", "object_type", "object_id", "actor__username", "actor__email")
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
