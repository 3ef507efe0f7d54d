"""Readiness, scoring and offers (ARCHITECTURE §5).

A booking is offered only once it is *ready*; ``booking_mark_ready`` is the one place readiness is
declared. The vendor the booking is offered to holds the slot (``Booking.vendor``) while the
offer is open; every offer is a ``BookingOffer`` row. An offer rejected, or not accepted within
the timeout, passes to the next best vendor; after the attempt limit the booking waits in the
ops manual-assignment queue. When the round began with the vendor cancelling a confirmed booking
and nobody takes it, the booking is cancelled with a full refund.
"""

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from bookings.availability import vendor_calendars, vendor_can_take, within_working_hours
from bookings.events import offer_sent
from bookings.locks import lock_booking, lock_vendors
from bookings.models import (
    SLOT_HOLDING_STATUSES,
    Booking,
    BookingOffer,
    BookingStatus,
    CancelledBy,
    OfferOutcome,
)
from bookings.selectors import vendors_bookable, vendors_serving
from bookings.services.common import platform_settings, transition, update_fields
from bookings.services.promos import promo_release
from payments.operations import settle_booking_money

ROUND_VENDOR_CANCELLED = "vendor_cancelled"
ROUND_RESCHEDULED = "rescheduled"


@dataclass(frozen=True)
class Candidate:
    vendor: object
    score: Decimal


def booking_service_ids(booking: Booking):
    return sorted({line.service_id for line in booking.lines.all()})


def eligible_vendors(
    *,
    service_ids,
    pincode,
    lat,
    lng,
    start,
    end,
    config,
    exclude_vendor_ids=(),
    exclude_booking_id=None,
    now=None,
) -> list[Candidate]:
    """Approved, available vendors serving every service and the location, working and free for
    [start, end) with the travel buffer — best first.

    Score (0–1): distance 40 % (closer is better, relative to the vendor's radius), rating 30 %,
    reliability 20 % (share of accepted jobs not cancelled by the vendor), load 10 % (fewer
    holding bookings in the coming week is better)."""
    now = now or timezone.now()
    queryset = vendors_serving(vendors_bookable(), service_ids=service_ids, pincode=pincode, lat=lat, lng=lng).exclude(
        pk__in=list(exclude_vendor_ids)
    )
    queryset = queryset.annotate(
        accepted_count=Count("offers", filter=Q(offers__outcome=OfferOutcome.ACCEPTED), distinct=True),
        cancelled_count=Count("offers", filter=Q(offers__outcome=OfferOutcome.CANCELLED), distinct=True),
        load=Count(
            "bookings",
            filter=Q(
                bookings__status__in=SLOT_HOLDING_STATUSES,
                bookings__scheduled_at__gte=now,
                bookings__scheduled_at__lt=now + timedelta(days=7),
            ),
            distinct=True,
        ),
    )
    vendors = [v for v in queryset if within_working_hours(v, start, end)]
    if not vendors:
        return []
    buffer = timedelta(minutes=config.travel_buffer_minutes)
    calendars = vendor_calendars(
        [v.pk for v in vendors],
        start - buffer - timedelta(days=1),
        end + buffer + timedelta(days=1),
        exclude_booking_id=exclude_booking_id,
    )
    candidates = []
    for vendor in vendors:
        if not calendars[str(vendor.pk)].is_free(start, end, buffer):
            continue
        candidates.append(Candidate(vendor=vendor, score=_score(vendor)))
    candidates.sort(key=lambda c: (-c.score, str(c.vendor.pk)))
    return candidates


def _score(vendor) -> Decimal:
    distance = getattr(vendor, "distance_km", None)
    radius = max(float(vendor.radius_km or 0), 1.0)
    closeness = 0.5 if distance is None else max(0.0, 1.0 - min(float(distance), radius) / radius)
    rating = float(vendor.rating_avg) / 5.0 if vendor.rating_count else 0.6
    jobs = vendor.accepted_count + vendor.cancelled_count
    reliability = 1.0 - (vendor.cancelled_count / jobs) if jobs else 0.8
    load = 1.0 - min(vendor.load, 10) / 10.0
    score = 0.4 * closeness + 0.3 * rating + 0.2 * reliability + 0.1 * load
    return Decimal(str(round(score, 4)))


def _eligible_for_booking(booking: Booking, config, *, exclude_vendor_ids=(), now=None):
    return eligible_vendors(
        service_ids=booking_service_ids(booking),
        pincode=booking.address_pincode,
        lat=booking.address_lat,
        lng=booking.address_lng,
        start=booking.scheduled_at,
        end=booking.ends_at,
        config=config,
        exclude_vendor_ids=exclude_vendor_ids,
        exclude_booking_id=booking.pk,
        now=now,
    )


def _round_offers(booking: Booking):
    offers = booking.offers.all()
    if booking.offer_round_started_at:
        offers = offers.filter(sent_at__gte=booking.offer_round_started_at)
    return offers


def _send_offer(*, booking: Booking, vendor, config, now, score=None, actor=None):
    offer = BookingOffer.objects.create(
        booking=booking,
        vendor=vendor,
        sent_at=now,
        expires_at=now + timedelta(minutes=config.offer_timeout_minutes),
        score=score,
    )
    fields = {"vendor": vendor, "needs_manual_assignment": False}
    update_fields(booking=booking, actor=actor, event="offered", note=vendor.display_name, fields=fields)
    offer_sent(offer)
    return offer


def offer_to_next_vendor(*, booking: Booking, now=None, actor=None) -> BookingOffer | None:
    """Offer a locked, pending, ready booking to the best eligible vendor not yet tried, or put
    it in the manual-assignment queue (or, after a vendor cancellation, cancel it with a full
    refund). Called with the booking row locked; locks the chosen vendor's row."""
    now = now or timezone.now()
    config = platform_settings()
    round_offers = _round_offers(booking)
    # Not asked again in this round: who was already asked in it, and anyone who cancelled it.
    tried = set(round_offers.values_list("vendor_id", flat=True)) | set(
        booking.offers.filter(outcome=OfferOutcome.CANCELLED).values_list("vendor_id", flat=True)
    )
    if round_offers.count() < config.max_offer_attempts:
        for candidate in _eligible_for_booking(booking, config, exclude_vendor_ids=tried, now=now):
            # Re-check under the vendor's lock, on the fresh row: another booking may have just
            # taken the time, or the vendor may have gone unavailable.
            vendor = lock_vendors([candidate.vendor.pk])[str(candidate.vendor.pk)]
            if vendor_can_take(
                vendor, booking.scheduled_at, booking.ends_at, config=config, exclude_booking_id=booking.pk
            ):
                return _send_offer(
                    booking=booking,
                    vendor=vendor,
                    config=config,
                    now=now,
                    score=candidate.score,
                    actor=actor,
                )
    _no_vendor_found(booking=booking, now=now, actor=actor)
    return None


def _no_vendor_found(*, booking: Booking, now, actor):
    if booking.offer_round_reason == ROUND_VENDOR_CANCELLED:
        # §4: when a vendor cancelled and nobody takes the booking over, full refund.
        transition(
            booking=booking,
            to_status=BookingStatus.CANCELLED,
            actor=actor,
            event="cancelled",
            note=_("No other vendor could take the booking after the vendor cancelled."),
            now=now,
            fields={
                "vendor": None,
                "cancelled_by": CancelledBy.SYSTEM,
                "cancellation_reason": "no_vendor_after_vendor_cancellation",
                "cancellation_fee": Decimal("0.00"),
                "refund_amount": booking.total,
            },
        )
        promo_release(booking=booking)
        settle_booking_money(booking=booking, actor=actor, reason="no_vendor_after_vendor_cancellation", now=now)
        return
    update_fields(
        booking=booking,
        actor=actor,
        event="manual_assignment_needed",
        fields={"vendor": None, "needs_manual_assignment": True},
    )


def booking_mark_ready(*, booking: Booking, now=None, actor=None) -> Booking:
    """Declare the booking's payment ready and start assignment: the chosen vendor gets the
    offer, otherwise the platform offers it to the best eligible vendor.

    The single place readiness is declared. Idempotent: a booking already ready is returned
    unchanged. Opens its own transaction (or joins the caller's)."""
    now = now or timezone.now()
    with transaction.atomic():
        booking = lock_booking(booking.pk)
        if booking.ready_at is not None or booking.status != BookingStatus.PENDING:
            return booking
        update_fields(
            booking=booking, actor=actor, event="ready", fields={"ready_at": now, "offer_round_started_at": now}
        )
        if booking.vendor_id is not None:
            config = platform_settings()
            _send_offer(booking=booking, vendor=booking.vendor, config=config, now=now, actor=actor)
        else:
            offer_to_next_vendor(booking=booking, now=now, actor=actor)
    return booking


def booking_reoffer(*, booking: Booking, now, actor, reason: str, prefer_vendor=None) -> None:
    """Start a new offer round for a locked booking, after a vendor cancelled it
    (``ROUND_VENDOR_CANCELLED``: if nobody takes it, it is cancelled with a full refund) or it was
    rescheduled (``ROUND_RESCHEDULED``: if nobody takes it, ops assign it). Withdraws any open
    offer first. ``prefer_vendor`` (locked, free at the time) gets the first offer of the round."""
    booking.offers.filter(outcome=OfferOutcome.PENDING).update(outcome=OfferOutcome.WITHDRAWN, responded_at=now)
    update_fields(
        booking=booking,
        actor=actor,
        event="reoffer",
        note=reason,
        fields={"vendor": None, "offer_round_started_at": now, "offer_round_reason": reason},
    )
    if booking.ready_at is None:
        return
    if prefer_vendor is not None:
        _send_offer(booking=booking, vendor=prefer_vendor, config=platform_settings(), now=now, actor=actor)
    else:
        offer_to_next_vendor(booking=booking, now=now, actor=actor)


def expire_due_offers(*, now=None, limit=200) -> int:
    """Expire open offers past their deadline and pass each booking on. Safe to run twice and in
    parallel: rows are claimed with SKIP LOCKED and re-checked under the lock."""
    now = now or timezone.now()
    done = 0
    due_ids = list(
        BookingOffer.objects.filter(outcome=OfferOutcome.PENDING, expires_at__lte=now)
        .order_by("expires_at")
        .values_list("booking_id", flat=True)[:limit]
    )
    for booking_id in due_ids:
        with transaction.atomic():
            booking = Booking.objects.select_for_update(skip_locked=True).filter(pk=booking_id).first()
            if booking is None:
                continue  # someone else is working on it
            offer = booking.offers.filter(outcome=OfferOutcome.PENDING, expires_at__lte=now).first()
            if offer is None:
                continue
            offer.outcome = OfferOutcome.EXPIRED
            offer.responded_at = now
            offer.save(update_fields=["outcome", "responded_at"])
            update_fields(
                booking=booking,
                actor=None,
                event="offer_expired",
                note=offer.vendor.display_name,
                fields={"vendor": None},
            )
            offer_to_next_vendor(booking=booking, now=now)
            done += 1
    return done
