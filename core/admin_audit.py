"""The admin's own audit trail (ARCHITECTURE §11): every save, delete (attempted or done) and
action taken in the admin writes an ``AuditLog`` row with the old and new values, the staff
member, their IP address and user agent.

Services audit the domain changes they make (``booking.cancelled``, ``settings.update`` …); these
``admin.*`` entries record what was done *in the admin* on top: which form fields were changed from
what to what, which action ran on which rows with which input, and which write was refused.

``AuditedAdminMixin`` is put in front of every ModelAdmin by ``OpsAdminSite.register``
(core/admin_site.py), so no admin can forget it; custom admin views that change something call
``admin_audit`` themselves.
"""

from decimal import Decimal

from django.contrib import messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.contrib.auth.forms import ReadOnlyPasswordHashField
from django.core.exceptions import ValidationError
from django.db import models
from django.forms import PasswordInput
from django.template.response import TemplateResponse
from django.utils.translation import gettext

from core.models import AuditLog
from core.request_context import client_ip

# How much of one value, and how many selected ids, an entry keeps.
VALUE_MAX_CHARS = 500
IDS_KEPT = 100
# Form and action plumbing, not input.
NOT_INPUT = frozenset(
    {"csrfmiddlewaretoken", "action", "index", "select_across", "apply", "post", helpers.ACTION_CHECKBOX_NAME}
)
MASK = "********"


def _is_secret(name: str) -> bool:
    return "password" in name or "token" in name or "secret" in name


def jsonable(value):
    """A JSON-storable form of a field or form value: model instances as their primary key,
    collections as lists, everything else as text (cut to VALUE_MAX_CHARS)."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, models.Model):
        return str(value.pk)
    if isinstance(value, models.QuerySet | list | tuple | set | frozenset):
        return [jsonable(item) for item in value]
    if isinstance(value, bytes | memoryview):
        return f"<{len(value)} bytes>"
    if isinstance(value, Decimal | float):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "name") and hasattr(value, "storage"):  # a FieldFile
        return value.name or ""
    return str(value)[:VALUE_MAX_CHARS]


def admin_audit(request, *, action: str, object_type: str, object_id="", old=None, new=None) -> AuditLog:
    """Append one admin audit entry (inside the caller's transaction, if any)."""
    user = getattr(request, "user", None)
    return AuditLog.objects.create(
        actor=user if getattr(user, "pk", None) else None,
        action=action[:80],
        object_type=object_type[:80],
        object_id=str(object_id)[:64],
        old_values={key: jsonable(value) for key, value in (old or {}).items()},
        new_values={key: jsonable(value) for key, value in (new or {}).items()},
        ip_address=client_ip(request),
        user_agent=(request.META.get("HTTP_USER_AGENT") or "")[:300],
    )


def _form_values(form, names, *, initial: bool) -> dict:
    values = {}
    for name in names:
        field = form.fields.get(name)
        secret = _is_secret(name) or (
            field is not None
            and (isinstance(field.widget, PasswordInput) or isinstance(field, ReadOnlyPasswordHashField))
        )
        if secret:
            values[name] = MASK
        elif initial:
            values[name] = form.initial.get(name, field.initial if field is not None else None)
        else:
            values[name] = form.cleaned_data.get(name)
    return values


def instance_values(obj) -> dict:
    """The stored fields of ``obj`` (secrets masked, binary data as its length) — what a deleted
    row held."""
    values = {}
    for field in obj._meta.concrete_fields:
        values[field.name] = MASK if _is_secret(field.name) else field.value_from_object(obj)
    return values


def posted_input(request) -> dict:
    """What a POST carried besides the form plumbing, secrets masked."""
    return {
        key: (MASK if _is_secret(key) else (values[0] if len(values) == 1 else values))
        for key, values in request.POST.lists()
        if key not in NOT_INPUT
    }


def selected_ids(request) -> list[str]:
    return request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)


class AuditedAdminMixin:
    """Audits what a ModelAdmin saves, deletes and runs (module docstring)."""

    def _object_type(self) -> str:
        return self.model._meta.label_lower

    # --- saves ------------------------------------------------------------------------------

    def save_model(self, request, obj, form, change):
        changed = list(form.changed_data)
        old = _form_values(form, changed, initial=True) if change else {}
        super().save_model(request, obj, form, change)
        admin_audit(
            request,
            action="admin.change" if change else "admin.add",
            object_type=self._object_type(),
            object_id=obj.pk if obj.pk is not None else "",
            old=old,
            new=_form_values(form, changed, initial=False),
        )

    def save_formset(self, request, form, formset, change):
        super().save_formset(request, form, formset, change)
        object_type = formset.model._meta.label_lower
        for obj in getattr(formset, "new_objects", []):
            admin_audit(
                request, action="admin.add", object_type=object_type, object_id=obj.pk, new=instance_values(obj)
            )
        changed_forms = {inline_form.instance.pk: inline_form for inline_form in formset.forms}
        for obj, fields in getattr(formset, "changed_objects", []):
            inline_form = changed_forms.get(obj.pk)
            admin_audit(
                request,
                action="admin.change",
                object_type=object_type,
                object_id=obj.pk,
                old=_form_values(inline_form, fields, initial=True) if inline_form is not None else {},
                new={field: getattr(obj, field, None) for field in fields},
            )
        for obj in getattr(formset, "deleted_objects", []):
            admin_audit(
                request, action="admin.delete", object_type=object_type, object_id=obj.pk, old=instance_values(obj)
            )

    # --- deletes ----------------------------------------------------------------------------

    def delete_model(self, request, obj):
        old, pk = instance_values(obj), obj.pk
        super().delete_model(request, obj)
        admin_audit(request, action="admin.delete", object_type=self._object_type(), object_id=pk, old=old)

    def delete_queryset(self, request, queryset):
        rows = [(obj.pk, instance_values(obj)) for obj in queryset]
        super().delete_queryset(request, queryset)
        for pk, old in rows:
            admin_audit(request, action="admin.delete", object_type=self._object_type(), object_id=pk, old=old)

    # --- refused writes (recorded outside the view's transaction, which the refusal rolls back) ---

    def _object_or_none(self, request, object_id):
        try:
            return self.get_object(request, unquote(object_id))
        except (ValidationError, ValueError):
            return None

    def add_view(self, request, form_url="", extra_context=None):
        if request.method == "POST" and not self.has_add_permission(request):
            admin_audit(request, action="admin.add_refused", object_type=self._object_type(), new=posted_input(request))
        return super().add_view(request, form_url, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.method == "POST":
            obj = self._object_or_none(request, object_id)
            if obj is not None and not self.has_change_permission(request, obj):
                admin_audit(
                    request,
                    action="admin.change_refused",
                    object_type=self._object_type(),
                    object_id=object_id,
                    new=posted_input(request),
                )
        return super().change_view(request, object_id, form_url, extra_context)

    def delete_view(self, request, object_id, extra_context=None):
        if request.method == "POST":
            obj = self._object_or_none(request, object_id)
            if obj is not None and not self.has_delete_permission(request, obj):
                admin_audit(
                    request, action="admin.delete_refused", object_type=self._object_type(), object_id=object_id
                )
        return super().delete_view(request, object_id, extra_context)

    # --- actions ----------------------------------------------------------------------------

    def changelist_view(self, request, extra_context=None):
        name = request.POST.get("action", "") if request.method == "POST" else ""
        if name and name not in self.get_actions(request):
            # Not offered to this user (no permission, or no such action): Django ignores it; the
            # attempt is recorded.
            admin_audit(
                request,
                action="admin.action_refused",
                object_type=self._object_type(),
                new={"action": name, "objects": selected_ids(request)[:IDS_KEPT]},
            )
        return super().changelist_view(request, extra_context)

    def response_action(self, request, queryset):
        """Run the chosen action (Django's own code), refusing a malformed selection with a message
        instead of a 500, and audit an action that ran to its end (anything but an intermediate page
        asking for input)."""
        name = request.POST.get("action", "")
        ids = selected_ids(request)
        across = request.POST.get("select_across") in ("1", "True", "true")
        if not self._valid_ids(ids):
            self.message_user(request, gettext("The selection is not valid; nothing was done."), messages.ERROR)
            return None
        response = super().response_action(request, queryset)
        ran = name in self.get_actions(request) and (ids or across) and not isinstance(response, TemplateResponse)
        if ran:
            admin_audit(
                request,
                action="admin.action",
                object_type=self._object_type(),
                object_id=ids[0] if len(ids) == 1 and not across else "",
                new={
                    "action": name,
                    "objects": ids[:IDS_KEPT],
                    "object_count": "all matching" if across else len(ids),
                    **posted_input(request),
                },
            )
        return response

    def _valid_ids(self, ids) -> bool:
        pk_field = self.model._meta.pk
        try:
            for value in ids:
                pk_field.to_python(value)
        except ValidationError:
            return False
        return True
