"""Manual payments: money a customer paid outside the gateway (ARCHITECTURE §3 "ops_manager …
manual payments", §6).

Ops record it with ``manual_payment_record`` — cash handed to ops, a bank transfer, UPI or a
cheque — for a booking that still owes money: a cancellation fee of a cash booking (cash fees are
not collected at cancellation), a booking whose card could not be charged (a lapsed hold and a
declined off-session charge), the rest of a partly captured booking. In one transaction it posts
``ledger.post_manual_payment`` (debit ``cash_on_hand`` for cash, ``bank`` for the others; the
amount's §4 shares credited to the vendor, revenue and tax), records the vendor's earning (it
waits out the usual hold before it is paid out) and writes the audit entry. Any refusal leaves
nothing written.

**No PaymentAttempt.** A manual payment is recorded only as its ledger transaction: kind
``manual_payment``, ``reference`` (the receipt number or the bank's reference), ``memo`` (the
method) and ``created_by`` (who recorded it), plus the audit entry. An attempt would not fit:
an attempt is a try at paying *through the gateway or the vendor's cash* (its ``method`` is card
or cash, the database lets a booking have one active attempt — the card attempt may still be
there — and ``ledger_check`` and the reconciliation compare attempts with gateway_clearing and the
gateway's intents, which a bank transfer has neither of). What the customer has paid for a
booking is ``ledger.booking_kept``, which counts manual payments like captures.

What may be recorded:

- the amount is a Decimal > 0 with at most 2 places, and at most what the booking still owes:
  its ``total`` minus ``booking_kept`` — for a cancelled booking its ``cancellation_fee`` minus
  ``booking_kept`` (the rest of the total is not owed), for an expired one nothing;
- not while a payment attempt of the booking can still take money (a card authorised or saved,
  a card or cash payment still waiting): the capture or the cancellation settlement would take the
  same money a second time. Ops wait until it has run (or failed) — it ends the attempt;
- the reference is required (at most 100 characters) and the method is one of
  ``ledger.MANUAL_PAYMENT_ACCOUNTS`` (cash, bank_transfer, upi, cheque).

Recording the same method and reference for the booking again (a double click, a retried form)
returns the payment already recorded; the same reference with another amount is a Conflict.
"""

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from bookings.models import Booking, BookingStatus
from core.audit import audit_record
from core.errors import Conflict, Forbidden, InvalidInput
from core.models import Role
from core.money import CENT, ZERO
from payments.ledger import (
    CAPTURED_STATUSES,
    MANUAL_PAYMENT_ACCOUNTS,
    MAX_AMOUNT,
    LedgerError,
    booking_kept,
    post_manual_payment,
)
from payments.models import Earning, LedgerKind, LedgerTransaction, PaymentAttempt
from payments.payouts import earning_record

MANUAL_PAYMENT_METHODS = tuple(MANUAL_PAYMENT_ACCOUNTS)
REFERENCE_MAX_LENGTH = 100


@dataclass(frozen=True)
class ManualPayment:
    """What ``manual_payment_record`` recorded (or found recorded before: ``created`` False)."""

    ledger_transaction: LedgerTransaction
    earning: Earning | None
    created: bool


def _require_ops(actor):
    if not (getattr(actor, "is_authenticated", False) and actor.role in (Role.OPS_MANAGER, Role.SUPER_ADMIN)):
        raise Forbidden(_("Only operations staff can record a manual payment."))


def _clean_amount(amount) -> Decimal:
    if isinstance(amount, float | bool):
        raise InvalidInput(fields={"amount": [_("Give the amount as a decimal number, e.g. 590.00.")]})
    try:
        amount = Decimal(str(amount).strip()) if not isinstance(amount, Decimal) else amount
    except (InvalidOperation, ValueError):
        raise InvalidInput(fields={"amount": [_("Give the amount as a decimal number, e.g. 590.00.")]}) from None
    if not amount.is_finite() or amount <= 0:
        raise InvalidInput(fields={"amount": [_("The amount must be more than 0.")]})
    if amount != amount.quantize(CENT):
        raise InvalidInput(fields={"amount": [_("The amount has at most 2 decimal places.")]})
    if amount >= MAX_AMOUNT:
        raise InvalidInput(fields={"amount": [_("The amount is too large.")]})
    return amount.quantize(CENT)


def booking_amount_owed(booking) -> Decimal:
    """What the customer still owes for the booking, by every route: the total (a cancelled
    booking: its cancellation fee; an expired one: nothing) minus what the ledger says was kept."""
    if booking.status == BookingStatus.EXPIRED:
        due = ZERO
    elif booking.status == BookingStatus.CANCELLED:
        due = booking.cancellation_fee or ZERO
    else:
        due = booking.total
    return max(due - booking_kept(booking), ZERO)


def _attempt_still_taking_money(booking) -> PaymentAttempt | None:
    """The booking's active attempt if it can still take money (not yet captured): its capture or
    the cancellation settlement would collect what a manual payment now would collect again."""
    return PaymentAttempt.objects.filter(booking=booking, is_active=True).exclude(status__in=CAPTURED_STATUSES).first()


def _already_recorded(booking, method, reference, amount) -> ManualPayment | None:
    # The key post_manual_payment posts under (payments/ledger.py): one payment per booking,
    # method and reference.
    posted = LedgerTransaction.objects.filter(
        idempotency_key=f"manual_payment:{booking.pk}:{method}:{reference}"
    ).first()
    if posted is None:
        return None
    if posted.kind != LedgerKind.MANUAL_PAYMENT or posted.booking_id != booking.pk:
        raise Conflict(_("This reference is already used by another ledger entry."))
    if not posted.lines.filter(account=MANUAL_PAYMENT_ACCOUNTS[method], amount=amount).exists():
        raise Conflict(
            _(
                "A %(method)s payment with reference %(reference)s was already recorded for this booking, "
                "for another amount."
            )
            % {"method": method, "reference": reference}
        )
    return ManualPayment(
        ledger_transaction=posted, earning=Earning.objects.filter(ledger_transaction=posted).first(), created=False
    )


def manual_payment_record(*, booking, amount, method: str, reference: str, actor, now=None) -> ManualPayment:
    """Record a payment the customer made outside the gateway for ``booking`` (ops only; see the
    module docstring for what is accepted). Posts the ledger transaction, records the vendor's
    earning when the booking has a vendor, audits ``payment.manual_recorded`` — all in one
    transaction, with the booking row locked. Raises Forbidden (not ops), InvalidInput (amount,
    method, reference; an amount above what is owed), Conflict (nothing owed, an attempt that can
    still take the money, the reference recorded before with another amount)."""
    _require_ops(actor)
    now = now or timezone.now()
    amount = _clean_amount(amount)
    if method not in MANUAL_PAYMENT_ACCOUNTS:
        raise InvalidInput(
            fields={"method": [_("Choose one of: %(methods)s.") % {"methods": ", ".join(MANUAL_PAYMENT_METHODS)}]}
        )
    reference = (reference or "").strip()
    if not reference:
        raise InvalidInput(fields={"reference": [_("Give the receipt number or the bank's reference.")]})
    if len(reference) > REFERENCE_MAX_LENGTH:
        raise InvalidInput(fields={"reference": [_("At most %(n)s characters.") % {"n": REFERENCE_MAX_LENGTH}]})

    with transaction.atomic():
        # The booking row first (bookings/locks.py order): serialises this with the booking's
        # transitions and with another manual payment for it.
        booking = Booking.objects.select_for_update().get(pk=booking.pk)
        replay = _already_recorded(booking, method, reference, amount)
        if replay is not None:
            return replay
        attempt = _attempt_still_taking_money(booking)
        if attempt is not None:
            raise Conflict(
                _(
                    "This booking's %(method)s payment (%(status)s) can still take the money; a manual payment "
                    "now would collect it twice. Wait until it has been captured, cancelled or has failed."
                )
                % {"method": attempt.method, "status": attempt.status}
            )
        owed = booking_amount_owed(booking)
        if owed <= 0:
            raise Conflict(_("Booking %(number)s owes nothing.") % {"number": booking.booking_number})
        if amount > owed:
            raise InvalidInput(
                fields={
                    "amount": [
                        _("Booking %(number)s owes %(owed)s %(currency)s; record at most that.")
                        % {"number": booking.booking_number, "owed": owed, "currency": booking.currency}
                    ]
                }
            )
        try:
            posted = post_manual_payment(booking, amount, method, reference, actor=actor)
        except LedgerError as error:
            # e.g. a fee that credits a vendor on a booking that never had one
            raise Conflict(_("The ledger refused this payment: %(error)s") % {"error": error}) from error
        earning = earning_record(booking=booking, ledger_transaction=posted, now=now) if booking.vendor_id else None
        audit_record(
            actor=actor,
            action="payment.manual_recorded",
            obj=booking,
            new={
                "amount": amount,
                "currency": booking.currency,
                "method": method,
                "reference": reference,
                "ledger_transaction": posted.pk,
                "owed_before": owed,
                "earning": earning.pk if earning is not None else None,
            },
        )
    return ManualPayment(ledger_transaction=posted, earning=earning, created=True)
