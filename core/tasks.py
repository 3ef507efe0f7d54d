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


@shared_task(name="core.tasks.dispatch_deliveries", acks_late=True)
def dispatch_deliveries(delivery_ids: list[int]) -> int:
    """Fan a sweep's deliveries out to one ``send_delivery`` each, in the worker (see
    ``enqueue_deliveries``). Run twice, it queues them twice: harmless, ``send_delivery`` claims
    its row and sends once."""
    for delivery_id in delivery_ids:
        enqueue_delivery(delivery_id)
    return len(delivery_ids)


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


# Deliveries per ``dispatch_deliveries`` message: a sweep's 100,000 deliveries leave its
# after-commit hook as 200 broker messages (about 1 ms each) instead of 100,000.
DISPATCH_CHUNK = 500


def enqueue_deliveries(delivery_ids) -> None:
    """Hand many deliveries to ``send_delivery`` at once (the sweeps' notifications). With a
    broker, a few ``dispatch_deliveries`` messages whose worker queues one ``send_delivery`` per
    delivery — the retry policy, the claim and the failure handling stay per delivery; in-process
    (eager), each is sent here as ``enqueue_delivery`` would. A broker that is down loses nothing:
    the rows stay ``pending`` and the stuck-delivery sweep sends them later."""
    delivery_ids = list(delivery_ids)
    if send_delivery.app.conf.task_always_eager:
        for delivery_id in delivery_ids:
            try:
                enqueue_delivery(delivery_id)
            except Exception:
                logger.exception("Could not send delivery %s; the sweep will retry it", delivery_id)
        return
    for start in range(0, len(delivery_ids), DISPATCH_CHUNK):
        try:
            dispatch_deliveries.apply_async(args=[delivery_ids[start : start + DISPATCH_CHUNK]])
        except Exception:  # the broker is down: core's stuck-delivery sweep sends them later
            logger.exception("Could not queue %d deliveries; the sweep will send them", len(delivery_ids) - start)
            return
