"""Reminders 24 h and 1 h before a confirmed booking, to the customer and the vendor, each sent
once per person (ARCHITECTURE §9; rules in bookings/services/reminders.py)."""

import threading
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bookings.models import BookingReminder, ReminderKind, ReminderRecipient
from bookings.services.reminders import send_due_reminders
from bookings.services.transitions import booking_accept, booking_cancel, booking_reschedule, booking_start
from bookings.tests.conftest import NOW, ist
from bookings.tests.factories import VendorServiceFactory
from core.models import Notification
from core.tests.factories import CustomerFactory, VendorFactory

pytestmark = pytest.mark.django_db

START = ist(3, 10)  # Thursday 4 March 2027, 10:00 IST
DAY = timedelta(hours=24)
HOUR = timedelta(hours=1)


@pytest.fixture
def confirmed(make_booking, vendor, customer):
    """``confirmed(start=START, now=NOW)``: a booking of ``customer`` with ``vendor``, accepted."""

    def make(*, start=START, now=NOW, by=None):
        by = by or vendor
        booking = make_booking(start=start, customer=customer, vendor=by, now=now)
        return booking_accept(booking=booking, user=by.user, now=now)

    return make


def reminded(user, kind):
    return list(Notification.objects.filter(user=user, kind=f"booking.reminder_{kind}"))


def sweep_every(minutes, *, start, end):
    """Run the sweep every ``minutes`` from ``start`` to ``end`` inclusive, as beat would."""
    at = start
    while at <= end:
        send_due_reminders(now=at)
        at += timedelta(minutes=minutes)


# --- when they go, and to whom --------------------------------------------------------------------


def test_the_24h_reminder_goes_to_customer_and_vendor_at_the_24_hour_mark(confirmed, customer, vendor):
    # given
    booking = confirmed()
    # when / then: not a minute early
    assert send_due_reminders(now=START - DAY - timedelta(minutes=1)) == 0
    assert send_due_reminders(now=START - DAY) == 2
    # then
    [to_customer] = reminded(customer, "24h")
    [to_vendor] = reminded(vendor.user, "24h")
    assert to_customer.title == f"Reminder: booking {booking.booking_number} on 04 Mar 10:00"
    assert vendor.display_name in to_customer.body
    assert "12 Lake View Road" in to_vendor.body  # the vendor is told where to go
    assert to_customer.data == {
        "booking_id": str(booking.pk),
        "reminder": "24h",
        "starts_at": booking.scheduled_at.isoformat(),
    }


def test_the_1h_reminder_goes_in_the_last_hour(confirmed, customer, vendor):
    # given: the 24 h reminders went out the day before
    booking = confirmed()
    send_due_reminders(now=START - DAY)
    # when
    early = send_due_reminders(now=START - HOUR - timedelta(minutes=1))
    due = send_due_reminders(now=START - HOUR)
    # then
    assert (early, due) == (0, 2)
    [to_customer] = reminded(customer, "1h")
    [to_vendor] = reminded(vendor.user, "1h")
    assert to_customer.title == f"Booking {booking.booking_number} starts at 10:00"
    assert to_vendor.user == vendor.user


def test_each_reminder_is_sent_once_however_often_the_sweep_runs(confirmed, customer, vendor):
    # given
    booking = confirmed()
    # when: the sweep runs every 20 minutes from booking to start, and twice at each due moment
    sweep_every(20, start=NOW, end=START + HOUR)
    assert send_due_reminders(now=START - DAY) == 0
    assert send_due_reminders(now=START - HOUR) == 0
    # then
    for user in (customer, vendor.user):
        assert len(reminded(user, "24h")) == 1
        assert len(reminded(user, "1h")) == 1
    markers = BookingReminder.objects.filter(booking=booking)
    assert sorted(markers.values_list("kind", "recipient")) == [
        (ReminderKind.HOUR_BEFORE, ReminderRecipient.CUSTOMER),
        (ReminderKind.HOUR_BEFORE, ReminderRecipient.VENDOR),
        (ReminderKind.DAY_BEFORE, ReminderRecipient.CUSTOMER),
        (ReminderKind.DAY_BEFORE, ReminderRecipient.VENDOR),
    ]
    hour_marker = markers.filter(kind=ReminderKind.HOUR_BEFORE).first()
    assert START - HOUR <= hour_marker.sent_at < START - HOUR + timedelta(minutes=20)


def test_a_sweep_that_first_runs_in_the_last_hour_sends_only_the_1h_reminder(confirmed, customer):
    # given: the workers were down through the whole day before
    confirmed()
    # when
    sent = send_due_reminders(now=START - timedelta(minutes=30))
    # then
    assert sent == 2
    assert reminded(customer, "24h") == []
    assert len(reminded(customer, "1h")) == 1


def test_a_booking_confirmed_inside_its_last_day_gets_only_the_1h_reminder(confirmed, customer, vendor):
    # given: booked and accepted 3 hours before the start
    confirmed(now=START - timedelta(hours=3))
    # when
    sweep_every(5, start=START - timedelta(hours=3), end=START)
    # then
    for user in (customer, vendor.user):
        assert reminded(user, "24h") == []
        assert len(reminded(user, "1h")) == 1


def test_the_marker_decides_who_is_told(confirmed, customer, vendor):
    # given: a sweep that committed the customer's marker (and told them) before this one ran
    booking = confirmed()
    BookingReminder.objects.create(
        booking=booking,
        kind=ReminderKind.DAY_BEFORE,
        recipient=ReminderRecipient.CUSTOMER,
        user=customer,
        starts_at=booking.scheduled_at,
    )
    # when
    sent = send_due_reminders(now=START - DAY)
    # then: only the vendor is still owed the reminder
    assert sent == 1
    assert reminded(customer, "24h") == []
    assert len(reminded(vendor.user, "24h")) == 1


# --- who gets none --------------------------------------------------------------------------------


def test_cancelled_and_unconfirmed_bookings_get_no_reminders(make_booking, confirmed, customer, vendor):
    # given: one confirmed then cancelled, one still waiting for its vendor
    cancelled = confirmed()
    booking_cancel(booking=cancelled, user=customer, reason="plans changed", now=NOW + HOUR)
    waiting = make_booking(start=ist(3, 14), customer=customer, vendor=vendor)
    assert waiting.status == "pending"
    # when
    sweep_every(30, start=NOW, end=ist(3, 14))
    # then
    assert not Notification.objects.filter(kind__startswith="booking.reminder").exists()
    assert not BookingReminder.objects.exists()


def test_a_job_already_started_gets_no_1h_reminder(confirmed, customer, vendor):
    # given: the vendor arrived early and started 50 minutes before the time
    booking = confirmed()
    booking_start(booking=booking, user=vendor.user, now=START - timedelta(minutes=50))
    # when
    send_due_reminders(now=START - timedelta(minutes=45))
    # then
    assert reminded(customer, "1h") == []


# --- rescheduling and a change of vendor ----------------------------------------------------------


def test_a_booking_rescheduled_before_any_reminder_is_reminded_for_its_new_time(confirmed, customer, vendor):
    # given: moved from Thursday to Saturday 10:00, the vendor keeps it
    booking = confirmed()
    new_start = ist(5, 10)
    booking_reschedule(booking=booking, user=customer, scheduled_at=new_start, now=NOW + HOUR)
    # when
    sweep_every(30, start=NOW + HOUR, end=new_start)
    # then: nothing around the old time; one of each before the new one
    markers = BookingReminder.objects.filter(booking=booking)
    assert markers.count() == 4
    assert set(markers.values_list("starts_at", flat=True)) == {new_start}
    assert all(m.sent_at >= START for m in markers)  # none went out around the old start
    for user in (customer, vendor.user):
        assert len(reminded(user, "24h")) == 1
        assert len(reminded(user, "1h")) == 1


def test_a_reminder_already_sent_is_not_repeated_for_the_new_time(confirmed, customer, vendor, config):
    # given: rescheduling allowed until 12 h before; the 24 h reminder went out, then the
    # customer moved the booking a day later
    config.reschedule_min_hours_before = 12
    config.save()
    booking = confirmed()
    send_due_reminders(now=START - DAY)
    new_start = START + DAY
    booking_reschedule(booking=booking, user=customer, scheduled_at=new_start, now=START - timedelta(hours=20))
    # when
    sweep_every(30, start=START - timedelta(hours=20), end=new_start)
    # then: still one 24 h reminder (for the old time), and the 1 h one before the new time
    for user in (customer, vendor.user):
        [day_before] = reminded(user, "24h")
        assert "04 Mar 10:00" in day_before.title
        [hour_before] = reminded(user, "1h")
        assert datetime.fromisoformat(hour_before.data["starts_at"]) == new_start


def test_a_vendor_who_takes_the_booking_over_gets_the_reminders_still_due(confirmed, customer, vendor, service):
    # given: the 24 h reminders went out; then the vendor cancelled and another vendor took over
    replacement = VendorFactory(display_name="Replacement")
    VendorServiceFactory(vendor=replacement, service=service)
    booking = confirmed()
    send_due_reminders(now=START - DAY)
    booking_cancel(booking=booking, user=vendor.user, reason="van broke down", now=START - timedelta(hours=20))
    booking.refresh_from_db()
    assert booking.vendor == replacement
    took_over = START - timedelta(hours=20) + timedelta(minutes=5)
    booking_accept(booking=booking, user=replacement.user, now=took_over)
    # when
    sweep_every(10, start=took_over, end=START)
    # then: the customer is not reminded twice; the new vendor gets the 1 h reminder (confirmed
    # inside the last day, no 24 h one); the vendor who left gets nothing more
    assert (len(reminded(customer, "24h")), len(reminded(customer, "1h"))) == (1, 1)
    assert (len(reminded(vendor.user, "24h")), len(reminded(vendor.user, "1h"))) == (1, 0)
    assert (len(reminded(replacement.user, "24h")), len(reminded(replacement.user, "1h"))) == (0, 1)


# --- two sweeps at once (PostgreSQL row locks, real threads) --------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_sweeps_send_each_reminder_exactly_once(make_booking, service):
    # given: 5 vendors × 4 confirmed bookings tomorrow, all inside their 24 h window at `at`
    bookings = []
    for _ in range(5):
        vendor = VendorFactory()
        VendorServiceFactory(vendor=vendor, service=service)
        for hour in (8, 11, 14, 17):
            booking = make_booking(start=ist(2, hour), customer=CustomerFactory(), vendor=vendor)
            bookings.append(booking_accept(booking=booking, user=vendor.user, now=NOW))
    at = ist(1, 20)
    barrier = threading.Barrier(2)
    sent = [0, 0]
    errors = []

    def sweeper(index):
        try:
            barrier.wait(timeout=30)
            # small batches and several runs each, so the two sweeps interleave
            for _ in range(5):
                sent[index] += send_due_reminders(now=at, limit=5)
        except Exception as error:  # surfaced below: an exception in a thread is otherwise lost
            errors.append(error)
        finally:
            connection.close()

    # when
    threads = [threading.Thread(target=sweeper, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    # then
    assert errors == []
    assert sum(sent) == 40
    notifications = Notification.objects.filter(kind="booking.reminder_24h")
    assert notifications.count() == 40
    for booking in bookings:
        for user in (booking.customer, booking.vendor.user):
            assert notifications.filter(user=user, data__booking_id=str(booking.pk)).count() == 1
    assert BookingReminder.objects.count() == 40


# --- in bulk ----------------------------------------------------------------------------------------


def test_a_sweep_costs_the_same_queries_for_2_and_8_bookings(make_booking, service):
    # given: two vendors with one confirmed booking each on day 2, and four with two each on day 3
    def confirmed_on(day, vendors, hours):
        for _ in range(vendors):
            vendor = VendorFactory()
            VendorServiceFactory(vendor=vendor, service=service)
            for hour in hours:
                booking = make_booking(start=ist(day, hour), vendor=vendor)
                booking_accept(booking=booking, user=vendor.user, now=NOW)

    confirmed_on(2, 2, (9,))
    confirmed_on(3, 4, (9, 14))

    def sweep(at):
        with CaptureQueriesContext(connection) as queries:
            sent = send_due_reminders(now=at)
        return sent, len(queries.captured_queries)

    # when: each day's 24 h reminders go out (customer and vendor each)
    small = sweep(ist(1, 16))
    large = sweep(ist(2, 16))
    # then: markers and notifications are written in bulk, whatever the number of bookings
    assert (small[0], large[0]) == (4, 16)
    assert small[1] == large[1]
    assert Notification.objects.filter(kind="booking.reminder_24h").count() == 20
