"""Availability for moving a booking (§4, §10): ``GET /api/vendors/{id}/availability/?booking=``
sizes the slots by the booking and leaves its own current time out of the vendor's busy time, as
``booking_reschedule`` does, so a booking can move to a time overlapping its current one. Only
the booking's customer (or ops) may ask so; for anyone else the booking does not exist."""

from datetime import timedelta

import pytest

from bookings.services.creation import booking_create
from bookings.services.transitions import booking_accept, booking_reschedule
from bookings.tests.conftest import ADDRESS, local_time
from bookings.tests.factories import VendorServiceFactory
from core.tests.factories import CustomerFactory, OpsFactory, VendorFactory

pytestmark = pytest.mark.django_db

# JWT user + the vendor (with its pincodes and services: the detail queryset) + the booking + the
# settings row + the vendor's bookings and time off.
AVAILABILITY_BUDGET = 8


def book(customer, vendor, service, start, quantity=1):
    return booking_create(
        customer=customer,
        lines=[{"service_id": service.pk, "quantity": quantity}],
        scheduled_at=start,
        address=dict(ADDRESS),
        vendor_id=vendor.pk,
        payment_method="cash",
    )


def availability(client, vendor, query):
    return client.get(f"/api/vendors/{vendor.pk}/availability/?date={local_time(3, 0).date().isoformat()}&{query}")


def starts(response):
    assert response.status_code == 200, response.content
    return [slot["start"] for slot in response.json()["slots"]]


def test_the_bookings_own_time_is_offered_for_moving_it(
    client_for, vendor, service, customer, django_assert_max_num_queries
):
    # given: the customer's 2-hour booking 10:00–12:00, confirmed, and another customer's at 15:00
    booking = book(customer, vendor, service, local_time(3, 10))
    booking_accept(booking=booking, user=vendor.user)
    book(CustomerFactory(), vendor, service, local_time(3, 15))
    client = client_for(customer)

    # when
    as_new_visit = availability(client, vendor, f"service={service.pk}")
    with django_assert_max_num_queries(AVAILABILITY_BUDGET):
        to_move = availability(client, vendor, f"booking={booking.pk}")

    # then: 30 minutes later is offered for the move (not for a new visit), and the other
    # booking still holds its time with the travel buffer on both sides
    assert local_time(3, 10, 30).isoformat() not in starts(as_new_visit)
    assert to_move.json()["duration_minutes"] == 120
    expected = [local_time(3, 8) + timedelta(minutes=30 * n) for n in range(10)] + [
        local_time(3, 17, 30),
        local_time(3, 18),
    ]
    assert starts(to_move) == [moment.isoformat() for moment in expected]
    assert local_time(3, 10, 30).isoformat() in starts(to_move)

    # and the reschedule service takes the time offered
    moved = booking_reschedule(booking=booking, user=customer, scheduled_at=local_time(3, 10, 30))
    assert moved.scheduled_at == local_time(3, 10, 30) and moved.vendor_id == vendor.pk


def test_the_slots_have_the_bookings_own_length(client_for, vendor, service, customer):
    # given: a cleaning booked twice over: four hours
    booking = book(customer, vendor, service, local_time(3, 10), quantity=2)

    response = availability(client_for(customer), vendor, f"booking={booking.pk}")

    assert response.json()["duration_minutes"] == 240
    assert starts(response)[-1] == local_time(3, 16).isoformat()


def test_ops_may_ask_for_a_customers_booking(client_for, vendor, service, customer):
    booking = book(customer, vendor, service, local_time(3, 10))

    response = availability(client_for(OpsFactory()), vendor, f"booking={booking.pk}")

    assert local_time(3, 10, 30).isoformat() in starts(response)


def test_another_customers_booking_is_not_found(client_for, api_client, vendor, service, customer):
    booking = book(customer, vendor, service, local_time(3, 10))
    query = f"booking={booking.pk}"

    other_customer = availability(client_for(CustomerFactory()), vendor, query)
    holding_vendor = availability(client_for(vendor.user), vendor, query)
    anonymous = availability(api_client, vendor, query)
    unknown = availability(client_for(customer), vendor, "booking=00000000-0000-0000-0000-000000000000")

    # the same answer as for a booking that does not exist: nothing tells it is there
    for response in (other_customer, holding_vendor, anonymous, unknown):
        assert response.status_code == 404, response.content
        assert response.json() == {"detail": "No booking of yours with this id."}


def test_a_booking_another_vendor_holds_is_bad_input(client_for, vendor, service, customer):
    # given: the customer's booking with another vendor
    other = VendorFactory()
    VendorServiceFactory(vendor=other, service=service)
    booking = book(customer, other, service, local_time(3, 10))

    response = availability(client_for(customer), vendor, f"booking={booking.pk}")

    assert response.status_code == 400, response.content
    assert response.json() == {"booking": ["This booking is not held by this vendor."]}


def test_booking_and_services_together_are_bad_input(client_for, vendor, service, customer):
    booking = book(customer, vendor, service, local_time(3, 10))

    response = availability(client_for(customer), vendor, f"booking={booking.pk}&service={service.pk}")

    assert response.status_code == 400
    assert list(response.json()) == ["booking"]
