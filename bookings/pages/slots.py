"""Free slots for the pages: the booking page's picker and the search cards' "next free slot".
Reads only, on top of bookings.availability (the same calendars the API answers from)."""

from datetime import timedelta

from django.utils import timezone

from bookings.availability import free_slots, platform_zone, vendor_calendars
from core.models import SystemSettings

LOOKAHEAD_DAYS = 14


def slot_value(start) -> str:
    """The value a slot posts: local wall time with its offset, as the availability API gives it."""
    return start.astimezone(platform_zone()).isoformat()


def days_ahead(count: int = LOOKAHEAD_DAYS):
    today = timezone.localdate()
    return [today + timedelta(days=n) for n in range(count)]


def slots_by_day(vendors, duration: timedelta, days, *, exclude_booking_id=None) -> dict:
    """``{vendor_id: {day: [Slot, ...]}}`` for several vendors over ``days``: two queries for the
    calendars of all of them, whatever their number. ``exclude_booking_id``: a booking being moved,
    whose own current time is free for it (``booking_reschedule`` checks the new time so too)."""
    vendors = list(vendors)
    if not vendors or not days:
        return {}
    config = SystemSettings.load()
    now = timezone.now()
    span_start = now - timedelta(days=1)
    span_end = timezone.make_aware(
        timezone.datetime.combine(days[-1] + timedelta(days=2), timezone.datetime.min.time()), platform_zone()
    )
    calendars = vendor_calendars([v.pk for v in vendors], span_start, span_end, exclude_booking_id=exclude_booking_id)
    result = {}
    for vendor in vendors:
        calendar = calendars[str(vendor.pk)]
        result[vendor.pk] = {
            day: free_slots(vendor, day, duration, calendar=calendar, config=config, now=now) for day in days
        }
    return result


def next_free_slots(vendors, duration: timedelta, days=None) -> dict:
    """``{vendor_id: the first free Slot in the next days, or None}``."""
    days = days or days_ahead(7)
    found = {}
    for vendor_id, per_day in slots_by_day(vendors, duration, days).items():
        found[vendor_id] = next((slots[0] for day in days if (slots := per_day[day])), None)
    return found
