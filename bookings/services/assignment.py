"""Manual assignment by ops (ARCHITECTURE §3, §5): a pending booking whose offers ran out — or one
ops want to place themselves — is given to a vendor ops have agreed it with, and is confirmed.

Only an *eligible* vendor may be chosen: approved and available, offering every service of the
booking and serving its place, working then and free for the slot with the travel buffer — the
same test the offer rounds use (``offers.eligible_vendors``). The check is repeated under the
vendor's row lock, and the database's exclusion constraint stops an overlap that slips past it
(``SlotTaken``, 409). The booking keeps its price snapshot: the customer keeps slot and price.
"""

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from bookings.availability import vendor_can_take
from bookings.locks import lock_booking, lock_vendors
from bookings.models import Booking, BookingOffer, BookingStatus, OfferOutcome
from bookings.selectors import vendors_bookable, vendors_serving
from bookings.services.common import BookingConflict, SlotTaken, platform_settings, require_actor, transition
from bookings.services.creation import _is_overlap_violation
from bookings.services.offers import Candidate, booking_service_ids, eligible_vendors
from core.errors import InvalidInput
from core.notifications import notify

REASON_MAX_LENGTH = 500


def booking_can_assign_by_ops(*, booking: Booking, now=None) -> None:
    """Raise BookingConflict unless ops may assign a vendor to the booking now: it is pending, its
    payment is ready (§5: only a ready booking is offered) and it has not started."""
    now = now or timezone.now()
    if booking.status != BookingStatus.PENDING:
        raise BookingConflict(
            _("Only a pending booking can be assigned (this one is %(s)s).") % {"s": booking.status}, booking=booking
        )
    if booking.ready_at is None:
        raise BookingConflict(_("The booking's payment is not ready yet, so it cannot be assigned."), booking=booking)
    if booking.scheduled_at <= now:
        raise BookingConflict(_("The booking's start has passed."), booking=booking)


def booking_assignable_vendors(*, booking: Booking, now=None) -> list[Candidate]:
    """The vendors ops may assign the booking to, best first (with score and distance)."""
    return eligible_vendors(
        service_ids=booking_service_ids(booking),
        pincode=booking.address_pincode,
        lat=booking.address_lat,
        lng=booking.address_lng,
        start=booking.scheduled_at,
        end=booking.ends_at,
        config=platform_settings(),
        exclude_booking_id=booking.pk,
        now=now,
    )


def _vendor_eligible(booking: Booking, vendor, config) -> bool:
    """The eligibility test for one locked vendor row (module docstring)."""
    serving = vendors_serving(
        vendors_bookable().filter(pk=vendor.pk),
        service_ids=booking_service_ids(booking),
        pincode=booking.address_pincode,
        lat=booking.address_lat,
        lng=booking.address_lng,
    ).exists()
    return serving and vendor_can_take(
        vendor, booking.scheduled_at, booking.ends_at, config=config, exclude_booking_id=booking.pk
    )


@transaction.atomic
def booking_assign_by_ops(*, booking: Booking, vendor, user, reason: str, now=None) -> Booking:
    """Ops give a pending, ready booking to ``vendor`` (who agreed to do it): any open offer is
    withdrawn, the assignment is kept as an accepted offer, the booking is confirmed, and the
    customer and the vendor are told. Assigning the vendor who already holds the confirmed booking
    again returns it unchanged (a retried request)."""
    now = now or timezone.now()
    reason = (reason or "").strip()
    booking = lock_booking(booking.pk)
    require_actor(user, booking, "ops")
    if not reason:
        raise InvalidInput(fields={"reason": [_("Say why the booking is assigned by hand.")]})
    if len(reason) > REASON_MAX_LENGTH:
        raise InvalidInput(fields={"reason": [_("At most %(n)d characters.") % {"n": REASON_MAX_LENGTH}]})
    if booking.status == BookingStatus.CONFIRMED and booking.vendor_id == vendor.pk:
        return booking
    booking_can_assign_by_ops(booking=booking, now=now)
    # Lock order: the booking, then the vendor (bookings/locks.py).
    vendor = lock_vendors([vendor.pk]).get(str(vendor.pk))
    config = platform_settings()
    if vendor is None or not _vendor_eligible(booking, vendor, config):
        raise InvalidInput(
            fields={"vendor": [_("This vendor cannot take the booking: not eligible, or not free for the slot.")]}
        )
    booking.offers.filter(outcome=OfferOutcome.PENDING).update(outcome=OfferOutcome.WITHDRAWN, responded_at=now)
    BookingOffer.objects.create(
        booking=booking,
        vendor=vendor,
        sent_at=now,
        expires_at=now,
        outcome=OfferOutcome.ACCEPTED,
        responded_at=now,
        reason=f"{_('Assigned by operations')}: {reason}"[:REASON_MAX_LENGTH],
    )
    try:
        with transaction.atomic():
            transition(
                booking=booking,
                to_status=BookingStatus.CONFIRMED,
                actor=user,
                event="assigned_by_ops",
                note=reason,
                now=now,
                fields={"vendor": vendor, "needs_manual_assignment": False},
            )
    except IntegrityError as error:
        if _is_overlap_violation(error):
            raise SlotTaken() from None
        raise
    when = timezone.localtime(booking.scheduled_at).strftime("%d %b %H:%M")
    data = {"booking_id": str(booking.pk), "event": "assigned_by_ops"}
    notify(
        user=booking.customer,
        kind="booking.assigned",
        title=_("Booking confirmed"),
        body=_("%(vendor)s will do booking %(number)s on %(when)s.")
        % {"vendor": vendor.display_name, "number": booking.booking_number, "when": when},
        data=data,
    )
    notify(
        user=vendor.user,
        kind="booking.assigned",
        title=_("New job %(number)s") % {"number": booking.booking_number},
        body=_("Operations assigned you booking %(number)s on %(when)s in %(pincode)s.")
        % {"number": booking.booking_number, "when": when, "pincode": booking.address_pincode},
        data=data,
    )
    return booking
