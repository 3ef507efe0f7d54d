"""Pieces every booking use case shares: who the actor is, the one status-transition function,
and the errors."""

from django.utils import timezone
from django.utils.translation import gettext as _

from bookings.events import booking_changed
from bookings.models import ALLOWED_TRANSITIONS, Booking, BookingEvent, BookingOffer
from core.audit import audit_record
from core.errors import Conflict, Forbidden, NotFound
from core.models import Role, SystemSettings

STATUS_TIMESTAMPS = {
    "confirmed": "confirmed_at",
    "in_progress": "started_at",
    "completed": "completed_at",
    "cancelled": "cancelled_at",
}


class BookingConflict(Conflict):
    """An illegal transition: answered 409 with the booking's current status."""

    def __init__(self, message=None, *, booking=None):
        extra = {"status": booking.status} if booking is not None else {}
        super().__init__(message, extra=extra)


class SlotTaken(Conflict):
    default_message = _("That time is no longer free for this vendor.")


def actor_kind(user, booking: Booking) -> str | None:
    """'customer', 'vendor', 'ops' — the capacity in which ``user`` acts on ``booking``, or None.

    A vendor counts if they hold the booking or were ever offered it."""
    if user.role == Role.CUSTOMER and booking.customer_id == user.pk:
        return "customer"
    if user.role == Role.VENDOR:
        vendor = getattr(user, "vendor_profile", None)
        if vendor is not None and (
            booking.vendor_id == vendor.pk or BookingOffer.objects.filter(booking=booking, vendor=vendor).exists()
        ):
            return "vendor"
    if user.role in (Role.OPS_MANAGER, Role.SUPER_ADMIN):
        return "ops"
    return None


def require_actor(user, booking: Booking, *allowed: str) -> str:
    """The caller's capacity, or NotFound if they may not see the booking, or Forbidden if they
    see it but their role may never do this."""
    kind = actor_kind(user, booking)
    if kind is None:
        raise NotFound()
    if kind not in allowed:
        raise Forbidden()
    return kind


def record_event(*, booking: Booking, actor, event: str, from_status="", to_status="", note=""):
    BookingEvent.objects.create(
        booking=booking,
        actor=actor if getattr(actor, "pk", None) else None,
        event=event,
        from_status=from_status,
        to_status=to_status,
        note=note[:500],
    )


def transition(
    *, booking: Booking, to_status: str, actor, event: str, note: str = "", now=None, fields=None
) -> Booking:
    """Move a locked booking to ``to_status`` if the status machine allows it, saving ``fields``
    with it and writing the timeline event and the audit entry.

    Called with the booking row locked (``lock_booking``), inside the caller's transaction."""
    from_status = booking.status
    if to_status not in ALLOWED_TRANSITIONS[from_status]:
        raise BookingConflict(
            _("A %(from)s booking cannot become %(to)s.") % {"from": from_status, "to": to_status},
            booking=booking,
        )
    now = now or timezone.now()
    changes = dict(fields or {})
    changes["status"] = to_status
    stamp = STATUS_TIMESTAMPS.get(to_status)
    if stamp:
        changes[stamp] = now
    return _save_change(booking=booking, actor=actor, event=event, note=note, fields=changes, from_status=from_status)


def update_fields(*, booking: Booking, actor, event: str, note: str = "", fields: dict) -> Booking:
    """Change fields of a locked booking without a status change, with timeline and audit."""
    return _save_change(booking=booking, actor=actor, event=event, note=note, fields=fields, from_status=booking.status)


def _save_change(*, booking: Booking, actor, event: str, note: str, fields: dict, from_status: str) -> Booking:
    """Save ``fields`` on a locked booking, write its timeline event and audit entry, and
    publish the change after commit."""
    old = {name: getattr(booking, name) for name in fields}
    previous_vendor_id = booking.vendor_id
    for name, value in fields.items():
        setattr(booking, name, value)
    booking.save(update_fields=[*fields.keys(), "updated_at"])
    record_event(
        booking=booking, actor=actor, event=event, from_status=from_status, to_status=booking.status, note=note
    )
    audit_record(actor=actor, action=f"booking.{event}", obj=booking, old=old, new=fields)
    booking_changed(booking, event=event, note=note, previous_vendor_id=previous_vendor_id)
    return booking


def platform_settings() -> SystemSettings:
    return SystemSettings.load()
