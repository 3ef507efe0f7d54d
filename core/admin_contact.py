"""Contact messages in the admin (ARCHITECTURE §3: ops_manager works them).

Ops read the message and change only its status and their notes; the save goes through
``core.contact.contact_message_update`` (audited with old and new values, the editor recorded as
``handled_by``). Nobody adds a message here (they come from ``POST /api/contact/``) and nobody
deletes one, not even a superuser. Imported at the end of core/admin.py.
"""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from core.contact import contact_message_update
from core.models import ContactMessage


@admin.register(ContactMessage)
class ContactMessageAdmin(admin.ModelAdmin):
    list_display = ("created_at", "subject", "name", "email", "status", "handled_by", "updated_at")
    list_filter = ("status",)
    list_select_related = ("handled_by",)
    search_fields = ("subject", "name", "email", "message")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    # No bulk actions: "delete selected" is never offered, and each change is audited one by one.
    actions = None
    fieldsets = (
        (_("Message"), {"fields": ("created_at", "name", "email", "user", "subject", "message")}),
        (_("Handling"), {"fields": ("status", "ops_notes", "handled_by", "updated_at", "resolved_at")}),
    )
    readonly_fields = (
        "created_at",
        "name",
        "email",
        "user",
        "subject",
        "message",
        "handled_by",
        "updated_at",
        "resolved_at",
    )

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        changes = {field: form.cleaned_data[field] for field in ("status", "ops_notes") if field in form.changed_data}
        if changes:
            saved = contact_message_update(message=obj, actor=request.user, **changes)
            for field in ("status", "ops_notes", "handled_by_id", "updated_at", "resolved_at"):
                setattr(obj, field, getattr(saved, field))
