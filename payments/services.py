"""Payment use cases. (Gateway calls, ledger, earnings and payouts arrive with the rest of the
payments issue; this module holds the attempt status machine they all go through.)"""

from django.db import transaction
from django.utils import timezone

from core.audit import audit_record
from core.realtime import booking_group, publish_on_commit
from payments.models import ATTEMPT_STATUS_RANK, ATTEMPT_TERMINAL, AttemptStatus, PaymentAttempt

ENDING_STATUSES = {AttemptStatus.CANCELLED, AttemptStatus.FAILED}


def attempt_can_move(current: str, target: str) -> bool:
    """Forward only (§6). Ranked statuses move to a higher rank; cancelled and failed end an
    attempt that has not been captured; nothing leaves refunded, cancelled or failed."""
    if current in ATTEMPT_TERMINAL or current == target:
        return False
    if target in ENDING_STATUSES:
        return ATTEMPT_STATUS_RANK[current] < ATTEMPT_STATUS_RANK[AttemptStatus.CAPTURED]
    return ATTEMPT_STATUS_RANK[target] > ATTEMPT_STATUS_RANK[current]


@transaction.atomic
def attempt_advance(*, attempt: PaymentAttempt, to_status: str, actor=None, now=None, **fields):
    """Move an attempt to ``to_status`` with ``fields`` (amounts, gateway ids, failure details) if
    the status machine allows; a late or repeated signal is ignored. Returns (attempt, moved).

    Locks the attempt row; called for whatever reported the change (our own call's result, a
    webhook, a re-read of the intent) — the status only ever comes from the gateway."""
    now = now or timezone.now()
    attempt = PaymentAttempt.objects.select_for_update().get(pk=attempt.pk)
    if not attempt_can_move(attempt.status, to_status):
        return attempt, False
    changes = {"status": to_status, **fields}
    if to_status == AttemptStatus.AUTHORIZED:
        changes.setdefault("authorized_at", now)
    if to_status == AttemptStatus.CAPTURED:
        changes.setdefault("captured_at", now)
    if to_status in ENDING_STATUSES:
        # An ended attempt frees the booking for a new one (a declined card may be retried).
        changes.update(is_active=False, ended_at=now)
    old = {name: getattr(attempt, name) for name in changes}
    for name, value in changes.items():
        setattr(attempt, name, value)
    attempt.save(update_fields=[*changes.keys(), "updated_at"])
    audit_record(actor=actor, action=f"payment.{to_status}", obj=attempt, old=old, new=changes)
    publish_on_commit(
        booking_group(attempt.booking_id),
        {
            "type": "booking.update",
            "booking_id": str(attempt.booking_id),
            "status": attempt.booking.status,
            "event": f"payment.{to_status}",
            "at": now.isoformat(),
            "data": {"payment_id": str(attempt.pk), "payment_status": to_status, "amount": str(attempt.amount)},
        },
    )
    return attempt, True


@transaction.atomic
def attempt_record_refunded(*, attempt: PaymentAttempt, amount_captured, amount_refunded, actor=None, now=None):
    """The gateway reports the totals captured and refunded for an attempt (a charge.refunded
    event, or a re-read). Amounts only grow, and the status follows: partially refunded, or
    refunded once everything captured went back. Order-safe: a refund reported before the
    capture event still records the capture amount it implies."""
    locked = PaymentAttempt.objects.select_for_update().get(pk=attempt.pk)
    captured = max(locked.amount_captured, amount_captured)
    if amount_refunded <= locked.amount_refunded and captured == locked.amount_captured:
        return locked, False
    refunded = max(locked.amount_refunded, amount_refunded)
    status = AttemptStatus.REFUNDED if refunded >= captured else AttemptStatus.PARTIALLY_REFUNDED
    fields = {"amount_captured": captured, "amount_refunded": refunded}
    if attempt_can_move(locked.status, status):
        return attempt_advance(attempt=locked, to_status=status, actor=actor, now=now, **fields)
    old = {name: getattr(locked, name) for name in fields}
    for name, value in fields.items():
        setattr(locked, name, value)
    locked.save(update_fields=[*fields.keys(), "updated_at"])
    audit_record(actor=actor, action="payment.refund_recorded", obj=locked, old=old, new=fields)
    return locked, True
