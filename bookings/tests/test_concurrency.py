"""No double booking, under real concurrency on PostgreSQL (§5).

Real threads, each with its own database connection, hit the API at the same instant; the
vendor-row lock and the exclusion constraint must let exactly one through."""

import threading
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from bookings.models import SLOT_HOLDING_STATUSES, Booking
from bookings.tests.conftest import ADDRESS, local_time
from bookings.tests.factories import ServiceFactory, VendorServiceFactory
from core.tests.factories import CustomerFactory, VendorFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _post_all_at_once(requests):
    """Send each (user, payload) POST /api/bookings/ from its own thread, all released together."""
    barrier = threading.Barrier(len(requests))
    results = [None] * len(requests)

    def worker(index, user, payload):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
        try:
            barrier.wait(timeout=30)
            response = client.post("/api/bookings/", payload, format="json")
            results[index] = response.status_code
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, user, payload)) for i, (user, payload) in enumerate(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def _overlapping_pairs():
    holding = list(
        Booking.objects.filter(status__in=SLOT_HOLDING_STATUSES, vendor__isnull=False).values_list(
            "pk", "vendor_id", "scheduled_at", "blocked_until"
        )
    )
    pairs = []
    for i, (pk_a, vendor_a, start_a, end_a) in enumerate(holding):
        for pk_b, vendor_b, start_b, end_b in holding[i + 1 :]:
            if vendor_a == vendor_b and start_a < end_b and start_b < end_a:
                pairs.append((pk_a, pk_b))
    return pairs


def test_twenty_simultaneous_bookings_of_one_slot_give_one_201_and_nineteen_409():
    # given
    service = ServiceFactory(duration_minutes=60)
    vendor = VendorFactory()
    VendorServiceFactory(vendor=vendor, service=service)
    customers = [CustomerFactory() for _ in range(20)]
    payload = {
        "service_id": service.pk,
        "scheduled_at": local_time(2, 10).isoformat(),
        "address": ADDRESS,
        "vendor_id": str(vendor.pk),
        "payment_method": "cash",
    }
    # when
    statuses = _post_all_at_once([(customer, payload) for customer in customers])
    # then
    assert sorted(statuses) == [201] + [409] * 19
    assert Booking.objects.filter(vendor=vendor).count() == 1


def test_overlapping_but_not_identical_requests_still_never_double_book():
    # given: starts 30 minutes apart for a 60-minute job plus a 30-minute buffer all collide
    service = ServiceFactory(duration_minutes=60)
    vendor = VendorFactory()
    VendorServiceFactory(vendor=vendor, service=service)
    requests = []
    for offset in range(10):
        start = local_time(2, 10) + timedelta(minutes=30 * (offset % 3))
        payload = {
            "service_id": service.pk,
            "scheduled_at": start.isoformat(),
            "address": ADDRESS,
            "vendor_id": str(vendor.pk),
            "payment_method": "cash",
        }
        requests.append((CustomerFactory(), payload))
    # when
    statuses = _post_all_at_once(requests)
    # then
    assert set(statuses) <= {201, 409}
    assert statuses.count(201) == 1
    assert _overlapping_pairs() == []


def test_concurrent_platform_assignments_never_give_one_vendor_overlapping_bookings():
    # given: three vendors free at one time and twelve customers letting the platform choose
    service = ServiceFactory(duration_minutes=60)
    vendors = [VendorFactory() for _ in range(3)]
    for vendor in vendors:
        VendorServiceFactory(vendor=vendor, service=service)
    payload = {
        "service_id": service.pk,
        "scheduled_at": local_time(2, 14).isoformat(),
        "address": ADDRESS,
        "payment_method": "cash",
    }
    # when
    statuses = _post_all_at_once([(CustomerFactory(), payload) for _ in range(12)])
    # then: nobody got a 500, no vendor holds two overlapping bookings, each vendor holds one
    assert set(statuses) <= {201, 409}
    assert _overlapping_pairs() == []
    held = Booking.objects.filter(status__in=SLOT_HOLDING_STATUSES, vendor__isnull=False)
    assert sorted(held.values_list("vendor_id", flat=True)) == sorted(v.pk for v in vendors)
    # the rest wait for ops (no vendor free) or were refused up front
    assert Booking.objects.filter(vendor__isnull=True, needs_manual_assignment=True).count() == statuses.count(201) - 3


def test_the_database_itself_refuses_an_overlapping_booking():
    # given: one holding booking, written straight to the table
    service = ServiceFactory(duration_minutes=60)
    vendor = VendorFactory()
    VendorServiceFactory(vendor=vendor, service=service)
    customer = CustomerFactory()
    start = local_time(2, 10)
    fields = {
        "customer": customer,
        "vendor": vendor,
        "payment_method": "cash",
        "address_line1": "x",
        "address_city": "Bengaluru",
        "address_pincode": "560034",
        "currency": "INR",
        "tax_rate": "0.18",
        "commission_rate": "0.15",
    }
    Booking.objects.create(
        booking_number="BK-T-1",
        scheduled_at=start,
        ends_at=start + timedelta(hours=1),
        blocked_until=start + timedelta(hours=1, minutes=30),
        **fields,
    )
    # when / then: a second booking starting inside the buffer bypasses the service but not the database
    with pytest.raises(IntegrityError), transaction.atomic():
        Booking.objects.create(
            booking_number="BK-T-2",
            scheduled_at=start + timedelta(hours=1, minutes=15),
            ends_at=start + timedelta(hours=2, minutes=15),
            blocked_until=start + timedelta(hours=2, minutes=45),
            **fields,
        )
    # a cancelled booking does not hold the time
    Booking.objects.filter(booking_number="BK-T-1").update(status="cancelled")
    Booking.objects.create(
        booking_number="BK-T-3",
        scheduled_at=start + timedelta(hours=1, minutes=15),
        ends_at=start + timedelta(hours=2, minutes=15),
        blocked_until=start + timedelta(hours=2, minutes=45),
        **fields,
    )
