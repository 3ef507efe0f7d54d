"""One service function per booking transition (ARCHITECTURE §5).

Each checks the actor and the current status, runs in a transaction with the booking row locked,
writes the timeline event and the audit entry. Repeating the transition the booking is already in,
by the same actor, returns the booking unchanged (a retry is not an error); any other illegal
transition raises ``BookingConflict`` (409) and changes nothing.
"""

from dataclasses import dataclass
from datetime import UTC, timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from bookings.availability import vendor_can_take
from bookings.locks import lock_booking, lock_vendors
from bookings.models import (
    Booking,
    BookingOffer,
    BookingStatus,
    CancelledBy,
    OfferOutcome,
    PaymentMethod,
    PhotoKind,
)
from bookings.services.common import (
    BookingConflict,
    SlotTaken,
    platform_settings,
    require_actor,
    transition,
    update_fields,
)
from bookings.services.creation import _is_overlap_violation, validate_start
from bookings.services.offers import ROUND_RESCHEDULED, ROUND_VENDOR_CANCELLED, booking_reoffer, offer_to_next_vendor
from bookings.services.promos import promo_release
from core.errors import InvalidInput
from core.money import ZERO, money
from payments.operations import settle_booking_money


def _vendor_of(user):
    return getattr(user, "vendor_profile", None)


def _open_offer(booking, vendor):
    return booking.offers.filter(vendor=vendor, outcome=OfferOutcome.PENDING).first()


@transaction.atomic
def booking_accept(*, booking: Booking, user, now=None) -> Booking:
    """The offered vendor takes the booking: pending → confirmed."""
    now = now or timezone.now()
    booking = lock_booking(booking.pk)
    require_actor(user, booking, "vendor")
    vendor = _vendor_of(user)
    if booking.status == BookingStatus.CONFIRMED and booking.vendor_id == vendor.pk:
        return booking
    offer = _open_offer(booking, vendor)
    if booking.status != BookingStatus.PENDING or offer is None:
        raise BookingConflict(_("This booking is not offered to you."), booking=booking)
    if offer.expires_at <= now:
        raise BookingConflict(_("This offer has expired."), booking=booking)
    offer.outcome = OfferOutcome.ACCEPTED
    offer.responded_at = now
    offer.save(update_fields=["outcome", "responded_at"])
    return transition(
        booking=booking,
        to_status=BookingStatus.CONFIRMED,
        actor=user,
        event="accepted",
        now=now,
        fields={"needs_manual_assignment": False},
    )


@transaction.atomic
def booking_reject(*, booking: Booking, user, reason: str = "", now=None) -> Booking:
    """The offered vendor declines; the booking passes to the next vendor (it stays pending)."""
    now = now or timezone.now()
    booking = lock_booking(booking.pk)
    require_actor(user, booking, "vendor")
    vendor = _vendor_of(user)
    offer = _open_offer(booking, vendor)
    if offer is None:
        if booking.offers.filter(vendor=vendor, outcome=OfferOutcome.REJECTED).exists():
            return booking  # a repeated rejection
        raise BookingConflict(_("This booking is not offered to you."), booking=booking)
    offer.outcome = OfferOutcome.REJECTED
    offer.responded_at = now
    offer.reason = (reason or "")[:500]
    offer.save(update_fields=["outcome", "responded_at", "reason"])
    update_fields(booking=booking, actor=user, event="rejected", note=offer.reason, fields={"vendor": None})
    offer_to_next_vendor(booking=booking, now=now, actor=user)
    return booking


@transaction.atomic
def booking_start(*, booking: Booking, user, now=None) -> Booking:
    """The holding vendor starts the job: confirmed → in_progress, at most
    ``start_early_minutes`` before the scheduled start."""
    now = now or timezone.now()
    booking = lock_booking(booking.pk)
    require_actor(user, booking, "vendor")
    _require_holder(booking, user)
    if booking.status == BookingStatus.IN_PROGRESS:
        return booking
    config = platform_settings()
    if booking.status == BookingStatus.CONFIRMED and now < booking.scheduled_at - timedelta(
        minutes=config.start_early_minutes
    ):
        raise BookingConflict(
            _("The job can be started at most %(m)d minutes before its time.") % {"m": config.start_early_minutes},
            booking=booking,
        )
    return transition(booking=booking, to_status=BookingStatus.IN_PROGRESS, actor=user, event="started", now=now)


@transaction.atomic
def booking_complete(*, booking: Booking, user, now=None) -> Booking:
    """The holding vendor finishes the job: in_progress → completed, once the job has at least one
    before and one after photo (409 naming what is missing otherwise: the photos are the evidence
    the signature and any dispute rest on)."""
    now = now or timezone.now()
    booking = lock_booking(booking.pk)
    require_actor(user, booking, "vendor")
    _require_holder(booking, user)
    if booking.status == BookingStatus.COMPLETED:
        return booking
    if booking.status == BookingStatus.IN_PROGRESS:
        _require_job_photos(booking)
    return transition(booking=booking, to_status=BookingStatus.COMPLETED, actor=user, event="completed", now=now)


@transaction.atomic
def booking_capture_by_ops(*, booking: Booking, user, reason: str, amount=None, now=None) -> Booking:
    """Ops capture the payment of a finished booking by hand, with a reason (§5: completed or
    awaiting_signature → signed; ``amount`` below the total captures part and releases the rest).
    The capture runs after commit (payments.operations.booking_capture_payment).

    A disputed booking is refused with 409: a dispute ends only through
    ``signatures.services.dispute_resolve``, which tells both parties, records the decision and
    refunds what a capture made before the complaint should give back."""
    from payments.operations import booking_capture_payment

    now = now or timezone.now()
    booking = lock_booking(booking.pk)
    require_actor(user, booking, "ops")
    if not (reason or "").strip():
        raise InvalidInput(fields={"reason": [_("Give the reason for capturing by hand.")]})
    if booking.status == BookingStatus.SIGNED:
        booking_capture_payment(booking=booking, actor=user, amount=amount, reason=reason)
        return booking
    if booking.status == BookingStatus.DISPUTED:
        raise BookingConflict(
            _("This booking is disputed: resolve the dispute (capture in full, in part, or cancel with a refund)."),
            booking=booking,
        )
    if booking.status not in (BookingStatus.COMPLETED, BookingStatus.AWAITING_SIGNATURE):
        raise BookingConflict(
            _("A %(s)s booking cannot be captured; it must be completed first.") % {"s": booking.status},
            booking=booking,
        )
    transition(
        booking=booking, to_status=BookingStatus.SIGNED, actor=user, event="captured_by_ops", note=reason, now=now
    )
    booking_capture_payment(booking=booking, actor=user, amount=amount, reason=reason)
    return booking


def _require_job_photos(booking):
    kinds = set(booking.photos.values_list("kind", flat=True).distinct())
    missing = [kind for kind in (PhotoKind.BEFORE, PhotoKind.AFTER) if kind not in kinds]
    if missing:
        raise BookingConflict(
            _("Upload at least one %(kinds)s photo before completing the job.")
            % {"kinds": _(" and one ").join(str(PhotoKind(kind).label).lower() for kind in missing)},
            booking=booking,
        )


def _require_holder(booking, user):
    vendor = _vendor_of(user)
    if booking.vendor_id != vendor.pk:
        raise BookingConflict(_("This booking is not assigned to you."), booking=booking)


# --- Cancellation --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CancellationQuote:
    fee: Decimal
    refund: Decimal
    reason: str


def cancellation_quote(*, booking: Booking, by: str, now=None, override_refund=None) -> CancellationQuote:
    """What a cancellation keeps and refunds, per the policy windows (§4).

    Customer: free while no vendor has confirmed, within the grace minutes after booking, or ≥
    ``free_cancel_hours_before`` the start; ``late_cancel_fee_percent`` of the total kept down
    to ``full_fee_hours_before``; 100 % kept after that. Ops: full refund unless they give another
    amount. A zero-total booking refunds nothing."""
    now = now or timezone.now()
    config = platform_settings()
    total = booking.total
    if by == CancelledBy.OPS and override_refund is not None:
        refund = money(override_refund)
        return CancellationQuote(fee=total - refund, refund=refund, reason="ops_override")
    if by != CancelledBy.CUSTOMER:
        return CancellationQuote(fee=ZERO, refund=total, reason="full_refund")
    lead = booking.scheduled_at - now
    if booking.status == BookingStatus.PENDING:
        return CancellationQuote(fee=ZERO, refund=total, reason="not_confirmed")
    if now - booking.created_at <= timedelta(minutes=config.free_cancel_minutes_after_booking):
        return CancellationQuote(fee=ZERO, refund=total, reason="grace_period")
    if lead >= timedelta(hours=config.free_cancel_hours_before):
        return CancellationQuote(fee=ZERO, refund=total, reason="early")
    if lead >= timedelta(hours=config.full_fee_hours_before):
        fee = money(total * Decimal(config.late_cancel_fee_percent) / Decimal(100))
        return CancellationQuote(fee=fee, refund=total - fee, reason="late")
    return CancellationQuote(fee=total, refund=ZERO, reason="very_late")


CANCELLABLE_BY = {
    "customer": {BookingStatus.PENDING, BookingStatus.CONFIRMED},
    "vendor": {BookingStatus.CONFIRMED},
    "ops": {
        BookingStatus.PENDING,
        BookingStatus.CONFIRMED,
        BookingStatus.IN_PROGRESS,
        BookingStatus.AWAITING_SIGNATURE,
        BookingStatus.DISPUTED,
    },
}


@transaction.atomic
def booking_cancel(*, booking: Booking, user, reason: str = "", refund_amount=None, now=None) -> Booking:
    """Cancel per §4. A vendor's cancellation of a confirmed booking first re-offers it to other
    vendors (the customer keeps slot and price; the booking is pending again); it is cancelled
    with a full refund only if nobody takes it. Ops may set the refund with a reason."""
    now = now or timezone.now()
    booking = lock_booking(booking.pk)
    kind = require_actor(user, booking, "customer", "vendor", "ops")
    by = {"customer": CancelledBy.CUSTOMER, "vendor": CancelledBy.VENDOR, "ops": CancelledBy.OPS}[kind]
    if booking.status == BookingStatus.CANCELLED and booking.cancelled_by == by:
        return booking
    if kind == "vendor":
        return _vendor_cancel(booking=booking, user=user, reason=reason, now=now)
    if booking.status not in CANCELLABLE_BY[kind]:
        raise BookingConflict(_("A %(s)s booking cannot be cancelled.") % {"s": booking.status}, booking=booking)
    if refund_amount is not None:
        if kind != "ops":
            raise InvalidInput(fields={"refund_amount": [_("Only operations staff can set the refund.")]})
        if not reason:
            raise InvalidInput(fields={"reason": [_("Give a reason for a refund other than the policy's.")]})
        if not (ZERO <= money(refund_amount) <= booking.total):
            raise InvalidInput(fields={"refund_amount": [_("The refund must be between 0 and the total.")]})
        if booking.vendor_id is None and money(refund_amount) < booking.total:
            # A fee is split with the vendor holding the booking (§4); with nobody holding it,
            # the ledger could not post what the gateway would have captured.
            raise InvalidInput(
                fields={"refund_amount": [_("No vendor holds this booking: it can only be refunded in full.")]}
            )
    quote = cancellation_quote(booking=booking, by=by, now=now, override_refund=refund_amount)
    booking.offers.filter(outcome=OfferOutcome.PENDING).update(outcome=OfferOutcome.WITHDRAWN, responded_at=now)
    booking = transition(
        booking=booking,
        to_status=BookingStatus.CANCELLED,
        actor=user,
        event="cancelled",
        note=reason,
        now=now,
        fields={
            "cancelled_by": by,
            "cancellation_reason": (reason or quote.reason)[:500],
            "cancellation_fee": quote.fee,
            "refund_amount": quote.refund,
            "needs_manual_assignment": False,
        },
    )
    promo_release(booking=booking)
    settle_booking_money(booking=booking, actor=user, reason=reason or quote.reason, now=now)
    return booking


def _vendor_cancel(*, booking, user, reason, now):
    vendor = _vendor_of(user)
    if booking.status == BookingStatus.PENDING and booking.vendor_id == vendor.pk:
        raise BookingConflict(_("Reject the offer instead of cancelling."), booking=booking)
    if booking.status != BookingStatus.CONFIRMED or booking.vendor_id != vendor.pk:
        if booking.events.filter(event="vendor_cancelled", actor=user).exists():
            return booking  # a repeated cancellation by the same vendor
        raise BookingConflict(_("A %(s)s booking cannot be cancelled.") % {"s": booking.status}, booking=booking)
    BookingOffer.objects.filter(booking=booking, vendor=vendor, outcome=OfferOutcome.ACCEPTED).update(
        outcome=OfferOutcome.CANCELLED, responded_at=now, reason=(reason or "")[:500]
    )
    transition(
        booking=booking,
        to_status=BookingStatus.PENDING,
        actor=user,
        event="vendor_cancelled",
        note=reason,
        now=now,
        fields={"confirmed_at": None},
    )
    booking_reoffer(booking=booking, now=now, actor=user, reason=ROUND_VENDOR_CANCELLED)
    return booking


# --- Reschedule ----------------------------------------------------------------------------------

RESCHEDULABLE = (BookingStatus.PENDING, BookingStatus.CONFIRMED)


def booking_reschedule_check(*, booking: Booking, now=None, config=None) -> None:
    """Raise ``BookingConflict`` unless the booking may be moved now (§4): pending or confirmed,
    at least ``reschedule_min_hours_before`` its current start, and moved fewer than
    ``max_reschedules`` times. The new time is checked by ``booking_reschedule`` itself.

    ``booking_reschedule`` calls it with the booking row locked; pages call it unlocked to decide
    whether to offer the button (a stale answer there only means the service refuses)."""
    now = now or timezone.now()
    config = config or platform_settings()
    if booking.status not in RESCHEDULABLE:
        raise BookingConflict(_("A %(s)s booking cannot be rescheduled.") % {"s": booking.status}, booking=booking)
    if booking.scheduled_at - now < timedelta(hours=config.reschedule_min_hours_before):
        raise BookingConflict(
            _("Bookings can be rescheduled only until %(h)d hours before the start; you may cancel instead.")
            % {"h": config.reschedule_min_hours_before},
            booking=booking,
        )
    if booking.reschedule_count >= config.max_reschedules:
        raise BookingConflict(
            _("This booking has already been rescheduled %(n)d times.") % {"n": config.max_reschedules},
            booking=booking,
        )


def booking_can_reschedule(booking: Booking, *, now=None, config=None) -> bool:
    """Whether ``booking_reschedule_check`` lets the booking be moved now."""
    try:
        booking_reschedule_check(booking=booking, now=now, config=config)
    except BookingConflict:
        return False
    return True


@transaction.atomic
def booking_reschedule(*, booking: Booking, user, scheduled_at, now=None) -> Booking:
    """Move a booking to a new start (§4): only by its customer, ≥ 24 h before the current start,
    at most twice (``booking_reschedule_check``). The vendor keeps it when free at the new time;
    otherwise it is re-offered for the new time. Later than the window → 409 (cancel under the
    policy instead)."""
    now = now or timezone.now()
    if scheduled_at.tzinfo is None:
        raise InvalidInput(fields={"scheduled_at": [_("Give the time with its UTC offset.")]})
    # In UTC, so that start + duration is real elapsed time even across a DST change (Python
    # adds to a ZoneInfo datetime in wall-clock time).
    scheduled_at = scheduled_at.astimezone(UTC)
    booking = lock_booking(booking.pk)
    require_actor(user, booking, "customer")
    if booking.scheduled_at == scheduled_at and booking.status in RESCHEDULABLE:
        return booking
    config = platform_settings()
    booking_reschedule_check(booking=booking, now=now, config=config)
    validate_start(scheduled_at=scheduled_at, config=config, now=now)
    duration = booking.ends_at - booking.scheduled_at
    ends_at = scheduled_at + duration
    buffer = timedelta(minutes=config.travel_buffer_minutes)
    old_start = booking.scheduled_at
    vendor = booking.vendor
    keeps_vendor = False
    if vendor is not None:
        vendor = lock_vendors([vendor.pk])[str(vendor.pk)]
        keeps_vendor = vendor_can_take(vendor, scheduled_at, ends_at, config=config, exclude_booking_id=booking.pk)
    fields = {
        "scheduled_at": scheduled_at,
        "ends_at": ends_at,
        "blocked_until": ends_at + buffer,
        "reschedule_count": booking.reschedule_count + 1,
    }
    note = f"{old_start.isoformat()} → {scheduled_at.isoformat()}"
    try:
        with transaction.atomic():
            if booking.status == BookingStatus.CONFIRMED and keeps_vendor:
                update_fields(booking=booking, actor=user, event="rescheduled", note=note, fields=fields)
            elif booking.status == BookingStatus.CONFIRMED:
                # The vendor is not free then: release them and offer the new time to others.
                BookingOffer.objects.filter(booking=booking, vendor=vendor, outcome=OfferOutcome.ACCEPTED).update(
                    outcome=OfferOutcome.WITHDRAWN, responded_at=now
                )
                transition(
                    booking=booking,
                    to_status=BookingStatus.PENDING,
                    actor=user,
                    event="rescheduled",
                    note=note,
                    now=now,
                    fields={**fields, "confirmed_at": None, "vendor": None},
                )
                booking_reoffer(booking=booking, now=now, actor=user, reason=ROUND_RESCHEDULED)
            else:
                # Pending: an open offer was for the old time, so a new round starts (this also
                # revives a booking whose old round used up its attempts and waited for ops). A
                # vendor the customer chose gets the new time first if they can take it.
                update_fields(booking=booking, actor=user, event="rescheduled", note=note, fields=fields)
                if booking.ready_at is not None:
                    booking_reoffer(
                        booking=booking,
                        now=now,
                        actor=user,
                        reason=ROUND_RESCHEDULED,
                        prefer_vendor=vendor if keeps_vendor and booking.vendor_chosen_by_customer else None,
                    )
    except IntegrityError as error:
        if _is_overlap_violation(error):
            raise SlotTaken() from None
        raise
    return booking


# --- Expiry --------------------------------------------------------------------------------------


@transaction.atomic
def booking_expire(*, booking: Booking, now=None, reason: str = "start_passed") -> Booking:
    """pending → expired: the start passed with no vendor confirmed, or the card was not
    authorised in time (``reason="unpaid"``). System transition, called by the periodic tasks;
    any money held is released after commit."""
    now = now or timezone.now()
    booking = lock_booking(booking.pk)
    if booking.status == BookingStatus.EXPIRED:
        return booking
    if booking.status != BookingStatus.PENDING:
        raise BookingConflict(booking=booking)
    booking.offers.filter(outcome=OfferOutcome.PENDING).update(outcome=OfferOutcome.WITHDRAWN, responded_at=now)
    transition(
        booking=booking,
        to_status=BookingStatus.EXPIRED,
        actor=None,
        event="expired",
        note=reason,
        now=now,
        fields={"needs_manual_assignment": False},
    )
    promo_release(booking=booking)
    settle_booking_money(booking=booking, reason=reason, now=now)
    return booking


def expire_stale_bookings(*, now=None, limit=500) -> int:
    """Expire pending bookings whose start has passed. Safe to run twice or in parallel."""
    now = now or timezone.now()
    count = 0
    ids = list(
        Booking.objects.filter(status=BookingStatus.PENDING, scheduled_at__lte=now).values_list("pk", flat=True)[:limit]
    )
    for booking_id in ids:
        with transaction.atomic():
            row = (
                Booking.objects.select_for_update(skip_locked=True)
                .filter(pk=booking_id, status=BookingStatus.PENDING)
                .first()
            )
            if row is None:
                continue
            booking_expire(booking=row, now=now)
            count += 1
    return count


def expire_unpaid_bookings(*, now=None, limit=500) -> int:
    """Expire card bookings whose card was not authorised (or saved) within 15 minutes of booking
    (§5): the slot is released and any hold voided. Safe to run twice or in parallel."""
    from payments.checkout import unpaid_expiry

    now = now or timezone.now()
    ids = list(
        Booking.objects.filter(
            status=BookingStatus.PENDING,
            ready_at__isnull=True,
            payment_method=PaymentMethod.CARD,
            created_at__lte=now - unpaid_expiry(),
        ).values_list("pk", flat=True)[:limit]
    )
    count = 0
    for booking_id in ids:
        with transaction.atomic():
            row = (
                Booking.objects.select_for_update(skip_locked=True)
                .filter(pk=booking_id, status=BookingStatus.PENDING, ready_at__isnull=True)
                .first()
            )
            if row is None:
                continue
            booking_expire(booking=row, now=now, reason="unpaid")
            count += 1
    return count
