"""Offers and assignment (ARCHITECTURE §5): a ready, platform-assigned booking is offered to the
best eligible vendor; rejected or unanswered offers pass on; after 3 attempts ops assign it."""

from datetime import timedelta
from decimal import Decimal

import pytest

from bookings.models import BookingEvent, BookingOffer, BookingStatus, CancelledBy, OfferOutcome
from bookings.services.common import BookingConflict, SlotTaken
from bookings.services.offers import expire_due_offers
from bookings.services.transitions import booking_accept, booking_cancel, booking_reject
from bookings.tests.conftest import NOW, ist
from bookings.tests.factories import ServiceFactory, VendorServiceFactory
from core.models import OnboardingStatus, VendorTimeOff
from core.tests.factories import VendorFactory

pytestmark = pytest.mark.django_db

START = ist(3, 10)  # Thursday 10:00–12:00
TIMEOUT = timedelta(minutes=15)

# Vendor bases, by distance from the customer's address in Koramangala (560034).
KORAMANGALA = {"base_lat": Decimal("12.935200"), "base_lng": Decimal("77.624500")}  # 0 km
HSR_LAYOUT = {"base_lat": Decimal("12.911600"), "base_lng": Decimal("77.638900")}  # ≈ 3 km
INDIRANAGAR = {"base_lat": Decimal("12.971900"), "base_lng": Decimal("77.641200")}  # ≈ 4.5 km
WHITEFIELD = {"base_lat": Decimal("12.969800"), "base_lng": Decimal("77.750000")}  # ≈ 14 km
BANDRA = {"base_lat": Decimal("19.059600"), "base_lng": Decimal("72.829500")}  # Mumbai


@pytest.fixture
def make_vendor(service):
    def make(name, *, offers_service=True, **fields):
        fields.setdefault("pincodes", [])  # by default a vendor serves by radius only
        vendor = VendorFactory(display_name=name, **fields)
        if offers_service:
            VendorServiceFactory(vendor=vendor, service=service)
        return vendor

    return make


def offered_vendors(booking):
    return [offer.vendor.display_name for offer in BookingOffer.objects.filter(booking=booking).order_by("sent_at")]


def refreshed(booking):
    booking.refresh_from_db()
    return booking


# --- choosing the vendor -------------------------------------------------------------------------


def test_booking_is_offered_to_the_closest_vendor(make_booking, make_vendor):
    # given
    make_vendor("Far", **INDIRANAGAR)
    near = make_vendor("Near", **KORAMANGALA)
    # when
    booking = make_booking(start=START)
    # then
    assert booking.status == BookingStatus.PENDING
    assert booking.vendor == near
    assert booking.vendor_chosen_by_customer is False
    offer = BookingOffer.objects.get(booking=booking)
    assert offer.vendor == near
    assert offer.outcome == OfferOutcome.PENDING
    assert offer.sent_at == NOW
    assert offer.expires_at == NOW + TIMEOUT
    assert BookingEvent.objects.filter(booking=booking, event="offered", note="Near").exists()


def test_better_rating_wins_at_the_same_distance(make_booking, make_vendor):
    # given: all three in Koramangala
    make_vendor("Unrated", **KORAMANGALA)
    make_vendor("Poor", rating_avg=Decimal("1.50"), rating_count=12, **KORAMANGALA)
    make_vendor("Star", rating_avg=Decimal("4.90"), rating_count=40, **KORAMANGALA)
    # when
    booking = make_booking(start=START)
    booking_reject(booking=booking, user=booking.vendor.user, now=NOW + timedelta(minutes=1))
    booking_reject(booking=booking, user=refreshed(booking).vendor.user, now=NOW + timedelta(minutes=2))
    # then: best first, the badly rated vendor last
    assert offered_vendors(booking) == ["Star", "Unrated", "Poor"]


def test_a_vendor_who_often_cancels_ranks_lower(make_booking, make_vendor):
    # given: two vendors alike except that one cancelled an accepted job before
    flaky = make_vendor("Flaky", **KORAMANGALA)
    steady = make_vendor("Steady", **KORAMANGALA)
    earlier = make_booking(vendor=flaky, start=ist(5, 10))
    booking_accept(booking=earlier, user=flaky.user, now=NOW)
    booking_cancel(booking=earlier, user=flaky.user, reason="double booked", now=NOW)
    booking_reject(booking=earlier, user=refreshed(earlier).vendor.user, now=NOW)  # steady declines it
    # when
    booking = make_booking(start=START)
    # then
    assert booking.vendor == steady


def test_pincode_alone_or_radius_alone_makes_a_vendor_eligible(make_booking, make_vendor):
    # given: one far away but listing the pincode, one inside its radius without the pincode
    by_pincode = make_vendor("By pincode", pincodes=["560034"], radius_km=Decimal("5.0"), **WHITEFIELD)
    by_radius = make_vendor("By radius", pincodes=[], radius_km=Decimal("10.0"), **INDIRANAGAR)
    # when
    booking = make_booking(start=START)
    booking_reject(booking=booking, user=booking.vendor.user, now=NOW + timedelta(minutes=1))
    # then
    assert {offer.vendor for offer in BookingOffer.objects.filter(booking=booking)} == {by_pincode, by_radius}


INELIGIBLE = {
    "not approved": {"onboarding_status": OnboardingStatus.PENDING},
    "suspended": {"onboarding_status": OnboardingStatus.SUSPENDED},
    "not available": {"is_available": False},
    "does not offer the service": {"offers_service": False},
    "outside radius and pincodes": {"pincodes": ["400050"], **BANDRA},
    "off work at that time": {"working_hours": {"3": [["12:30", "20:00"]]}},
}


@pytest.mark.parametrize("why", [*INELIGIBLE, "offers the service inactive", "busy", "time off"])
def test_ineligible_vendors_are_never_offered_the_booking(make_booking, make_vendor, service, why):
    # given: the best-scoring vendor on paper is ineligible; an ordinary one is eligible
    fields = {"rating_avg": Decimal("5.00"), "rating_count": 50, **KORAMANGALA, **INELIGIBLE.get(why, {})}
    star = make_vendor("Star", **fields)
    plain = make_vendor("Plain", **INDIRANAGAR)
    if why == "offers the service inactive":
        star.services.update(is_active=False)
    if why == "busy":
        # 12:00–14:00 elsewhere: 10:00–12:00 plus the travel buffer overlaps it
        make_booking(vendor=star, start=ist(3, 12))
    if why == "time off":
        VendorTimeOff.objects.create(vendor=star, starts_at=ist(3, 11), ends_at=ist(3, 13))
    # when
    booking = make_booking(start=START)
    booking_reject(booking=booking, user=plain.user, now=NOW + timedelta(minutes=1))
    # then: after the only eligible vendor declines, the booking goes to ops, never to the star
    booking = refreshed(booking)
    assert booking.vendor is None
    assert booking.needs_manual_assignment is True
    assert offered_vendors(booking) == ["Plain"]


def test_the_star_vendor_wins_when_eligible(make_booking, make_vendor):
    # the control case for the test above: the same setup with nothing wrong with the star
    star = make_vendor("Star", rating_avg=Decimal("5.00"), rating_count=50, **KORAMANGALA)
    make_vendor("Plain", **INDIRANAGAR)

    assert make_booking(start=START).vendor == star


def test_a_multi_service_visit_needs_a_vendor_offering_every_service(make_booking, make_vendor, service):
    # given
    ironing = ServiceFactory(name="Ironing", duration_minutes=30)
    make_vendor("Cleaning only", **KORAMANGALA)
    both = make_vendor("Both", **INDIRANAGAR)
    VendorServiceFactory(vendor=both, service=ironing)
    # when
    booking = make_booking(
        start=START, lines=[{"service_id": service.pk, "quantity": 1}, {"service_id": ironing.pk, "quantity": 2}]
    )
    # then
    assert booking.vendor == both
    assert booking.ends_at - booking.scheduled_at == timedelta(hours=3)


def test_no_eligible_vendor_refuses_the_booking(make_booking, make_vendor):
    make_vendor("Away", is_available=False, **KORAMANGALA)

    with pytest.raises(SlotTaken):
        make_booking(start=START)


# --- passing the offer on ------------------------------------------------------------------------


def test_rejection_passes_to_the_next_best_vendor(make_booking, make_vendor):
    # given
    near = make_vendor("Near", **KORAMANGALA)
    middle = make_vendor("Middle", **HSR_LAYOUT)
    make_vendor("Far", **INDIRANAGAR)
    booking = make_booking(start=START)
    assert booking.vendor == near
    # when
    booking_reject(booking=booking, user=near.user, reason="too far", now=NOW + timedelta(minutes=2))
    # then
    booking = refreshed(booking)
    assert booking.status == BookingStatus.PENDING
    assert booking.vendor == middle
    rejected = BookingOffer.objects.get(booking=booking, vendor=near)
    assert rejected.outcome == OfferOutcome.REJECTED
    assert rejected.reason == "too far"
    current = BookingOffer.objects.get(booking=booking, vendor=middle)
    assert current.outcome == OfferOutcome.PENDING
    assert current.expires_at == NOW + timedelta(minutes=2) + TIMEOUT


def test_the_next_vendor_can_accept(make_booking, make_vendor):
    near = make_vendor("Near", **KORAMANGALA)
    middle = make_vendor("Middle", **HSR_LAYOUT)
    booking = make_booking(start=START)
    booking_reject(booking=booking, user=near.user, now=NOW + timedelta(minutes=1))

    booking = booking_accept(booking=booking, user=middle.user, now=NOW + timedelta(minutes=2))

    assert booking.status == BookingStatus.CONFIRMED
    assert booking.vendor == middle
    assert BookingOffer.objects.get(booking=booking, vendor=middle).outcome == OfferOutcome.ACCEPTED


def test_after_three_attempts_the_booking_waits_for_ops(make_booking, make_vendor):
    # given: four eligible vendors
    for name, base in [("A", KORAMANGALA), ("B", HSR_LAYOUT), ("C", INDIRANAGAR), ("D", WHITEFIELD)]:
        make_vendor(name, pincodes=["560034"], **base)
    booking = make_booking(start=START)
    # when: three of them decline in turn
    for minute in (1, 2, 3):
        booking_reject(booking=booking, user=refreshed(booking).vendor.user, now=NOW + timedelta(minutes=minute))
    # then: the fourth is never asked
    booking = refreshed(booking)
    assert offered_vendors(booking) == ["A", "B", "C"]
    assert booking.vendor is None
    assert booking.needs_manual_assignment is True
    assert booking.status == BookingStatus.PENDING
    assert BookingEvent.objects.filter(booking=booking, event="manual_assignment_needed").count() == 1


def test_an_unanswered_offer_expires_and_passes_on(make_booking, make_vendor):
    # given
    near = make_vendor("Near", **KORAMANGALA)
    middle = make_vendor("Middle", **HSR_LAYOUT)
    booking = make_booking(start=START)
    # when: the sweep runs just before the deadline, then at it
    early = expire_due_offers(now=NOW + TIMEOUT - timedelta(seconds=1))
    due = expire_due_offers(now=NOW + TIMEOUT)
    # then
    assert early == 0
    assert due == 1
    booking = refreshed(booking)
    assert booking.vendor == middle
    expired = BookingOffer.objects.get(booking=booking, vendor=near)
    assert expired.outcome == OfferOutcome.EXPIRED
    assert expired.responded_at == NOW + TIMEOUT
    assert BookingOffer.objects.get(booking=booking, vendor=middle).expires_at == NOW + 2 * TIMEOUT


def test_expiring_offers_is_safe_to_run_twice(make_booking, make_vendor):
    # given: one sweep already ran
    make_vendor("Near", **KORAMANGALA)
    middle = make_vendor("Middle", **HSR_LAYOUT)
    booking = make_booking(start=START)
    expire_due_offers(now=NOW + TIMEOUT)
    offers, events = BookingOffer.objects.count(), BookingEvent.objects.count()
    # when
    again = expire_due_offers(now=NOW + TIMEOUT)
    # then
    assert again == 0
    assert refreshed(booking).vendor == middle
    assert BookingOffer.objects.count() == offers
    assert BookingEvent.objects.count() == events


def test_an_expired_offer_cannot_be_accepted(make_booking, make_vendor):
    # given
    near = make_vendor("Near", **KORAMANGALA)
    booking = make_booking(start=START)
    # when / then: past the deadline, even before the sweep ran
    with pytest.raises(BookingConflict) as caught:
        booking_accept(booking=booking, user=near.user, now=NOW + TIMEOUT)
    assert caught.value.extra == {"status": "pending"}
    assert BookingOffer.objects.get(booking=booking).outcome == OfferOutcome.PENDING
    # and after the sweep it is no longer theirs
    expire_due_offers(now=NOW + TIMEOUT)
    with pytest.raises(BookingConflict):
        booking_accept(booking=booking, user=near.user, now=NOW + TIMEOUT)
    assert refreshed(booking).needs_manual_assignment is True


def test_three_expired_offers_send_the_booking_to_ops(make_booking, make_vendor):
    for name, base in [("A", KORAMANGALA), ("B", HSR_LAYOUT), ("C", INDIRANAGAR), ("D", WHITEFIELD)]:
        make_vendor(name, pincodes=["560034"], **base)
    booking = make_booking(start=START)

    for round_ in (1, 2, 3):
        assert expire_due_offers(now=NOW + round_ * TIMEOUT) == 1

    booking = refreshed(booking)
    assert offered_vendors(booking) == ["A", "B", "C"]
    assert booking.vendor is None
    assert booking.needs_manual_assignment is True
    assert expire_due_offers(now=NOW + 4 * TIMEOUT) == 0


# --- the vendor cancels a confirmed booking ------------------------------------------------------


def test_vendor_cancellation_reoffers_the_booking_at_the_same_price(make_booking, make_vendor):
    # given: a confirmed booking
    near = make_vendor("Near", **KORAMANGALA)
    middle = make_vendor("Middle", **HSR_LAYOUT)
    booking = make_booking(start=START)
    booking = booking_accept(booking=booking, user=near.user, now=NOW + timedelta(minutes=1))
    price_before = (booking.subtotal, booking.discount, booking.tax, booking.total, booking.vendor_earning)
    # when
    booking_cancel(booking=booking, user=near.user, reason="van broke down", now=NOW + timedelta(hours=1))
    # then: pending again, offered to the next vendor, same slot, same price
    booking = refreshed(booking)
    assert booking.status == BookingStatus.PENDING
    assert booking.vendor == middle
    assert booking.confirmed_at is None
    assert booking.scheduled_at == START
    assert (booking.subtotal, booking.discount, booking.tax, booking.total, booking.vendor_earning) == price_before
    assert booking.total == Decimal("590.00")
    assert booking.refund_amount is None
    assert BookingOffer.objects.get(booking=booking, vendor=near).outcome == OfferOutcome.CANCELLED
    assert BookingOffer.objects.get(booking=booking, vendor=middle).outcome == OfferOutcome.PENDING


def test_after_a_vendor_cancellation_the_customer_may_cancel_free(make_booking, make_vendor):
    # given: the booking was confirmed, then the vendor cancelled 5 hours before the start
    near = make_vendor("Near", **KORAMANGALA)
    make_vendor("Middle", **HSR_LAYOUT)
    booking = make_booking(start=START)
    booking_accept(booking=booking, user=near.user, now=NOW + timedelta(minutes=1))
    booking_cancel(booking=booking, user=near.user, now=START - timedelta(hours=5))
    # when
    booking = booking_cancel(booking=booking, user=booking.customer, now=START - timedelta(hours=5))
    # then
    assert booking.status == BookingStatus.CANCELLED
    assert booking.cancellation_fee == Decimal("0.00")
    assert booking.refund_amount == booking.total


def test_vendor_cancellation_with_nobody_else_refunds_in_full(make_booking, make_vendor):
    # given: the only vendor accepted
    only = make_vendor("Only", **KORAMANGALA)
    booking = make_booking(start=START)
    booking_accept(booking=booking, user=only.user, now=NOW + timedelta(minutes=1))
    # when: they cancel 2 hours before the start
    booking_cancel(booking=booking, user=only.user, reason="ill", now=START - timedelta(hours=2))
    # then
    booking = refreshed(booking)
    assert booking.status == BookingStatus.CANCELLED
    assert booking.vendor is None
    assert booking.cancelled_by == CancelledBy.SYSTEM
    assert booking.cancellation_fee == Decimal("0.00")
    assert booking.refund_amount == booking.total == Decimal("590.00")


def test_vendor_cancellation_then_rejection_by_the_others_refunds_in_full(make_booking, make_vendor):
    # given
    near = make_vendor("Near", **KORAMANGALA)
    middle = make_vendor("Middle", **HSR_LAYOUT)
    booking = make_booking(start=START)
    booking_accept(booking=booking, user=near.user, now=NOW + timedelta(minutes=1))
    booking_cancel(booking=booking, user=near.user, now=NOW + timedelta(hours=1))
    # when
    booking_reject(booking=booking, user=middle.user, now=NOW + timedelta(hours=1, minutes=5))
    # then
    booking = refreshed(booking)
    assert booking.status == BookingStatus.CANCELLED
    assert booking.refund_amount == booking.total
    assert booking.needs_manual_assignment is False


def test_a_repeated_vendor_cancellation_changes_nothing(make_booking, make_vendor):
    # given
    near = make_vendor("Near", **KORAMANGALA)
    middle = make_vendor("Middle", **HSR_LAYOUT)
    booking = make_booking(start=START)
    booking_accept(booking=booking, user=near.user, now=NOW + timedelta(minutes=1))
    booking_cancel(booking=booking, user=near.user, now=NOW + timedelta(hours=1))
    events = BookingEvent.objects.filter(booking=booking).count()
    # when
    again = booking_cancel(booking=booking, user=near.user, now=NOW + timedelta(hours=1, minutes=1))
    # then
    assert again.status == BookingStatus.PENDING
    assert again.vendor == middle
    assert BookingEvent.objects.filter(booking=booking).count() == events


def test_the_offered_vendor_rejects_rather_than_cancels(make_booking, make_vendor):
    near = make_vendor("Near", **KORAMANGALA)
    booking = make_booking(start=START)

    with pytest.raises(BookingConflict) as caught:
        booking_cancel(booking=booking, user=near.user, now=NOW + timedelta(minutes=1))

    assert caught.value.extra == {"status": "pending"}
    assert refreshed(booking).vendor == near
