"""Publishing to WebSocket groups (ARCHITECTURE §8).

Services call ``publish_on_commit``: the message leaves only after the transaction commits, so a
rolled-back change publishes nothing, and a failed send (Redis down) is logged, never raised —
the change itself already stands.
"""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)


def booking_group(booking_id) -> str:
    return f"booking.{booking_id}"


def booking_chat_group(booking_id) -> str:
    """The booking's chat: only its customer, the vendor holding it and ops (not every vendor
    the booking was ever offered to, who may still follow ``booking_group``)."""
    return f"booking-chat.{booking_id}"


def user_group(user_id) -> str:
    return f"user.{user_id}"


def vendor_jobs_group(vendor_id) -> str:
    return f"vendor-jobs.{vendor_id}"


def publish(group: str, message: dict) -> bool:
    """Send ``message`` to every socket in ``group`` now. Returns False (and logs) on failure."""
    try:
        layer = get_channel_layer()
        if layer is None:
            return False
        async_to_sync(layer.group_send)(group, {"type": "push", "message": message})
        return True
    except Exception:  # a lost push must never fail the request or the job that caused it
        logger.exception("Could not publish %s to %s", message.get("type"), group)
        return False


def publish_on_commit(group: str, message: dict) -> None:
    transaction.on_commit(lambda: publish(group, message))
