"""Vendor availability (ARCHITECTURE §5): working hours − time off − bookings holding the vendor
(with the travel buffer), on a grid in the platform time zone, sized by the visit's length.

Working hours are local wall-clock intervals per weekday. Slots are generated in wall-clock time
and converted to aware datetimes one by one, so a DST change is handled by the zone database: a
wall time that does not exist (clocks jump forward) is skipped, and the length of a visit is real
elapsed time.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone

from bookings.models import SLOT_HOLDING_STATUSES, Booking
from core.models import SystemSettings, VendorProfile, VendorTimeOff


@dataclass(frozen=True)
class Slot:
    start: datetime
    end: datetime


def platform_zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def _minutes(text: str) -> int:
    hours, minutes = str(text).split(":")
    return int(hours) * 60 + int(minutes)


def local_instant(day: date, minutes: int, zone: ZoneInfo) -> datetime | None:
    """``minutes`` after local midnight of ``day`` as an aware datetime, or None if that wall
    time does not exist on that day (inside a spring-forward gap)."""
    naive = datetime.combine(day, time()) + timedelta(minutes=minutes)
    aware = naive.replace(tzinfo=zone)
    if aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive:
        return None
    return aware


def working_windows(vendor: VendorProfile, day: date, zone: ZoneInfo) -> list[tuple[datetime, datetime]]:
    """The vendor's working intervals on ``day`` as aware datetimes."""
    windows = []
    for start_text, end_text in (vendor.working_hours or {}).get(str(day.weekday()), []):
        start_min, end_min = _minutes(start_text), _minutes(end_text)
        # An edge inside a DST gap is moved to the first wall time that exists after it.
        start = _first_existing(day, start_min, zone)
        end = _first_existing(day, end_min, zone)
        if start < end:
            windows.append((start, end))
    return windows


def _first_existing(day, minutes, zone):
    for shift in range(0, 181, 15):
        instant = local_instant(day, minutes + shift, zone)
        if instant is not None:
            return instant
    raise ValueError("No existing wall time within 3 hours")


@dataclass
class Calendar:
    """What occupies a vendor's time over a period: holding bookings and time off."""

    busy: list[tuple[datetime, datetime]]  # booking [scheduled_at, blocked_until)
    off: list[tuple[datetime, datetime]]  # time off [starts_at, ends_at)

    def is_free(self, start: datetime, end: datetime, buffer: timedelta) -> bool:
        blocked_until = end + buffer
        if any(start < b_end and blocked_until > b_start for b_start, b_end in self.busy):
            return False
        return not any(start < o_end and end > o_start for o_start, o_end in self.off)


def vendor_calendars(vendor_ids, start: datetime, end: datetime, *, exclude_booking_id=None):
    """Calendars for many vendors over [start, end) in two queries."""
    calendars = {str(v): Calendar(busy=[], off=[]) for v in vendor_ids}
    bookings = Booking.objects.filter(
        vendor_id__in=list(vendor_ids),
        status__in=SLOT_HOLDING_STATUSES,
        scheduled_at__lt=end,
        blocked_until__gt=start,
    )
    if exclude_booking_id is not None:
        bookings = bookings.exclude(pk=exclude_booking_id)
    for vendor_id, b_start, b_end in bookings.values_list("vendor_id", "scheduled_at", "blocked_until"):
        calendars[str(vendor_id)].busy.append((b_start, b_end))
    time_off = VendorTimeOff.objects.filter(vendor_id__in=list(vendor_ids), starts_at__lt=end, ends_at__gt=start)
    for vendor_id, o_start, o_end in time_off.values_list("vendor_id", "starts_at", "ends_at"):
        calendars[str(vendor_id)].off.append((o_start, o_end))
    return calendars


def booking_window_bounds(config: SystemSettings, now: datetime | None = None):
    """Earliest and latest allowed start: ≥ min notice from now, ≤ max days ahead."""
    now = now or timezone.now()
    return now + timedelta(hours=config.min_notice_hours), now + timedelta(days=config.max_days_ahead)


def free_slots(
    vendor: VendorProfile,
    day: date,
    duration: timedelta,
    *,
    calendar: Calendar | None = None,
    config: SystemSettings | None = None,
    now: datetime | None = None,
) -> list[Slot]:
    """Bookable slots for ``vendor`` on the local date ``day`` for a visit of ``duration``."""
    config = config or SystemSettings.load()
    zone = platform_zone()
    step = config.slot_step_minutes
    buffer = timedelta(minutes=config.travel_buffer_minutes)
    earliest, latest = booking_window_bounds(config, now)
    windows = working_windows(vendor, day, zone)
    if not windows:
        return []
    if calendar is None:
        span_start, span_end = windows[0][0], windows[-1][1] + buffer + duration
        calendar = vendor_calendars([vendor.pk], span_start - buffer - duration, span_end)[str(vendor.pk)]
    slots = []
    for window_start, window_end in windows:
        local_start = window_start.astimezone(zone)
        minute = local_start.hour * 60 + local_start.minute
        minute += (-minute) % step  # first grid line inside the window
        while True:
            start = local_instant(day, minute, zone)
            minute += step
            if start is None:
                continue  # wall time skipped by a DST jump
            if start >= window_end:
                break
            end = start + duration
            if end > window_end:
                break
            if start < earliest or start > latest:
                continue
            if calendar.is_free(start, end, buffer):
                slots.append(Slot(start, end))
    return slots


def is_on_grid(start: datetime, config: SystemSettings) -> bool:
    local = start.astimezone(platform_zone())
    return (
        local.second == 0
        and local.microsecond == 0
        and (local.hour * 60 + local.minute) % config.slot_step_minutes == 0
    )


def within_working_hours(vendor: VendorProfile, start: datetime, end: datetime) -> bool:
    zone = platform_zone()
    day = start.astimezone(zone).date()
    return any(w_start <= start and end <= w_end for w_start, w_end in working_windows(vendor, day, zone))


def vendor_can_take(
    vendor: VendorProfile, start: datetime, end: datetime, *, config: SystemSettings, exclude_booking_id=None
) -> bool:
    """Working at that time, not off, and no holding booking within the travel buffer."""
    if not within_working_hours(vendor, start, end):
        return False
    buffer = timedelta(minutes=config.travel_buffer_minutes)
    calendar = vendor_calendars(
        [vendor.pk],
        start - buffer - timedelta(days=1),
        end + buffer + timedelta(days=1),
        exclude_booking_id=exclude_booking_id,
    )[str(vendor.pk)]
    return calendar.is_free(start, end, buffer)
