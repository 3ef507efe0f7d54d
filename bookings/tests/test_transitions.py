"""The booking status machine (ARCHITECTURE §5), cancellation money and rescheduling (§4)."""

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from bookings.models import BookingEvent, BookingOffer, BookingStatus, CancelledBy, OfferOutcome
from bookings.services.common import BookingConflict
from bookings.services.transitions import (
    booking_accept,
    booking_cancel,
    booking_complete,
    booking_expire,
    booking_reject,
    booking_reschedule,
    booking_start,
    expire_stale_bookings,
)
from bookings.tests.conftest import NOW, ist
from bookings.tests.factories import VendorServiceFactory
from bookings.tests.photos import add_job_photos, add_photo
from core.errors import InvalidInput
from core.models import AuditLog
from core.tests.factories import CustomerFactory, VendorFactory

pytestmark = pytest.mark.django_db

START = ist(3, 10)  # Thursday 4 March 2027, 10:00–12:00; booked at NOW, Monday 08:00
MINUTE = timedelta(minutes=1)
SECOND = timedelta(seconds=1)


@pytest.fixture
def booking(make_booking, customer, vendor):
    """Pending, offered to the vendor the customer chose (vendor price 600.00 → total 708.00)."""
    return make_booking(customer=customer, vendor=vendor, start=START)


def accept(booking, vendor, now=NOW + MINUTE):
    return booking_accept(booking=booking, user=vendor.user, now=now)


def state(booking):
    """Everything a refused transition must leave as it was."""
    booking.refresh_from_db()
    return (
        booking.status,
        booking.vendor_id,
        booking.scheduled_at,
        booking.cancelled_by,
        booking.refund_amount,
        booking.reschedule_count,
        BookingEvent.objects.filter(booking=booking).count(),
        AuditLog.objects.filter(object_id=str(booking.pk)).count(),
        sorted(BookingOffer.objects.filter(booking=booking).values_list("outcome", flat=True)),
    )


def assert_transition_recorded(booking, *, event, from_status, to_status, actor):
    entry = BookingEvent.objects.filter(booking=booking).order_by("-created_at", "-id").first()
    assert (entry.event, entry.from_status, entry.to_status, entry.actor) == (event, from_status, to_status, actor)
    audit = AuditLog.objects.filter(object_id=str(booking.pk), action=f"booking.{event}")
    assert audit.count() == 1
    assert audit.get().actor == actor
    assert audit.get().new_values["status"] == to_status


# --- the allowed transitions ---------------------------------------------------------------------


def test_accept_confirms_the_booking(booking, vendor):
    booking = accept(booking, vendor)

    assert booking.status == BookingStatus.CONFIRMED
    assert booking.confirmed_at == NOW + MINUTE
    assert BookingOffer.objects.get(booking=booking).outcome == OfferOutcome.ACCEPTED
    assert_transition_recorded(
        booking, event="accepted", from_status="pending", to_status="confirmed", actor=vendor.user
    )


def test_start_puts_the_booking_in_progress(booking, vendor):
    accept(booking, vendor)

    booking = booking_start(booking=booking, user=vendor.user, now=START - timedelta(minutes=5))

    assert booking.status == BookingStatus.IN_PROGRESS
    assert booking.started_at == START - timedelta(minutes=5)
    assert_transition_recorded(
        booking, event="started", from_status="confirmed", to_status="in_progress", actor=vendor.user
    )


def test_complete_finishes_the_job(booking, vendor):
    accept(booking, vendor)
    booking_start(booking=booking, user=vendor.user, now=START)
    add_job_photos(booking)

    booking = booking_complete(booking=booking, user=vendor.user, now=START + timedelta(hours=2))

    assert booking.status == BookingStatus.COMPLETED
    assert booking.completed_at == START + timedelta(hours=2)
    assert_transition_recorded(
        booking, event="completed", from_status="in_progress", to_status="completed", actor=vendor.user
    )


@pytest.mark.parametrize("confirmed", [False, True])
def test_customer_cancels_a_pending_or_confirmed_booking(booking, vendor, customer, confirmed):
    if confirmed:
        accept(booking, vendor)

    booking = booking_cancel(booking=booking, user=customer, reason="plans changed", now=NOW + timedelta(hours=1))

    assert booking.status == BookingStatus.CANCELLED
    assert booking.cancelled_by == CancelledBy.CUSTOMER
    assert booking.cancelled_at == NOW + timedelta(hours=1)
    assert booking.cancellation_reason == "plans changed"
    from_status = "confirmed" if confirmed else "pending"
    assert_transition_recorded(
        booking, event="cancelled", from_status=from_status, to_status="cancelled", actor=customer
    )


@pytest.mark.parametrize("status", ["pending", "confirmed", "in_progress"])
def test_ops_cancel_from_any_open_status(booking, vendor, ops, status):
    # given
    if status != "pending":
        accept(booking, vendor)
    if status == "in_progress":
        booking_start(booking=booking, user=vendor.user, now=START)
    # when
    booking = booking_cancel(booking=booking, user=ops, reason="customer called", now=START + MINUTE)
    # then
    assert booking.status == BookingStatus.CANCELLED
    assert booking.cancelled_by == CancelledBy.OPS
    assert booking.refund_amount == Decimal("708.00")
    assert booking.cancellation_fee == Decimal("0.00")
    assert_transition_recorded(booking, event="cancelled", from_status=status, to_status="cancelled", actor=ops)


def test_a_cancelled_booking_withdraws_the_open_offer(booking, customer):
    booking_cancel(booking=booking, user=customer, now=NOW + MINUTE)

    assert BookingOffer.objects.get(booking=booking).outcome == OfferOutcome.WITHDRAWN


def test_expire_a_pending_booking(booking):
    booking = booking_expire(booking=booking, now=START + MINUTE)

    assert booking.status == BookingStatus.EXPIRED
    assert BookingOffer.objects.get(booking=booking).outcome == OfferOutcome.WITHDRAWN
    assert_transition_recorded(booking, event="expired", from_status="pending", to_status="expired", actor=None)


def test_expire_stale_bookings_sweeps_pending_bookings_whose_start_passed(make_booking, vendor):
    # given: two pending bookings in the past, one pending in the future, one confirmed in the past
    stale = [make_booking(vendor=vendor, start=ist(1, hour)) for hour in (9, 12)]
    future = make_booking(vendor=vendor, start=ist(2, 9))
    confirmed = make_booking(vendor=vendor, start=ist(1, 15))
    accept(confirmed, vendor)
    # when
    swept = expire_stale_bookings(now=ist(1, 16))
    again = expire_stale_bookings(now=ist(1, 16))
    # then
    assert (swept, again) == (2, 0)
    for booking in stale:
        booking.refresh_from_db()
        assert booking.status == BookingStatus.EXPIRED
    future.refresh_from_db()
    confirmed.refresh_from_db()
    assert future.status == BookingStatus.PENDING
    assert confirmed.status == BookingStatus.CONFIRMED


@pytest.mark.parametrize(
    ("kinds", "missing"),
    [((), "before and one after"), (("before",), "after"), (("after", "after"), "before")],
)
def test_completing_needs_a_before_and_an_after_photo(booking, vendor, kinds, missing):
    # given a job in progress photographed with only ``kinds``
    accept(booking, vendor)
    booking_start(booking=booking, user=vendor.user, now=START)
    for kind in kinds:
        add_photo(booking, kind=kind)
    before = state(booking)
    # when
    with pytest.raises(BookingConflict) as caught:
        booking_complete(booking=booking, user=vendor.user, now=START + timedelta(hours=2))
    # then the job stays in progress and the answer names what is missing
    assert caught.value.status_code == 409
    assert f"at least one {missing} photo" in str(caught.value)
    assert state(booking) == before


# --- refused transitions -------------------------------------------------------------------------


def _to_status(booking, status, vendor, customer):
    if status in ("confirmed", "in_progress", "completed"):
        accept(booking, vendor)
    if status in ("in_progress", "completed"):
        booking_start(booking=booking, user=vendor.user, now=START)
    if status == "completed":
        add_job_photos(booking)
        booking_complete(booking=booking, user=vendor.user, now=START + timedelta(hours=2))
    if status == "cancelled":
        booking_cancel(booking=booking, user=customer, now=NOW + MINUTE)
    if status == "expired":
        booking_expire(booking=booking, now=START + MINUTE)


def _action(name, booking, vendor, customer, ops):
    later = START + timedelta(hours=3)
    return {
        "accept": lambda: booking_accept(booking=booking, user=vendor.user, now=NOW + 2 * MINUTE),
        "reject": lambda: booking_reject(booking=booking, user=vendor.user, now=NOW + 2 * MINUTE),
        "start": lambda: booking_start(booking=booking, user=vendor.user, now=START),
        "complete": lambda: booking_complete(booking=booking, user=vendor.user, now=later),
        "customer_cancel": lambda: booking_cancel(booking=booking, user=customer, now=later),
        "vendor_cancel": lambda: booking_cancel(booking=booking, user=vendor.user, now=later),
        "ops_cancel": lambda: booking_cancel(booking=booking, user=ops, reason="ops", now=later),
        "expire": lambda: booking_expire(booking=booking, now=later),
        "reschedule": lambda: booking_reschedule(booking=booking, user=customer, scheduled_at=ist(6, 10), now=NOW),
    }[name]


FORBIDDEN = [
    ("pending", "start"),
    ("pending", "complete"),
    ("pending", "vendor_cancel"),  # the offered vendor rejects instead
    ("confirmed", "complete"),
    ("confirmed", "expire"),
    ("confirmed", "reject"),
    ("in_progress", "accept"),
    ("in_progress", "reject"),
    ("in_progress", "customer_cancel"),
    ("in_progress", "vendor_cancel"),
    ("in_progress", "expire"),
    ("in_progress", "reschedule"),
    ("completed", "accept"),
    ("completed", "start"),
    ("completed", "customer_cancel"),
    ("completed", "vendor_cancel"),
    ("completed", "ops_cancel"),
    ("completed", "expire"),
    ("completed", "reschedule"),
    ("cancelled", "accept"),
    ("cancelled", "start"),
    ("cancelled", "complete"),
    ("cancelled", "vendor_cancel"),
    ("cancelled", "ops_cancel"),  # cancelled by the customer: not a repeat by the same actor
    ("cancelled", "expire"),
    ("cancelled", "reschedule"),
    ("expired", "accept"),
    ("expired", "start"),
    ("expired", "complete"),
    ("expired", "customer_cancel"),
    ("expired", "ops_cancel"),
    ("expired", "reschedule"),
]


@pytest.mark.parametrize(("status", "action"), FORBIDDEN)
def test_a_forbidden_transition_is_a_conflict_and_changes_nothing(booking, vendor, customer, ops, status, action):
    # given
    _to_status(booking, status, vendor, customer)
    before = state(booking)
    assert before[0] == status
    # when
    with pytest.raises(BookingConflict) as caught:
        _action(action, booking, vendor, customer, ops)()
    # then
    assert caught.value.extra == {"status": status}
    assert caught.value.status_code == 409
    assert state(booking) == before


REPEATS = [
    ("confirmed", "accept"),
    ("in_progress", "start"),
    ("completed", "complete"),
    ("cancelled", "customer_cancel"),
    ("expired", "expire"),
]


@pytest.mark.parametrize(("status", "action"), REPEATS)
def test_repeating_the_same_transition_returns_the_booking_unchanged(booking, vendor, customer, ops, status, action):
    # given
    _to_status(booking, status, vendor, customer)
    before = state(booking)
    # when
    result = _action(action, booking, vendor, customer, ops)()
    # then
    assert result.pk == booking.pk
    assert result.status == status
    assert state(booking) == before


def test_repeating_an_ops_cancellation_changes_nothing(booking, ops):
    booking_cancel(booking=booking, user=ops, reason="duplicate", refund_amount=Decimal("100.00"), now=NOW + MINUTE)
    before = state(booking)

    again = booking_cancel(booking=booking, user=ops, reason="duplicate", now=NOW + 2 * MINUTE)

    assert again.refund_amount == Decimal("100.00")
    assert state(booking) == before


def test_repeating_a_rejection_changes_nothing(make_booking, vendor, service):
    # given: two vendors; the first rejected and the booking moved on
    other = VendorFactory(display_name="Other")
    VendorServiceFactory(vendor=other, service=service)
    booking = make_booking(start=START)
    first = booking.vendor
    booking_reject(booking=booking, user=first.user, now=NOW + MINUTE)
    before = state(booking)
    # when
    booking_reject(booking=booking, user=first.user, now=NOW + 2 * MINUTE)
    # then
    assert state(booking) == before


def test_repeating_a_reschedule_to_the_same_time_changes_nothing(booking, vendor, customer):
    accept(booking, vendor)
    booking_reschedule(booking=booking, user=customer, scheduled_at=ist(5, 14), now=NOW + timedelta(hours=1))
    before = state(booking)

    booking_reschedule(booking=booking, user=customer, scheduled_at=ist(5, 14), now=NOW + timedelta(hours=1))

    assert state(booking) == before
    assert before[5] == 1


# --- starting early ------------------------------------------------------------------------------


def test_start_is_refused_earlier_than_the_allowed_minutes(booking, vendor):
    # given: 60 minutes early is allowed by default
    accept(booking, vendor)
    before = state(booking)
    # when / then
    with pytest.raises(BookingConflict) as caught:
        booking_start(booking=booking, user=vendor.user, now=START - timedelta(minutes=60) - SECOND)
    assert caught.value.extra == {"status": "confirmed"}
    assert state(booking) == before
    started = booking_start(booking=booking, user=vendor.user, now=START - timedelta(minutes=60))
    assert started.status == BookingStatus.IN_PROGRESS


def test_start_early_window_comes_from_the_settings(booking, vendor, config):
    config.start_early_minutes = 15
    config.save()
    accept(booking, vendor)

    with pytest.raises(BookingConflict):
        booking_start(booking=booking, user=vendor.user, now=START - timedelta(minutes=16))
    assert booking_start(booking=booking, user=vendor.user, now=START - timedelta(minutes=15)).status == "in_progress"


# --- cancellation money --------------------------------------------------------------------------


@pytest.fixture
def odd_price(vendor, service):
    """599.99 → tax 108.00 → total 707.99, so half of it lands on a half cent."""
    vendor.services.filter(service=service).update(price=Decimal("599.99"))


@pytest.fixture
def confirmed_booking(odd_price, booking, vendor):
    booking.refresh_from_db()
    assert booking.total == Decimal("707.99")
    return accept(booking, vendor)


def cancel_as_customer(booking, now):
    return booking_cancel(booking=booking, user=booking.customer, reason="", now=now)


@pytest.mark.parametrize(
    ("before_start", "fee", "refund", "reason"),
    [
        (timedelta(hours=30), "0.00", "707.99", "early"),
        (timedelta(hours=24), "0.00", "707.99", "early"),
        (timedelta(hours=24) - SECOND, "354.00", "353.99", "late"),  # 353.995 → 354.00
        (timedelta(hours=12), "354.00", "353.99", "late"),
        (timedelta(hours=6), "354.00", "353.99", "late"),
        (timedelta(hours=6) - SECOND, "707.99", "0.00", "very_late"),
        (timedelta(minutes=10), "707.99", "0.00", "very_late"),
    ],
)
def test_customer_cancellation_windows(confirmed_booking, before_start, fee, refund, reason):
    booking = cancel_as_customer(confirmed_booking, START - before_start)

    assert booking.status == BookingStatus.CANCELLED
    assert booking.cancellation_fee == Decimal(fee)
    assert booking.refund_amount == Decimal(refund)
    assert booking.cancellation_reason == reason


def test_cancelling_within_five_minutes_of_booking_is_free_however_close_the_start(
    make_booking, odd_price, customer, vendor
):
    # given: booked at NOW for three hours later, confirmed at once
    soon = make_booking(customer=customer, vendor=vendor, start=NOW + timedelta(hours=3))
    accept(soon, vendor)
    # when
    booking = cancel_as_customer(soon, NOW + timedelta(minutes=5))
    # then
    assert booking.cancellation_fee == Decimal("0.00")
    assert booking.refund_amount == Decimal("707.99")
    assert booking.cancellation_reason == "grace_period"


def test_after_five_minutes_a_cancellation_close_to_the_start_keeps_everything(
    make_booking, odd_price, customer, vendor
):
    soon = make_booking(customer=customer, vendor=vendor, start=NOW + timedelta(hours=3))
    accept(soon, vendor)

    booking = cancel_as_customer(soon, NOW + timedelta(minutes=5) + SECOND)

    assert booking.cancellation_fee == Decimal("707.99")
    assert booking.refund_amount == Decimal("0.00")


def test_an_unconfirmed_booking_cancels_free_even_at_the_last_minute(odd_price, booking):
    booking = cancel_as_customer(booking, START - MINUTE)

    assert booking.cancellation_fee == Decimal("0.00")
    assert booking.refund_amount == Decimal("707.99")


def test_the_late_fee_percentage_comes_from_the_settings(confirmed_booking, config):
    config.late_cancel_fee_percent = 25
    config.save()

    booking = cancel_as_customer(confirmed_booking, START - timedelta(hours=12))

    assert booking.cancellation_fee == Decimal("177.00")  # 176.9975
    assert booking.refund_amount == Decimal("530.99")


def test_ops_cancellation_refunds_in_full_by_default(confirmed_booking, ops):
    booking = booking_cancel(booking=confirmed_booking, user=ops, reason="vendor no-show", now=START - MINUTE)

    assert booking.refund_amount == Decimal("707.99")
    assert booking.cancellation_fee == Decimal("0.00")
    assert booking.cancellation_reason == "vendor no-show"


@pytest.mark.parametrize(("amount", "fee"), [("100.00", "607.99"), ("0.00", "707.99"), ("707.99", "0.00")])
def test_ops_can_set_another_refund_with_a_reason(confirmed_booking, ops, amount, fee):
    booking = booking_cancel(
        booking=confirmed_booking, user=ops, reason="partial job done", refund_amount=Decimal(amount), now=START
    )

    assert booking.status == BookingStatus.CANCELLED
    assert booking.refund_amount == Decimal(amount)
    assert booking.cancellation_fee == Decimal(fee)
    assert booking.cancellation_reason == "partial job done"


@pytest.mark.parametrize(
    ("amount", "reason", "field"),
    [
        ("100.00", "", "reason"),
        ("-0.01", "goodwill", "refund_amount"),
        ("708.00", "goodwill", "refund_amount"),
    ],
)
def test_ops_refund_override_is_validated(confirmed_booking, ops, amount, reason, field):
    before = state(confirmed_booking)

    with pytest.raises(InvalidInput) as caught:
        booking_cancel(booking=confirmed_booking, user=ops, reason=reason, refund_amount=Decimal(amount), now=START)

    assert field in caught.value.fields
    assert state(confirmed_booking) == before


def test_only_ops_may_set_the_refund(confirmed_booking):
    before = state(confirmed_booking)

    with pytest.raises(InvalidInput) as caught:
        booking_cancel(
            booking=confirmed_booking,
            user=confirmed_booking.customer,
            reason="please",
            refund_amount=Decimal("707.99"),
            now=START - MINUTE,
        )

    assert "refund_amount" in caught.value.fields
    assert state(confirmed_booking) == before


# --- rescheduling --------------------------------------------------------------------------------


@pytest.fixture
def confirmed(booking, vendor):
    return accept(booking, vendor)


def reschedule(booking, to, now=NOW + timedelta(hours=1)):
    return booking_reschedule(booking=booking, user=booking.customer, scheduled_at=to, now=now)


def test_reschedule_keeps_the_vendor_when_free(confirmed, vendor, customer):
    # when
    booking = reschedule(confirmed, ist(5, 14))
    # then
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED
    assert booking.vendor == vendor
    assert booking.scheduled_at == ist(5, 14)
    assert booking.ends_at == ist(5, 16)
    assert booking.blocked_until == ist(5, 16, 30)
    assert booking.reschedule_count == 1
    assert booking.total == Decimal("708.00")
    assert BookingEvent.objects.filter(booking=booking, event="rescheduled", actor=customer).count() == 1
    assert AuditLog.objects.filter(object_id=str(booking.pk), action="booking.rescheduled").count() == 1


def test_reschedule_at_most_twice(confirmed):
    reschedule(confirmed, ist(5, 14))
    reschedule(confirmed, ist(6, 14))
    before = state(confirmed)

    with pytest.raises(BookingConflict) as caught:
        reschedule(confirmed, ist(7, 14))

    assert caught.value.extra == {"status": "confirmed"}
    assert state(confirmed) == before
    assert confirmed.scheduled_at == ist(6, 14)


def test_reschedule_needs_24_hours_before_the_current_start(confirmed):
    assert reschedule(confirmed, ist(5, 14), now=START - timedelta(hours=24)).scheduled_at == ist(5, 14)
    before = state(confirmed)

    with pytest.raises(BookingConflict) as caught:
        reschedule(confirmed, ist(6, 14), now=ist(5, 14) - timedelta(hours=24) + SECOND)

    assert caught.value.extra == {"status": "confirmed"}
    assert state(confirmed) == before


def test_reschedule_to_a_time_the_vendor_is_busy_reoffers_the_booking(make_booking, confirmed, vendor, service):
    # given: the vendor is taken at the new time; another vendor is free
    taken = make_booking(vendor=vendor, start=ist(5, 14))
    accept(taken, vendor)
    other = VendorFactory(display_name="Other")
    VendorServiceFactory(vendor=other, service=service)
    # when
    reschedule(confirmed, ist(5, 15))
    # then
    confirmed.refresh_from_db()
    assert confirmed.status == BookingStatus.PENDING
    assert confirmed.vendor == other
    assert confirmed.confirmed_at is None
    assert confirmed.scheduled_at == ist(5, 15)
    assert confirmed.total == Decimal("708.00")  # the customer keeps the price
    assert BookingOffer.objects.get(booking=confirmed, vendor=vendor).outcome == OfferOutcome.WITHDRAWN
    assert BookingOffer.objects.get(booking=confirmed, vendor=other).outcome == OfferOutcome.PENDING


def test_reschedule_outside_the_vendors_hours_with_nobody_else_goes_to_ops(confirmed, vendor):
    # when: 19:00–21:00 ends after the vendor's 20:00
    reschedule(confirmed, ist(5, 19))
    # then
    confirmed.refresh_from_db()
    assert confirmed.status == BookingStatus.PENDING
    assert confirmed.vendor is None
    assert confirmed.needs_manual_assignment is True
    assert confirmed.scheduled_at == ist(5, 19)


def test_reschedule_of_a_pending_booking_replaces_the_open_offer_with_one_for_the_new_time(booking, vendor):
    # given: the vendor holds an open offer for the old time
    old_offer = BookingOffer.objects.get(booking=booking)
    # when
    reschedule(booking, ist(5, 14), now=NOW + 5 * MINUTE)
    # then: the old offer is withdrawn and the vendor (still free) gets a fresh one, with a
    # fresh deadline, for the new time
    booking.refresh_from_db()
    old_offer.refresh_from_db()
    assert booking.status == BookingStatus.PENDING
    assert booking.vendor == vendor
    assert old_offer.outcome == OfferOutcome.WITHDRAWN
    new_offer = BookingOffer.objects.get(booking=booking, outcome=OfferOutcome.PENDING)
    assert new_offer.vendor == vendor
    assert new_offer.expires_at == NOW + 5 * MINUTE + 15 * MINUTE
    assert accept(booking, vendor, now=NOW + 6 * MINUTE).status == BookingStatus.CONFIRMED


def test_reschedule_of_a_booking_waiting_for_ops_offers_it_again(make_booking, vendor, service):
    # given: every vendor declined, so the booking waits for ops; then a new vendor joins
    booking = make_booking(start=START)
    for _ in range(2):
        extra = VendorFactory()
        VendorServiceFactory(vendor=extra, service=service)
    for minute in (1, 2, 3):
        booking.refresh_from_db()
        if booking.vendor is not None:
            booking_reject(booking=booking, user=booking.vendor.user, now=NOW + minute * MINUTE)
    booking.refresh_from_db()
    assert booking.needs_manual_assignment is True
    newcomer = VendorFactory(display_name="Newcomer")
    VendorServiceFactory(vendor=newcomer, service=service)
    # when: the customer moves it to another day
    reschedule(booking, ist(5, 14))
    # then: a new round of offers starts for the new time; vendors who declined the old time
    # may be asked again about the new one
    booking.refresh_from_db()
    assert booking.vendor is not None
    assert booking.needs_manual_assignment is False
    open_offer = BookingOffer.objects.get(booking=booking, outcome=OfferOutcome.PENDING)
    assert open_offer.vendor == booking.vendor
    assert open_offer.sent_at >= booking.offer_round_started_at
    assert booking.offer_round_reason == "rescheduled"


@pytest.mark.parametrize(
    "to",
    [
        ist(5, 14, 15),  # off the 30-minute grid
        ist(5, 14, 0) + timedelta(seconds=30),
        NOW + timedelta(hours=2) - MINUTE,  # under 2 hours' notice from the reschedule
        ist(31, 10),  # more than 30 days ahead
        NOW - timedelta(days=1),
    ],
)
def test_reschedule_validates_the_new_time(confirmed, to):
    before = state(confirmed)

    with pytest.raises(InvalidInput) as caught:
        reschedule(confirmed, to, now=NOW + MINUTE)

    assert "scheduled_at" in caught.value.fields
    assert state(confirmed) == before


def test_reschedule_refuses_a_naive_time(confirmed):
    with pytest.raises(InvalidInput) as caught:
        reschedule(confirmed, datetime(2027, 3, 9, 14, 0))

    assert "scheduled_at" in caught.value.fields


def test_a_later_round_after_a_vendor_cancellation_goes_to_ops_instead_of_cancelling(make_booking, vendor, service):
    # given: vendor A accepts, then cancels; the re-offer reaches vendor B, who accepts
    other = VendorFactory(display_name="Backup")
    VendorServiceFactory(vendor=other, service=service)
    customer = CustomerFactory()
    booking = make_booking(start=ist(5, 10), vendor=vendor, customer=customer)
    accept(booking, vendor)
    booking_cancel(booking=booking, user=vendor.user, reason="Van broke down", now=NOW + 2 * MINUTE)
    booking.refresh_from_db()
    assert booking.vendor == other and booking.offer_round_reason == "vendor_cancelled"
    accept(booking, other, now=NOW + 3 * MINUTE)
    # and B is busy at the time the customer moves to
    make_booking(start=ist(6, 10), vendor=other)
    # when
    reschedule_to = ist(6, 10)
    booking_reschedule(booking=booking, user=customer, scheduled_at=reschedule_to, now=NOW + 4 * MINUTE)
    # then: nobody can take the new time (A cancelled, B busy), so ops assign it; the earlier
    # vendor cancellation does not turn this round's failure into a cancellation
    booking.refresh_from_db()
    assert booking.status == BookingStatus.PENDING
    assert booking.vendor is None
    assert booking.needs_manual_assignment is True
    assert booking.offer_round_reason == "rescheduled"
