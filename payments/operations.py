"""Money that moves after a committed state change (ARCHITECTURE §5 "No lock is held across a call
to a gateway", §6).

A booking's transition decides what happens to the money and, in its own transaction, writes a
``PaymentOperation`` (an outbox row) named by its key — ``capture:<booking>``,
``settle:<attempt>``, ``refund:<uuid>``, ``authorize:<attempt>``. After commit a task runs it;
``operations_run_due`` (every minute) retries what is due, with backoff, until the operation
succeeds or, after ``MAX_TRIES`` or a refusal that retrying cannot fix, is flagged ``failed`` for
ops (who are notified). Asking for the same movement twice finds the same row, so two
simultaneous captures make one gateway call and one set of ledger lines.

Running an operation: claim it (row lock, ``skip_locked``, a lease), commit, call the gateway with
our own idempotency key (``capture-<attempt id>``...: a retried call returns the first answer),
then record the result — attempt status, ledger, earning — in one transaction. Where the gateway
answers "already done" (an intent captured before), the intent is re-read and the result taken
from it.

The executors:

- **capture** (``booking_capture_payment``): capture the authorisation; a saved card (far-out
  booking whose authorisation failed) or a lapsed hold is charged off-session instead; a cash
  booking records the cash the vendor collected; a zero total posts its allocation.
- **settle_cancellation** (``settle_booking_money``): keep exactly ``booking.cancellation_fee``
  (0 for an expired booking): void the hold, capture the fee partially, charge a saved card for
  the fee, or refund what was captured beyond it.
- **refund** (``payment_refund``, ops): refund part or all of what was captured.
- **authorize** (``authorize_due_bookings``): authorise a saved card 24 h before the start.
"""

import logging
import uuid
from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from bookings.models import Booking, BookingStatus, PaymentMethod
from core.audit import audit_record
from core.errors import Conflict, InvalidInput
from core.money import ZERO, money
from core.notifications import notify, notify_ops
from payments.gateways import get_gateway
from payments.gateways.base import IntentStatus
from payments.gateways.errors import GatewayError, InvalidPaymentRequest, PaymentDeclined
from payments.ledger import (
    CAPTURED_STATUSES,
    post_capture,
    post_cash_collected,
    post_refund,
    source_refunded,
)
from payments.models import (
    AttemptStatus,
    LedgerKind,
    OperationKind,
    OperationState,
    PaymentAttempt,
    PaymentOperation,
)
from payments.services import attempt_advance, attempt_record_refunded

logger = logging.getLogger(__name__)

MAX_TRIES = 8
LEASE = timedelta(minutes=5)
FIRST_BACKOFF = timedelta(minutes=1)
MAX_BACKOFF = timedelta(hours=2)


class OperationRetry(Exception):
    """Not done yet, for a reason that may pass (the gateway is down, the intent is processing)."""


class OperationRefused(Exception):
    """Cannot be done by retrying (a declined card, a refused request): ops must look."""


def backoff(tries: int) -> timedelta:
    return min(FIRST_BACKOFF * (2 ** max(tries - 1, 0)), MAX_BACKOFF)


# --- asking for a movement (inside the caller's transaction) ---------------------------------------


def operation_enqueue(
    *, booking, kind: str, key: str, attempt=None, amount=None, reason: str = "", actor=None, now=None
) -> PaymentOperation:
    """The operation named ``key``, created if new and run after the caller's transaction
    commits. Joins the caller's transaction."""
    now = now or timezone.now()
    with transaction.atomic():
        op, created = PaymentOperation.objects.get_or_create(
            key=key,
            defaults={
                "booking": booking,
                "attempt": attempt,
                "kind": kind,
                "amount": amount,
                "reason": (reason or "")[:500],
                "created_by": actor if getattr(actor, "pk", None) else None,
                "created_at": now,
                "next_try_at": now,
            },
        )
        if created:
            audit_record(
                actor=actor,
                action=f"payment_operation.{kind}",
                obj=op,
                new={"key": key, "amount": amount, "reason": reason, "booking": str(booking.pk)},
            )
            transaction.on_commit(lambda: _dispatch(op.pk))
    return op


def _dispatch(op_id):
    from payments.tasks import run_payment_operation

    try:
        run_payment_operation.delay(str(op_id))
    except Exception:  # the broker is down: the periodic sweep runs it
        logger.exception("Could not queue payment operation %s; the sweep will run it", op_id)


def active_attempt(booking) -> PaymentAttempt | None:
    return PaymentAttempt.objects.filter(booking=booking, is_active=True).first()


def booking_capture_payment(*, booking: Booking, actor=None, amount: Decimal | None = None, reason: str = ""):
    """Take the booking's money: called when the customer signs satisfied (signatures) or ops
    capture manually. ``amount`` below the total captures part (a settled dispute); the rest of
    the hold is released by the gateway. Exactly once per booking, however often it is asked."""
    if amount is not None:
        amount = money(amount)
        if not ZERO < amount <= booking.total:
            raise InvalidInput(fields={"amount": [_("The amount must be more than 0 and at most the total.")]})
        if booking.payment_method == PaymentMethod.CASH and amount != booking.total:
            # The vendor collected the whole total in cash (the ledger records exactly that).
            raise InvalidInput(
                fields={"amount": [_("A cash booking's whole total was collected; give part back as an adjustment.")]}
            )
    return operation_enqueue(
        booking=booking,
        kind=OperationKind.CAPTURE,
        key=f"capture:{booking.pk}",
        attempt=active_attempt(booking),
        amount=amount,
        reason=reason,
        actor=actor,
    )


def settle_booking_money(*, booking: Booking, actor=None, reason: str = "", now=None):
    """Make the money match a cancelled or expired booking: keep ``cancellation_fee`` (nothing for
    an expired booking), release or give back the rest. Called in the transition's transaction."""
    attempt = active_attempt(booking)
    if attempt is None:
        return None
    return operation_enqueue(
        booking=booking,
        kind=OperationKind.SETTLE_CANCELLATION,
        key=f"settle:{attempt.pk}",
        attempt=attempt,
        reason=reason,
        actor=actor,
        now=now,
    )


def _pending_refunds(attempt) -> Decimal:
    pending = PaymentOperation.objects.filter(
        attempt=attempt, kind=OperationKind.REFUND, state__in=[OperationState.PENDING, OperationState.RUNNING]
    ).aggregate(total=Sum("amount", default=ZERO))["total"]
    return money(pending)


def refundable_amount(attempt) -> Decimal:
    return money(attempt.amount_captured - attempt.amount_refunded - _pending_refunds(attempt))


@transaction.atomic
def payment_refund(*, attempt: PaymentAttempt, actor, reason: str, amount=None, now=None) -> PaymentOperation:
    """Ops refund ``amount`` (default: all that is refundable) of a captured payment, with a
    reason. The refund itself runs after commit; it is audited and posted to the ledger."""
    attempt = PaymentAttempt.objects.select_for_update().get(pk=attempt.pk)
    if not (reason or "").strip():
        raise InvalidInput(fields={"reason": [_("Give the reason for the refund.")]})
    if attempt.method != PaymentMethod.CARD:
        raise Conflict(_("Cash payments are refunded outside the gateway; record it as an adjustment."))
    if attempt.status not in (AttemptStatus.CAPTURED, AttemptStatus.PARTIALLY_REFUNDED):
        raise Conflict(_("Only a captured payment can be refunded (this one is %(s)s).") % {"s": attempt.status})
    refundable = refundable_amount(attempt)
    amount = refundable if amount is None else money(amount)
    if amount <= 0 or amount > refundable:
        raise InvalidInput(
            fields={"amount": [_("The refund must be more than 0 and at most %(r)s.") % {"r": refundable}]}
        )
    return operation_enqueue(
        booking=attempt.booking,
        kind=OperationKind.REFUND,
        key=f"refund:{uuid.uuid4()}",
        attempt=attempt,
        amount=amount,
        reason=reason.strip(),
        actor=actor,
        now=now,
    )


def authorize_due_bookings(*, now=None, limit=500) -> int:
    """Queue the authorisation of saved cards for bookings starting within 24 h (§6)."""
    from payments.checkout import AUTHORIZE_BEFORE_START

    now = now or timezone.now()
    due = (
        PaymentAttempt.objects.filter(
            is_active=True,
            status=AttemptStatus.CARD_SAVED,
            booking__status__in=[BookingStatus.PENDING, BookingStatus.CONFIRMED],
            booking__scheduled_at__lte=now + AUTHORIZE_BEFORE_START,
        )
        .exclude(operations__kind=OperationKind.AUTHORIZE)
        .select_related("booking")[:limit]
    )
    count = 0
    for attempt in due:
        with transaction.atomic():
            operation_enqueue(
                booking=attempt.booking,
                kind=OperationKind.AUTHORIZE,
                key=f"authorize:{attempt.pk}",
                attempt=attempt,
                now=now,
            )
        count += 1
    return count


# --- running -----------------------------------------------------------------------------------------


def operation_run(op_id, *, now=None) -> str | None:
    """Run one operation if it is due and nobody else is running it. Returns its state after."""
    now = now or timezone.now()
    with transaction.atomic():
        op = PaymentOperation.objects.select_for_update(skip_locked=True).filter(pk=op_id).first()
        if op is None or op.state in (OperationState.SUCCEEDED, OperationState.FAILED):
            return getattr(op, "state", None)
        if op.state == OperationState.RUNNING and op.lease_until and op.lease_until > now:
            return op.state
        if op.state == OperationState.PENDING and op.next_try_at > now:
            return op.state
        op.state = OperationState.RUNNING
        op.lease_until = now + LEASE
        op.tries += 1
        op.save(update_fields=["state", "lease_until", "tries"])
    try:
        reference = EXECUTORS[op.kind](op, now)
    except (OperationRetry, GatewayError) as error:
        retryable = isinstance(error, OperationRetry) or error.retryable
        if retryable and op.tries < MAX_TRIES:
            return _finish(op, OperationState.PENDING, error=repr(error), next_try_at=now + backoff(op.tries))
        return _fail(op, error, now)
    except OperationRefused as error:
        return _fail(op, error, now)
    except Exception as error:  # a fault of ours: retried like an outage, then flagged
        logger.exception("Payment operation %s raised", op.pk)
        if op.tries < MAX_TRIES:
            return _finish(op, OperationState.PENDING, error=repr(error), next_try_at=now + backoff(op.tries))
        return _fail(op, error, now)
    return _finish(op, OperationState.SUCCEEDED, reference=reference or "", finished_at=now)


def _finish(op, state, *, error="", reference="", next_try_at=None, finished_at=None):
    fields = {"state": state, "lease_until": None, "last_error": error[:2000]}
    if reference:
        fields["reference"] = reference[:100]
    if next_try_at is not None:
        fields["next_try_at"] = next_try_at
    if finished_at is not None:
        fields["finished_at"] = finished_at
    with transaction.atomic():
        PaymentOperation.objects.filter(pk=op.pk).update(**fields)
        if state in (OperationState.SUCCEEDED, OperationState.FAILED):
            audit_record(actor=None, action=f"payment_operation.{state}", obj=op, new=fields)
    return state


def _fail(op, error, now):
    state = _finish(op, OperationState.FAILED, error=repr(error), finished_at=now)
    with transaction.atomic():
        booking = op.booking
        notify_ops(
            kind="payment.operation_failed",
            title=_("A payment needs attention"),
            body=_("The %(kind)s for booking %(number)s failed: %(error)s")
            % {"kind": op.get_kind_display().lower(), "number": booking.booking_number, "error": str(error)[:300]},
            data={"booking_id": str(booking.pk), "operation_id": str(op.pk)},
        )
    return state


def operations_run_due(*, now=None, limit=200) -> int:
    """The sweep: run every operation that is due (a failed dispatch, a backoff that passed, a
    lease that ran out because its worker died)."""
    now = now or timezone.now()
    due = list(
        PaymentOperation.objects.filter(
            Q(state=OperationState.PENDING, next_try_at__lte=now) | Q(state=OperationState.RUNNING, lease_until__lt=now)
        )
        .order_by("next_try_at")
        .values_list("pk", flat=True)[:limit]
    )
    for op_id in due:
        operation_run(op_id, now=now)
    return len(due)


def operation_retry(*, op: PaymentOperation, actor, now=None) -> PaymentOperation:
    """Ops send a failed operation round again (after fixing what made it fail)."""
    now = now or timezone.now()
    with transaction.atomic():
        op = PaymentOperation.objects.select_for_update().get(pk=op.pk)
        if op.state != OperationState.FAILED:
            raise Conflict(_("Only a failed operation can be retried."))
        PaymentOperation.objects.filter(pk=op.pk).update(
            state=OperationState.PENDING, tries=0, next_try_at=now, finished_at=None
        )
        audit_record(
            actor=actor, action="payment_operation.retry", obj=op, old={"state": op.state}, new={"state": "pending"}
        )
        transaction.on_commit(lambda: _dispatch(op.pk))
    op.refresh_from_db()
    return op


# --- recording results (one transaction each) --------------------------------------------------------


def record_capture(*, attempt: PaymentAttempt, amount: Decimal, now=None, actor=None) -> PaymentAttempt:
    """The gateway captured ``amount`` on a card attempt: status, ledger (a cancellation fee when
    the booking is cancelled, else a capture) and the vendor's earning. Idempotent: the ledger
    entry is keyed by the attempt."""
    from payments.payouts import earning_record

    now = now or timezone.now()
    with transaction.atomic():
        attempt, _moved = attempt_advance(
            attempt=attempt, to_status=AttemptStatus.CAPTURED, now=now, actor=actor, amount_captured=amount
        )
        if attempt.amount_captured < amount:
            PaymentAttempt.objects.filter(pk=attempt.pk).update(amount_captured=amount)
            attempt.amount_captured = amount
        booking = Booking.objects.get(pk=attempt.booking_id)
        kind = LedgerKind.CANCELLATION_FEE if booking.status == BookingStatus.CANCELLED else LedgerKind.CAPTURE
        entry = post_capture(booking, attempt, amount, kind=kind, actor=actor)
        if entry is not None and booking.vendor_id:
            earning_record(booking=booking, ledger_transaction=entry, now=now)
    return attempt


def _record_refund(*, attempt, amount, reference, now, actor=None):
    with transaction.atomic():
        booking = Booking.objects.get(pk=attempt.booking_id)
        post_refund(booking, attempt, amount, reference=reference, actor=actor)
        attempt = PaymentAttempt.objects.get(pk=attempt.pk)
        attempt_record_refunded(
            attempt=attempt,
            amount_captured=attempt.amount_captured,
            amount_refunded=source_refunded(booking, attempt),
            actor=actor,
            now=now,
        )


# --- executors ---------------------------------------------------------------------------------------


def _current_attempt(op) -> PaymentAttempt | None:
    attempt = active_attempt(op.booking)
    if attempt is None and op.attempt_id:
        attempt = PaymentAttempt.objects.get(pk=op.attempt_id)
    return attempt


def _capture_intent(attempt, amount, gateway):
    """Capture ``amount`` of an authorised intent; returns the intent as the gateway has it after
    (re-read when the gateway says it was already captured or is gone)."""
    try:
        return gateway.capture_payment_intent(
            attempt.gateway_intent_id,
            amount=None if amount == attempt.amount else amount,
            idempotency_key=f"capture-{attempt.pk}",
        )
    except InvalidPaymentRequest:
        return gateway.retrieve_payment_intent(attempt.gateway_intent_id)


def _charge_saved_card(*, op, attempt, amount, gateway, now):
    """Charge the saved card off-session and capture at once: for a card that was only saved, or
    a hold that lapsed (then a new attempt takes over, §6). Returns the reference."""
    if not (attempt.gateway_customer_id and attempt.gateway_payment_method_id):
        raise OperationRefused("No saved card to charge off-session.")
    if attempt.status not in (AttemptStatus.CARD_SAVED, AttemptStatus.REQUIRES_PAYMENT_METHOD) or not attempt.is_active:
        with transaction.atomic():
            attempt_advance(attempt=attempt, to_status=AttemptStatus.CANCELLED, now=now)
            attempt = PaymentAttempt.objects.create(
                booking_id=attempt.booking_id,
                method=PaymentMethod.CARD,
                amount=attempt.amount,
                currency=attempt.currency,
                gateway=attempt.gateway,
                gateway_customer_id=attempt.gateway_customer_id,
                gateway_payment_method_id=attempt.gateway_payment_method_id,
                created_at=now,
            )
            audit_record(actor=None, action="payment.off_session_attempt", obj=attempt, new={"amount": amount})
    try:
        intent = gateway.charge_off_session(
            customer_id=attempt.gateway_customer_id,
            payment_method_id=attempt.gateway_payment_method_id,
            amount=amount,
            currency=attempt.currency,
            capture=True,
            idempotency_key=f"offsession-{attempt.pk}",
            metadata={"booking_id": str(attempt.booking_id), "attempt_id": str(attempt.pk)},
        )
    except PaymentDeclined as error:
        with transaction.atomic():
            attempt_advance(
                attempt=attempt,
                to_status=AttemptStatus.FAILED,
                now=now,
                failure_code=str(error.decline_code or error.code or "declined")[:60],
                failure_message=str(error.user_message)[:300],
            )
            booking = attempt.booking
            notify(
                user=booking.customer,
                kind="payment.failed",
                title=_("Your card was declined"),
                body=_("We could not charge your saved card for booking %(n)s. Our team will contact you.")
                % {"n": booking.booking_number},
                data={"booking_id": str(booking.pk)},
            )
        raise OperationRefused(f"Off-session charge declined: {error.decline_code or error.code}") from error
    PaymentAttempt.objects.filter(pk=attempt.pk).update(gateway_intent_id=intent.id)
    attempt.refresh_from_db()
    if intent.status != IntentStatus.SUCCEEDED:
        raise OperationRetry(f"The off-session charge is {intent.status}")
    record_capture(attempt=attempt, amount=intent.amount_received, now=now, actor=op.created_by)
    return intent.id


def _take(op, attempt, amount, gateway, now) -> str:
    """Take ``amount`` from a card attempt that has not been captured yet."""
    if attempt.status == AttemptStatus.AUTHORIZED:
        intent = _capture_intent(attempt, amount, gateway)
        if intent.status == IntentStatus.SUCCEEDED:
            record_capture(attempt=attempt, amount=intent.amount_received, now=now, actor=op.created_by)
            return intent.id
        if intent.status != IntentStatus.CANCELED:
            raise OperationRetry(f"The payment intent is {intent.status}")
        # The hold lapsed (the gateway cancelled the authorisation): charge the saved card.
    return _charge_saved_card(op=op, attempt=attempt, amount=amount, gateway=gateway, now=now)


def _run_capture(op, now) -> str:
    booking = Booking.objects.get(pk=op.booking_id)
    if booking.total == 0:
        from payments.payouts import earning_record

        with transaction.atomic():
            entry = post_capture(booking, None, ZERO, actor=op.created_by)
            if entry is not None and booking.vendor_id:
                earning_record(booking=booking, ledger_transaction=entry, now=now)
        return "zero total"
    attempt = _current_attempt(op)
    if attempt is None:
        raise OperationRefused("The booking has no payment to capture.")
    if attempt.method == PaymentMethod.CASH:
        with transaction.atomic():
            attempt_advance(attempt=attempt, to_status=AttemptStatus.CAPTURED, now=now, amount_captured=booking.total)
            post_cash_collected(booking, attempt, actor=op.created_by)
        return "cash collected"
    if attempt.status in CAPTURED_STATUSES:
        return attempt.gateway_intent_id
    amount = op.amount or attempt.amount
    saved_card_retry = attempt.status == AttemptStatus.REQUIRES_PAYMENT_METHOD and attempt.gateway_payment_method_id
    if not saved_card_retry and attempt.status not in (
        AttemptStatus.AUTHORIZED,
        AttemptStatus.CARD_SAVED,
        AttemptStatus.CANCELLED,
    ):
        raise OperationRefused(f"The payment is {attempt.status}; nothing can be captured.")
    return _take(op, attempt, amount, get_gateway(), now)


def _run_settle(op, now) -> str:
    """Keep exactly the cancellation fee; release or refund the rest."""
    booking = Booking.objects.get(pk=op.booking_id)
    attempt = PaymentAttempt.objects.get(pk=op.attempt_id)
    fee = (booking.cancellation_fee or ZERO) if booking.status == BookingStatus.CANCELLED else ZERO
    if booking.status not in (BookingStatus.CANCELLED, BookingStatus.EXPIRED):
        raise OperationRefused(f"The booking is {booking.status}, not cancelled or expired.")
    gateway = get_gateway()
    if attempt.method == PaymentMethod.CASH:
        if attempt.status not in CAPTURED_STATUSES:
            with transaction.atomic():
                attempt_advance(attempt=attempt, to_status=AttemptStatus.CANCELLED, now=now)
        return "cash: nothing was paid"  # a cash fee is not collected (README, "Cancellations")
    if attempt.status in CAPTURED_STATUSES:
        kept = attempt.amount_captured - attempt.amount_refunded
        over = money(kept - fee)
        if over <= 0:
            return "nothing to refund"
        refund = gateway.refund(
            attempt.gateway_intent_id,
            amount=over,
            idempotency_key=f"refund-{op.pk}",
            metadata={"booking_id": str(booking.pk), "reason": "cancellation"},
        )
        _record_refund(attempt=attempt, amount=over, reference=refund.id, now=now, actor=op.created_by)
        return refund.id
    if fee > 0 and attempt.status in (AttemptStatus.AUTHORIZED, AttemptStatus.CARD_SAVED):
        return _take(op, attempt, fee, gateway, now)
    # Nothing to keep: release whatever is held.
    if attempt.gateway_intent_id and attempt.status not in (AttemptStatus.CANCELLED, AttemptStatus.FAILED):
        intent = gateway.cancel_payment_intent(
            attempt.gateway_intent_id, idempotency_key=f"void-{attempt.pk}", reason="requested_by_customer"
        )
        if intent.status == IntentStatus.SUCCEEDED:  # captured meanwhile (should not happen): refund it all
            record_capture(attempt=attempt, amount=intent.amount_received, now=now)
            raise OperationRetry("captured before it could be voided; refunding next")
    with transaction.atomic():
        attempt_advance(attempt=attempt, to_status=AttemptStatus.CANCELLED, now=now)
    return attempt.gateway_intent_id or "nothing held"


def _run_refund(op, now) -> str:
    attempt = PaymentAttempt.objects.get(pk=op.attempt_id)
    refund = get_gateway().refund(
        attempt.gateway_intent_id,
        amount=op.amount,
        idempotency_key=f"refund-{op.pk}",
        metadata={"booking_id": str(op.booking_id), "reason": op.reason[:400]},
    )
    _record_refund(attempt=attempt, amount=op.amount, reference=refund.id, now=now, actor=op.created_by)
    return refund.id


def release_stray_hold(*, attempt: PaymentAttempt, now=None) -> PaymentOperation:
    """An intent whose attempt has already ended (declined, cancelled) was authorised anyway —
    e.g. Stripe.js confirmed it with a client_secret the page still held. Nothing tracks that
    hold, so it is voided after commit."""
    return operation_enqueue(
        booking=attempt.booking,
        kind=OperationKind.RELEASE,
        key=f"release:{attempt.pk}",
        attempt=attempt,
        reason="authorised after the attempt ended",
        now=now,
    )


def _run_release(op, now) -> str:
    attempt = PaymentAttempt.objects.get(pk=op.attempt_id)
    intent = get_gateway().cancel_payment_intent(
        attempt.gateway_intent_id, idempotency_key=f"release-{attempt.pk}", reason="abandoned"
    )
    if intent.status != IntentStatus.CANCELED:
        raise OperationRefused(f"The stray intent is {intent.status}; ops must refund it by hand.")
    return intent.id


def _run_authorize(op, now) -> str:
    attempt = PaymentAttempt.objects.get(pk=op.attempt_id)
    if attempt.status != AttemptStatus.CARD_SAVED or not attempt.is_active:
        return f"nothing to do: {attempt.status}"
    booking = attempt.booking
    if booking.status not in (BookingStatus.PENDING, BookingStatus.CONFIRMED):
        return f"nothing to do: booking {booking.status}"
    try:
        intent = get_gateway().charge_off_session(
            customer_id=attempt.gateway_customer_id,
            payment_method_id=attempt.gateway_payment_method_id,
            amount=attempt.amount,
            currency=attempt.currency,
            capture=False,
            idempotency_key=f"authorize-{attempt.pk}",
            metadata={"booking_id": str(booking.pk), "attempt_id": str(attempt.pk)},
        )
    except PaymentDeclined as error:
        # The card stays saved: the capture will try it again off-session. The customer is told.
        with transaction.atomic():
            notify(
                user=booking.customer,
                kind="payment.authorization_failed",
                title=_("We could not authorise your card"),
                body=_("Your bank refused the authorisation for booking %(n)s. Our team will contact you.")
                % {"n": booking.booking_number},
                data={"booking_id": str(booking.pk)},
            )
        raise OperationRefused(f"Authorisation declined: {error.decline_code or error.code}") from error
    if intent.status != IntentStatus.REQUIRES_CAPTURE:
        raise OperationRetry(f"The authorisation is {intent.status}")
    with transaction.atomic():
        attempt_advance(attempt=attempt, to_status=AttemptStatus.AUTHORIZED, now=now, gateway_intent_id=intent.id)
    return intent.id


EXECUTORS = {
    OperationKind.CAPTURE: _run_capture,
    OperationKind.SETTLE_CANCELLATION: _run_settle,
    OperationKind.REFUND: _run_refund,
    OperationKind.AUTHORIZE: _run_authorize,
    OperationKind.RELEASE: _run_release,
}
