from datetime import datetime, time, timedelta

from django.utils import timezone

from core.models import AuditLog
from core.request_context import current_request_context


def audit_record(*, actor, action, obj, old=None, new=None):
    """Append one audit entry for a state change, inside the caller's transaction."""
    context = current_request_context()
    return AuditLog.objects.create(
        actor=actor if getattr(actor, "pk", None) else None,
        action=action,
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        old_values=_jsonable(old or {}),
        new_values=_jsonable(new or {}),
        ip_address=context.ip_address,
        user_agent=context.user_agent,
    )


def audit_record_many(*, actor, action, entries) -> list:
    """``audit_record`` for many objects at once (the sweeps and runs): ``entries`` are
    ``(obj, old, new)`` triples; one bulk insert, inside the caller's transaction."""
    context = current_request_context()
    return AuditLog.objects.bulk_create(
        [
            AuditLog(
                actor=actor if getattr(actor, "pk", None) else None,
                action=action,
                object_type=obj._meta.label_lower,
                object_id=str(obj.pk),
                old_values=_jsonable(old or {}),
                new_values=_jsonable(new or {}),
                ip_address=context.ip_address,
                user_agent=context.user_agent,
            )
            for obj, old, new in entries
        ],
        batch_size=5000,
    )


def _jsonable(values):
    return {key: value if isinstance(value, bool | int | None) else str(value) for key, value in values.items()}


def audit_log_entries(*, actor=None, action=None, object_type=None, object_id=None, date_from=None, date_to=None):
    """The audit entries matching the filters, newest first, with their actors."""
    entries = AuditLog.objects.select_related("actor").order_by("-created_at", "-id")
    if actor is not None:
        entries = entries.filter(actor_id=actor)
    if action:
        entries = entries.filter(action=action)
    if object_type:
        entries = entries.filter(object_type=object_type)
    if object_id:
        entries = entries.filter(object_id=object_id)
    zone = timezone.get_default_timezone()  # the platform's zone (TIME_ZONE)
    if date_from is not None:
        entries = entries.filter(created_at__gte=datetime.combine(date_from, time.min, tzinfo=zone))
    if date_to is not None:
        entries = entries.filter(created_at__lt=datetime.combine(date_to + timedelta(days=1), time.min, tzinfo=zone))
    return entries
