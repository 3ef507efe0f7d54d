"""The periodic booking tasks (CELERY_BEAT_SCHEDULE), called directly as beat's worker would, and
offer timeouts swept by two workers at once."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from bookings.models import BookingEvent, BookingOffer, BookingStatus, OfferOutcome
from bookings.services.offers import expire_due_offers
from bookings.services.transitions import booking_accept
from bookings.tasks import expire_booking_offers, expire_stale_bookings_task, send_booking_reminders
from bookings.tests.conftest import NOW, ist
from bookings.tests.factories import VendorServiceFactory
from core.models import Notification
from core.tests.factories import CustomerFactory, VendorFactory

pytestmark = pytest.mark.django_db

TIMEOUT = timedelta(minutes=15)
KORAMANGALA = {"base_lat": Decimal("12.935200"), "base_lng": Decimal("77.624500")}  # the address: 0 km
HSR_LAYOUT = {"base_lat": Decimal("12.911600"), "base_lng": Decimal("77.638900")}  # ≈ 3 km


def bookable_start(after, *, duration=timedelta(hours=2)):
    """The first start on the 30-minute grid after ``after`` whose visit fits the factories'
    working hours (08:00–20:00 platform time): the tasks use the wall clock, so must the test."""
    start = timezone.localtime(after).replace(second=0, microsecond=0)
    start += timedelta(minutes=(30 - start.minute % 30) % 30)
    while not (start.hour >= 8 and start.hour * 60 + start.minute + duration.total_seconds() / 60 <= 20 * 60):
        start += timedelta(minutes=30)
    return start


@pytest.fixture
def two_vendors(service):
    near = VendorFactory(display_name="Near", pincodes=[], **KORAMANGALA)
    middle = VendorFactory(display_name="Middle", pincodes=[], **HSR_LAYOUT)
    for vendor in (near, middle):
        VendorServiceFactory(vendor=vendor, service=service)
    return near, middle


def test_expire_booking_offers_passes_an_unanswered_offer_on(make_booking, two_vendors):
    # given: a booking offered to the nearest vendor 20 minutes ago, unanswered
    near, middle = two_vendors
    now = timezone.now()
    booking = make_booking(start=bookable_start(now + timedelta(hours=3)), now=now - timedelta(minutes=20))
    assert booking.vendor == near
    # when
    passed_on = expire_booking_offers()
    # then
    assert passed_on == 1
    booking.refresh_from_db()
    assert booking.vendor == middle
    assert BookingOffer.objects.get(booking=booking, vendor=near).outcome == OfferOutcome.EXPIRED


def test_expire_stale_bookings_expires_a_pending_booking_whose_start_passed(make_booking, two_vendors):
    # given: booked three days ago for yesterday, never accepted by anyone
    now = timezone.now()
    start = bookable_start(now - timedelta(days=2))
    booking = make_booking(start=start, now=start - timedelta(days=1))
    # when
    expired = expire_stale_bookings_task()
    # then
    assert expired == 1
    booking.refresh_from_db()
    assert booking.status == BookingStatus.EXPIRED


def test_send_booking_reminders_sends_the_reminders_due_now(make_booking, vendor, customer):
    # given: a booking accepted two days ago for some time in the next day
    now = timezone.now()
    start = bookable_start(now + timedelta(hours=1, minutes=1))
    assert start - now <= timedelta(hours=24)
    booked = now - timedelta(days=2)
    booking = make_booking(start=start, customer=customer, vendor=vendor, now=booked)
    booking_accept(booking=booking, user=vendor.user, now=booked)
    # when
    first, second = send_booking_reminders(), send_booking_reminders()
    # then
    assert (first, second) == (2, 0)
    assert Notification.objects.filter(user=customer, kind="booking.reminder_24h").count() == 1
    assert Notification.objects.filter(user=vendor.user, kind="booking.reminder_24h").count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_offer_sweeps_pass_each_offer_on_exactly_once(make_booking, two_vendors):
    # given: six bookings, each offered to the nearest vendor and left unanswered
    near, middle = two_vendors
    starts = [ist(3, 8), ist(3, 11), ist(3, 14), ist(3, 17), ist(4, 8), ist(4, 11)]
    bookings = [make_booking(start=start, customer=CustomerFactory()) for start in starts]
    assert {booking.vendor for booking in bookings} == {near}
    barrier = threading.Barrier(2)
    passed_on = [0, 0]
    errors = []

    def sweeper(index):
        try:
            barrier.wait(timeout=30)
            passed_on[index] = expire_due_offers(now=NOW + TIMEOUT)
        except Exception as error:  # surfaced below: an exception in a thread is otherwise lost
            errors.append(error)
        finally:
            connection.close()

    # when: two workers run the sweep at the same moment
    threads = [threading.Thread(target=sweeper, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    # then: every offer expired once and the next vendor got exactly one new offer
    assert errors == []
    assert sum(passed_on) == len(bookings)
    for booking in bookings:
        assert BookingEvent.objects.filter(booking=booking, event="offer_expired").count() == 1
        offers = BookingOffer.objects.filter(booking=booking).order_by("sent_at")
        assert [(o.vendor, o.outcome) for o in offers] == [
            (near, OfferOutcome.EXPIRED),
            (middle, OfferOutcome.PENDING),
        ]
        booking.refresh_from_db()
        assert booking.vendor == middle
    assert Notification.objects.filter(user=middle.user, kind="job.offer").count() == len(bookings)
