"""Bad input answers 400 with the field named (409 for a taken slot), never 500, and never leaves
a half-written booking behind (§10)."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from bookings.models import Booking, BookingEvent, BookingLine, BookingOffer, PromoRedemption
from bookings.services.creation import booking_create
from bookings.tests.conftest import ADDRESS, local_time
from bookings.tests.factories import PromoCodeFactory, ServiceFactory, VendorServiceFactory
from core.models import Address, OnboardingStatus
from core.tests.factories import CustomerFactory, VendorFactory

pytestmark = pytest.mark.django_db


def row_counts():
    return (
        Booking.objects.count(),
        BookingLine.objects.count(),
        BookingEvent.objects.count(),
        BookingOffer.objects.count(),
        PromoRedemption.objects.count(),
    )


def on_grid_after(delta):
    """The first 30-minute grid line at least ``delta`` from now."""
    moment = timezone.now() + delta
    moment = moment.replace(second=0, microsecond=0)
    return moment + timedelta(minutes=(-moment.minute) % 30)


@pytest.fixture
def payload(service, vendor):
    return {
        "service_id": service.pk,
        "scheduled_at": local_time(3, 10).isoformat(),
        "address": dict(ADDRESS),
        "vendor_id": str(vendor.pk),
        "payment_method": "card",
    }


def _set(key, value):
    def change(payload, ctx):
        payload[key] = value(ctx) if callable(value) else value

    return change


def _drop(*keys):
    def change(payload, ctx):
        for key in keys:
            payload.pop(key, None)

    return change


def _address(**fields):
    def change(payload, ctx):
        payload["address"] = {**payload["address"], **fields}

    return change


def _unapprove(payload, ctx):
    ctx["vendor"].onboarding_status = OnboardingStatus.PENDING
    ctx["vendor"].save(update_fields=["onboarding_status"])


def _other_customers_address(payload, ctx):
    address = Address.objects.create(user=CustomerFactory(), line1="1 Road", city="Bengaluru", pincode="560034")
    payload.pop("address")
    payload["address_id"] = address.pk


def _vendor_without_the_service(payload, ctx):
    payload["vendor_id"] = str(VendorFactory().pk)


def _vendor_in_another_area(payload, ctx):
    far = VendorFactory(pincodes=["400050"], base_lat="19.059600", base_lng="72.829500")
    VendorServiceFactory(vendor=far, service=ctx["service"])
    payload["vendor_id"] = str(far.pk)


BAD_BOOKINGS = [
    (
        "naive-datetime",
        _set("scheduled_at", lambda c: local_time(3, 10).replace(tzinfo=None).isoformat()),
        "scheduled_at",
    ),
    ("past", _set("scheduled_at", lambda c: local_time(-1, 10).isoformat()), "scheduled_at"),
    ("too-soon", _set("scheduled_at", lambda c: on_grid_after(timedelta(minutes=61)).isoformat()), "scheduled_at"),
    ("too-far", _set("scheduled_at", lambda c: local_time(31, 10).isoformat()), "scheduled_at"),
    ("off-grid", _set("scheduled_at", lambda c: local_time(3, 10, 15).isoformat()), "scheduled_at"),
    (
        "seconds-off-grid",
        _set("scheduled_at", lambda c: (local_time(3, 10) + timedelta(seconds=5)).isoformat()),
        "scheduled_at",
    ),
    ("before-working-hours", _set("scheduled_at", lambda c: local_time(3, 6).isoformat()), "scheduled_at"),
    ("runs-past-working-hours", _set("scheduled_at", lambda c: local_time(3, 19).isoformat()), "scheduled_at"),
    ("not-a-date", _set("scheduled_at", "2030-13-45T10:00:00+05:30"), "scheduled_at"),
    ("year-one", _set("scheduled_at", "0001-01-01T00:00:00+05:30"), "scheduled_at"),
    ("scheduled-at-list", _set("scheduled_at", lambda c: [local_time(3, 10).isoformat()]), "scheduled_at"),
    ("scheduled-at-number", _set("scheduled_at", 1767225600), "scheduled_at"),
    ("scheduled-at-missing", _drop("scheduled_at"), "scheduled_at"),
    ("unknown-service", _set("service_id", 999999), "service_id"),
    ("inactive-service", _set("service_id", lambda c: ServiceFactory(is_active=False).pk), "service_id"),
    ("service-id-string", _set("service_id", "abc"), "service_id"),
    ("service-id-bool", _set("service_id", True), "service_id"),
    ("service-id-float", _set("service_id", 1.5), "service_id"),
    ("service-id-huge", _set("service_id", 10**30), "service_id"),
    ("service-id-int64-plus-one", _set("service_id", 2**63), "service_id"),
    ("service-id-zero", _set("service_id", 0), "service_id"),
    ("neither-service-nor-lines", _drop("service_id"), "service_id"),
    ("both-service-and-lines", _set("lines", lambda c: [{"service_id": c["service"].pk}]), "service_id"),
    ("lines-not-a-list", lambda p, c: (p.pop("service_id"), p.update(lines="abc")), "lines"),
    ("lines-bad-service-id", lambda p, c: (p.pop("service_id"), p.update(lines=[{"service_id": "x"}])), "lines"),
    (
        "lines-zero-quantity",
        lambda p, c: (p.pop("service_id"), p.update(lines=[{"service_id": c["service"].pk, "quantity": 0}])),
        "lines",
    ),
    (
        "lines-huge-quantity",
        lambda p, c: (p.pop("service_id"), p.update(lines=[{"service_id": c["service"].pk, "quantity": 11}])),
        "lines",
    ),
    (
        "lines-duplicate",
        lambda p, c: (p.pop("service_id"), p.update(lines=[{"service_id": c["service"].pk}] * 2)),
        "lines",
    ),
    (
        "lines-unknown-service",
        lambda p, c: (p.pop("service_id"), p.update(lines=[{"service_id": 424242}])),
        "service_id",
    ),
    (
        "lines-eleven",
        lambda p, c: (p.pop("service_id"), p.update(lines=[{"service_id": n} for n in range(1, 12)])),
        "lines",
    ),
    ("address-number", _set("address", 42), "address"),
    ("address-string", _set("address", "12 Lake View Road"), "address"),
    ("address-bad-pincode", _address(pincode="012345"), "address"),
    ("address-short-pincode", _address(pincode="5600"), "address"),
    ("address-pincode-number", _address(pincode=56003), "address"),
    ("address-no-line1", lambda p, c: p["address"].pop("line1"), "address"),
    ("address-lat-out-of-range", _address(lat="123.0", lng="77.6"), "address"),
    ("address-lat-without-lng", _address(lat="12.93"), "address"),
    ("neither-address-nor-id", _drop("address"), "address"),
    ("both-address-and-id", _set("address_id", 1), "address"),
    ("unknown-address-id", lambda p, c: (p.pop("address"), p.update(address_id=999999)), "address_id"),
    ("huge-address-id", lambda p, c: (p.pop("address"), p.update(address_id=10**30)), "address_id"),
    ("another-customers-address", _other_customers_address, "address_id"),
    ("unknown-vendor", _set("vendor_id", lambda c: str(uuid.uuid4())), "vendor_id"),
    ("malformed-vendor", _set("vendor_id", "vendor-1"), "vendor_id"),
    ("vendor-id-number", _set("vendor_id", 12), "vendor_id"),
    ("unapproved-vendor", _unapprove, "vendor_id"),
    ("vendor-without-the-service", _vendor_without_the_service, "vendor_id"),
    ("vendor-in-another-area", _vendor_in_another_area, "vendor_id"),
    ("bad-payment-method", _set("payment_method", "bitcoin"), "payment_method"),
    ("missing-payment-method", _drop("payment_method"), "payment_method"),
    ("notes-too-long", _set("notes", "x" * 1001), "notes"),
    ("notes-object", _set("notes", {"a": 1}), "notes"),
    ("unknown-promo", _set("promo_code", "NOSUCHCODE"), "promo_code"),
    (
        "expired-promo",
        _set("promo_code", lambda c: PromoCodeFactory(valid_until=timezone.now() - timedelta(days=1)).code),
        "promo_code",
    ),
]


@pytest.mark.parametrize("change,field", [pytest.param(c, f, id=i) for i, c, f in BAD_BOOKINGS])
def test_bad_booking_input_answers_400_naming_the_field(client_for, customer, vendor, service, payload, change, field):
    change(payload, {"vendor": vendor, "service": service, "customer": customer})
    before = row_counts()

    response = client_for(customer).post("/api/bookings/", payload, format="json")

    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()
    assert row_counts() == before == (0, 0, 0, 0, 0)


@pytest.mark.parametrize(
    "body,content_type",
    [
        ('{"service_id": 1, "scheduled_at": ', "application/json"),
        ("not json at all", "application/json"),
        ("[1, 2, 3]", "application/json"),
        ('"a string"', "application/json"),
        ("null", "application/json"),
    ],
)
def test_a_garbage_body_answers_400(client_for, customer, body, content_type):
    response = client_for(customer).post("/api/bookings/", body, content_type=content_type)

    assert response.status_code == 400, response.content
    assert response.json()
    assert row_counts() == (0, 0, 0, 0, 0)


def test_a_valid_payload_is_accepted(client_for, customer, payload):
    # The control case for the table above: the same payload, unchanged, books.
    response = client_for(customer).post("/api/bookings/", payload, format="json")

    assert response.status_code == 201, response.json()
    assert row_counts()[:2] == (1, 1)


# --- taken slots ---------------------------------------------------------------------------------


def test_a_taken_slot_answers_409_and_writes_nothing(client_for, customer, vendor, service, payload):
    # given: the vendor holds 10:00–12:00, blocked until 12:30 with the travel buffer
    booking_create(
        customer=CustomerFactory(),
        lines=[{"service_id": service.pk, "quantity": 1}],
        scheduled_at=local_time(3, 10),
        address=dict(ADDRESS),
        vendor_id=vendor.pk,
        payment_method="card",
    )
    before = row_counts()
    api = client_for(customer)

    for hour, minute in [(10, 0), (12, 0), (8, 30)]:
        payload["scheduled_at"] = local_time(3, hour, minute).isoformat()
        response = api.post("/api/bookings/", payload, format="json")
        assert response.status_code == 409, (hour, minute, response.json())
        assert "detail" in response.json()
        assert row_counts() == before

    payload["scheduled_at"] = local_time(3, 12, 30).isoformat()
    assert api.post("/api/bookings/", payload, format="json").status_code == 201


def test_no_free_vendor_for_a_platform_assigned_booking_answers_409(client_for, customer, vendor, service, payload):
    booking_create(
        customer=CustomerFactory(),
        lines=[{"service_id": service.pk, "quantity": 1}],
        scheduled_at=local_time(3, 10),
        address=dict(ADDRESS),
        vendor_id=vendor.pk,
        payment_method="card",
    )
    before = row_counts()
    payload.pop("vendor_id")

    response = client_for(customer).post("/api/bookings/", payload, format="json")

    assert response.status_code == 409
    assert row_counts() == before


def test_an_exhausted_promo_answers_400_and_writes_nothing(client_for, customer, payload):
    promo = PromoCodeFactory(global_limit=1)
    booking_create(
        customer=CustomerFactory(),
        lines=[{"service_id": payload["service_id"], "quantity": 1}],
        scheduled_at=local_time(4, 10),
        address=dict(ADDRESS),
        vendor_id=payload["vendor_id"],
        payment_method="card",
        promo_code=promo.code,
    )
    before = row_counts()
    payload["promo_code"] = promo.code

    response = client_for(customer).post("/api/bookings/", payload, format="json")

    assert response.status_code == 400
    assert "promo_code" in response.json()
    assert row_counts() == before


# --- reschedule input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value,status",
    [
        (lambda: local_time(5, 10).replace(tzinfo=None).isoformat(), 400),
        (lambda: local_time(5, 10, 10).isoformat(), 400),
        (lambda: local_time(40, 10).isoformat(), 400),
        (lambda: "soon", 400),
        (lambda: None, 400),
    ],
)
def test_bad_reschedule_input_answers_400(client_for, customer, vendor, service, value, status):
    booking = booking_create(
        customer=customer,
        lines=[{"service_id": service.pk, "quantity": 1}],
        scheduled_at=local_time(3, 10),
        address=dict(ADDRESS),
        vendor_id=vendor.pk,
        payment_method="card",
    )
    events = BookingEvent.objects.filter(booking=booking).count()

    response = client_for(customer).post(
        f"/api/bookings/{booking.pk}/reschedule/", {"scheduled_at": value()}, format="json"
    )

    assert response.status_code == status
    assert "scheduled_at" in response.json()
    booking.refresh_from_db()
    assert booking.scheduled_at == local_time(3, 10)
    assert booking.reschedule_count == 0
    assert BookingEvent.objects.filter(booking=booking).count() == events


def test_a_reschedule_under_24_hours_before_the_start_answers_409(client_for, customer, service):
    # An all-day vendor, so that a start ~10 h from now is always within working hours.
    vendor = VendorFactory(working_hours={str(d): [["00:00", "24:00"]] for d in range(7)})
    VendorServiceFactory(vendor=vendor, service=service)
    start = on_grid_after(timedelta(hours=10))
    if start.astimezone(local_time(0, 0).tzinfo).hour >= 22:
        start += timedelta(hours=3)  # the 2-hour visit must end by midnight
    booking = booking_create(
        customer=customer,
        lines=[{"service_id": service.pk, "quantity": 1}],
        scheduled_at=start,
        address=dict(ADDRESS),
        vendor_id=vendor.pk,
        payment_method="card",
    )
    events = BookingEvent.objects.filter(booking=booking).count()

    response = client_for(customer).post(
        f"/api/bookings/{booking.pk}/reschedule/", {"scheduled_at": local_time(5, 10).isoformat()}, format="json"
    )

    assert response.status_code == 409
    assert response.json()["status"] == "pending"
    booking.refresh_from_db()
    assert booking.scheduled_at == start
    assert BookingEvent.objects.filter(booking=booking).count() == events


# --- query parameters ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query,field",
    [
        ("service=abc", "service"),
        ("service=0", "service"),
        ("service=99999999999999999999999999", "service"),
        ("pincode=12345", "pincode"),
        ("pincode=012345", "pincode"),
        ("lat=12.93", "lat"),
        ("lat=100&lng=77.6", "lat"),
        ("lat=abc&lng=77.6", "lat"),
        ("lat=12.9&lng=77.6&radius_km=-5", "radius_km"),
        ("radius_km=5", "radius_km"),
        ("min_rating=6", "min_rating"),
        ("min_rating=high", "min_rating"),
        ("max_price=-1", "max_price"),
        ("available_on=2026-13-01", "available_on"),
        ("available_on=tomorrow", "available_on"),
        ("available_on=0001-01-01", "available_on"),
        ("available_on=9999-12-31", "available_on"),
        ("ordering=cheapest", "ordering"),
        ("ordering=distance", "ordering"),
    ],
)
def test_bad_vendor_search_params_answer_400(api_client, vendor, query, field):
    response = api_client.get(f"/api/vendors/?{query}")

    assert response.status_code == 400, response.content
    assert field in response.json()


@pytest.mark.parametrize(
    "query,field",
    [
        ("service=SERVICE", "date"),
        ("date=2026-02-30&service=SERVICE", "date"),
        ("date=0001-01-01&service=SERVICE", "date"),
        ("date=9999-12-31&service=SERVICE", "date"),
        ("date=DATE", "service"),
        ("date=DATE&service=abc", "service"),
        ("date=DATE&service=SERVICE,SERVICE", "service"),
        ("date=DATE&service=999999", "service"),
        ("date=DATE&service=99999999999999999999999999", "service"),
        ("date=DATE&service=OTHER", "service"),
        ("date=DATE&quantity=2", "service"),
        ("date=DATE&service=SERVICE&quantity=0", "quantity"),
        ("date=DATE&service=SERVICE&quantity=11", "quantity"),
        ("date=DATE&service=SERVICE&quantity=-1", "quantity"),
        ("date=DATE&service=SERVICE&quantity=1.5", "quantity"),
        ("date=DATE&service=SERVICE&quantity=two", "quantity"),
        ("date=DATE&service=SERVICE&quantity=%201", "quantity"),
        ("date=DATE&service=SERVICE&quantity=1%0A", "quantity"),
        ("date=DATE&service=SERVICE&quantity=%D9%A3", "quantity"),  # an Arabic-Indic 3
        ("date=DATE&service=SERVICE&quantity=1,", "quantity"),
        ("date=DATE&service=SERVICE&quantity=" + "9" * 5000, "quantity"),
        ("date=DATE&service=SERVICE&quantity=1,1", "quantity"),
        ("date=DATE&service=SERVICE,OTHER&quantity=1", "quantity"),
        ("date=DATE&booking=not-a-uuid", "booking"),
        ("date=DATE&booking=00000000-0000-0000-0000-000000000000&service=SERVICE", "booking"),
    ],
)
def test_bad_availability_params_answer_400(api_client, vendor, service, query, field):
    other = ServiceFactory()
    query = (
        query.replace("SERVICE", str(service.pk))
        .replace("OTHER", str(other.pk))
        .replace("DATE", local_time(3, 10).date().isoformat())
    )

    response = api_client.get(f"/api/vendors/{vendor.pk}/availability/?{query}")

    assert response.status_code == 400, response.content
    assert field in response.json()


# --- promo codes ---------------------------------------------------------------------------------


def test_a_valid_promo_code_answers_the_discount_as_a_money_string(client_for, customer):
    PromoCodeFactory(code="WELCOME10", value="10")

    response = client_for(customer).post(
        "/api/promo-codes/validate/", {"code": "welcome10", "amount": "123.40"}, format="json"
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["valid"] is True
    assert body["code"] == "WELCOME10"
    assert body["discount"] == "12.34"
    assert body["amount_after_discount"] == "111.06"


def test_a_fixed_promo_is_capped_at_the_amount(client_for, customer):
    PromoCodeFactory(code="FLAT500", kind="fixed", value="500")

    response = client_for(customer).post("/api/promo-codes/validate/", {"code": "FLAT500", "amount": "99.5"})

    assert response.json()["discount"] == "99.50"
    assert response.json()["amount_after_discount"] == "0.00"


@pytest.mark.parametrize(
    "promo,amount",
    [
        (None, "100.00"),
        ({"valid_until": "PAST"}, "100.00"),
        ({"valid_from": "FUTURE"}, "100.00"),
        ({"is_active": False}, "100.00"),
        ({"min_order": "500.00"}, "100.00"),
    ],
)
def test_an_unusable_promo_code_answers_400_on_promo_code(client_for, customer, promo, amount):
    if promo is not None:
        values = {
            key: (timezone.now() - timedelta(days=1) if value == "PAST" else value) for key, value in promo.items()
        }
        values = {
            key: (timezone.now() + timedelta(days=1) if value == "FUTURE" else value) for key, value in values.items()
        }
        PromoCodeFactory(code="SAVE", **values)

    response = client_for(customer).post("/api/promo-codes/validate/", {"code": "SAVE", "amount": amount})

    assert response.status_code == 400
    assert "promo_code" in response.json()


@pytest.mark.parametrize(
    "body,field",
    [
        ({"code": "SAVE", "amount": "-1"}, "amount"),
        ({"code": "SAVE", "amount": "abc"}, "amount"),
        ({"amount": "1"}, "code"),
    ],
)
def test_bad_promo_validate_input_answers_400(client_for, customer, body, field):
    PromoCodeFactory(code="SAVE")

    response = client_for(customer).post("/api/promo-codes/validate/", body, format="json")

    assert response.status_code == 400
    assert field in response.json()


def test_booking_creation_is_throttled_per_user(client_for, customer, payload):
    api = client_for(customer)
    payload["scheduled_at"] = local_time(3, 10, 15).isoformat()  # off the grid: refused, but counted
    for _ in range(10):
        assert api.post("/api/bookings/", payload, format="json").status_code == 400

    throttled = api.post("/api/bookings/", payload, format="json")
    other_customer = client_for(CustomerFactory()).post("/api/bookings/", payload, format="json")

    assert throttled.status_code == 429
    assert int(throttled["Retry-After"]) > 0
    assert other_customer.status_code == 400


@pytest.mark.postgres
def test_a_slot_already_taken_is_refused_before_queuing_for_the_vendors_lock(
    client_for, customer, vendor, service, payload
):
    """Two hundred customers at one slot: all but the first must hear 409 without waiting in
    turn for the vendor's row lock (bench/contention.py measures how fast)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    booking_create(
        customer=CustomerFactory(),
        lines=[{"service_id": service.pk, "quantity": 1}],
        scheduled_at=local_time(3, 10),
        address=dict(ADDRESS),
        vendor_id=vendor.pk,
        payment_method="cash",
    )
    payload["scheduled_at"] = local_time(3, 10).isoformat()
    api = client_for(customer)
    with CaptureQueriesContext(connection) as queries:
        response = api.post("/api/bookings/", payload, format="json")
    assert response.status_code == 409
    assert not [q["sql"] for q in queries.captured_queries if "FOR UPDATE" in q["sql"]]
