"""Throttles of §11: 100/min per anonymous address, 10 bookings/hour per user."""

from datetime import timedelta

import pytest

from bookings.tests.conftest import ADDRESS, local_time
from bookings.tests.factories import VendorServiceFactory
from core.tests.factories import VendorFactory

pytestmark = pytest.mark.django_db


def test_booking_creation_is_limited_to_ten_an_hour_per_user(client_for, customer, service):
    # given: a vendor per attempt so every booking is valid on its own
    api = client_for(customer)
    vendors = []
    for _ in range(11):
        vendor = VendorFactory()
        VendorServiceFactory(vendor=vendor, service=service)
        vendors.append(vendor)

    def book(vendor, n):
        return api.post(
            "/api/bookings/",
            {
                "service_id": service.pk,
                "scheduled_at": (local_time(3, 9) + timedelta(hours=n)).isoformat(),
                "address": ADDRESS,
                "vendor_id": str(vendor.pk),
                "payment_method": "cash",
            },
            format="json",
        )

    # when
    statuses = [book(vendor, n % 8).status_code for n, vendor in enumerate(vendors[:10])]
    eleventh = book(vendors[10], 0)
    # then
    assert statuses == [201] * 10
    assert eleventh.status_code == 429
    assert int(eleventh["Retry-After"]) > 0
    # another customer is not affected
    from core.tests.factories import CustomerFactory

    other = client_for(CustomerFactory())
    response = other.post(
        "/api/bookings/",
        {
            "service_id": service.pk,
            "scheduled_at": local_time(4, 9).isoformat(),
            "address": ADDRESS,
            "vendor_id": str(vendors[10].pk),
            "payment_method": "cash",
        },
        format="json",
    )
    assert response.status_code == 201


def test_anonymous_requests_are_limited_per_address(api_client, service):
    statuses = [api_client.get("/api/services/").status_code for _ in range(101)]
    assert statuses[:100] == [200] * 100
    assert statuses[100] == 429
