"""Vendor availability (ARCHITECTURE §5): working hours − time off − holding bookings with the
travel buffer, on a 30-minute grid in the platform time zone, sized by the visit's length."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bookings.availability import free_slots, vendor_can_take
from bookings.services.transitions import booking_accept, booking_cancel, booking_expire, booking_reschedule
from bookings.tests.conftest import NOW, ist
from bookings.tests.factories import VendorServiceFactory
from core.models import VendorTimeOff
from core.tests.factories import VendorFactory

pytestmark = pytest.mark.django_db

TWO_HOURS = timedelta(hours=2)
DAY = 3  # Thursday 4 March 2027, three days after NOW


def starts(slots):
    return [(slot.start.astimezone(ZoneInfo("Asia/Kolkata")).strftime("%H:%M")) for slot in slots]


def half_hours(first: str, last: str):
    """["08:00", "08:30", …, last] in local wall time."""
    hour, minute = map(int, first.split(":"))
    out = []
    while True:
        out.append(f"{hour:02d}:{minute:02d}")
        if out[-1] == last:
            return out
        minute += 30
        hour, minute = hour + minute // 60, minute % 60


def confirmed(make_booking, vendor, start):
    booking = make_booking(vendor=vendor, start=start)
    return booking_accept(booking=booking, user=vendor.user, now=NOW)


# --- the grid ------------------------------------------------------------------------------------


def test_slots_on_a_half_hour_grid_inside_working_hours(vendor):
    slots = free_slots(vendor, ist(DAY, 0).date(), TWO_HOURS, now=NOW)

    # 08:00–20:00 for a two-hour visit: the last start is 18:00
    assert starts(slots) == half_hours("08:00", "18:00")
    assert all(slot.end - slot.start == TWO_HOURS for slot in slots)
    assert slots[0].start == ist(DAY, 8)
    assert slots[-1].end == ist(DAY, 20)


@pytest.mark.parametrize(
    ("minutes", "last"),
    [(30, "19:30"), (45, "19:00"), (90, "18:30"), (240, "16:00"), (720, "08:00")],
)
def test_slots_are_sized_by_the_visit(vendor, minutes, last):
    slots = free_slots(vendor, ist(DAY, 0).date(), timedelta(minutes=minutes), now=NOW)

    assert starts(slots) == half_hours("08:00", last)
    assert all(slot.end - slot.start == timedelta(minutes=minutes) for slot in slots)


def test_a_visit_longer_than_the_working_day_has_no_slot(vendor):
    assert free_slots(vendor, ist(DAY, 0).date(), timedelta(hours=12, minutes=30), now=NOW) == []


def test_split_working_hours_and_a_window_starting_off_the_grid(vendor):
    # given: Thursday 09:10–12:00 and 13:00–15:00
    vendor.working_hours = {"3": [["09:10", "12:00"], ["13:00", "15:00"]]}
    vendor.save()
    # when
    slots = free_slots(vendor, ist(DAY, 0).date(), timedelta(hours=1), now=NOW)
    # then: the first grid line inside the window is 09:30; no visit spans the lunch break
    assert starts(slots) == ["09:30", "10:00", "10:30", "11:00", "13:00", "13:30", "14:00"]


def test_no_slots_on_a_day_off(vendor):
    vendor.working_hours = {"0": [["08:00", "20:00"]]}  # Mondays only
    vendor.save()

    assert free_slots(vendor, ist(DAY, 0).date(), TWO_HOURS, now=NOW) == []
    assert free_slots(vendor, ist(7, 0).date(), TWO_HOURS, now=NOW) != []  # next Monday


# --- time off and bookings -----------------------------------------------------------------------


def test_time_off_removes_the_slots_it_overlaps(vendor):
    VendorTimeOff.objects.create(vendor=vendor, starts_at=ist(DAY, 12), ends_at=ist(DAY, 14))

    slots = free_slots(vendor, ist(DAY, 0).date(), TWO_HOURS, now=NOW)

    # a visit may end as the time off starts and start as it ends
    assert starts(slots) == half_hours("08:00", "10:00") + half_hours("14:00", "18:00")


def test_time_off_over_the_whole_day(vendor):
    VendorTimeOff.objects.create(vendor=vendor, starts_at=ist(DAY - 1, 18), ends_at=ist(DAY + 1, 6))

    assert free_slots(vendor, ist(DAY, 0).date(), TWO_HOURS, now=NOW) == []


def test_a_holding_booking_blocks_its_time_plus_the_travel_buffer_on_both_sides(make_booking, vendor):
    # given: a confirmed booking 12:00–14:00 (held until 14:30)
    confirmed(make_booking, vendor, ist(DAY, 12))
    # when
    slots = free_slots(vendor, ist(DAY, 0).date(), TWO_HOURS, now=NOW)
    # then: a visit must end 30 minutes before 12:00 and may start 30 minutes after 14:00
    assert starts(slots) == half_hours("08:00", "09:30") + half_hours("14:30", "18:00")


def test_a_pending_offered_booking_holds_the_time_too(make_booking, vendor):
    make_booking(vendor=vendor, start=ist(DAY, 12))  # pending, offered to the vendor

    slots = free_slots(vendor, ist(DAY, 0).date(), TWO_HOURS, now=NOW)

    assert starts(slots) == half_hours("08:00", "09:30") + half_hours("14:30", "18:00")


def test_a_booking_the_evening_before_does_not_reach_into_the_morning(make_booking, vendor):
    confirmed(make_booking, vendor, ist(DAY - 1, 18))

    slots = free_slots(vendor, ist(DAY, 0).date(), TWO_HOURS, now=NOW)

    assert starts(slots) == half_hours("08:00", "18:00")


def test_a_cancelled_booking_frees_its_time(make_booking, vendor):
    # given
    booking = confirmed(make_booking, vendor, ist(DAY, 12))
    # when
    booking_cancel(booking=booking, user=booking.customer, now=NOW + timedelta(minutes=1))
    # then
    assert starts(free_slots(vendor, ist(DAY, 0).date(), TWO_HOURS, now=NOW)) == half_hours("08:00", "18:00")


def test_an_expired_booking_frees_its_time(make_booking, vendor):
    booking = make_booking(vendor=vendor, start=ist(DAY, 12))

    booking_expire(booking=booking, now=NOW + timedelta(minutes=20))

    assert starts(free_slots(vendor, ist(DAY, 0).date(), TWO_HOURS, now=NOW)) == half_hours("08:00", "18:00")


def test_another_vendors_booking_does_not_block(make_booking, vendor, service):
    other = VendorFactory()
    VendorServiceFactory(vendor=other, service=service)
    confirmed(make_booking, other, ist(DAY, 12))

    assert starts(free_slots(vendor, ist(DAY, 0).date(), TWO_HOURS, now=NOW)) == half_hours("08:00", "18:00")


# --- notice and horizon --------------------------------------------------------------------------


def test_min_notice(vendor):
    # given: two hours' notice from 07:00 → 09:00; from 07:10 → 09:10, the next grid line is 09:30
    day = ist(DAY, 0).date()
    # when / then
    assert starts(free_slots(vendor, day, TWO_HOURS, now=ist(DAY, 7)))[0] == "09:00"
    assert starts(free_slots(vendor, day, TWO_HOURS, now=ist(DAY, 7, 10)))[0] == "09:30"
    assert free_slots(vendor, day, TWO_HOURS, now=ist(DAY, 16, 1)) == []  # 18:01 is after the last start


def test_max_days_ahead(vendor, config):
    # given: 30 days ahead of 10:00 today ends at 10:00 on day 30
    now = ist(0, 10)
    # when / then
    assert starts(free_slots(vendor, ist(30, 0).date(), TWO_HOURS, now=now)) == half_hours("08:00", "10:00")
    assert free_slots(vendor, ist(31, 0).date(), TWO_HOURS, now=now) == []
    # a longer horizon in the settings opens the day
    config.max_days_ahead = 31
    config.save()
    assert starts(free_slots(vendor, ist(31, 0).date(), TWO_HOURS, now=now)) == half_hours("08:00", "10:00")


# --- vendor_can_take -----------------------------------------------------------------------------


def test_vendor_can_take_inside_free_working_hours(vendor, config):
    assert vendor_can_take(vendor, ist(DAY, 8), ist(DAY, 10), config=config) is True
    assert vendor_can_take(vendor, ist(DAY, 18), ist(DAY, 20), config=config) is True


@pytest.mark.parametrize(("start", "end"), [((7, 30), (9, 30)), ((18, 30), (20, 30)), ((21, 0), (22, 0))])
def test_vendor_cannot_take_outside_working_hours(vendor, config, start, end):
    assert vendor_can_take(vendor, ist(DAY, *start), ist(DAY, *end), config=config) is False


def test_vendor_can_take_respects_bookings_and_the_buffer(make_booking, vendor, config):
    # given: a confirmed booking 12:00–14:00
    booking = confirmed(make_booking, vendor, ist(DAY, 12))
    # then
    assert vendor_can_take(vendor, ist(DAY, 9, 30), ist(DAY, 11, 30), config=config) is True
    assert vendor_can_take(vendor, ist(DAY, 10), ist(DAY, 12), config=config) is False  # no travel time
    assert vendor_can_take(vendor, ist(DAY, 13), ist(DAY, 15), config=config) is False
    assert vendor_can_take(vendor, ist(DAY, 14), ist(DAY, 16), config=config) is False  # no travel time
    assert vendor_can_take(vendor, ist(DAY, 14, 30), ist(DAY, 16, 30), config=config) is True
    # the booking itself does not count when it is the one being moved
    assert vendor_can_take(vendor, ist(DAY, 13), ist(DAY, 15), config=config, exclude_booking_id=booking.pk) is True


def test_vendor_can_take_respects_time_off(vendor, config):
    VendorTimeOff.objects.create(vendor=vendor, starts_at=ist(DAY, 12), ends_at=ist(DAY, 14))

    assert vendor_can_take(vendor, ist(DAY, 11), ist(DAY, 13), config=config) is False
    assert vendor_can_take(vendor, ist(DAY, 10), ist(DAY, 12), config=config) is True
    assert vendor_can_take(vendor, ist(DAY, 14), ist(DAY, 16), config=config) is True


def test_a_travel_buffer_from_the_settings(make_booking, vendor, config):
    config.travel_buffer_minutes = 60
    config.save()
    confirmed(make_booking, vendor, ist(DAY, 12))  # held until 15:00

    slots = free_slots(vendor, ist(DAY, 0).date(), TWO_HOURS, now=NOW)

    assert starts(slots) == half_hours("08:00", "09:00") + half_hours("15:00", "18:00")


# --- daylight saving time ------------------------------------------------------------------------

LONDON = ZoneInfo("Europe/London")
SPRING_FORWARD = datetime(2027, 3, 28).date()  # 01:00 GMT → 02:00 BST
FALL_BACK = datetime(2027, 10, 31).date()  # 02:00 BST → 01:00 GMT


def utc(*args, **kwargs):
    return datetime(*args, **kwargs, tzinfo=UTC)


def every_half_hour(first: datetime, last: datetime):
    out = [first]
    while out[-1] < last:
        out.append(out[-1] + timedelta(minutes=30))
    return out


@pytest.fixture
def london(settings, vendor):
    """The platform in Europe/London; the vendor works Sundays 00:00–08:00 local time."""
    settings.TIME_ZONE = "Europe/London"
    vendor.working_hours = {"6": [["00:00", "08:00"]]}
    vendor.save()
    return vendor


def assert_real_length(slots, length):
    for slot in slots:
        assert slot.end.astimezone(UTC) - slot.start.astimezone(UTC) == length, slot


def test_spring_forward_day_has_no_slots_in_the_gap(london):
    # given: 00:00 GMT – 08:00 BST is 7 real hours (00:00Z – 07:00Z)
    # when
    slots = free_slots(london, SPRING_FORWARD, TWO_HOURS, now=utc(2027, 3, 20, 12))
    # then
    local_starts = [slot.start.astimezone(LONDON).strftime("%H:%M") for slot in slots]
    assert not any(text.startswith("01:") for text in local_starts)
    assert local_starts[:3] == ["00:00", "00:30", "02:00"]
    assert [slot.start for slot in slots] == every_half_hour(utc(2027, 3, 28, 0), utc(2027, 3, 28, 5))
    assert_real_length(slots, TWO_HOURS)
    assert slots[-1].end == utc(2027, 3, 28, 7)  # 08:00 BST
    assert len({slot.start for slot in slots}) == len(slots)


def test_fall_back_day_slots_are_distinct_and_real_length(london):
    # given: 00:00 BST – 06:00 GMT is 7 real hours (23:00Z – 06:00Z); 01:00–02:00 happens twice
    london.working_hours = {"6": [["00:00", "06:00"]]}
    london.save()
    # when
    slots = free_slots(london, FALL_BACK, TWO_HOURS, now=utc(2027, 10, 20, 12))
    # then: every half hour of real time is a grid line in London, including the repeated hour
    assert [slot.start for slot in slots] == every_half_hour(utc(2027, 10, 30, 23), utc(2027, 10, 31, 4))
    assert len({slot.start for slot in slots}) == len(slots)
    assert_real_length(slots, TWO_HOURS)
    assert slots[-1].end == utc(2027, 10, 31, 6)


def test_a_booking_across_spring_forward_blocks_real_time(london, make_booking, config):
    # given: 00:30 GMT + 2 h of work ends at 02:30Z = 03:30 BST; held until 04:00 BST (03:00Z)
    now = utc(2027, 3, 20, 12)
    booking = make_booking(vendor=london, start=datetime(2027, 3, 28, 0, 30, tzinfo=LONDON), now=now)
    # when
    slots = free_slots(london, SPRING_FORWARD, TWO_HOURS, now=now)
    # then
    assert booking.ends_at == utc(2027, 3, 28, 2, 30)
    assert booking.blocked_until == utc(2027, 3, 28, 3)
    assert [slot.start for slot in slots] == every_half_hour(utc(2027, 3, 28, 3), utc(2027, 3, 28, 5))
    assert_real_length(slots, TWO_HOURS)
    assert vendor_can_take(london, utc(2027, 3, 28, 2, 30), utc(2027, 3, 28, 4, 30), config=config) is False
    assert vendor_can_take(london, utc(2027, 3, 28, 3), utc(2027, 3, 28, 5), config=config) is True


def test_a_booking_across_fall_back_blocks_real_time(london, make_booking, config):
    # given: 00:30 BST (23:30Z) + 2 h ends at 01:30Z = 01:30 GMT; held until 02:00Z
    london.working_hours = {"6": [["00:00", "06:00"]]}
    london.save()
    now = utc(2027, 10, 20, 12)
    booking = make_booking(vendor=london, start=datetime(2027, 10, 31, 0, 30, tzinfo=LONDON), now=now)
    # when
    slots = free_slots(london, FALL_BACK, TWO_HOURS, now=now)
    # then
    assert booking.ends_at == utc(2027, 10, 31, 1, 30)
    assert booking.blocked_until == utc(2027, 10, 31, 2)
    assert [slot.start for slot in slots] == every_half_hour(utc(2027, 10, 31, 2), utc(2027, 10, 31, 4))
    assert vendor_can_take(london, utc(2027, 10, 31, 1, 30), utc(2027, 10, 31, 3, 30), config=config) is False
    assert vendor_can_take(london, utc(2027, 10, 31, 2), utc(2027, 10, 31, 4), config=config) is True


def test_a_booking_in_the_repeated_hour_blocks_the_second_pass(london, make_booking):
    # given: 01:30 GMT, the second 01:30 of the night (01:30Z), until 03:30Z, held until 04:00Z
    london.working_hours = {"6": [["00:00", "06:00"]]}
    london.save()
    now = utc(2027, 10, 20, 12)
    booking = make_booking(vendor=london, start=datetime(2027, 10, 31, 1, 30, fold=1, tzinfo=LONDON), now=now)
    # when
    slots = free_slots(london, FALL_BACK, TWO_HOURS, now=now)
    # then: 23:00Z still fits before it (ends 01:00Z + 30 min buffer); 04:00Z after it
    assert booking.scheduled_at == utc(2027, 10, 31, 1, 30)
    assert [slot.start for slot in slots] == [utc(2027, 10, 30, 23), utc(2027, 10, 31, 4)]


def test_a_booking_rescheduled_across_spring_forward_keeps_its_real_length(london, make_booking):
    # given: a confirmed booking on the Saturday before
    now = utc(2027, 3, 20, 12)
    london.working_hours = {"5": [["08:00", "20:00"]], "6": [["00:00", "08:00"]]}
    london.save()
    booking = make_booking(vendor=london, start=datetime(2027, 3, 27, 10, tzinfo=LONDON), now=now)
    booking_accept(booking=booking, user=london.user, now=now)
    # when: moved to 00:30 GMT on the night the clocks go forward
    booking = booking_reschedule(
        booking=booking, user=booking.customer, scheduled_at=datetime(2027, 3, 28, 0, 30, tzinfo=LONDON), now=now
    )
    # then: two real hours, ending 03:30 BST
    booking.refresh_from_db()
    assert booking.vendor == london
    assert booking.scheduled_at == utc(2027, 3, 28, 0, 30)
    assert booking.ends_at == utc(2027, 3, 28, 2, 30)
    assert booking.blocked_until == utc(2027, 3, 28, 3)
