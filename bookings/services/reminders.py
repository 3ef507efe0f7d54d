"""Reminders before a confirmed booking (ARCHITECTURE §9): 24 h and 1 h before the start, to the
customer and to the vendor, each sent once.

Nothing is scheduled ahead with an ETA: a sweep that runs every minute (``send_due_reminders``,
task ``bookings.tasks.send_booking_reminders``) finds what is due. The rules:

- **1 h reminder**: the booking is confirmed and starts in ``(now, now + 1 h]``.
- **24 h reminder**: the booking is confirmed, starts in ``(now + 1 h, now + 24 h]``, and was
  already confirmed at its 24-hour mark (``confirmed_at ≤ start − 24 h``). A booking confirmed
  inside its last day has just told both sides "Booking confirmed" (or was made a few hours
  ahead); a "coming up" reminder minutes later would be noise, so it gets the 1 h one only. A
  sweep that first reaches a booking inside its last hour (after an outage) sends only the 1 h one.
- **Only confirmed bookings**: pending, cancelled and expired ones get none, nor one whose job has
  already started.
- **Once per person**: a ``BookingReminder`` row per (booking, kind, person) under a unique
  constraint. A booking rescheduled after a reminder went out does not get that reminder again
  for the new time (the reschedule itself was notified); a reminder not yet sent goes out before
  the new time. A vendor who takes a booking over gets the reminders still due to them; the
  customer never gets one twice.

Two sweeps may overlap (two beat ticks on a slow worker, a redelivered message): each claims its
batch of bookings with ``SELECT … FOR UPDATE SKIP LOCKED``, so they split the work instead of
queueing, and the marker's unique constraint catches the narrow case of a sweep that read a
booking just before the other one committed its markers.

In bulk (ARCHITECTURE §9): a run claims up to ``limit`` bookings per kind, reads the markers they
already have *after* the claim (a sweep that reminded one of them held its lock until it
committed, so its markers are visible now), and writes the missing markers and their
notifications with bulk inserts, the pushes and SMS/e-mail copies leaving in one after-commit
hook (``core.notifications.notify_bulk``). Should the unique constraint still refuse a marker
(one written outside a sweep), the batch falls back to one booking at a time, each in its own
savepoint, the marker inserted before the person is told.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from bookings.models import Booking, BookingReminder, BookingStatus, ReminderKind, ReminderRecipient
from core.notifications import Message, notify, notify_bulk

logger = logging.getLogger(__name__)

DAY = timedelta(hours=24)
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Party:
    recipient: str
    user: object


def _due(kind: str, now: datetime) -> Q:
    if kind == ReminderKind.HOUR_BEFORE:
        return Q(scheduled_at__gt=now, scheduled_at__lte=now + HOUR)
    return Q(
        scheduled_at__gt=now + HOUR,
        scheduled_at__lte=now + DAY,
        confirmed_at__lte=F("scheduled_at") - DAY,
    )


def _someone_not_yet_reminded(kind: str) -> Q:
    sent = BookingReminder.objects.filter(booking=OuterRef("pk"), kind=kind)
    return ~Exists(sent.filter(user=OuterRef("customer_id"))) | ~Exists(sent.filter(user=OuterRef("vendor__user_id")))


def due_reminder_bookings(*, kind: str, now: datetime):
    """Confirmed bookings owing someone the ``kind`` reminder at ``now`` (unlocked; for reading)."""
    return (
        Booking.objects.filter(status=BookingStatus.CONFIRMED, vendor__isnull=False)
        .filter(_due(kind, now))
        .filter(_someone_not_yet_reminded(kind))
    )


def send_due_reminders(*, now: datetime | None = None, limit: int = 5000) -> int:
    """Send every reminder due at ``now``; returns how many went out. Idempotent and safe to run
    concurrently (see the module docstring). Handles up to ``limit`` bookings per kind per run;
    the rest wait for the next run a minute later."""
    now = now or timezone.now()
    sent = 0
    # The 1 h reminders first: they are the ones that cannot wait for the next run.
    for kind in (ReminderKind.HOUR_BEFORE, ReminderKind.DAY_BEFORE):
        sent += _send_kind(kind=kind, now=now, limit=limit)
    return sent


def _send_kind(*, kind: str, now: datetime, limit: int) -> int:
    sent = 0
    with transaction.atomic():
        # Locks only the booking rows (not the joined vendor/user rows): a cancellation waits the
        # few milliseconds this takes, instead of racing the reminder.
        bookings = list(
            due_reminder_bookings(kind=kind, now=now)
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("customer", "vendor__user")
            .order_by("scheduled_at", "pk")[:limit]
        )
        if not bookings:
            return 0
        try:
            with transaction.atomic():
                return _remind_in_bulk(bookings=bookings, kind=kind, now=now)
        except IntegrityError:
            logger.warning("A %s reminder marker already existed; sending this batch one by one", kind)
        for booking in bookings:
            try:
                # One booking's failure must not hold back everyone else's reminders: its
                # savepoint rolls back (markers and notifications alike) and it is retried next run.
                with transaction.atomic():
                    sent += _remind_parties(booking=booking, kind=kind, now=now)
            except SoftTimeLimitExceeded:
                raise  # the task ran out of time: stop, and let the whole batch roll back
            except Exception:
                logger.exception("Could not send the %s reminders of booking %s", kind, booking.pk)
    return sent


def _parties(booking: Booking) -> tuple[Party, Party]:
    return (
        Party(ReminderRecipient.CUSTOMER, booking.customer),
        Party(ReminderRecipient.VENDOR, booking.vendor.user),
    )


def _remind_in_bulk(*, bookings: list[Booking], kind: str, now: datetime) -> int:
    """Called with the bookings' rows locked, inside a transaction: the markers and notifications
    of everyone still owed the ``kind`` reminder, in bulk. Raises IntegrityError when a marker
    exists after all (the caller then goes one by one)."""
    already = set(
        BookingReminder.objects.filter(booking__in=[booking.pk for booking in bookings], kind=kind).values_list(
            "booking_id", "user_id"
        )
    )
    markers, messages = [], []
    for booking in bookings:
        try:
            owed = [
                (
                    BookingReminder(
                        booking=booking,
                        kind=kind,
                        recipient=party.recipient,
                        user=party.user,
                        starts_at=booking.scheduled_at,
                        sent_at=now,
                    ),
                    _message(booking=booking, kind=kind, party=party),
                )
                for party in _parties(booking)
                if (booking.pk, party.user.pk) not in already
            ]
        except Exception:
            # One booking's failure must not hold back everyone else's: retried next run.
            logger.exception("Could not send the %s reminders of booking %s", kind, booking.pk)
            continue
        for marker, message in owed:
            markers.append(marker)
            messages.append(message)
    BookingReminder.objects.bulk_create(markers, batch_size=5000)
    notify_bulk(messages)
    return len(markers)


def _remind_parties(*, booking: Booking, kind: str, now: datetime) -> int:
    """Called with the booking row locked, inside a transaction."""
    sent = 0
    for party in _parties(booking):
        if _claim(booking=booking, kind=kind, party=party, now=now):
            _notify(booking=booking, kind=kind, party=party)
            sent += 1
    return sent


def _claim(*, booking: Booking, kind: str, party: Party, now: datetime) -> bool:
    """Insert the sent-marker; False when it already exists (sent before, or by a concurrent
    sweep). The insert comes first: only the sweep whose insert succeeded tells the person."""
    try:
        with transaction.atomic():
            BookingReminder.objects.create(
                booking=booking,
                kind=kind,
                recipient=party.recipient,
                user=party.user,
                starts_at=booking.scheduled_at,
                sent_at=now,
            )
    except IntegrityError:
        return False
    return True


def _notify(*, booking: Booking, kind: str, party: Party) -> None:
    message = _message(booking=booking, kind=kind, party=party)
    notify(user=message.user, kind=message.kind, title=message.title, body=message.body, data=message.data)


def _message(*, booking: Booking, kind: str, party: Party) -> Message:
    start = timezone.localtime(booking.scheduled_at)
    params = {
        "number": booking.booking_number,
        "when": start.strftime("%d %b %H:%M"),
        "time": start.strftime("%H:%M"),
        "vendor": booking.vendor.display_name,
        "address": ", ".join(
            part
            for part in (booking.address_line1, booking.address_line2, booking.address_city, booking.address_pincode)
            if part
        ),
    }
    if kind == ReminderKind.DAY_BEFORE:
        title = _("Reminder: booking %(number)s on %(when)s") % params
        if party.recipient == ReminderRecipient.CUSTOMER:
            body = _("%(vendor)s is booked for %(when)s (booking %(number)s).") % params
        else:
            body = _("Job %(number)s on %(when)s at %(address)s.") % params
    else:
        title = _("Booking %(number)s starts at %(time)s") % params
        if party.recipient == ReminderRecipient.CUSTOMER:
            body = _("%(vendor)s arrives at %(time)s (booking %(number)s).") % params
        else:
            body = _("Job %(number)s starts at %(time)s at %(address)s.") % params
    return Message(
        user=party.user,
        kind=f"booking.reminder_{kind}",
        title=title,
        body=body,
        data={"booking_id": str(booking.pk), "reminder": kind, "starts_at": booking.scheduled_at.isoformat()},
    )
