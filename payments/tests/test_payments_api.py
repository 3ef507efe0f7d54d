"""The payments API's edges: who sees which payment, what the confirm form accepts, query
budgets. (Whole money flows are in test_money_flows.py.)"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bookings.services.creation import booking_create
from bookings.tests.conftest import ADDRESS, local_time
from bookings.tests.factories import ServiceFactory, VendorServiceFactory
from core.tests.factories import CustomerFactory, OpsFactory, VendorFactory
from payments.models import AttemptStatus, PaymentAttempt

pytestmark = pytest.mark.django_db

CARD = {"card_number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}


@pytest.fixture
def offer(db):
    service = ServiceFactory(duration_minutes=60)
    vendor = VendorFactory()
    VendorServiceFactory(vendor=vendor, service=service)
    return service, vendor


def book(offer, customer, *, method="card", days=2, hour=10):
    service, vendor = offer
    return booking_create(
        customer=customer,
        lines=[{"service_id": service.pk, "quantity": 1}],
        scheduled_at=local_time(days, hour),
        address=ADDRESS,
        vendor_id=str(vendor.pk),
        payment_method=method,
    )


def payment_of(booking):
    return PaymentAttempt.objects.get(booking=booking, is_active=True)


def test_a_customer_sees_only_their_own_payments(offer, client_for):
    alice, bob = CustomerFactory(), CustomerFactory()
    mine = payment_of(book(offer, alice))
    theirs = payment_of(book(offer, bob, hour=14))
    api = client_for(alice)

    listed = api.get("/api/payments/").json()
    assert [row["id"] for row in listed["results"]] == [str(mine.pk)]
    assert api.get(f"/api/payments/{mine.pk}/").status_code == 200
    assert api.get(f"/api/payments/{theirs.pk}/").status_code == 404
    assert api.post(f"/api/payments/{theirs.pk}/confirm/", CARD, format="json").status_code == 404
    assert api.get("/api/payments/not-a-uuid/").status_code == 404
    assert api.post("/api/payments/not-a-uuid/confirm/", CARD, format="json").status_code == 404


def test_ops_see_every_payment_and_vendors_none(offer, client_for):
    book(offer, CustomerFactory())
    book(offer, CustomerFactory(), hour=14)
    assert client_for(OpsFactory()).get("/api/payments/").json()["count"] == 2
    _service, vendor = offer
    assert client_for(vendor.user).get("/api/payments/").status_code == 403


def test_the_client_secret_is_for_the_paying_customer_while_the_card_is_due(offer, client_for):
    customer = CustomerFactory()
    attempt = payment_of(book(offer, customer))
    api = client_for(customer)
    api.post(f"/api/payments/{attempt.pk}/confirm/", CARD, format="json")  # prepares and authorises
    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.AUTHORIZED and attempt.client_secret
    assert api.get(f"/api/payments/{attempt.pk}/").json()["client_secret"] is None
    assert client_for(OpsFactory()).get(f"/api/payments/{attempt.pk}/").json()["client_secret"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"card_number": "4242424242424242"}, "exp_month"),
        ({**CARD, "card_number": "4242-4242"}, "card_number"),
        ({**CARD, "exp_month": 13}, "exp_month"),
        ({**CARD, "authentication": "pass"}, "authentication"),
        ({"authentication": "maybe"}, "authentication"),
        ({}, "card_number"),
    ],
)
def test_a_malformed_confirmation_is_400_and_changes_nothing(offer, client_for, body, field):
    customer = CustomerFactory()
    booking = book(offer, customer)
    attempt = payment_of(booking)
    response = client_for(customer).post(f"/api/payments/{attempt.pk}/confirm/", body, format="json")
    assert response.status_code == 400 and field in response.json()
    attempt.refresh_from_db()
    booking.refresh_from_db()
    assert attempt.status == AttemptStatus.REQUIRES_PAYMENT_METHOD
    assert booking.ready_at is None


def test_a_cash_booking_has_no_card_to_confirm(offer, client_for):
    customer = CustomerFactory()
    booking = book(offer, customer, method="cash")
    attempt = payment_of(booking)
    assert booking.ready_at is not None  # cash is ready at once
    response = client_for(customer).post(f"/api/payments/{attempt.pk}/confirm/", CARD, format="json")
    assert response.status_code == 409


def test_confirming_an_authorised_payment_again_answers_it_unchanged(offer, client_for):
    customer = CustomerFactory()
    attempt = payment_of(book(offer, customer))
    api = client_for(customer)
    first = api.post(f"/api/payments/{attempt.pk}/confirm/", CARD, format="json")
    again = api.post(f"/api/payments/{attempt.pk}/confirm/", CARD, format="json")
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json()["status"] == "authorized"
    assert PaymentAttempt.objects.filter(booking=attempt.booking).count() == 1


def test_card_confirmations_are_throttled_to_ten_a_minute(offer, client_for):
    customer = CustomerFactory()
    attempt = payment_of(book(offer, customer))
    api = client_for(customer)
    codes = [api.post(f"/api/payments/{attempt.pk}/confirm/", {}, format="json").status_code for _ in range(11)]
    assert codes == [400] * 10 + [429]


def test_the_payment_list_costs_the_same_queries_for_2_and_10_rows(offer, client_for):
    customer = CustomerFactory()
    api = client_for(customer)
    for hour in (9, 11):
        book(offer, customer, hour=hour)

    def count():
        with CaptureQueriesContext(connection) as queries:
            response = api.get("/api/payments/?page_size=100")
        assert response.status_code == 200
        return len(queries.captured_queries), response.json()["count"]

    small = count()
    for day in (3, 4):
        for hour in (9, 11, 13, 15):
            book(offer, customer, days=day, hour=hour)
    large = count()
    assert (small[1], large[1]) == (2, 10)
    assert small[0] == large[0] <= 4
