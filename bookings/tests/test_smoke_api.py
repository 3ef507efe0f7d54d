import pytest

from bookings.tests.conftest import ADDRESS, local_time

pytestmark = pytest.mark.django_db


def test_customer_books_and_vendor_accepts(client_for, customer, vendor, service):
    # given
    customer_api = client_for(customer)
    vendor_api = client_for(vendor.user)
    # when
    response = customer_api.post(
        "/api/bookings/",
        {
            "service_id": service.pk,
            "scheduled_at": local_time(3, 10).isoformat(),
            "address": ADDRESS,
            "vendor_id": str(vendor.pk),
            "payment_method": "cash",
        },
        format="json",
    )
    # then
    assert response.status_code == 201, response.json()
    booking = response.json()
    assert booking["status"] == "pending"
    assert booking["booking_number"].startswith("BK-")
    accepted = vendor_api.post(f"/api/bookings/{booking['id']}/accept_booking/")
    assert accepted.status_code == 200, accepted.json()
    assert accepted.json()["status"] == "confirmed"
