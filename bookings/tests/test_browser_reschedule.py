"""Moving a booking in a real browser with JavaScript on (issue 7).

A booking no vendor holds yet: the slot picker has no vendor's availability to fetch, so it keeps
the server's picker — "Show times" for another day — and the times listed are those at which a
vendor serving the address is free. A booking a vendor holds: the picker fetches the times from
the availability API for this booking (``&booking=``), so a time overlapping the booking's own
current one is offered."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from bookings.availability import free_slots
from bookings.models import Booking
from bookings.services.creation import booking_create
from bookings.services.transitions import booking_accept, booking_reject
from bookings.tests.conftest import ADDRESS
from core.tests.browser import outside, session_cookie
from core.tests.pages import make_market

pytestmark = [pytest.mark.browser, pytest.mark.postgres]


def declined_booking():
    """A booking the platform assigns, declined by the only vendor: pending, held by nobody."""
    market = make_market()
    booking = booking_create(
        customer=market.customer,
        lines=[{"service_id": market.service.pk, "quantity": 1}],
        scheduled_at=market.slot(day_offset=3),
        address=ADDRESS,
        payment_method="cash",
    )
    booking_reject(booking=booking, user=market.vendor.user, reason="Busy that day")
    return market, Booking.objects.get(pk=booking.pk)


def test_reschedule_a_booking_no_vendor_holds(browser):
    # given (in a thread of its own: the services publish after commit, outside Playwright's loop)
    market, booking = outside(declined_booking)
    assert booking.vendor_id is None
    day = timezone.localdate() + timedelta(days=5)
    free = outside(lambda: free_slots(market.vendor, day, timedelta(minutes=60)))
    wanted = free[3].start

    # when: the customer opens the reschedule page, picks another day and shows its times
    page = browser.new_page(cookie=outside(session_cookie, market.customer))
    page.goto(f"/bookings/{booking.pk}/")
    page.get_by_role("link", name="Reschedule").click()
    show_times = page.get_by_role("button", name="Show times")
    expect(show_times).to_be_visible()
    page.locator("#id_date").fill(day.isoformat())
    show_times.click()
    expect(page.locator("[data-slot-day]")).to_have_text(re.compile(day.strftime("%-d %B")))
    # the vendor's free times that day (around the clock), not an invented 08:00–20:00 grid
    expect(page.locator("[data-slot-list] input[name=slot]")).to_have_count(len(free))
    page.locator(f'[data-slot-list] input[value="{timezone.localtime(wanted).isoformat()}"]').check()
    browser.screenshot(page, "reschedule-no-vendor")
    page.get_by_role("button", name="Move the booking").click()

    # then: the booking is moved
    expect(page).to_have_url(re.compile(rf"/bookings/{booking.pk}/$"))
    expect(page.get_by_text(f"Booking {booking.booking_number} is moved.")).to_be_visible()
    moved = outside(lambda: Booking.objects.get(pk=booking.pk))
    assert moved.scheduled_at == wanted and moved.reschedule_count == 1


def confirmed_booking():
    """A one-hour booking at 10:00 three days ahead, confirmed by the vendor who holds it."""
    market = make_market()
    day = timezone.localdate() + timedelta(days=3)
    start = next(
        s.start for s in free_slots(market.vendor, day, timedelta(hours=1)) if timezone.localtime(s.start).hour == 10
    )
    booking = market.book(start=start)
    booking_accept(booking=booking, user=market.vendor.user)
    return market, Booking.objects.get(pk=booking.pk)


def test_reschedule_to_a_time_overlapping_the_bookings_own(browser):
    # given
    market, booking = outside(confirmed_booking)
    day = timezone.localdate(booking.scheduled_at)
    wanted = booking.scheduled_at + timedelta(minutes=30)
    free = outside(lambda: free_slots(market.vendor, day, timedelta(hours=1), exclude_booking_id=booking.pk))

    # when: the customer opens the reschedule page and picks the booking's own day: the script
    # fetches its times (no "Show times" button)
    page = browser.new_page(cookie=outside(session_cookie, market.customer))
    page.goto(f"/bookings/{booking.pk}/reschedule/")
    expect(page.get_by_role("button", name="Show times")).to_be_hidden()
    with page.expect_response(re.compile(r"/availability/\?")) as answer:
        page.locator("#id_date").fill(day.isoformat())
    assert f"booking={booking.pk}" in answer.value.url and "service=" not in answer.value.url
    # the script writes the day in the browser's locale ("Thursday, December 10" in en-US)
    expect(page.locator("[data-slot-day]")).to_have_text(re.compile(rf"{day:%B} {day.day}\b|\b{day.day} {day:%B}"))
    expect(page.locator("[data-slot-list] input[name=slot]")).to_have_count(len(free))
    page.locator(f'[data-slot-list] input[value="{timezone.localtime(wanted).isoformat()}"]').check()
    browser.screenshot(page, "reschedule-overlapping")
    page.get_by_role("button", name="Move the booking").click()

    # then: the booking is moved half an hour on, and the vendor keeps it
    expect(page).to_have_url(re.compile(rf"/bookings/{booking.pk}/$"))
    expect(page.get_by_text(f"Booking {booking.booking_number} is moved.")).to_be_visible()
    moved = outside(lambda: Booking.objects.get(pk=booking.pk))
    assert moved.scheduled_at == wanted and moved.vendor_id == market.vendor.pk and moved.status == "confirmed"
