"""Customer pages of bookings with Django's test client (issue 7): search, vendor profile,
booking, my bookings, the booking page, cancel, reschedule, complain."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bookings.availability import free_slots
from bookings.models import Booking, BookingStatus
from bookings.services.transitions import booking_accept
from bookings.tests.factories import PromoCodeFactory, VendorServiceFactory
from core.tests.factories import CustomerFactory, VendorFactory
from core.tests.pages import ALL_DAY, logged_in, make_market
from signatures.tests.conftest import make_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def market():
    return make_market()


def queries(client, url):
    client.get(url)  # warm up: the settings row, the session
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, response.status_code
    return len(captured)


def booking_form(market, start, **extra):
    return {
        "service": market.service.pk,
        "date": timezone.localtime(start).date().isoformat(),
        "slot": timezone.localtime(start).isoformat(),
        "address_choice": "new",
        "line1": "14, 5th Cross",
        "city": "Bengaluru",
        "pincode": "560034",
        "notes": "Ring twice",
        "payment_method": "cash",
        **extra,
    }


# --- discovery -------------------------------------------------------------------------------------


def test_home_and_search_show_vendor_cards(market):
    assert Client().get("/").status_code == 200
    response = Client().get(f"/search/?service={market.service.pk}&pincode=560034&ordering=price")
    assert response.status_code == 200
    [card] = response.context["page_obj"].object_list
    assert card == market.vendor
    assert card.next_slot is not None
    html = response.content.decode()
    assert "1000.00" in html and "Next free" in html and "km away" in html


def test_search_input_errors_are_inline(market):
    response = Client().get(f"/search/?service={market.service.pk}&pincode=012345")
    assert response.status_code == 200
    assert "pincode" in response.context["form"].errors
    assert Client().get("/search/?service=99999999999999999999&pincode=560034").status_code == 200


def test_search_query_count_does_not_grow_with_vendors(market):
    def add_vendors(n):
        for _ in range(n):
            VendorServiceFactory(vendor=VendorFactory(working_hours=ALL_DAY), service=market.service)

    url = f"/search/?service={market.service.pk}&pincode=560034"
    add_vendors(9)
    few = queries(Client(), url)
    add_vendors(41)  # 50 vendors: more than a page (20)
    assert queries(Client(), url) == few


def test_vendor_profile(market):
    response = Client().get(f"/vendors/{market.vendor.pk}/")
    assert response.status_code == 200
    assert market.service.name in response.content.decode()
    assert Client().get("/vendors/00000000-0000-0000-0000-000000000000/").status_code == 404


# --- booking ---------------------------------------------------------------------------------------


def test_booking_page_needs_a_customer(market):
    url = f"/vendors/{market.vendor.pk}/book/?service={market.service.pk}"
    assert Client().get(url)["Location"].startswith("/login/")
    assert logged_in(market.vendor.user).get(url).status_code == 403
    assert logged_in(market.customer).get(f"/vendors/{market.vendor.pk}/book/?service=x").status_code == 404


def test_booking_page_lists_real_free_slots(market):
    response = logged_in(market.customer).get(f"/vendors/{market.vendor.pk}/book/?service={market.service.pk}")
    assert response.status_code == 200
    assert response.context["slots"]
    first_value, first_start = response.context["slots"][0]
    assert first_start >= timezone.now() + timedelta(hours=2)  # the notice the platform asks for
    assert first_value.endswith("+05:30")


def test_book_with_cash_goes_to_the_booking(market):
    start = market.slot()
    response = logged_in(market.customer).post(
        f"/vendors/{market.vendor.pk}/book/?service={market.service.pk}", booking_form(market, start)
    )
    booking = Booking.objects.get()
    assert response["Location"] == f"/bookings/{booking.pk}/"
    assert (booking.scheduled_at, booking.vendor, booking.notes) == (start, market.vendor, "Ring twice")


def test_book_with_card_goes_to_checkout(market):
    response = logged_in(market.customer).post(
        f"/vendors/{market.vendor.pk}/book/", booking_form(market, market.slot(), payment_method="card")
    )
    assert response["Location"] == f"/checkout/{Booking.objects.get().pk}/"


def test_book_with_a_saved_address(market):
    address = market.customer.addresses.create(line1="2 Hill Road", city="Bengaluru", pincode="560034", is_default=True)
    client = logged_in(market.customer)
    page = client.get(f"/vendors/{market.vendor.pk}/book/?service={market.service.pk}")
    assert page.context["form"]["address_choice"].value() == str(address.pk)
    client.post(
        f"/vendors/{market.vendor.pk}/book/",
        booking_form(market, market.slot(), address_choice=str(address.pk), line1=""),
    )
    assert Booking.objects.get().address_line1 == "2 Hill Road"


def test_a_taken_slot_is_shown_at_the_time_field(market):
    start = market.slot()
    market.book(customer=CustomerFactory(), start=start)
    response = logged_in(market.customer).post(f"/vendors/{market.vendor.pk}/book/", booking_form(market, start))
    assert response.status_code == 200
    assert response.context["form"].errors["slot"] == ["That time is no longer free for this vendor."]
    assert Booking.objects.count() == 1


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"promo_code": "NOPE"}, "promo_code", "Unknown promo code."),
        ({"slot": "tomorrow"}, "slot", "Choose one of the free times."),
        ({"slot": "2030-01-01T10:00:00"}, "slot", "Choose one of the free times."),
        ({"line1": "", "pincode": "99"}, "line1", "This field is required."),
        ({"pincode": "012345"}, "pincode", "A pincode is 6 digits"),
        ({"address_choice": "999"}, "address_choice", "Select a valid choice."),
        ({"payment_method": "bitcoin"}, "payment_method", "Select a valid choice."),
    ],
)
def test_booking_errors_are_inline_and_nothing_is_booked(market, change, field, message):
    response = logged_in(market.customer).post(
        f"/vendors/{market.vendor.pk}/book/", booking_form(market, market.slot(), **change)
    )
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors[field])
    assert not Booking.objects.exists()


def test_a_time_outside_the_window_is_refused_inline(market):
    too_soon = timezone.localtime() + timedelta(minutes=30)
    too_soon = too_soon.replace(minute=0 if too_soon.minute < 30 else 30, second=0, microsecond=0)
    response = logged_in(market.customer).post(f"/vendors/{market.vendor.pk}/book/", booking_form(market, too_soon))
    assert response.status_code == 200
    assert response.context["form"].errors["slot"]


def test_price_quote_with_promo(market):
    PromoCodeFactory(code="TENOFF", value=10)
    url = f"/vendors/{market.vendor.pk}/quote/?service={market.service.pk}"
    plain = Client().get(url).json()
    assert (plain["subtotal"], plain["discount"], plain["tax"], plain["total"]) == (
        "1000.00",
        "0.00",
        "180.00",
        "1180.00",
    )
    promo = Client().get(url + "&promo_code=tenoff").json()
    assert (promo["discount"], promo["total"], promo["promo_error"]) == ("100.00", "1062.00", "")
    assert Client().get(url + "&promo_code=NOPE").json()["promo_error"] == "Unknown promo code."


# --- the customer's bookings -----------------------------------------------------------------------


def test_my_bookings_tabs_and_status_filter(market):
    upcoming = market.book()
    cancelled = market.book(start=market.slot(index=3))
    from bookings.services.transitions import booking_cancel

    booking_cancel(booking=cancelled, user=market.customer)
    client = logged_in(market.customer)
    assert list(client.get("/bookings/").context["page_obj"].object_list) == [upcoming]
    assert list(client.get("/bookings/?tab=past").context["page_obj"].object_list) == [cancelled]
    assert list(client.get("/bookings/?tab=past&status=pending").context["page_obj"].object_list) == []
    assert client.get("/bookings/?status=nonsense").status_code == 200


def test_my_bookings_query_count_does_not_grow_with_bookings():
    world = make_world()
    client = logged_in(world.customer)
    for index in range(10):
        world.complete(index=index)
    few = queries(client, "/bookings/")
    for index in range(10, 50):
        world.complete(index=index)
    assert queries(client, "/bookings/") == few


def test_another_customers_booking_is_404(market):
    booking = market.book()
    stranger = logged_in(CustomerFactory())
    for url in ("", "cancel/", "reschedule/"):
        assert stranger.get(f"/bookings/{booking.pk}/{url}").status_code == 404
    assert stranger.post(f"/bookings/{booking.pk}/complain/", {"reason": "x"}).status_code == 404
    assert stranger.get("/bookings/not-a-uuid/").status_code == 404


def test_booking_page_hides_the_vendor_phone_until_confirmed(market):
    booking = market.book()
    client = logged_in(market.customer)
    phone = market.vendor.user.phone
    assert phone not in client.get(f"/bookings/{booking.pk}/").content.decode()
    booking_accept(booking=booking, user=market.vendor.user)
    page = client.get(f"/bookings/{booking.pk}/")
    assert phone in page.content.decode()
    assert f'data-live-ws="/ws/bookings/{booking.pk}/"' in page.content.decode()


def test_a_vendor_opening_a_booking_link_gets_the_job_page(market):
    booking = market.book()
    response = logged_in(market.vendor.user).get(f"/bookings/{booking.pk}/")
    assert response["Location"] == f"/vendor/jobs/{booking.pk}/"


def a_slot_between(market, earliest: timedelta, latest: timedelta):
    """The vendor's first free start between ``earliest`` and ``latest`` from now (today or
    tomorrow: the vendor works around the clock)."""
    now = timezone.now()
    for day_offset in (0, 1):
        day = timezone.localdate() + timedelta(days=day_offset)
        for slot in free_slots(market.vendor, day, timedelta(minutes=market.service.duration_minutes)):
            if now + earliest <= slot.start <= now + latest:
                return slot.start
    raise AssertionError("no free slot in the window")


def test_cancel_shows_the_refund_first_then_cancels(market):
    # 6–24 h before the start, after the grace minutes: the policy keeps half of the total.
    booking = market.book(start=a_slot_between(market, timedelta(hours=7), timedelta(hours=23)))
    booking_accept(booking=booking, user=market.vendor.user)
    Booking.objects.filter(pk=booking.pk).update(created_at=timezone.now() - timedelta(hours=1))
    client = logged_in(market.customer)
    page = client.get(f"/bookings/{booking.pk}/cancel/")
    quote = page.context["quote"]
    assert (str(quote.fee), str(quote.refund), quote.reason) == ("590.00", "590.00", "late")
    assert "590.00" in page.content.decode()
    response = client.post(f"/bookings/{booking.pk}/cancel/", {"reason": "Plans changed"})
    assert response.status_code == 302
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CANCELLED and booking.refund_amount == quote.refund
    again = client.get(f"/bookings/{booking.pk}/cancel/", follow=True)
    assert "cannot be cancelled" in again.content.decode()


def test_reschedule_to_another_free_time(market):
    booking = market.book(start=market.slot(day_offset=3))
    new_start = market.slot(index=2, day_offset=4)
    client = logged_in(market.customer)
    page = client.get(f"/bookings/{booking.pk}/reschedule/?date={timezone.localtime(new_start).date()}")
    assert page.status_code == 200 and page.context["slots"]
    response = client.post(
        f"/bookings/{booking.pk}/reschedule/",
        {"date": timezone.localtime(new_start).date().isoformat(), "slot": timezone.localtime(new_start).isoformat()},
    )
    assert response.status_code == 302
    booking.refresh_from_db()
    assert booking.scheduled_at == new_start
    bad = client.post(
        f"/bookings/{booking.pk}/reschedule/", {"date": "2020-01-01", "slot": "2020-01-01T10:00:00+05:30"}
    )
    assert bad.status_code == 200 and bad.context["form"].errors["slot"]


def test_reschedule_offers_a_time_overlapping_the_bookings_own(market):
    # given: a confirmed one-hour booking at 10:00 (the vendor works around the clock)
    day = timezone.localdate() + timedelta(days=3)
    start = next(
        s.start for s in free_slots(market.vendor, day, timedelta(hours=1)) if timezone.localtime(s.start).hour == 10
    )
    booking = market.book(start=start)
    booking_accept(booking=booking, user=market.vendor.user)
    half_hour_later = start + timedelta(minutes=30)
    client = logged_in(market.customer)

    # when
    page = client.get(f"/bookings/{booking.pk}/reschedule/?date={day.isoformat()}")

    # then: 10:30 is offered (its own time does not block the booking), and the picker's script
    # asks the API for this booking's slots
    assert page.status_code == 200
    offered = [slot for _value, slot in page.context["slots"]]
    assert half_hour_later in offered
    assert f'data-booking="{booking.pk}"' in page.content.decode()
    response = client.post(
        f"/bookings/{booking.pk}/reschedule/",
        {"date": day.isoformat(), "slot": timezone.localtime(half_hour_later).isoformat()},
    )
    assert response.status_code == 302
    booking.refresh_from_db()
    assert booking.scheduled_at == half_hour_later
    assert booking.status == BookingStatus.CONFIRMED and booking.vendor_id == market.vendor.pk


def test_after_two_moves_the_booking_offers_no_reschedule(market):
    # given: a booking moved twice (max_reschedules) — still ≥ 24 h away and confirmed
    booking = market.book(start=market.slot(day_offset=3))
    booking_accept(booking=booking, user=market.vendor.user)
    client = logged_in(market.customer)
    assert client.get(f"/bookings/{booking.pk}/").context["can_reschedule"]
    for index in (1, 2):
        start = market.slot(index=index, day_offset=4)
        moved = client.post(
            f"/bookings/{booking.pk}/reschedule/",
            {"date": timezone.localtime(start).date().isoformat(), "slot": timezone.localtime(start).isoformat()},
        )
        assert moved.status_code == 302, moved.context["form"].errors
    booking.refresh_from_db()
    assert booking.reschedule_count == 2

    # then: the booking page has no Reschedule button, and the form says why
    page = client.get(f"/bookings/{booking.pk}/")
    assert not page.context["can_reschedule"] and page.context["can_cancel"]
    assert f"/bookings/{booking.pk}/reschedule/" not in page.content.decode()
    refused = client.get(f"/bookings/{booking.pk}/reschedule/", follow=True)
    assert "This booking has already been rescheduled 2 times." in refused.content.decode()
    assert refused.redirect_chain[-1][0] == f"/bookings/{booking.pk}/"


def test_no_reschedule_button_within_24_hours(market):
    booking = market.book(start=a_slot_between(market, timedelta(hours=3), timedelta(hours=23)))
    assert not logged_in(market.customer).get(f"/bookings/{booking.pk}/").context["can_reschedule"]


def vendorless_booking(market, start):
    """A booking the platform assigns (no vendor chosen), that its only vendor declined: pending,
    held by nobody, waiting for ops."""
    from bookings.services.creation import booking_create
    from bookings.services.transitions import booking_reject
    from bookings.tests.conftest import ADDRESS

    booking = booking_create(
        customer=market.customer,
        lines=[{"service_id": market.service.pk, "quantity": 1}],
        scheduled_at=start,
        address=ADDRESS,
        payment_method="cash",
    )
    assert booking.vendor == market.vendor  # offered to the one vendor serving 560034
    booking_reject(booking=booking, user=market.vendor.user, reason="Busy")
    booking.refresh_from_db()
    assert booking.vendor is None and booking.status == BookingStatus.PENDING
    return booking


def test_reschedule_a_booking_no_vendor_holds_offers_the_platforms_free_times(market):
    booking = vendorless_booking(market, market.slot(day_offset=3))
    client = logged_in(market.customer)
    duration = timedelta(minutes=market.service.duration_minutes)

    # Another day: the times a vendor serving the address is free — here the one vendor, who works
    # around the clock (not an invented 08:00–20:00 grid).
    day = timezone.localdate() + timedelta(days=4)
    page = client.get(f"/bookings/{booking.pk}/reschedule/?date={day.isoformat()}")
    assert page.status_code == 200
    starts = [start for _value, start in page.context["slots"]]
    assert starts == [slot.start for slot in free_slots(market.vendor, day, duration)]
    assert timezone.localtime(starts[0]).hour == 0 and timezone.localtime(starts[-1]).hour == 23
    assert 'data-availability-url=""' in page.content.decode()  # the JS keeps the server's picker

    # Today: nothing inside the platform's notice (2 h); a time off of the vendor is left out.
    today = client.get(f"/bookings/{booking.pk}/reschedule/?date={timezone.localdate().isoformat()}")
    assert all(start >= timezone.now() + timedelta(hours=2) for _value, start in today.context["slots"])
    market.vendor.time_off.create(starts_at=starts[0], ends_at=starts[0] + timedelta(hours=6))
    later = client.get(f"/bookings/{booking.pk}/reschedule/?date={day.isoformat()}")
    assert later.context["slots"][0][1] >= starts[0] + timedelta(hours=6)

    # A chosen time moves the booking, and the platform offers it again for that time.
    new_start = later.context["slots"][2][1]
    response = client.post(
        f"/bookings/{booking.pk}/reschedule/",
        {"date": day.isoformat(), "slot": timezone.localtime(new_start).isoformat()},
    )
    assert response.status_code == 302
    booking.refresh_from_db()
    assert booking.scheduled_at == new_start and booking.reschedule_count == 1


def test_with_no_vendor_serving_the_address_no_times_are_offered(market):
    booking = vendorless_booking(market, market.slot(day_offset=3))
    market.vendor.is_available = False
    market.vendor.save(update_fields=["is_available"])
    day = timezone.localdate() + timedelta(days=4)
    page = logged_in(market.customer).get(f"/bookings/{booking.pk}/reschedule/?date={day.isoformat()}")
    assert page.context["slots"] == []
    assert "No free time this day." in page.content.decode()


def test_the_live_breakdown_is_the_price_the_booking_gets(market):
    # A promo with a cap: the page's quote and the booking's snapshot come from one function.
    PromoCodeFactory(code="BIGHALF", value=50, max_discount=300)
    url = f"/vendors/{market.vendor.pk}/quote/?service={market.service.pk}&promo_code=bighalf"
    client = logged_in(market.customer)
    shown = client.get(url).json()
    assert (shown["discount"], shown["total"], shown["promo_error"]) == ("300.00", "826.00", "")
    client.post(f"/vendors/{market.vendor.pk}/book/", booking_form(market, market.slot(), promo_code="BIGHALF"))
    booking = Booking.objects.get()
    assert (str(booking.discount), str(booking.total)) == (shown["discount"], shown["total"])
    # Used once (per_user_limit 1): the page now says so, as the booking would refuse it.
    again = client.get(url).json()
    assert (again["discount"], again["total"]) == ("0.00", "1180.00")
    assert again["promo_error"] == "You have already used this promo code."


def test_the_booking_page_links_to_checkout_only_while_the_card_is_awaited(market):
    from core.tests.pages import GOOD_CARD

    booking = market.book(method="card")
    client = logged_in(market.customer)
    assert client.get(f"/bookings/{booking.pk}/").context["needs_card"]
    client.post(f"/checkout/{booking.pk}/", {"card_number": GOOD_CARD, "exp_month": 12, "exp_year": 2030, "cvc": "123"})
    assert not client.get(f"/bookings/{booking.pk}/").context["needs_card"]
    assert not client.get(f"/bookings/{market.book(start=market.slot(index=3)).pk}/").context["needs_card"]


def test_complain_about_a_signed_job():
    world = make_world()
    booking = world.complete()
    from signatures.services import signature_request, signature_sign

    request, _created = signature_request(booking=booking, user=world.vendor.user)
    signature_sign(request=request, user=world.customer, rating=5)
    client = logged_in(world.customer)
    assert client.get(f"/bookings/{booking.pk}/").context["can_complain"]
    empty = client.post(f"/bookings/{booking.pk}/complain/", {"reason": ""}, follow=True)
    assert "Tell us what went wrong." in empty.content.decode()
    client.post(f"/bookings/{booking.pk}/complain/", {"reason": "Water leaked the next day"})
    booking.refresh_from_db()
    assert booking.status == BookingStatus.DISPUTED
    assert not client.get(f"/bookings/{booking.pk}/").context["can_complain"]


def test_no_complaint_form_once_the_hold_is_over():
    # A cash job has no earning to pay out: the payout hold from the signing is the window.
    from core.models import SystemSettings
    from signatures.services import signature_request, signature_sign

    world = make_world()
    booking = world.complete()
    request, _created = signature_request(booking=booking, user=world.vendor.user)
    signature_sign(request=request, user=world.customer, rating=5)
    config = SystemSettings.load()
    config.payout_hold_hours = 0
    config.save()
    client = logged_in(world.customer)
    page = client.get(f"/bookings/{booking.pk}/")
    assert not page.context["can_complain"]
    refused = client.post(f"/bookings/{booking.pk}/complain/", {"reason": "Too late?"}, follow=True)
    assert "The vendor has been paid for this booking; contact support instead." in refused.content.decode()
    booking.refresh_from_db()
    assert booking.status == BookingStatus.SIGNED
