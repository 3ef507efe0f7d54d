"""Saved addresses (issue 6; core/addresses.py): CRUD under /api/users/me/addresses/, one default
per user (also under concurrency, on PostgreSQL), validation, and booking by ``address_id`` with a
snapshot that later edits never change."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from bookings.models import Booking
from bookings.tests.conftest import local_time
from bookings.tests.factories import ServiceFactory, VendorServiceFactory
from core.addresses import MAX_ADDRESSES, address_create, address_update
from core.models import Address, AuditLog
from core.tests.concurrency import all_at_once
from core.tests.factories import CustomerFactory, OpsFactory, VendorFactory

pytestmark = pytest.mark.django_db

URL = "/api/users/me/addresses/"
HOME = {"label": "Home", "line1": "12 Lake View Road", "city": "Bengaluru", "pincode": "560034"}
OFFICE = {
    "label": "Office",
    "line1": "4th Floor, Prestige Tower",
    "line2": "Residency Road",
    "city": "Bengaluru",
    "pincode": "560025",
    "lat": "12.967000",
    "lng": "77.607000",
}


@pytest.fixture
def customer():
    return CustomerFactory()


@pytest.fixture
def api(client_for, customer):
    return client_for(customer)


def add(api, data, status=201):
    response = api.post(URL, data, format="json")
    assert response.status_code == status, response.json()
    return response.json()


def defaults(user):
    return list(Address.objects.filter(user=user, is_default=True).values_list("pk", flat=True))


# --- CRUD ------------------------------------------------------------------------------------------


def test_create_list_read_update_delete(api, customer):
    home = add(api, HOME)
    assert home["is_default"] is True  # the first address is the default
    assert home["line2"] == "" and home["lat"] is None and home["lng"] is None
    office = add(api, OFFICE)
    assert office["is_default"] is False
    assert office["lat"] == "12.967000" and office["lng"] == "77.607000"

    listed = api.get(URL).json()
    assert [row["id"] for row in listed] == [home["id"], office["id"]]  # the default first
    assert api.get(f"{URL}{office['id']}/").json()["label"] == "Office"

    replaced = api.put(f"{URL}{office['id']}/", {**OFFICE, "label": "Work", "lat": None, "lng": None}, format="json")
    assert replaced.status_code == 200, replaced.json()
    assert replaced.json()["label"] == "Work" and replaced.json()["lat"] is None
    patched = api.patch(f"{URL}{office['id']}/", {"line2": "Gate 2"}, format="json")
    assert patched.status_code == 200 and patched.json()["line2"] == "Gate 2" and patched.json()["label"] == "Work"

    assert api.delete(f"{URL}{office['id']}/").status_code == 204
    assert [row["id"] for row in api.get(URL).json()] == [home["id"]]
    actions = list(AuditLog.objects.filter(object_type="core.address").values_list("action", flat=True))
    assert sorted(actions) == ["address.create", "address.create", "address.delete", "address.update", "address.update"]


def test_making_an_address_the_default_unsets_the_old_one(api, customer):
    home = add(api, HOME)
    office = add(api, OFFICE)

    response = api.patch(f"{URL}{office['id']}/", {"is_default": True}, format="json")

    assert response.status_code == 200 and response.json()["is_default"] is True
    assert defaults(customer) == [office["id"]]
    assert api.get(f"{URL}{home['id']}/").json()["is_default"] is False
    # a new address may be created as the default directly
    third = add(api, {**HOME, "label": "Parents", "is_default": True})
    assert defaults(customer) == [third["id"]]


def test_deleting_the_default_leaves_none(api, customer):
    home = add(api, HOME)
    add(api, OFFICE)

    api.delete(f"{URL}{home['id']}/")

    assert defaults(customer) == []


def test_the_database_refuses_a_second_default():
    customer = CustomerFactory()
    Address.objects.create(user=customer, **HOME, is_default=True)

    with pytest.raises(IntegrityError), transaction.atomic():
        Address.objects.create(user=customer, **HOME, is_default=True)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        pytest.param({"pincode": "56003"}, "pincode", id="five-digits"),
        pytest.param({"pincode": "0560034"}, "pincode", id="seven-digits"),
        pytest.param({"pincode": "060034"}, "pincode", id="leading-zero"),
        pytest.param({"pincode": "56OO34"}, "pincode", id="letters"),
        pytest.param({"lat": "90.000001", "lng": "77.6"}, "lat", id="lat-above-90"),
        pytest.param({"lat": "-91", "lng": "77.6"}, "lat", id="lat-below-minus-90"),
        pytest.param({"lat": "12.9", "lng": "180.5"}, "lng", id="lng-above-180"),
        pytest.param({"lat": "12.9", "lng": "-181"}, "lng", id="lng-below-minus-180"),
        pytest.param({"lat": "12.9"}, "lat", id="lat-without-lng"),
        pytest.param({"lat": "12.12345678", "lng": "77.6"}, "lat", id="too-many-decimals"),
        pytest.param({"lat": "NaN", "lng": "77.6"}, "lat", id="not-a-number"),
        pytest.param({"line1": ""}, "line1", id="no-street"),
        pytest.param({"city": "x" * 101}, "city", id="long-city"),
    ],
)
def test_bad_input_is_a_400_and_nothing_is_written(api, customer, changes, field):
    response = api.post(URL, {**HOME, **changes}, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not Address.objects.filter(user=customer).exists()


def test_a_partial_update_keeps_coordinates_paired(api):
    office = add(api, OFFICE)

    response = api.patch(f"{URL}{office['id']}/", {"lat": None}, format="json")

    assert response.status_code == 400 and "lat" in response.json()
    assert Address.objects.get(pk=office["id"]).lat == Decimal("12.967000")


def test_someone_elses_address_is_a_404(api, client_for):
    theirs = add(client_for(CustomerFactory()), HOME)
    url = f"{URL}{theirs['id']}/"

    assert api.get(url).status_code == 404
    assert api.put(url, HOME, format="json").status_code == 404
    assert api.patch(url, {"label": "Mine now"}, format="json").status_code == 404
    assert api.delete(url).status_code == 404
    assert api.get(f"{URL}999999999/").status_code == 404
    assert Address.objects.get(pk=theirs["id"]).label == "Home"


def test_only_customers_keep_addresses(client_for, api_client):
    assert client_for(VendorFactory().user).get(URL).status_code == 403
    assert client_for(OpsFactory()).post(URL, HOME, format="json").status_code == 403
    assert api_client.get(URL).status_code == 401


def test_at_most_twenty_addresses(customer, api):
    for n in range(MAX_ADDRESSES):
        address_create(user=customer, **{**HOME, "label": f"#{n}"})

    response = api.post(URL, HOME, format="json")

    assert response.status_code == 400
    assert Address.objects.filter(user=customer).count() == MAX_ADDRESSES


def test_the_list_is_one_query_budget(api, customer, django_assert_max_num_queries):
    for n in range(15):
        address_create(user=customer, **{**HOME, "label": f"#{n}"})

    with django_assert_max_num_queries(3):
        response = api.get(URL)

    assert len(response.json()) == 15


# --- booking with a saved address ----------------------------------------------------------------


@pytest.fixture
def bookable(db):
    service = ServiceFactory(name="Deep cleaning", duration_minutes=120)
    vendor = VendorFactory()
    VendorServiceFactory(vendor=vendor, service=service)
    return service, vendor


def book(api, bookable, **address):
    service, vendor = bookable
    return api.post(
        "/api/bookings/",
        {
            "service_id": service.pk,
            "scheduled_at": local_time(3, 10).isoformat(),
            "vendor_id": str(vendor.pk),
            "payment_method": "cash",
            **address,
        },
        format="json",
    )


def test_a_booking_by_address_id_snapshots_the_address(api, customer, bookable):
    saved = add(api, OFFICE)

    response = book(api, bookable, address_id=saved["id"])

    assert response.status_code == 201, response.json()
    booking = Booking.objects.get(pk=response.json()["id"])
    snapshot = (booking.address_line1, booking.address_line2, booking.address_city, booking.address_pincode)
    assert snapshot == (OFFICE["line1"], OFFICE["line2"], "Bengaluru", "560025")
    assert (booking.address_lat, booking.address_lng) == (Decimal("12.967000"), Decimal("77.607000"))

    # later edits and the address's deletion never change the booking
    api.put(f"{URL}{saved['id']}/", {**HOME, "line1": "1 New Street"}, format="json")
    booking.refresh_from_db()
    assert booking.address_line1 == OFFICE["line1"] and booking.address_pincode == "560025"
    assert api.delete(f"{URL}{saved['id']}/").status_code == 204
    shown = api.get(f"/api/bookings/{booking.pk}/").json()["address"]
    assert shown["line1"] in (OFFICE["line1"], None) and shown["pincode"] == "560025"
    booking.refresh_from_db()
    assert booking.address_line1 == OFFICE["line1"]


def test_a_booking_cannot_use_someone_elses_address(api, client_for, bookable):
    theirs = add(client_for(CustomerFactory()), OFFICE)

    response = book(api, bookable, address_id=theirs["id"])

    assert response.status_code in (400, 404)
    assert "address_id" in response.json() or response.status_code == 404
    assert not Booking.objects.exists()


# --- concurrency -----------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_new_defaults_leave_exactly_one():
    customer = CustomerFactory()
    address_create(user=customer, **HOME)

    def create(n):
        return lambda: address_create(user=customer, is_default=True, **{**HOME, "label": f"#{n}"}).pk

    created = all_at_once(*(create(n) for n in range(6)))

    assert Address.objects.filter(user=customer).count() == 7
    assert len(defaults(customer)) == 1
    assert defaults(customer)[0] in created


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_default_switches_leave_exactly_one():
    customer = CustomerFactory()
    addresses = [address_create(user=customer, **{**HOME, "label": f"#{n}"}) for n in range(6)]

    def make_default(address):
        return lambda: address_update(user=customer, address_id=address.pk, is_default=True).pk

    for _round in range(3):
        all_at_once(*(make_default(address) for address in addresses))
        assert len(defaults(customer)) == 1
