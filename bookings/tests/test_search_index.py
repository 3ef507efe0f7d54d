"""The vendor-search index (bookings/search_index.py): the indexed search finds exactly what the
live rule finds, and every way of changing a vendor keeps the index in step in the same
transaction."""

import random
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from bookings.models import VendorSearchEntry, VendorService
from bookings.search_index import search_entries_refresh, search_index_differences, search_index_rebuild
from bookings.selectors import SEARCH_ORDERS, _vendor_search_indexed, _vendor_search_live, vendor_search
from bookings.services.catalog import vendor_service_set
from bookings.tests.factories import ServiceFactory, VendorServiceFactory
from core.geo import pincode_table
from core.models import OnboardingStatus, VendorPincode, VendorProfile
from core.services import vendor_profile_update, vendor_set_onboarding_status
from core.tests.factories import OpsFactory, VendorFactory

pytestmark = pytest.mark.django_db

# Bases around Bengaluru, Mumbai and nowhere in particular (no base at all).
BASES = [
    (Decimal("12.935200"), Decimal("77.624500")),
    (Decimal("12.970000"), Decimal("77.700000")),
    (Decimal("19.100000"), Decimal("72.850000")),
    (None, None),
]
# Every pincode of the table, one the table does not know, one nobody serves.
PINCODES = [*sorted(pincode_table()), "560999", "999999"]


def in_step():
    return search_index_differences() == []


def found(queryset):
    # The live rule knows no distance to a pincode missing from the table; the index says null.
    distance = [getattr(v, "distance_km", None) for v in queryset]
    return [(str(v.pk), v.price, None if d is None else round(d, 6)) for v, d in zip(queryset, distance, strict=True)]


def both(service, pincode, *, ordering=None, min_rating=None, max_price=None):
    """(indexed, live) results of one search, in the search's own order."""
    order = SEARCH_ORDERS[ordering or "-rating"]
    indexed = _vendor_search_indexed(service=service, pincode=pincode, min_rating=min_rating, max_price=max_price)
    live = _vendor_search_live(
        service=service, pincode=pincode, lat=None, lng=None, radius_km=None, min_rating=min_rating, max_price=max_price
    )
    sort = [f"{'-' if key.startswith('-') else ''}search_entries__{key.lstrip('-')}" for key in order]
    if "distance" in (ordering or "") and pincode not in pincode_table():
        order = []  # no distance to sort by: both come out in id order
    return indexed.order_by(*sort, "pk"), live.order_by(*order, "pk")


@pytest.fixture
def crowd():
    """Forty vendors of every kind: bases near and far or unknown, radii from 0 to 30 km, their
    own pincodes (one unknown to the table), one to three services at their own prices, some
    switched off; a few unapproved or unavailable; one service withdrawn from the catalog."""
    rng = random.Random(20261207)
    services = [ServiceFactory() for _ in range(3)]
    withdrawn = ServiceFactory()
    vendors = []
    for index in range(40):
        lat, lng = rng.choice(BASES)
        vendor = VendorFactory(
            base_lat=lat,
            base_lng=lng,
            radius_km=Decimal(rng.choice(["0.0", "2.5", "5.0", "10.0", "30.0"])),
            rating_avg=Decimal(rng.choice(["0.00", "3.50", "4.20", "4.20", "5.00"])),
            rating_count=rng.randint(0, 50),
            onboarding_status=OnboardingStatus.APPROVED if index % 9 else OnboardingStatus.PENDING,
            is_available=index % 11 != 5,
            pincodes=rng.sample(PINCODES[:-1], rng.randint(0, 3)),
        )
        for service in rng.sample(services, rng.randint(1, 3)):
            VendorServiceFactory(
                vendor=vendor,
                service=service,
                price=Decimal(rng.choice(["300", "450", "450", "800"])),
                is_active=rng.random() > 0.15,
            )
        VendorServiceFactory(vendor=vendor, service=withdrawn)
        vendors.append(vendor)
    withdrawn.is_active = False
    withdrawn.save()
    return [*services, withdrawn], vendors


def test_the_indexed_search_finds_what_the_live_rule_finds(crowd):
    services, _vendors = crowd
    assert in_step()
    compared = 0
    for service in services:
        for pincode in PINCODES:
            for ordering in SEARCH_ORDERS:
                for min_rating, max_price in [(None, None), (Decimal("4.20"), None), (None, Decimal("450"))]:
                    indexed, live = both(
                        service.pk, pincode, ordering=ordering, min_rating=min_rating, max_price=max_price
                    )
                    assert found(indexed) == found(live), (service, pincode, ordering, min_rating, max_price)
                    assert indexed.count() == live.count() == len(found(live))
                    compared += len(found(live))
    assert compared > 500  # the crowd does overlap: this compared real results, not empty lists


def test_vendor_search_uses_the_index_for_service_and_pincode(crowd):
    services, _vendors = crowd
    with CaptureQueriesContext(connection) as queries:
        results = vendor_search(service=services[0].pk, pincode="560034")
        count = results.count()
        page = list(results[:5])
    assert count == len(found(both(services[0].pk, "560034")[1]))
    assert page
    statements = [query["sql"] for query in queries.captured_queries]
    assert "bookings_vendorsearchentry" in statements[0] and "core_vendorprofile" not in statements[0], (
        "the count reads the index alone"
    )
    assert all("asin" not in sql.lower() for sql in statements), "no distance is computed per vendor"


def test_the_index_follows_every_way_a_vendor_changes(crowd):
    services, vendors = crowd
    ops = OpsFactory()
    vendor = next(v for v in vendors if v.onboarding_status == OnboardingStatus.APPROVED and v.is_available)
    service = services[0]
    offer = VendorService.objects.filter(vendor=vendor, service=service).first()
    if offer is None:
        offer = vendor_service_set(vendor=vendor, service_id=service.pk, price=Decimal("450"), actor=vendor.user)

    def shown(pincode="560066"):
        return str(vendor.pk) in {row[0] for row in found(vendor_search(service=service.pk, pincode=pincode))}

    # Moving the base and radius: Whitefield comes into reach, then leaves it.
    vendor_profile_update(
        vendor=vendor,
        actor=vendor.user,
        pincodes=[],
        base_lat=Decimal("12.969800"),
        base_lng=Decimal("77.750000"),
        radius_km=Decimal("3.0"),
    )
    vendor_service_set(vendor=vendor, service_id=service.pk, price=Decimal("450"), actor=vendor.user)
    assert in_step() and shown()
    vendor_profile_update(vendor=vendor, actor=vendor.user, base_lat=Decimal("19.1"), base_lng=Decimal("72.85"))
    assert in_step() and not shown()
    # Its own pincode list (written in bulk, without signals).
    vendor_profile_update(vendor=vendor, actor=vendor.user, pincodes=["560066", "560999"])
    assert in_step() and shown() and shown("560999")
    VendorPincode.objects.filter(vendor=vendor, pincode="560999").delete()  # e.g. an admin inline
    assert in_step() and not shown("560999")
    # The price it sorts and filters by, then stopping the service.
    vendor_service_set(vendor=vendor, service_id=service.pk, price=Decimal("999"), actor=vendor.user)
    assert in_step()
    assert not any(
        row[0] == str(vendor.pk)
        for row in found(vendor_search(service=service.pk, pincode="560066", max_price=Decimal("500")))
    )
    vendor_service_set(vendor=vendor, service_id=service.pk, price=Decimal("999"), is_active=False, actor=vendor.user)
    assert in_step() and not shown()
    vendor_service_set(vendor=vendor, service_id=service.pk, price=Decimal("999"), actor=vendor.user)
    assert in_step() and shown()
    # Going unavailable, suspension, approval again.
    vendor_profile_update(vendor=vendor, actor=vendor.user, is_available=False)
    assert in_step() and not shown()
    vendor_profile_update(vendor=vendor, actor=vendor.user, is_available=True)
    vendor_set_onboarding_status(vendor=vendor, status=OnboardingStatus.SUSPENDED, actor=ops, reason="checks")
    assert in_step() and not shown()
    vendor_set_onboarding_status(vendor=vendor, status=OnboardingStatus.APPROVED, actor=ops)
    assert in_step() and shown()
    # The catalog withdrawing the service (an admin save), and bringing it back.
    service.is_active = False
    service.save()
    assert in_step() and not shown()
    service.is_active = True
    service.save()
    assert in_step() and shown()
    # A rating written with update() (after a review), which the search sorts by.
    VendorProfile.objects.filter(pk=vendor.pk).update(rating_avg=Decimal("1.00"))
    assert not in_step()  # a bulk write that skips the service layer is not followed by itself…
    search_entries_refresh([vendor.pk])  # …vendor_rating_refresh calls this (tested below)
    assert in_step()
    # Deleting the vendor takes their rows with them.
    VendorProfile.objects.filter(pk=vendor.pk).delete()
    assert not VendorSearchEntry.objects.filter(vendor_id=vendor.pk).exists()
    assert in_step()


def test_a_new_rating_reaches_the_index(crowd, settings):
    from bookings.services.creation import booking_create
    from bookings.tests.conftest import ADDRESS, local_time
    from core.tests.factories import CustomerFactory
    from signatures.models import Review
    from signatures.services import vendor_rating_refresh

    services, _vendors = crowd
    service = services[0]
    vendor = vendor_search(service=service.pk, pincode=ADDRESS["pincode"]).first()
    customer = CustomerFactory()
    booking = booking_create(
        customer=customer,
        lines=[{"service_id": service.pk, "quantity": 1}],
        scheduled_at=local_time(3, 10),
        address=ADDRESS,
        vendor_id=str(vendor.pk),
        payment_method="cash",
    )
    Review.objects.create(vendor=vendor, booking=booking, customer=customer, rating=1)
    vendor_rating_refresh(vendor_id=vendor.pk)
    assert set(VendorSearchEntry.objects.filter(vendor=vendor).values_list("rating_avg", "rating_count")) == {
        (Decimal("1.00"), 1)
    }
    assert in_step()


def test_deleting_a_vendor_account_empties_their_index_rows(crowd):
    from core.privacy import account_delete

    _services, vendors = crowd
    vendor = next(v for v in vendors if v.onboarding_status == OnboardingStatus.APPROVED and v.is_available)
    vendor.user.set_password("Old&Secret2026")
    vendor.user.save()
    assert VendorSearchEntry.objects.filter(vendor=vendor).exists()
    account_delete(user=vendor.user, password="Old&Secret2026")
    assert not VendorSearchEntry.objects.filter(vendor=vendor).exists()
    assert in_step()


def test_the_rebuild_command_restores_an_index_written_around(crowd):
    VendorSearchEntry.objects.all().delete()  # as after a bulk load with COPY
    assert not in_step()
    with pytest.raises(CommandError, match="differ"):
        call_command("search_index_rebuild", "--check")
    call_command("search_index_rebuild")
    assert in_step()
    call_command("search_index_rebuild", "--check")
    assert search_index_rebuild() == VendorSearchEntry.objects.count()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_refreshes_of_one_vendor_at_once_take_turns():
    """An admin edit and a signed review refreshing one vendor together: without the vendor's row
    lock the second would delete only the rows it saw, then insert beside the first's new rows and
    fail on the unique index."""
    import threading
    import time

    service = ServiceFactory()
    vendor = VendorServiceFactory(service=service).vendor
    first_wrote, errors = threading.Event(), []

    def first():
        try:
            with transaction.atomic():
                search_entries_refresh([vendor.pk])
                first_wrote.set()
                time.sleep(0.5)  # the second is waiting meanwhile
        finally:
            connection.close()

    def second():
        try:
            first_wrote.wait(10)
            with transaction.atomic():
                search_entries_refresh([vendor.pk])
        except Exception as error:  # the assertion below names it
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert in_step()
