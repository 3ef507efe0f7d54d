"""Booking chat (ARCHITECTURE §8): the only way to post, read and mark messages.

Who: the booking's customer and the vendor holding it write and read; ops read (disputes), never
write; anyone else — a vendor who was only offered the booking included — gets 404.
When: from the moment a vendor holds the booking until 7 days after the job's end; a cancelled or
expired booking's thread stays readable and takes no new messages.
Masking: while the booking is not yet confirmed, phone numbers and e-mail addresses in a message
are masked *when it is written* — the original text is never stored, so nothing can leak later.
Throttle: 20 messages a minute per person, counted in the database (so HTTP and WebSocket posts
share it, across server processes).
Live: each message goes to ``ws/bookings/<id>/`` as ``chat.message`` after commit; marking as
read sends ``chat.read``.
Unread: ``chat_unread_notify`` (every minute) tells the recipient of a message left unread for
5 minutes — in-app, and by SMS if they keep SMS on — at most once per conversation an hour.
"""

import math
import re
from datetime import timedelta

from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from bookings.locks import lock_booking
from bookings.models import MESSAGE_MAX_LENGTH, Booking, BookingStatus, Message
from core.errors import ApplicationError, Conflict, Forbidden, InvalidInput, NotFound
from core.models import Role
from core.notifications import notify
from core.realtime import booking_chat_group, publish_on_commit

WINDOW_AFTER_END = timedelta(days=7)
RATE_LIMIT = 20  # messages …
RATE_PERIOD = timedelta(minutes=1)  # … per this period, per sender
UNREAD_AFTER = timedelta(minutes=5)
NOTICE_INTERVAL = timedelta(hours=1)
PAGE_SIZE = 50
CLOSED_STATUSES = (BookingStatus.CANCELLED, BookingStatus.EXPIRED)

EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# Eight or more digits, optionally led by "+" and broken up by spaces, dots, dashes or brackets:
# Indian mobiles (98765 43210, +91-98765-43210) and landlines with their code.
PHONE_RE = re.compile(r"(?<![\w])\+?\d(?:[\s().-]{0,3}\d){7,}(?![\w])")
EMAIL_MASK = "[e-mail hidden]"
PHONE_MASK = "[phone hidden]"


class ChatThrottled(ApplicationError):
    """429 with ``Retry-After``: the seconds until the sender's oldest message of the last
    RATE_PERIOD leaves it."""

    status_code = 429
    default_message = _("You are sending messages too fast; wait a moment.")

    def __init__(self, message=None, *, retry_after: int):
        self.retry_after = max(1, int(retry_after))
        super().__init__(message)


def mask_contacts(text: str) -> str:
    return PHONE_RE.sub(PHONE_MASK, EMAIL_RE.sub(EMAIL_MASK, text))


def chat_role(user, booking: Booking) -> str | None:
    """'customer', 'vendor' (holding the booking) or 'ops' — or None: not theirs to see."""
    if not getattr(user, "is_authenticated", False):
        return None
    if user.role == Role.CUSTOMER and booking.customer_id == user.pk:
        return "customer"
    if user.role == Role.VENDOR and booking.vendor_id is not None:
        vendor = getattr(user, "vendor_profile", None)
        if vendor is not None and vendor.pk == booking.vendor_id:
            return "vendor"
    if user.role in (Role.OPS_MANAGER, Role.SUPER_ADMIN):
        return "ops"
    return None


def chat_booking(*, user, booking_id) -> Booking:
    """The booking whose thread ``user`` may read, or NotFound."""
    booking = Booking.objects.select_related("vendor", "vendor__user", "customer").filter(pk=booking_id).first()
    if booking is None or chat_role(user, booking) is None:
        raise NotFound()
    return booking


def chat_open_problem(booking: Booking, *, now) -> str | None:
    """Why nobody can write in this booking's thread now, or None when it is open."""
    if booking.status in CLOSED_STATUSES:
        return _("This booking is %(status)s: its messages can be read but not added to.") % {
            "status": booking.get_status_display().lower()
        }
    if booking.vendor_id is None:
        return _("The chat opens when a vendor takes the booking.")
    if now > booking.ends_at + WINDOW_AFTER_END:
        return _("The chat closed 7 days after the job.")
    return None


def message_payload(message: Message, *, sender_role: str) -> dict:
    return {
        "type": "chat.message",
        "id": message.pk,
        "booking_id": str(message.booking_id),
        "sender": str(message.sender_id),
        "sender_role": sender_role,
        "body": message.body,
        "at": message.created_at.isoformat(),
    }


@transaction.atomic
def message_post(*, booking: Booking, user, body, now=None) -> Message:
    """Post ``body`` in the booking's thread as ``user``; returns the stored message."""
    now = now or timezone.now()
    role = chat_role(user, booking)
    if role is None:
        raise NotFound()
    if role == "ops":
        raise Forbidden(_("Operations staff read booking chats; they do not write in them."))
    body = (body if isinstance(body, str) else "").strip()
    if not body:
        raise InvalidInput(fields={"body": [_("Write a message.")]})
    if len(body) > MESSAGE_MAX_LENGTH:
        raise InvalidInput(fields={"body": [_("At most %(n)d characters.") % {"n": MESSAGE_MAX_LENGTH}]})
    booking = lock_booking(booking.pk)  # the status as it is now, not as the caller read it
    if chat_role(user, booking) != role:
        raise NotFound()
    problem = chat_open_problem(booking, now=now)
    if problem:
        raise Conflict(problem, extra={"status": booking.status})
    recent = Message.objects.filter(sender=user, created_at__gt=now - RATE_PERIOD).order_by("-created_at")
    window = list(recent.values_list("created_at", flat=True)[:RATE_LIMIT])
    if len(window) >= RATE_LIMIT:
        raise ChatThrottled(retry_after=math.ceil((window[-1] + RATE_PERIOD - now).total_seconds()))
    if booking.status == BookingStatus.PENDING:
        body = mask_contacts(body)
    message = Message.objects.create(booking=booking, sender=user, body=body, created_at=now)
    publish_on_commit(booking_chat_group(booking.pk), message_payload(message, sender_role=role))
    return message


def message_list(*, booking: Booking, user, after=None, limit=PAGE_SIZE) -> tuple[list[Message], bool]:
    """Messages oldest first from just after message ``after`` (an id; from the start without
    one): ``(page, more)`` where ``more`` says whether messages follow the page."""
    if chat_role(user, booking) is None:
        raise NotFound()
    queryset = Message.objects.filter(booking=booking).order_by("id")
    if after is not None:
        queryset = queryset.filter(id__gt=after)
    rows = list(queryset[: limit + 1])
    return rows[:limit], len(rows) > limit


def message_latest(*, booking: Booking, user, limit=PAGE_SIZE) -> tuple[list[Message], bool]:
    """The newest ``limit`` messages, oldest first: ``(messages, earlier)`` where ``earlier`` says
    whether older ones exist (for a page showing the end of the thread)."""
    if chat_role(user, booking) is None:
        raise NotFound()
    rows = list(Message.objects.filter(booking=booking).order_by("-id")[: limit + 1])
    return rows[:limit][::-1], len(rows) > limit


@transaction.atomic
def messages_mark_read(*, booking: Booking, user, now=None) -> int:
    """The reader has seen every message the other party sent; returns how many were unread."""
    now = now or timezone.now()
    role = chat_role(user, booking)
    if role is None:
        raise NotFound()
    if role == "ops":
        raise Forbidden(_("Operations staff read booking chats without marking them read."))
    unread = Message.objects.filter(booking=booking, read_at__isnull=True).exclude(sender=user)
    up_to = unread.aggregate(last=Max("id"))["last"]
    if up_to is None:
        return 0
    count = unread.filter(id__lte=up_to).update(read_at=now)
    publish_on_commit(
        booking_chat_group(booking.pk),
        {
            "type": "chat.read",
            "booking_id": str(booking.pk),
            "reader": str(user.pk),
            "reader_role": role,
            "up_to": up_to,
            "at": now.isoformat(),
        },
    )
    return count


def _recipient(booking: Booking, sender_id):
    """The other side of the conversation: the customer, or the vendor now holding the booking."""
    if sender_id == booking.customer_id:
        return booking.vendor.user if booking.vendor_id else None
    return booking.customer


@transaction.atomic
def chat_unread_notify(*, now=None, limit: int = 1000) -> int:
    """Tell each recipient of messages left unread for 5 minutes, once per conversation an hour.

    The waiting messages are claimed with SKIP LOCKED (an overlapping run takes others) and
    stamped ``notified_at`` so they are told about once; a conversation whose recipient was told
    less than an hour ago keeps its messages waiting for the next run after that hour. Returns
    how many notifications were sent."""
    now = now or timezone.now()
    waiting = list(
        Message.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(read_at__isnull=True, notified_at__isnull=True, created_at__lte=now - UNREAD_AFTER)
        .exclude(booking__status__in=CLOSED_STATUSES)
        .select_related("booking", "booking__customer", "booking__vendor__user")
        .order_by("id")[:limit]
    )
    conversations: dict[tuple, list[Message]] = {}
    for message in waiting:
        recipient = _recipient(message.booking, message.sender_id)
        if recipient is not None and recipient.pk != message.sender_id:
            conversations.setdefault((message.booking_id, recipient.pk), []).append(message)
    if not conversations:
        return 0
    recently_told = set(
        Message.objects.filter(
            booking_id__in={booking_id for booking_id, _r in conversations}, notified_at__gt=now - NOTICE_INTERVAL
        )
        .values_list("booking_id", "sender_id")
        .distinct()
    )
    sent = 0
    for (booking_id, recipient_id), messages in conversations.items():
        booking = messages[0].booking
        recipient = _recipient(booking, messages[0].sender_id)
        if any(told_booking == booking_id and sender != recipient_id for told_booking, sender in recently_told):
            continue  # told about this conversation less than an hour ago
        notify(
            user=recipient,
            kind="chat.unread",
            title=_("Unread message about booking %(number)s") % {"number": booking.booking_number},
            body=_("You have %(count)d unread message(s) about booking %(number)s.")
            % {"count": len(messages), "number": booking.booking_number},
            data={"booking_id": str(booking_id), "message_id": messages[-1].pk},
            sms=True,
            email=False,
        )
        Message.objects.filter(pk__in=[message.pk for message in messages]).update(notified_at=now)
        sent += 1
    return sent
