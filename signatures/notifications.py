"""Many notifications at once, for the sweeps (ARCHITECTURE §9: sweeps work in bulk).

The same outcome as calling ``core.notifications.notify`` per person — a stored ``Notification``,
its push on ``ws/notifications/`` after commit, and an SMS/e-mail ``NotificationDelivery`` per
channel the person has (``core.notifications._external_copies``), handed to the send task after
commit — but written with bulk inserts, so expiring 10,000 signature requests takes a handful of
queries instead of tens of thousands. The deliveries are the same rows the core send task and its
stuck-delivery sweep work on, so sending, retries and failures behave exactly as for ``notify``.
"""

import logging
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from core.models import Notification, NotificationDelivery
from core.notifications import _external_copies, notification_message
from core.realtime import publish, user_group

logger = logging.getLogger(__name__)

BATCH_SIZE = 5000


@dataclass
class Message:
    user: object  # a core.models.User (with phone, email, notify_sms, notify_email, is_active)
    kind: str
    title: str
    body: str
    data: dict = field(default_factory=dict)
    sms: bool = True
    email: bool = True


def notify_bulk(messages: list[Message]) -> int:
    """Store and queue ``messages``; joins the caller's transaction (nothing leaves before it
    commits). Returns how many notifications were stored."""
    if not messages:
        return 0
    now = timezone.now()
    notifications = Notification.objects.bulk_create(
        [
            Notification(
                user=message.user,
                kind=message.kind,
                title=str(message.title)[:200],
                body=str(message.body)[:2000],
                data=message.data,
                created_at=now,
            )
            for message in messages
        ],
        batch_size=BATCH_SIZE,
    )
    deliveries = NotificationDelivery.objects.bulk_create(
        [
            NotificationDelivery(notification=notification, channel=channel, kind=message.kind, to=to, created_at=now)
            for message, notification in zip(messages, notifications, strict=True)
            for channel, to in _external_copies(message.user, sms=message.sms, email=message.email)
        ],
        batch_size=BATCH_SIZE,
    )
    pushes = [(user_group(n.user_id), notification_message(n)) for n in notifications]
    delivery_ids = [delivery.pk for delivery in deliveries]

    def after_commit():
        from core.tasks import enqueue_delivery

        for group, payload in pushes:
            publish(group, payload)
        for delivery_id in delivery_ids:
            try:
                enqueue_delivery(delivery_id)
            except Exception:  # the broker is down: core's stuck-delivery sweep sends it later
                logger.exception("Could not queue delivery %s; the sweep will send it", delivery_id)

    transaction.on_commit(after_commit, robust=True)
    return len(notifications)
