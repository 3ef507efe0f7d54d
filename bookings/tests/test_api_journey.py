"""A customer's and a vendor's whole journey through the HTTP API: sign up, find, book, accept,
start, complete; reschedule; a late cancellation with the 50 % fee (§4, §5, §10)."""

import re
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from bookings.availability import platform_zone
from bookings.models import Booking
from bookings.tests.conftest import local_time
from bookings.tests.factories import ServiceFactory, VendorServiceFactory
from bookings.tests.photos import add_job_photos
from core.models import SystemSettings
from core.money import money
from core.tests.factories import VendorFactory

pytestmark = pytest.mark.django_db

ALL_DAY = {str(day): [["00:00", "24:00"]] for day in range(7)}
HOME = {"line1": "7 Residency Road", "line2": "Flat 3A", "city": "Bengaluru", "pincode": "560034"}

CARD = {"card_number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}


def ok(response, status=200):
    assert response.status_code == status, (response.status_code, response.content)
    return response.json()


def bearer(access):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def start_about_ten_hours_ahead():
    """A 30-minute grid start 9½–14 h from now that ends before local midnight (the vendor's
    working day ends at 24:00)."""
    zone = platform_zone()
    moment = (timezone.now() + timedelta(hours=9, minutes=30)).astimezone(zone).replace(second=0, microsecond=0)
    moment += timedelta(minutes=(-moment.minute) % 30)
    while moment.hour * 60 + moment.minute > 23 * 60:  # a 1-hour visit must end by 24:00
        moment += timedelta(minutes=30)
    assert timedelta(hours=9) < moment - timezone.now() < timedelta(hours=15)
    return moment


@pytest.fixture
def catalog():
    cleaning = ServiceFactory(name="Kitchen cleaning", duration_minutes=60, base_price=Decimal("650.00"))
    bathroom = ServiceFactory(name="Bathroom cleaning", duration_minutes=60, base_price=Decimal("350.00"))
    return cleaning, bathroom


@pytest.fixture
def vendor(catalog):
    cleaning, bathroom = catalog
    vendor = VendorFactory(display_name="Shine Homes", working_hours=ALL_DAY)  # approved by the factory
    VendorServiceFactory(vendor=vendor, service=cleaning, price=Decimal("699.99"))
    VendorServiceFactory(vendor=vendor, service=bathroom, price=Decimal("300.00"))
    return vendor


def test_customer_and_vendor_journey(api_client, client_for, catalog, vendor):
    cleaning, bathroom = catalog
    vendor_api = client_for(vendor.user)

    # --- a customer signs up -------------------------------------------------------------------
    registered = ok(
        api_client.post(
            "/auth/register/",
            {
                "email": "kavya@example.com",
                "password": "Clean!Home24",
                "role": "customer",
                "first_name": "Kavya",
                "last_name": "Iyer",
                "phone": "+919845012345",
            },
            format="json",
        ),
        201,
    )
    customer_api = bearer(registered["access"])
    assert ok(customer_api.get("/api/users/me/"))["email"] == "kavya@example.com"

    # --- finds vendors for the service in their pincode ----------------------------------------
    found = ok(api_client.get(f"/api/vendors/?service={cleaning.pk}&pincode=560034"))
    assert [row["id"] for row in found["results"]] == [str(vendor.pk)]
    assert found["results"][0]["price"] == "699.99"

    # --- sees free slots for a two-service visit -----------------------------------------------
    day = local_time(3, 0).date()
    slots_url = f"/api/vendors/{vendor.pk}/availability/?date={day.isoformat()}&service={cleaning.pk},{bathroom.pk}"
    availability = ok(api_client.get(slots_url))
    assert availability["duration_minutes"] == 120
    chosen = next(slot for slot in availability["slots"] if slot["start"] == local_time(3, 10).isoformat())

    # --- books it with the chosen vendor -------------------------------------------------------
    booking = ok(
        customer_api.post(
            "/api/bookings/",
            {
                "lines": [{"service_id": cleaning.pk, "quantity": 1}, {"service_id": bathroom.pk, "quantity": 1}],
                "scheduled_at": chosen["start"],
                "address": HOME,
                "vendor_id": str(vendor.pk),
                "notes": "Please bring a ladder.",
                "payment_method": "card",
            },
            format="json",
        ),
        201,
    )
    assert re.fullmatch(r"BK-\d{8}-\d{6}", booking["booking_number"])
    assert booking["status"] == "pending"
    assert booking["vendor"]["id"] == str(vendor.pk)
    assert datetime.fromisoformat(booking["scheduled_at"]) == local_time(3, 10)
    assert datetime.fromisoformat(booking["ends_at"]) == local_time(3, 12)
    assert [(line["service_name"], line["unit_price"]) for line in booking["lines"]] == [
        ("Kitchen cleaning", "699.99"),
        ("Bathroom cleaning", "300.00"),
    ]
    assert booking["price"] == {
        "subtotal": "999.99",
        "discount": "0.00",
        "tax": "180.00",
        "total": "1179.99",
        "commission": "150.00",
        "vendor_earning": "849.99",
        "platform_fee": "150.00",
        "currency": "INR",
        "tax_rate": "0.1800",
        "commission_rate": "0.1500",
    }
    booking_id = booking["id"]
    payment = booking["payment"]
    assert (payment["method"], payment["status"], payment["amount"]) == ("card", "requires_payment_method", "1179.99")
    assert payment["client_secret"]

    # --- pays by card (the fake gateway's form); only then is the booking offered --------------
    assert ok(vendor_api.get("/api/bookings/?status=pending"))["count"] == 0
    paid = ok(customer_api.post(f"/api/payments/{payment['id']}/confirm/", CARD, format="json"))
    # Three days ahead at 10:00: authorised now, or — when that is more than 3 days away — the
    # card is only saved and authorised 24 h before the start (§6). Ready either way.
    assert paid["status"] in ("authorized", "card_saved") and paid["client_secret"] is None
    remaining = [slot["start"] for slot in ok(api_client.get(slots_url))["slots"]]
    assert chosen["start"] not in remaining

    # --- the vendor sees the offer and accepts it ----------------------------------------------
    offered = ok(vendor_api.get("/api/bookings/?status=pending"))
    assert [row["id"] for row in offered["results"]] == [booking_id]
    assert offered["results"][0]["offer"]["outcome"] == "pending"
    accepted = ok(vendor_api.post(f"/api/bookings/{booking_id}/accept_booking/"))
    assert accepted["status"] == "confirmed"
    assert accepted["address"]["line1"] == HOME["line1"]
    assert ok(customer_api.get(f"/api/bookings/{booking_id}/"))["vendor"]["phone"] == vendor.user.phone

    # --- starts and completes the job ----------------------------------------------------------
    settings_row = SystemSettings.load()
    settings_row.start_early_minutes = 5 * 24 * 60
    settings_row.save(update_fields=["start_early_minutes"])
    assert ok(vendor_api.post(f"/api/bookings/{booking_id}/start_booking/"))["status"] == "in_progress"
    add_job_photos(Booking.objects.get(pk=booking_id))
    completed = ok(vendor_api.post(f"/api/bookings/{booking_id}/complete_booking/"))
    assert completed["status"] == "completed"
    timeline = ok(customer_api.get(f"/api/bookings/{booking_id}/"))["timeline"]
    transitions = [(e["from_status"], e["to_status"]) for e in timeline if e["from_status"] != e["to_status"]]
    assert transitions == [
        ("", "pending"),
        ("pending", "confirmed"),
        ("confirmed", "in_progress"),
        ("in_progress", "completed"),
    ]

    # --- a second booking is rescheduled more than 24 h ahead ----------------------------------
    second = ok(
        customer_api.post(
            "/api/bookings/",
            {
                "service_id": cleaning.pk,
                "scheduled_at": local_time(5, 10).isoformat(),
                "address": HOME,
                "vendor_id": str(vendor.pk),
                "payment_method": "cash",
            },
            format="json",
        ),
        201,
    )
    ok(vendor_api.post(f"/api/bookings/{second['id']}/accept_booking/"))
    moved = ok(
        customer_api.post(
            f"/api/bookings/{second['id']}/reschedule/",
            {"scheduled_at": local_time(6, 15, 30).isoformat()},
            format="json",
        )
    )
    assert moved["status"] == "confirmed"
    assert moved["vendor"]["id"] == str(vendor.pk)
    assert datetime.fromisoformat(moved["scheduled_at"]) == local_time(6, 15, 30)
    assert datetime.fromisoformat(moved["ends_at"]) == local_time(6, 16, 30)
    assert moved["reschedule_count"] == 1
    assert moved["price"] == second["price"]
    old_slot = (
        f"/api/vendors/{vendor.pk}/availability/?date={local_time(5, 0).date().isoformat()}&service={cleaning.pk}"
    )
    assert local_time(5, 10).isoformat() in [slot["start"] for slot in ok(api_client.get(old_slot))["slots"]]

    # --- a third booking is cancelled 6–24 h before its start: half the total is kept ----------
    starts = start_about_ten_hours_ahead()
    third = ok(
        customer_api.post(
            "/api/bookings/",
            {
                "service_id": cleaning.pk,
                "scheduled_at": starts.isoformat(),
                "address": HOME,
                "vendor_id": str(vendor.pk),
                "payment_method": "card",
            },
            format="json",
        ),
        201,
    )
    ok(customer_api.post(f"/api/payments/{third['payment']['id']}/confirm/", CARD, format="json"))
    ok(vendor_api.post(f"/api/bookings/{third['id']}/accept_booking/"))
    # Booked a while ago: the 5-minute free-cancellation grace is over.
    Booking.objects.filter(pk=third["id"]).update(created_at=timezone.now() - timedelta(minutes=30))
    cancelled = ok(
        customer_api.post(f"/api/bookings/{third['id']}/cancel/", {"reason": "Plans changed"}, format="json")
    )

    total = Decimal(third["price"]["total"])
    assert total == Decimal("825.99")
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancelled_by"] == "customer"
    assert Decimal(cancelled["refund_amount"]) == total - money(total * Decimal("0.5"))
    assert cancelled["refund_amount"] == "412.99"
    assert cancelled["cancellation_fee"] == "413.00"

    # --- the customer's list shows all three, each in its final state --------------------------
    mine = ok(customer_api.get("/api/bookings/"))
    assert {row["id"]: row["status"] for row in mine["results"]} == {
        booking_id: "completed",
        second["id"]: "confirmed",
        third["id"]: "cancelled",
    }
