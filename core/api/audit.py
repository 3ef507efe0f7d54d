"""``GET /api/audit-logs/`` (ARCHITECTURE §10 "Other", §11): the append-only audit log, for super
admins only (every other role answers 403), newest first, paginated.

Filters: ``actor`` (a user id), ``action``, ``object_type``, ``object_id``, ``date_from`` and
``date_to`` (dates in the platform time zone, both inclusive). Read only: the log has no write
endpoint, and the model refuses updates and deletes anyway.
"""

from datetime import date

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import generics, permissions, serializers

from core.api.base import ModelSerializer
from core.api.pagination import PageNumberPagination
from core.audit import audit_log_entries
from core.models import AuditLog, Role


class IsSuperAdmin(permissions.BasePermission):
    message = _("Only super admins can read the audit log.")

    def has_permission(self, request, view):
        return bool(request.user.is_authenticated and request.user.role == Role.SUPER_ADMIN)


class AuditLogSerializer(ModelSerializer):
    actor = serializers.SerializerMethodField()

    class Meta:
        model = AuditLog
        fields = [
            "id",
            "created_at",
            "actor",
            "action",
            "object_type",
            "object_id",
            "old_values",
            "new_values",
            "ip_address",
            "user_agent",
        ]
        read_only_fields = fields

    def get_actor(self, entry) -> dict | None:
        if entry.actor is None:
            return None  # the system: a sweep, a webhook
        return {"id": str(entry.actor.pk), "username": entry.actor.username, "role": entry.actor.role}


EARLIEST, LATEST = date(2000, 1, 1), date(2100, 12, 31)


def _in_range(value):
    if not EARLIEST <= value <= LATEST:
        raise serializers.ValidationError(_("Give a date between 2000-01-01 and 2100-12-31."))
    return value


class AuditLogQuerySerializer(serializers.Serializer):
    actor = serializers.UUIDField(required=False, help_text=_("Entries by this user."))
    action = serializers.CharField(required=False, max_length=80, help_text=_("e.g. booking.cancel"))
    object_type = serializers.CharField(required=False, max_length=80, help_text=_("e.g. booking"))
    object_id = serializers.CharField(required=False, max_length=64)
    date_from = serializers.DateField(required=False, help_text=_("From this day (platform time zone)."))
    date_to = serializers.DateField(required=False, help_text=_("Up to and including this day."))

    def to_internal_value(self, data):
        # An empty optional parameter means "not given", as everywhere in the API.
        return super().to_internal_value({key: value for key, value in data.items() if value != ""})

    def validate_date_from(self, value):
        return _in_range(value)

    def validate_date_to(self, value):
        return _in_range(value)

    def validate(self, attrs):
        if attrs.get("date_from") and attrs.get("date_to") and attrs["date_from"] > attrs["date_to"]:
            raise serializers.ValidationError({"date_to": [_("The end date is before the start date.")]})
        return attrs


class AuditLogListView(generics.ListAPIView):
    serializer_class = AuditLogSerializer
    pagination_class = PageNumberPagination
    permission_classes = [IsSuperAdmin]
    filter_backends = []

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return AuditLog.objects.none()
        query = AuditLogQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return audit_log_entries(**query.validated_data)

    @extend_schema(parameters=[AuditLogQuerySerializer])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)
