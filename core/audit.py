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
