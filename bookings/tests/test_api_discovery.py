"""The public catalog, vendor search and availability (§10), as an anonymous visitor sees them."""

from datetime import timedelta
from decimal import Decimal

import pytest

from bookings.services.creation import booking_create
from bookings.tests.conftest import ADDRESS, local_time
from bookings.tests.factories import ServiceFactory, VendorServiceFactory
from core.geo import haversine_km
from core.models import OnboardingStatus, VendorTimeOff
from core.tests.factories import CustomerFactory, VendorFactory

pytestmark = pytest.mark.django_db

KORAMANGALA = (Decimal("12.935200"), Decimal("77.624500"))
# ~30 km due north of Koramangala (1° of latitude ≈ 111.2 km).
THIRTY_KM_NORTH = (Decimal("13.205000"), Decimal("77.624500"))
# ~5 km due north.
FIVE_KM_NORTH = (Decimal("12.980200"), Decimal("77.624500"))


def listed(response):
    assert response.status_code == 200, response.content
    body = response.json()
    return [row["id"] for row in body["results"]] if isinstance(body, dict) else [row["id"] for row in body]


def offering(service, price="600.00", **vendor_fields):
    vendor = VendorFactory(**vendor_fields)
    VendorServiceFactory(vendor=vendor, service=service, price=Decimal(price))
    return vendor


# --- catalog -------------------------------------------------------------------------------------


def test_services_are_public_and_only_active_ones_are_listed(api_client):
    active = ServiceFactory(name="AC repair", base_price=Decimal("499"), duration_minutes=90)
    retired = ServiceFactory(name="Retired", is_active=False)

    listing = api_client.get("/api/services/")
    detail = api_client.get(f"/api/services/{active.pk}/")

    assert listing.status_code == 200
    ids = [row["id"] for row in listing.json()]
    assert active.pk in ids
    assert retired.pk not in ids
    assert detail.status_code == 200
    body = detail.json()
    assert body["name"] == "AC repair"
    assert body["base_price"] == "499.00"
    assert body["duration_minutes"] == 90
    assert body["category"]["slug"] == active.category.slug
    assert api_client.get(f"/api/services/{retired.pk}/").status_code == 404


# --- vendor search -------------------------------------------------------------------------------


def test_only_approved_available_vendors_are_listed(api_client, service):
    approved = offering(service)
    offering(service, onboarding_status=OnboardingStatus.PENDING)
    offering(service, onboarding_status=OnboardingStatus.SUSPENDED)
    offering(service, onboarding_status=OnboardingStatus.REJECTED)
    offering(service, is_available=False)

    assert listed(api_client.get("/api/vendors/")) == [str(approved.pk)]
    assert listed(api_client.get(f"/api/vendors/?service={service.pk}&pincode=560034")) == [str(approved.pk)]


def test_filter_by_service(api_client, service):
    other_service = ServiceFactory()
    plumber = offering(other_service)
    cleaner = offering(service)

    assert listed(api_client.get(f"/api/vendors/?service={service.pk}")) == [str(cleaner.pk)]
    assert listed(api_client.get(f"/api/vendors/?service={other_service.pk}")) == [str(plumber.pk)]


def test_a_vendor_who_stopped_offering_a_service_is_not_found_for_it(api_client, service):
    vendor = offering(service)
    vendor.services.update(is_active=False)

    assert listed(api_client.get(f"/api/vendors/?service={service.pk}")) == []


def test_filter_by_pincode(api_client, service):
    koramangala = offering(service)
    mumbai = offering(service, pincodes=["400050"], base_lat=Decimal("19.059600"), base_lng=Decimal("72.829500"))
    # Serves Whitefield by pincode although based 14 km away with a 5 km radius.
    whitefield_by_pincode = offering(service, pincodes=["560066"], radius_km=Decimal("5"))

    assert set(listed(api_client.get(f"/api/vendors/?service={service.pk}&pincode=560034"))) == {
        str(koramangala.pk),
        str(whitefield_by_pincode.pk),
    }
    assert listed(api_client.get(f"/api/vendors/?service={service.pk}&pincode=400050")) == [str(mumbai.pk)]
    assert set(listed(api_client.get(f"/api/vendors/?service={service.pk}&pincode=560066"))) == {
        str(whitefield_by_pincode.pk)
    }


def test_filter_by_point_and_radius_uses_great_circle_distance(api_client, service):
    near = offering(service, pincodes=[], base_lat=FIVE_KM_NORTH[0], base_lng=FIVE_KM_NORTH[1])
    far = offering(
        service, pincodes=[], base_lat=THIRTY_KM_NORTH[0], base_lng=THIRTY_KM_NORTH[1], radius_km=Decimal("50")
    )
    assert 29 < haversine_km(*KORAMANGALA, *THIRTY_KM_NORTH) < 31
    point = f"lat={KORAMANGALA[0]}&lng={KORAMANGALA[1]}"

    within_10 = api_client.get(f"/api/vendors/?service={service.pk}&{point}&radius_km=10")
    within_40 = api_client.get(f"/api/vendors/?service={service.pk}&{point}&radius_km=40&ordering=distance")

    assert listed(within_10) == [str(near.pk)]
    assert listed(within_40) == [str(near.pk), str(far.pk)]
    distances = [row["distance_km"] for row in within_40.json()["results"]]
    assert distances[0] == pytest.approx(haversine_km(*KORAMANGALA, *FIVE_KM_NORTH), abs=0.01)
    assert distances[1] == pytest.approx(haversine_km(*KORAMANGALA, *THIRTY_KM_NORTH), abs=0.01)


def test_without_radius_a_point_matches_vendors_whose_own_radius_covers_it(api_client, service):
    covers = offering(service, pincodes=[], base_lat=FIVE_KM_NORTH[0], base_lng=FIVE_KM_NORTH[1])
    offering(service, pincodes=[], base_lat=THIRTY_KM_NORTH[0], base_lng=THIRTY_KM_NORTH[1])

    response = api_client.get(f"/api/vendors/?service={service.pk}&lat={KORAMANGALA[0]}&lng={KORAMANGALA[1]}")

    assert listed(response) == [str(covers.pk)]


def test_filter_by_min_rating(api_client, service):
    good = offering(service, rating_avg=Decimal("4.60"), rating_count=12)
    offering(service, rating_avg=Decimal("3.90"), rating_count=40)

    assert listed(api_client.get(f"/api/vendors/?service={service.pk}&min_rating=4")) == [str(good.pk)]
    assert len(listed(api_client.get(f"/api/vendors/?service={service.pk}&min_rating=3.9"))) == 2


def test_filter_by_max_price_uses_the_vendors_price_for_the_service(api_client, service):
    cheap = offering(service, price="450.00")
    offering(service, price="900.00")

    response = api_client.get(f"/api/vendors/?service={service.pk}&max_price=450")

    assert listed(response) == [str(cheap.pk)]
    row = response.json()["results"][0]
    assert row["price"] == "450.00"
    assert row["services"] == [
        {
            "service_id": service.pk,
            "name": service.name,
            "price": "450.00",
            "duration_minutes": service.duration_minutes,
            "is_active": True,
        }
    ]


def test_available_on_excludes_vendors_booked_out_off_or_not_working_that_day(api_client, service):
    day = local_time(3, 0).date()
    free = offering(service)
    # Works only 10:00–12:00, and that one slot is booked.
    booked_out = offering(service, working_hours={str(d): [["10:00", "12:00"]] for d in range(7)})
    booking_create(
        customer=CustomerFactory(),
        lines=[{"service_id": service.pk, "quantity": 1}],
        scheduled_at=local_time(3, 10),
        address=dict(ADDRESS),
        vendor_id=booked_out.pk,
        payment_method="cash",
    )
    on_leave = offering(service)
    VendorTimeOff.objects.create(
        vendor=on_leave, starts_at=local_time(3, 0), ends_at=local_time(4, 0), reason="Wedding"
    )
    not_that_weekday = offering(
        service, working_hours={str(d): [["08:00", "20:00"]] for d in range(7) if d != day.weekday()}
    )

    on_day = listed(api_client.get(f"/api/vendors/?service={service.pk}&available_on={day.isoformat()}"))
    next_day = listed(
        api_client.get(f"/api/vendors/?service={service.pk}&available_on={(day + timedelta(days=1)).isoformat()}")
    )

    assert on_day == [str(free.pk)]
    assert set(next_day) == {str(free.pk), str(booked_out.pk), str(on_leave.pk), str(not_that_weekday.pk)}


def test_orderings(api_client, service):
    a = offering(service, price="700.00", rating_avg=Decimal("4.90"), rating_count=5, pincodes=["560034"])
    b = offering(
        service,
        price="500.00",
        rating_avg=Decimal("3.50"),
        rating_count=5,
        base_lat=FIVE_KM_NORTH[0],
        base_lng=FIVE_KM_NORTH[1],
    )
    c = offering(
        service,
        price="900.00",
        rating_avg=Decimal("4.20"),
        rating_count=5,
        base_lat=Decimal("12.960000"),
        base_lng=Decimal("77.624500"),
    )
    base = f"/api/vendors/?service={service.pk}&pincode=560034"

    assert listed(api_client.get(base)) == [str(a.pk), str(c.pk), str(b.pk)]  # best rated first
    assert listed(api_client.get(f"{base}&ordering=-rating")) == [str(a.pk), str(c.pk), str(b.pk)]
    assert listed(api_client.get(f"{base}&ordering=rating")) == [str(b.pk), str(c.pk), str(a.pk)]
    assert listed(api_client.get(f"{base}&ordering=price")) == [str(b.pk), str(a.pk), str(c.pk)]
    assert listed(api_client.get(f"{base}&ordering=-price")) == [str(c.pk), str(a.pk), str(b.pk)]
    assert listed(api_client.get(f"{base}&ordering=distance")) == [str(a.pk), str(c.pk), str(b.pk)]
    assert listed(api_client.get(f"{base}&ordering=-distance")) == [str(b.pk), str(c.pk), str(a.pk)]


def test_vendor_detail_and_unapproved_vendors_are_404(api_client, service):
    vendor = offering(service, price="1234.5", pincodes=["560034", "560038"])
    pending = offering(service, onboarding_status=OnboardingStatus.PENDING)
    unavailable = offering(service, is_available=False)

    response = api_client.get(f"/api/vendors/{vendor.pk}/")

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(vendor.pk)
    assert body["pincodes"] == ["560034", "560038"]
    assert body["services"][0]["price"] == "1234.50"
    assert body["rating_avg"] == "0.00"
    assert "phone" not in str(body)
    assert api_client.get(f"/api/vendors/{pending.pk}/").status_code == 404
    assert api_client.get(f"/api/vendors/{unavailable.pk}/").status_code == 404
    day = local_time(3, 0).date().isoformat()
    assert api_client.get(f"/api/vendors/{pending.pk}/availability/?date={day}&service={service.pk}").status_code == 404


# --- availability --------------------------------------------------------------------------------


def test_availability_lists_slots_with_offsets_and_skips_a_booked_slot_with_its_buffer(api_client, vendor, service):
    day = local_time(3, 0).date()
    url = f"/api/vendors/{vendor.pk}/availability/?date={day.isoformat()}&service={service.pk}"
    before = api_client.get(url)
    booking_create(
        customer=CustomerFactory(),
        lines=[{"service_id": service.pk, "quantity": 1}],
        scheduled_at=local_time(3, 10),
        address=dict(ADDRESS),
        vendor_id=vendor.pk,
        payment_method="cash",
    )

    after = api_client.get(url)

    assert before.status_code == 200
    body = before.json()
    assert body["date"] == day.isoformat()
    assert body["timezone"] == "Asia/Kolkata"
    # 08:00–20:00 with a 2-hour visit: starts 08:00 … 18:00 every 30 minutes.
    assert len(body["slots"]) == 21
    assert body["slots"][0] == {
        "start": local_time(3, 8).isoformat(),
        "end": local_time(3, 10).isoformat(),
    }
    assert all(slot["start"].endswith("+05:30") and slot["end"].endswith("+05:30") for slot in body["slots"])
    # 10:00–12:00 is held until 12:30; a visit needs its own 30 minutes before the next job too.
    starts = [slot["start"] for slot in after.json()["slots"]]
    expected = [local_time(3, 12, 30) + timedelta(minutes=30 * n) for n in range(12)]
    assert starts == [moment.isoformat() for moment in expected]


def test_availability_for_a_multi_service_visit_uses_the_summed_length(api_client, vendor, service):
    second = ServiceFactory(duration_minutes=60)
    VendorServiceFactory(vendor=vendor, service=second)
    day = local_time(3, 0).date().isoformat()

    response = api_client.get(f"/api/vendors/{vendor.pk}/availability/?date={day}&service={service.pk},{second.pk}")

    assert response.status_code == 200
    body = response.json()
    assert body["duration_minutes"] == 180
    assert body["slots"][0]["end"] == local_time(3, 11).isoformat()
    assert body["slots"][-1]["start"] == local_time(3, 17).isoformat()


def test_availability_sizes_the_visit_by_duration_times_quantity_as_the_booking_will(api_client, vendor, service):
    # given: a 2-hour cleaning twice and a 1-hour extra once: a 5-hour visit
    second = ServiceFactory(duration_minutes=60)
    VendorServiceFactory(vendor=vendor, service=second)
    day = local_time(3, 0).date().isoformat()

    # when
    response = api_client.get(
        f"/api/vendors/{vendor.pk}/availability/?date={day}&service={service.pk},{second.pk}&quantity=2,1"
    )

    # then: 08:00–20:00 holds five hours from 08:00 to 15:00, and the booking made for the last
    # slot offered is exactly as long
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["duration_minutes"] == 300
    assert body["slots"][0] == {"start": local_time(3, 8).isoformat(), "end": local_time(3, 13).isoformat()}
    assert body["slots"][-1]["start"] == local_time(3, 15).isoformat()
    booking = booking_create(
        customer=CustomerFactory(),
        lines=[{"service_id": service.pk, "quantity": 2}, {"service_id": second.pk, "quantity": 1}],
        scheduled_at=local_time(3, 15),
        address=dict(ADDRESS),
        vendor_id=vendor.pk,
        payment_method="cash",
    )
    assert booking.ends_at - booking.scheduled_at == timedelta(minutes=body["duration_minutes"])


def test_availability_without_quantity_counts_each_service_once(api_client, vendor, service):
    day = local_time(3, 0).date().isoformat()
    url = f"/api/vendors/{vendor.pk}/availability/?date={day}&service={service.pk}"

    without = api_client.get(url).json()
    once = api_client.get(f"{url}&quantity=1").json()
    thrice = api_client.get(f"{url}&quantity=3").json()

    assert without == once
    assert without["duration_minutes"] == 120 and thrice["duration_minutes"] == 360
    assert thrice["slots"][-1]["start"] == local_time(3, 14).isoformat()


def test_availability_on_a_day_off_is_empty(api_client, service):
    day = local_time(3, 0).date()
    vendor = offering(service, working_hours={str((day.weekday() + 1) % 7): [["08:00", "20:00"]]})

    response = api_client.get(f"/api/vendors/{vendor.pk}/availability/?date={day.isoformat()}&service={service.pk}")

    assert response.status_code == 200
    assert response.json()["slots"] == []
