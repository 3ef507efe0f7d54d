"""The booking changelist's query count does not grow with its rows (issue 8): 500 bookings render
within a fixed budget, with every filter's choices, the payment status column and the needs-
attention counts; and 2 or 4 rows cost exactly the same queries.

Benchmark volumes are bulk-inserted keeping the invariants the services keep (CONVENTIONS.md): the
§4 price split, a line per booking, one active payment attempt, and no two slot-holding bookings of
a vendor overlapping (each vendor's bookings are two hours apart)."""

import itertools
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from bookings.models import Booking, BookingLine, BookingStatus
from bookings.tests.factories import ServiceFactory
from core.models import Role
from core.tests.factories import CustomerFactory, VendorFactory
from core.tests.test_admin import admin_url, logged_in, make_user
from payments.models import AttemptStatus, PaymentAttempt

D = Decimal
pytestmark = pytest.mark.django_db

STATUSES = [
    BookingStatus.PENDING,
    BookingStatus.CONFIRMED,
    BookingStatus.COMPLETED,
    BookingStatus.SIGNED,
    BookingStatus.CANCELLED,
    BookingStatus.DISPUTED,
]
ATTEMPT_STATUSES = [AttemptStatus.AUTHORIZED, AttemptStatus.CAPTURED, AttemptStatus.REQUIRES_PAYMENT_METHOD]
_numbers = itertools.count(1)


class BulkBookings:
    """Bookings inserted in bulk for query budgets: a few vendors and customers, many rows."""

    def __init__(self, vendors=5, customers=10):
        self.service = ServiceFactory(duration_minutes=60)
        self.vendors = [VendorFactory() for _ in range(vendors)]
        self.customers = CustomerFactory.create_batch(customers)
        self.start = timezone.now().replace(microsecond=0) + timedelta(days=2)
        self.made = 0

    def add(self, count):
        bookings = []
        for offset in range(count):
            index = self.made + offset
            vendor = self.vendors[index % len(self.vendors)]
            scheduled_at = self.start + timedelta(hours=2 * (index // len(self.vendors)))
            bookings.append(
                Booking(
                    booking_number=f"BK-BULK-{next(_numbers):07d}",
                    customer=self.customers[index % len(self.customers)],
                    vendor=vendor,
                    status=STATUSES[index % len(STATUSES)],
                    scheduled_at=scheduled_at,
                    ends_at=scheduled_at + timedelta(hours=1),
                    blocked_until=scheduled_at + timedelta(minutes=90),
                    payment_method="card",
                    address_line1="12 Lake View Road",
                    address_city="Bengaluru",
                    address_pincode="560034",
                    currency="INR",
                    subtotal=D("1000.00"),
                    discount=D("0.00"),
                    tax=D("180.00"),
                    total=D("1180.00"),
                    commission=D("150.00"),
                    vendor_earning=D("850.00"),
                    platform_fee=D("150.00"),
                    tax_rate=D("0.1800"),
                    commission_rate=D("0.1500"),
                    needs_manual_assignment=False,
                    ready_at=timezone.now(),
                )
            )
        Booking.objects.bulk_create(bookings)
        BookingLine.objects.bulk_create(
            BookingLine(
                booking=booking,
                service=self.service,
                service_name=self.service.name,
                unit_price=D("1000.00"),
                duration_minutes=60,
                line_total=D("1000.00"),
            )
            for booking in bookings
        )
        PaymentAttempt.objects.bulk_create(
            PaymentAttempt(
                booking=booking,
                method="card",
                status=ATTEMPT_STATUSES[number % len(ATTEMPT_STATUSES)],
                amount=booking.total,
                currency="INR",
                amount_captured=booking.total
                if ATTEMPT_STATUSES[number % len(ATTEMPT_STATUSES)] == AttemptStatus.CAPTURED
                else D("0"),
                gateway="fake",
            )
            for number, booking in enumerate(bookings)
        )
        self.made += count
        return bookings


def changelist_queries(client, params=None):
    with CaptureQueriesContext(connection) as seen:
        response = client.get(admin_url("bookings.booking"), params or {})
    assert response.status_code == 200
    return response, len(seen)


# Session, user, the user's and the group's permissions, the needs-attention counts, the vendor
# filter's choices, the count, the page of rows (customers, vendors and payment status joined in),
# the date hierarchy (2).
BUDGET = 10


def test_500_bookings_render_within_a_fixed_query_budget(django_assert_max_num_queries):
    BulkBookings().add(500)
    client = logged_in(make_user(Role.OPS_MANAGER, "ops"))

    with django_assert_max_num_queries(BUDGET):
        response = client.get(admin_url("bookings.booking"))

    assert response.context["cl"].result_count == 500
    assert len(response.context["cl"].result_list) == 100  # one page
    html = response.content.decode()
    assert "authorized" in html and "captured" in html  # the payment status column


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"attention": "any"},
        {"status__exact": "confirmed", "payment": "authorized"},
        {"pincode": "560034", "scheduled_from": timezone.localdate().isoformat()},
        {"q": "BK-BULK"},
    ],
)
def test_2_and_4_bookings_cost_the_same_queries(params):
    data = BulkBookings()
    client = logged_in(make_user(Role.OPS_MANAGER, "ops"))

    data.add(2)
    before, queries_before = changelist_queries(client, params)
    data.add(2)
    after, queries_after = changelist_queries(client, params)

    assert queries_after == queries_before
    if not params:
        assert (len(before.context["cl"].result_list), len(after.context["cl"].result_list)) == (2, 4)


def test_the_export_of_500_bookings_reads_them_in_a_few_queries(django_assert_max_num_queries):
    BulkBookings().add(500)
    client = logged_in(make_user(Role.OPS_MANAGER, "ops"))

    with django_assert_max_num_queries(BUDGET):
        response = client.get(reverse("admin:bookings_booking_export"))
        body = b"".join(response.streaming_content)

    assert body.count(b"\n") == 1 + 500
