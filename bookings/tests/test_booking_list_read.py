"""The booking list's own read (bookings.selectors.BookingListRows, one query on PostgreSQL) and
its pagination (core.api.pagination.paginate_counted): the list must show each booking exactly as
the detail endpoint does — which reads it through the ORM — for every kind of viewer, and page
like DRF's paginator."""

from decimal import Decimal

import pytest
from django.db import connection

from bookings.services.transitions import booking_accept, booking_cancel, booking_reject
from bookings.tests.conftest import ADDRESS, local_time
from bookings.tests.factories import ServiceFactory, VendorServiceFactory
from core.tests.factories import CustomerFactory, OpsFactory, VendorFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(make_booking):
    """One customer's bookings in several states, with two vendors: one holds some, the other
    rejected one (they keep it in their history, without the contacts)."""
    first, second = ServiceFactory(duration_minutes=60), ServiceFactory(duration_minutes=30)
    holder, rejecter = VendorFactory(), VendorFactory()
    for vendor in (holder, rejecter):
        for service in (first, second):
            VendorServiceFactory(vendor=vendor, service=service, price=Decimal("450.50"))
    customer = CustomerFactory(first_name="Asha", last_name="Rao", phone="+919800000042")
    lines = [{"service_id": first.pk, "quantity": 2}, {"service_id": second.pk, "quantity": 1}]
    address = {**ADDRESS, "line2": "Flat 4", "lat": Decimal("12.935200"), "lng": Decimal("77.624500")}
    kwargs = {"customer": customer, "lines": lines, "address": address, "now": None}
    pending = make_booking(start=local_time(3, 9), vendor=holder, **kwargs)
    confirmed = make_booking(start=local_time(3, 13), vendor=holder, **kwargs)
    booking_accept(booking=confirmed, user=holder.user)
    cancelled = make_booking(start=local_time(4, 9), vendor=holder, **kwargs)
    booking_cancel(booking=cancelled, user=customer, reason="Plans changed")
    rejected = make_booking(start=local_time(4, 13), vendor=rejecter, **kwargs)
    booking_reject(booking=rejected, user=rejecter.user, reason="Busy")
    # Two at the same time (different vendors): the order between them is by id.
    same_time = make_booking(start=local_time(5, 9), vendor=holder, **kwargs)
    make_booking(start=local_time(5, 9), vendor=rejecter, **kwargs)
    return {
        "customer": customer,
        "holder": holder,
        "rejecter": rejecter,
        "bookings": [pending, confirmed, cancelled, rejected, same_time],
    }


def _without_timeline(document):
    document = dict(document)
    document.pop("timeline")
    return document


@pytest.mark.parametrize("who", ["customer", "holder", "rejecter", "ops"])
def test_each_listed_booking_reads_as_its_detail(client_for, world, who):
    # given
    user = OpsFactory() if who == "ops" else getattr(world[who], "user", world[who])
    api = client_for(user)

    # when
    listed = api.get("/api/bookings/?page_size=100").json()

    # then
    assert listed["count"] == len(listed["results"]) > 0
    for document in listed["results"]:
        detail = api.get(f"/api/bookings/{document['id']}/")
        assert detail.status_code == 200
        assert document == _without_timeline(detail.json())
    if who == "holder":
        assert any(d["offer"] is not None for d in listed["results"])
        confirmed = next(d for d in listed["results"] if d["status"] == "confirmed")
        assert confirmed["customer"]["phone"] == "+919800000042"
        assert confirmed["address"]["lat"] == "12.935200"
    if who == "rejecter":
        rejected = next(d for d in listed["results"] if d["id"] == str(world["bookings"][3].pk))
        assert rejected["customer"]["phone"] is None and rejected["address"]["line1"] is None


def test_the_list_is_newest_first_with_ties_by_id(client_for, world):
    results = client_for(OpsFactory()).get("/api/bookings/?page_size=100").json()["results"]
    keys = [(d["scheduled_at"], d["id"]) for d in results]
    by_time_desc = sorted(keys, key=lambda key: key[1])
    by_time_desc.sort(key=lambda key: key[0], reverse=True)
    assert keys == by_time_desc
    assert results[0]["scheduled_at"] == results[1]["scheduled_at"]
    assert results[0]["lines"][0]["quantity"] == 2
    assert results[0]["price"]["total"] == results[1]["price"]["total"]


def test_pages_count_and_link_like_drf(client_for, world):
    api = client_for(world["customer"])
    total = api.get("/api/bookings/").json()["count"]
    assert total == 6

    first = api.get("/api/bookings/?page_size=4").json()
    assert (first["count"], len(first["results"]), first["previous"]) == (6, 4, None)
    assert "page=2" in first["next"]
    second = api.get("/api/bookings/?page_size=4&page=2").json()
    assert (second["count"], len(second["results"]), second["next"]) == (6, 2, None)
    assert second["previous"] is not None
    assert {d["id"] for d in first["results"]}.isdisjoint(d["id"] for d in second["results"])
    last = api.get("/api/bookings/?page_size=4&page=last").json()
    assert last["results"] == second["results"]
    assert api.get("/api/bookings/?status=confirmed&page_size=1").json()["count"] == 1


@pytest.mark.parametrize("page", ["0", "-1", "3", "abc", "2.0", str(10**12)])
def test_a_page_that_is_not_there_is_a_404(client_for, world, page):
    response = client_for(world["customer"]).get(f"/api/bookings/?page_size=4&page={page}")
    assert response.status_code == 404
    assert response.json()["detail"] == "Invalid page."


def test_an_empty_list_is_an_empty_first_page(client_for, db):
    api = client_for(CustomerFactory())
    assert api.get("/api/bookings/").json() == {"count": 0, "next": None, "previous": None, "results": []}
    assert api.get("/api/bookings/?page=last").json()["count"] == 0
    assert api.get("/api/bookings/?page=2").status_code == 404


@pytest.mark.postgres
def test_on_postgresql_the_page_is_one_prepared_statement(client_for, world):
    # given
    api = client_for(world["customer"])

    # when
    api.get("/api/bookings/")
    api.get("/api/bookings/?page_size=2")

    # then: planned once on this connection, executed as prepared since
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans + custom_plans FROM pg_prepared_statements WHERE statement LIKE %s",
            ["SELECT b.id, b.booking_number%"],
        )
        executions = [row[0] for row in cursor.fetchall()]
    assert executions and max(executions) >= 2


@pytest.mark.postgres
def test_without_prepared_statements_the_list_reads_the_same(client_for, world, settings):
    api = client_for(world["customer"])
    prepared = api.get("/api/bookings/").json()
    settings.DATABASE_PREPARED_STATEMENTS = False
    assert api.get("/api/bookings/").json() == prepared


def test_counts_for_every_viewer_and_filter_match_the_orm(client_for, world):
    """The count comes from the page's ordered SQL with its ORDER BY cut off (selectors._unordered)."""
    from bookings.selectors import bookings_visible_to

    viewers = [world["customer"], world["holder"].user, world["rejecter"].user, OpsFactory()]
    seen = []
    for viewer in viewers:
        for query, extra in (("", {}), ("?status=confirmed,cancelled", {"status__in": ["confirmed", "cancelled"]})):
            expected = bookings_visible_to(viewer).filter(**extra).count()
            assert client_for(viewer).get(f"/api/bookings/{query}").json()["count"] == expected, (viewer, query)
            seen.append(expected)
    assert all(seen[::2]) and len(set(seen)) > 1  # each viewer lists something; the counts differ


def test_only_a_plain_final_order_by_is_cut():
    from bookings.selectors import _unordered

    assert _unordered('SELECT "id" FROM "b" WHERE "c" = %s ORDER BY "b"."s" DESC, "b"."id" ASC', [1]) == (
        'SELECT "id" FROM "b" WHERE "c" = %s',
        [1],
    )
    assert _unordered('SELECT "id" FROM "b" ORDER BY COALESCE("b"."s", %s) DESC', [1]) is None
    assert _unordered('SELECT "id" FROM "b" WHERE EXISTS(SELECT 1 FROM "o" ORDER BY "o"."x")', []) is None
    assert _unordered('SELECT "id" FROM "b"', []) is None
