"""Query budgets for the list endpoints: a fixed number of queries whatever the number of rows.

Each test measures the same request with 5 rows and with 50, asserts the counts are equal (no
N+1), and holds the 50-row request to a budget."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bookings.services.creation import booking_create
from bookings.services.transitions import booking_accept
from bookings.tests.conftest import ADDRESS, local_time
from bookings.tests.factories import ServiceFactory, VendorServiceFactory
from core.models import SystemSettings, VendorDocument, VendorTimeOff
from core.tests.factories import CustomerFactory, OpsFactory, VendorFactory

pytestmark = pytest.mark.django_db

# On PostgreSQL: JWT user + one query for the page, its related rows and the count
# (bookings.selectors.BookingListRows); a vendor's list also reads their own profile. Elsewhere:
# JWT user + count + page + lines + payment attempts (+ the vendor's offers and profile).
_ON_POSTGRES = connection.vendor == "postgresql"
CUSTOMER_BOOKING_LIST_BUDGET = 2 if _ON_POSTGRES else 5
VENDOR_BOOKING_LIST_BUDGET = 3 if _ON_POSTGRES else 7
OPS_BOOKING_LIST_BUDGET = 2 if _ON_POSTGRES else 5
# count + page + the vendors' active services.
VENDOR_SEARCH_BUDGET = 3
# + the service's length, the candidates, the settings row, their bookings and time off.
AVAILABLE_ON_SEARCH_BUDGET = 8
SERVICE_LIST_BUDGET = 1
# JWT user + the vendor's profile + the rows (+ a count where paginated).
VENDOR_SELF_SERVICE_LIST_BUDGETS = {
    "/api/vendors/me/services/": 3,
    "/api/vendors/me/documents/?page_size=100": 4,
    "/api/vendors/me/time-off/": 3,
}

SLOT_TIMES = [(8, 0), (10, 30), (13, 0), (15, 30), (18, 0)]


@pytest.fixture
def services():
    return ServiceFactory(duration_minutes=60), ServiceFactory(duration_minutes=30)


@pytest.fixture
def vendor_pool(services):
    pool = [VendorFactory() for _ in range(3)]
    for vendor in pool:
        for service in services:
            VendorServiceFactory(vendor=vendor, service=service)
    return pool


class BookingMaker:
    """Bookings on distinct slots (a 90-minute visit + 30 minutes' buffer fits every 2.5 h)."""

    def __init__(self, services):
        self.services = services
        self.made = 0

    def make(self, count, *, customer=None, vendors):
        for _ in range(count):
            index = self.made
            self.made += 1
            hour, minute = SLOT_TIMES[index % len(SLOT_TIMES)]
            vendor = vendors[index % len(vendors)]
            booking = booking_create(
                customer=customer or CustomerFactory(),
                lines=[{"service_id": s.pk, "quantity": 1} for s in self.services],
                scheduled_at=local_time(2 + index // len(SLOT_TIMES), hour, minute),
                address={**ADDRESS, "line2": f"Flat {index}"},
                vendor_id=vendor.pk,
                payment_method="cash",
            )
            if index % 2:
                booking_accept(booking=booking, user=vendor.user)


def count_queries(request):
    with CaptureQueriesContext(connection) as context:
        response = request()
    assert response.status_code == 200, response.content
    return len(context.captured_queries), response


def assert_constant(request, grow, expected_rows, django_assert_max_num_queries, budget):
    small, small_response = count_queries(request)
    assert small_response.json()["count"] == expected_rows[0]
    grow()
    with django_assert_max_num_queries(budget):
        large, large_response = count_queries(request)
    assert large_response.json()["count"] == expected_rows[1]
    assert len(large_response.json()["results"]) == expected_rows[1]
    assert large == small, f"{small} queries for {expected_rows[0]} rows but {large} for {expected_rows[1]}"
    return large


def test_booking_list_as_customer(client_for, services, vendor_pool, django_assert_max_num_queries):
    customer = CustomerFactory()
    maker = BookingMaker(services)
    maker.make(5, customer=customer, vendors=vendor_pool)
    api = client_for(customer)

    assert_constant(
        lambda: api.get("/api/bookings/?page_size=100"),
        lambda: maker.make(45, customer=customer, vendors=vendor_pool),
        (5, 50),
        django_assert_max_num_queries,
        CUSTOMER_BOOKING_LIST_BUDGET,
    )


def test_booking_list_as_vendor(client_for, services, vendor_pool, django_assert_max_num_queries):
    vendor = vendor_pool[0]
    maker = BookingMaker(services)
    maker.make(5, vendors=[vendor])
    api = client_for(vendor.user)

    assert_constant(
        lambda: api.get("/api/bookings/?page_size=100"),
        lambda: maker.make(45, vendors=[vendor]),
        (5, 50),
        django_assert_max_num_queries,
        VENDOR_BOOKING_LIST_BUDGET,
    )


def test_booking_list_as_ops(client_for, services, vendor_pool, django_assert_max_num_queries):
    maker = BookingMaker(services)
    maker.make(5, vendors=vendor_pool)
    api = client_for(OpsFactory())

    assert_constant(
        lambda: api.get("/api/bookings/?page_size=100"),
        lambda: maker.make(45, vendors=vendor_pool),
        (5, 50),
        django_assert_max_num_queries,
        OPS_BOOKING_LIST_BUDGET,
    )


def test_vendor_search(api_client, services, django_assert_max_num_queries):
    service, extra = services

    def add_vendors(count):
        for n in range(count):
            vendor = VendorFactory(rating_avg=Decimal("4.00"), rating_count=n)
            VendorServiceFactory(vendor=vendor, service=service, price=Decimal("500.00") + n)
            VendorServiceFactory(vendor=vendor, service=extra)

    add_vendors(5)

    assert_constant(
        lambda: api_client.get(f"/api/vendors/?service={service.pk}&pincode=560034&page_size=100"),
        lambda: add_vendors(45),
        (5, 50),
        django_assert_max_num_queries,
        VENDOR_SEARCH_BUDGET,
    )


def test_vendor_search_ordered_by_distance_and_price(api_client, services, django_assert_max_num_queries):
    service, extra = services

    def add_vendors(count):
        for _ in range(count):
            vendor = VendorFactory()
            VendorServiceFactory(vendor=vendor, service=service)
            VendorServiceFactory(vendor=vendor, service=extra)

    add_vendors(5)
    url = f"/api/vendors/?service={service.pk}&lat=12.93&lng=77.62&radius_km=20&max_price=1000&ordering=distance"

    assert_constant(
        lambda: api_client.get(f"{url}&page_size=100"),
        lambda: add_vendors(45),
        (5, 50),
        django_assert_max_num_queries,
        VENDOR_SEARCH_BUDGET,
    )


def test_service_list(api_client, django_assert_max_num_queries):
    for _ in range(5):
        ServiceFactory()
    small, _ = count_queries(lambda: api_client.get("/api/services/"))
    for _ in range(45):
        ServiceFactory()

    with django_assert_max_num_queries(SERVICE_LIST_BUDGET):
        large, response = count_queries(lambda: api_client.get("/api/services/"))

    assert len(response.json()) == 50
    assert large == small


def test_vendor_search_available_on_a_day(api_client, services, django_assert_max_num_queries):
    service, extra = services
    day = local_time(3, 0).date().isoformat()

    def add_vendors(count):
        for _ in range(count):
            vendor = VendorFactory()
            VendorServiceFactory(vendor=vendor, service=service)
            VendorServiceFactory(vendor=vendor, service=extra)

    add_vendors(5)
    SystemSettings.load()  # the settings row exists on a running platform
    url = f"/api/vendors/?service={service.pk}&pincode=560034&available_on={day}&page_size=100"

    assert_constant(
        lambda: api_client.get(url),
        lambda: add_vendors(45),
        (5, 50),
        django_assert_max_num_queries,
        AVAILABLE_ON_SEARCH_BUDGET,
    )


def test_vendor_self_service_lists(client_for, django_assert_max_num_queries):
    vendor = VendorFactory()
    api = client_for(vendor.user)
    start = local_time(2, 0)

    def add_rows(count):
        for _ in range(count):
            VendorServiceFactory(vendor=vendor)
            VendorDocument.objects.create(
                vendor=vendor, kind="certificate", file=SimpleUploadedFile("c.pdf", b"%PDF-1.4 test")
            )
            offset = timedelta(days=VendorTimeOff.objects.filter(vendor=vendor).count())
            VendorTimeOff.objects.create(
                vendor=vendor, starts_at=start + offset, ends_at=start + offset + timedelta(hours=1)
            )

    add_rows(5)
    urls = list(VENDOR_SELF_SERVICE_LIST_BUDGETS)
    small = [count_queries(lambda url=url: api.get(url))[0] for url in urls]
    add_rows(45)

    for url, before in zip(urls, small, strict=True):
        with django_assert_max_num_queries(VENDOR_SELF_SERVICE_LIST_BUDGETS[url]):
            after, response = count_queries(lambda url=url: api.get(url))
        body = response.json()
        assert len(body["results"] if isinstance(body, dict) else body) == 50
        assert after == before, url
