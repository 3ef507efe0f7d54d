"""Publishing to WebSocket groups (ARCHITECTURE §8).

Services call ``publish_on_commit``: the message leaves only after the transaction commits, so a
rolled-back change publishes nothing, and a failed send (Redis down) is logged, never raised —
the change itself already stands.
"""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

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
    except (ConnectionError, TimeoutError, RedisConnectionError, RedisTimeoutError) as error:
        # The layer's Redis is down: one line per skipped push, not a traceback each. Clients
        # catch up on reconnect (ws/bookings/ sends the current state) or on reload.
        logger.warning("Could not publish %s to %s: %r", message.get("type"), group, error)
        return False
    except Exception:  # a lost push must never fail the request or the job that caused it
        logger.exception("Could not publish %s to %s", message.get("type"), group)
        return False


def publish_many(messages) -> int:
    """Send many ``(group, message)`` pushes now, in one go: the sweeps' pushes after their commit.

    One event loop and one set of layer connections for all of them — ``publish`` per message
    pays for a fresh loop and Redis connection each time (about 4 ms; 0.3 ms here). Same
    guarantees: a failed push is logged, never raised; once the layer's Redis is found down the
    rest are skipped with one log line instead of waiting on it message by message. Returns how
    many were sent."""
    messages = list(messages)
    if not messages:
        return 0
    try:
        layer = get_channel_layer()
    except Exception:
        logger.exception("Could not publish %d messages: no channel layer", len(messages))
        return 0
    if layer is None:
        return 0

    async def send_all():
        sent = 0
        for index, (group, message) in enumerate(messages):
            try:
                await layer.group_send(group, {"type": "push", "message": message})
                sent += 1
            except (ConnectionError, TimeoutError, RedisConnectionError, RedisTimeoutError) as error:
                logger.warning("Could not publish %d messages (Redis down): %r", len(messages) - index, error)
                break
            except Exception:
                logger.exception("Could not publish %s to %s", message.get("type"), group)
        return sent

    try:
        return async_to_sync(send_all)()
    except Exception:  # never fail the job whose change already committed
        logger.exception("Could not publish %d messages", len(messages))
        return 0


def publish_on_commit(group: str, message: dict) -> None:
    transaction.on_commit(lambda: publish(group, message))
