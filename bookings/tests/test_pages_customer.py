"""Customer pages of bookings with Django's test client (issue 7): search, vendor profile,
booking, my bookings, the booking page, cancel, reschedule, complain."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

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


def test_cancel_shows_the_refund_first_then_cancels(market):
    booking = market.book()
    booking_accept(booking=booking, user=market.vendor.user)
    Booking.objects.filter(pk=booking.pk).update(created_at=timezone.now() - timedelta(hours=1))
    client = logged_in(market.customer)
    page = client.get(f"/bookings/{booking.pk}/cancel/")
    quote = page.context["quote"]
    # Under 24 h before the start (the slot is tomorrow at the earliest): half is kept.
    start_in = booking.scheduled_at - timezone.now()
    expected_fee = "590.00" if timedelta(hours=6) <= start_in < timedelta(hours=24) else None
    if expected_fee:
        assert str(quote.fee) == expected_fee
    assert f"{quote.refund}" in page.content.decode()
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
