"""Gateway webhooks (ARCHITECTURE §6, CONVENTIONS "Webhooks and idempotency").

Verify the signature on the raw body → insert the event row first, unique on the gateway's event
id (a repeat is acknowledged and ignored) → dispatch through ``HANDLERS`` → record the outcome.
Handlers are idempotent and order-safe: an attempt's status only moves forward
(``attempt_advance``), so a late or repeated event changes nothing. A lock wait past
``LOCK_TIMEOUT`` answers 503 so the gateway retries; a handler fault marks the event failed and
answers 500, and the gateway's retry processes it again.
"""

import contextlib
import logging
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.db import IntegrityError, OperationalError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.notifications import notify_ops
from payments.checkout import attempt_authorized, attempt_declined
from payments.gateways import get_gateway
from payments.gateways.base import from_gateway_amount
from payments.models import AttemptStatus, PaymentAttempt, WebhookEvent
from payments.operations import record_capture, release_stray_hold
from payments.services import attempt_advance, attempt_record_refunded

logger = logging.getLogger(__name__)

LOCK_TIMEOUT = "5s"
# An event left "received" this long is taken to be abandoned (a crashed worker) and may be redone.
STALE_RECEIVED = timedelta(minutes=5)


@dataclass(frozen=True)
class WebhookOutcome:
    status_code: int
    state: str
    detail: str = ""


class LockTimeout(Exception):
    pass


def webhook_receive(*, payload: bytes, signature_header: str, gateway_name: str) -> WebhookOutcome:
    """Handle one delivery. Raises ``WebhookSignatureInvalid`` for a bad or stale signature."""
    event = get_gateway().verify_webhook(payload, signature_header)
    event_id, event_type = str(event.get("id") or ""), str(event.get("type") or "")
    if not event_id or not event_type:
        return WebhookOutcome(400, "invalid", "The event has no id or type.")
    record = _claim(gateway_name, event_id, event_type, event)
    if record is None:
        return WebhookOutcome(200, "duplicate")
    handler = HANDLERS.get(event_type)
    if handler is None:
        _finish(record, WebhookEvent.State.IGNORED, "no handler for this type")
        return WebhookOutcome(200, WebhookEvent.State.IGNORED)
    try:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
            state, detail = handler(event.get("data", {}).get("object") or {})
    except OperationalError as error:
        if "lock" not in str(error).lower():
            raise
        _finish(record, WebhookEvent.State.FAILED, "lock timeout")
        return WebhookOutcome(503, WebhookEvent.State.FAILED, "busy, retry")
    except Exception as error:  # record any handler fault, then let the gateway retry
        logger.exception("Webhook %s (%s) failed", event_id, event_type)
        _finish(record, WebhookEvent.State.FAILED, f"{error.__class__.__name__}: {error}"[:2000])
        return WebhookOutcome(500, WebhookEvent.State.FAILED)
    _finish(record, state, detail)
    return WebhookOutcome(200, state, detail)


def _claim(gateway_name, event_id, event_type, event) -> WebhookEvent | None:
    """Insert the event row, or take over one that failed or was abandoned. None: someone else
    has it (a duplicate delivery)."""
    try:
        with transaction.atomic():
            return WebhookEvent.objects.create(gateway=gateway_name, event_id=event_id, type=event_type, payload=event)
    except IntegrityError:
        pass
    now = timezone.now()
    retried = (
        WebhookEvent.objects.filter(gateway=gateway_name, event_id=event_id)
        .filter(
            # the exact row update is the claim: two retries cannot both take it over
            state__in=[WebhookEvent.State.FAILED, WebhookEvent.State.RECEIVED],
        )
        .exclude(state=WebhookEvent.State.RECEIVED, received_at__gt=now - STALE_RECEIVED)
        .update(state=WebhookEvent.State.RECEIVED, received_at=now, error="")
    )
    if not retried:
        return None
    return WebhookEvent.objects.get(gateway=gateway_name, event_id=event_id)


def _finish(record: WebhookEvent, state: str, detail: str = ""):
    record.state = state
    record.error = detail if state == WebhookEvent.State.FAILED else ""
    record.processed_at = timezone.now()
    record.save(update_fields=["state", "error", "processed_at"])


# --- Handlers: each gets the event's data.object and returns (state, detail) ---------------------


def _attempt_for_intent(intent_id) -> PaymentAttempt | None:
    if not intent_id:
        return None
    return PaymentAttempt.objects.filter(gateway_intent_id=intent_id).select_related("booking").first()


def _amount(obj, field) -> Decimal:
    return from_gateway_amount(obj.get(field) or 0, obj.get("currency") or "inr")


def _advance(intent_id, to_status, **fields):
    attempt = _attempt_for_intent(intent_id)
    if attempt is None:
        return WebhookEvent.State.IGNORED, "no payment attempt for this intent"
    _attempt, moved = attempt_advance(attempt=attempt, to_status=to_status, **fields)
    return (WebhookEvent.State.PROCESSED, "" if moved else "already there or further")


def on_intent_capturable(obj):
    """Authorised (e.g. confirmed by Stripe.js in the browser): the booking becomes ready."""
    attempt = _attempt_for_intent(obj.get("id"))
    if attempt is None:
        return WebhookEvent.State.IGNORED, "no payment attempt for this intent"
    if attempt.status in (AttemptStatus.FAILED, AttemptStatus.CANCELLED):
        # Authorised after the attempt ended (a page still holding the declined intent's
        # client_secret): nobody tracks that hold, so it is released.
        release_stray_hold(attempt=attempt)
        return WebhookEvent.State.PROCESSED, "authorised after the attempt ended: released"
    before = attempt.status
    attempt = attempt_authorized(attempt=attempt, payment_method_id=obj.get("payment_method") or "")
    return WebhookEvent.State.PROCESSED, "" if attempt.status != before else "already there or further"


def on_intent_succeeded(obj):
    """Captured: status, ledger and earning, exactly once (keyed by the attempt)."""
    attempt = _attempt_for_intent(obj.get("id"))
    if attempt is None:
        return WebhookEvent.State.IGNORED, "no payment attempt for this intent"
    record_capture(attempt=attempt, amount=_amount(obj, "amount_received"))
    return WebhookEvent.State.PROCESSED, ""


def on_intent_failed(obj):
    """A declined confirmation: the attempt fails and, while the booking still waits for its
    card, a new attempt is opened so the customer can try another card."""
    attempt = _attempt_for_intent(obj.get("id"))
    if attempt is None:
        return WebhookEvent.State.IGNORED, "no payment attempt for this intent"
    error = obj.get("last_payment_error") or {}
    attempt_declined(
        attempt=attempt,
        code=str(error.get("decline_code") or error.get("code") or "declined"),
        message=str(error.get("message") or ""),
    )
    return WebhookEvent.State.PROCESSED, ""


def on_intent_canceled(obj):
    return _advance(obj.get("id"), AttemptStatus.CANCELLED)


def on_charge_refunded(obj):
    attempt = _attempt_for_intent(obj.get("payment_intent"))
    if attempt is None:
        return WebhookEvent.State.IGNORED, "no payment attempt for this charge"
    captured = _amount(obj, "amount_captured")
    if captured > attempt.amount_captured:
        # The refund is reported before the capture's own event: record the capture first, so
        # the ledger holds what was taken before what was given back.
        record_capture(attempt=attempt, amount=captured)
    attempt_record_refunded(
        attempt=attempt,
        amount_captured=_amount(obj, "amount_captured"),
        amount_refunded=_amount(obj, "amount_refunded"),
    )
    return WebhookEvent.State.PROCESSED, ""


def on_dispute_created(obj):
    """A chargeback: every ops manager is told, and a booking awaiting its signature or signed
    becomes disputed (its payout held) for ops to resolve."""
    from bookings.services.common import BookingConflict
    from signatures.services import booking_dispute_open

    attempt = _attempt_for_intent(obj.get("payment_intent"))
    booking = attempt.booking if attempt else None
    if booking is not None:
        with contextlib.suppress(BookingConflict):
            booking_dispute_open(booking=booking, actor=None, reason=f"Card chargeback {obj.get('id')}")
    notify_ops(
        kind="payment.dispute",
        title=_("Card dispute opened"),
        body=_("A chargeback of %(amount)s %(currency)s was opened%(booking)s.")
        % {
            "amount": _amount(obj, "amount"),
            "currency": str(obj.get("currency") or "").upper(),
            "booking": f" on {booking.booking_number}" if booking else "",
        },
        data={"dispute_id": obj.get("id"), "booking_id": str(booking.pk) if booking else None},
    )
    return WebhookEvent.State.PROCESSED, ""


def _payout_transfer_reversed(obj, *, fully):
    from payments.payouts import payout_transfer_reversed

    payout, detail = payout_transfer_reversed(
        transfer_id=str(obj.get("id") or ""),
        metadata=obj.get("metadata") or {},
        amount_reversed=_amount(obj, "amount_reversed"),
        fully=fully,
    )
    if payout is None:
        return WebhookEvent.State.IGNORED, detail
    return WebhookEvent.State.PROCESSED, detail


def on_transfer_reversed(obj):
    """A payout's transfer was pulled back: fully → the payout fails and is reversed in the ledger
    (money owed to the vendor again, ops told); partly → flagged for ops (payments/payouts.py)."""
    return _payout_transfer_reversed(obj, fully=bool(obj.get("reversed")))


def on_transfer_failed(obj):
    """Sent by older Stripe API versions when a transfer could not be made: the payout failed."""
    return _payout_transfer_reversed(obj, fully=True)


HANDLERS = {
    "payment_intent.amount_capturable_updated": on_intent_capturable,
    "payment_intent.succeeded": on_intent_succeeded,
    "payment_intent.payment_failed": on_intent_failed,
    "payment_intent.canceled": on_intent_canceled,
    "charge.refunded": on_charge_refunded,
    "charge.dispute.created": on_dispute_created,
    # Payout transfers (payments/payouts.py): a reversed or failed transfer makes the money owed
    # to the vendor again and tells ops.
    "transfer.reversed": on_transfer_reversed,
    "transfer.failed": on_transfer_failed,
}
