"""Background jobs of core: sending SMS and e-mail copies (ARCHITECTURE §9). Thin: each calls
one service in core.notifications, which makes a repeated or concurrent run harmless."""

import logging

from celery import Task, shared_task
from celery.exceptions import Retry

from core.notifications import PROVIDER_FAULTS, deliveries_requeue_stuck, delivery_give_up, delivery_send

logger = logging.getLogger(__name__)

SEND_MAX_RETRIES = 5


class DeliveryTask(Task):
    def on_failure(self, exc, task_id, args, kwargs, einfo):
        # Out of retries, or an error retrying cannot fix: flag the row for ops rather than
        # leave it pending for ever.
        delivery_id = args[0] if args else kwargs.get("delivery_id")
        if delivery_id is not None:
            delivery_give_up(delivery_id=delivery_id, error=exc)


@shared_task(
    base=DeliveryTask,
    name="core.tasks.send_delivery",
    acks_late=True,
    # Provider faults only: a rejection is recorded by the service and not retried.
    autoretry_for=PROVIDER_FAULTS,
    max_retries=SEND_MAX_RETRIES,
    retry_backoff=True,  # 1 s, 2 s, 4 s … (randomised by the jitter), at most
    retry_backoff_max=300,  # five minutes apart
    retry_jitter=True,
    soft_time_limit=45,
    time_limit=60,  # well inside core.notifications.DELIVERY_LEASE
)
def send_delivery(delivery_id: int, text: str | None = None) -> str:
    return delivery_send(delivery_id=delivery_id, text=text)


@shared_task(name="core.tasks.requeue_stuck_deliveries", acks_late=True)
def requeue_stuck_deliveries() -> dict:
    return deliveries_requeue_stuck()


def enqueue_delivery(delivery_id: int, text: str | None = None) -> None:
    """Hand a delivery to ``send_delivery``: to the broker, or — when tasks run in-process (the
    embedded default, tests) — run it here with the same retry policy."""
    args = [delivery_id] if text is None else [delivery_id, text]
    if not send_delivery.app.conf.task_always_eager:
        send_delivery.apply_async(args=args)
        return
    # Celery's own eager retries re-raise the first Retry when eager errors propagate, so the
    # attempts are driven here: each apply() is one attempt with its retry count, a Retry means
    # "again" (there is no queue to wait in), and a final error flags the row as a worker would.
    for retries in range(send_delivery.max_retries + 1):
        try:
            send_delivery.apply(args=args, retries=retries, throw=True)
            return
        except Retry:
            continue
        except Exception as exc:
            logger.exception("Delivery %s failed in-process", delivery_id)
            send_delivery.on_failure(exc, None, args, {}, None)
            return
