"""Who may see and do what on a booking (§3, §10): invisible → 404, never allowed → 403."""

import pytest

from bookings.models import Booking, BookingEvent, BookingStatus
from bookings.services.creation import booking_create
from bookings.services.transitions import booking_accept, booking_reject
from bookings.tests.conftest import ADDRESS, local_time
from bookings.tests.factories import VendorServiceFactory
from core.models import SystemSettings
from core.tests.factories import CustomerFactory, OpsFactory, UserFactory, VendorFactory

pytestmark = pytest.mark.django_db

ACTIONS = ["accept_booking", "reject_booking", "start_booking", "complete_booking", "cancel", "reschedule"]
ADDRESS_WITH_LINE2 = {**ADDRESS, "line2": "Flat 4B, Tower 2", "lat": "12.935000", "lng": "77.624000"}


def make_booking(customer, service, *, vendor=None, days=3, hour=10):
    return booking_create(
        customer=customer,
        lines=[{"service_id": service.pk, "quantity": 1}],
        scheduled_at=local_time(days, hour),
        address=dict(ADDRESS_WITH_LINE2),
        vendor_id=vendor.pk if vendor else None,
        payment_method="cash",
    )


def action_payload(action):
    if action == "reschedule":
        return {"scheduled_at": local_time(5, 12).isoformat()}
    return {"reason": "testing"}


@pytest.fixture
def booking(customer, vendor, service):
    return make_booking(customer, service, vendor=vendor)


def snapshot(booking):
    booking.refresh_from_db()
    return (
        booking.status,
        booking.vendor_id,
        booking.scheduled_at,
        BookingEvent.objects.filter(booking=booking).count(),
    )


# --- invisible → 404 -----------------------------------------------------------------------------


def test_another_customer_gets_404_on_detail_and_every_action(client_for, booking):
    other = client_for(CustomerFactory())
    before = snapshot(booking)

    assert other.get(f"/api/bookings/{booking.pk}/").status_code == 404
    for action in ACTIONS:
        response = other.post(f"/api/bookings/{booking.pk}/{action}/", action_payload(action), format="json")
        assert response.status_code == 404, (action, response.status_code)
    assert snapshot(booking) == before


def test_a_vendor_never_offered_the_booking_gets_404(client_for, booking, service):
    stranger = VendorFactory()
    VendorServiceFactory(vendor=stranger, service=service)
    api = client_for(stranger.user)
    before = snapshot(booking)

    assert api.get(f"/api/bookings/{booking.pk}/").status_code == 404
    for action in ACTIONS:
        response = api.post(f"/api/bookings/{booking.pk}/{action}/", action_payload(action), format="json")
        assert response.status_code == 404, (action, response.status_code)
    assert snapshot(booking) == before


@pytest.mark.parametrize("role", ["onboard_manager", "vendor-without-profile"])
def test_roles_without_bookings_see_none(client_for, booking, role):
    user = UserFactory(role="onboard_manager" if role == "onboard_manager" else "vendor")
    api = client_for(user)

    assert api.get(f"/api/bookings/{booking.pk}/").status_code == 404
    assert api.get("/api/bookings/").json()["count"] == 0
    assert api.post(f"/api/bookings/{booking.pk}/cancel/", {}, format="json").status_code == 404


# --- role never allowed → 403 --------------------------------------------------------------------


@pytest.mark.parametrize("action", ["accept_booking", "reject_booking", "start_booking", "complete_booking"])
def test_the_customer_cannot_do_vendor_actions_on_their_own_booking(client_for, customer, booking, action):
    before = snapshot(booking)

    response = client_for(customer).post(f"/api/bookings/{booking.pk}/{action}/", {}, format="json")

    assert response.status_code == 403
    assert snapshot(booking) == before


def test_the_vendor_cannot_reschedule(client_for, vendor, booking):
    before = snapshot(booking)

    response = client_for(vendor.user).post(
        f"/api/bookings/{booking.pk}/reschedule/", {"scheduled_at": local_time(5, 12).isoformat()}, format="json"
    )

    assert response.status_code == 403
    assert snapshot(booking) == before


def test_only_customers_create_bookings(client_for, vendor, service):
    response = client_for(vendor.user).post(
        "/api/bookings/",
        {
            "service_id": service.pk,
            "scheduled_at": local_time(3, 10).isoformat(),
            "address": ADDRESS,
            "payment_method": "cash",
        },
        format="json",
    )

    assert response.status_code == 403
    assert not Booking.objects.exists()


def test_a_customer_cannot_set_their_own_refund(client_for, customer, booking):
    response = client_for(customer).post(
        f"/api/bookings/{booking.pk}/cancel/", {"reason": "x", "refund_amount": "1.00"}, format="json"
    )

    assert response.status_code == 400
    assert "refund_amount" in response.json()
    booking.refresh_from_db()
    assert booking.status == BookingStatus.PENDING


# --- malformed ids -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method,url",
    [
        ("get", "/api/bookings/not-a-uuid/"),
        ("get", "/api/bookings/12345/"),
        ("post", "/api/bookings/not-a-uuid/accept_booking/"),
        ("post", "/api/bookings/not-a-uuid/cancel/"),
        ("get", "/api/bookings/00000000-0000-0000-0000-000000000000/"),
        ("get", "/api/vendors/not-a-uuid/"),
        ("get", "/api/vendors/not-a-uuid/availability/"),
        ("get", "/api/services/abc/"),
        ("get", "/api/services/99999999999999999999999/"),
    ],
)
def test_malformed_or_unknown_ids_answer_404(client_for, customer, method, url):
    api = client_for(customer)
    response = api.post(url, {}, format="json") if method == "post" else api.get(url)

    assert response.status_code == 404


# --- lists are role-filtered ---------------------------------------------------------------------


def ids(response):
    assert response.status_code == 200, response.json()
    return {row["id"] for row in response.json()["results"]}


def test_lists_are_filtered_by_role(client_for, customer, vendor, service):
    other_customer = CustomerFactory()
    other_vendor = VendorFactory()
    VendorServiceFactory(vendor=other_vendor, service=service)
    mine = make_booking(customer, service, vendor=vendor, days=3)
    mine_with_other_vendor = make_booking(customer, service, vendor=other_vendor, days=4)
    theirs = make_booking(other_customer, service, vendor=vendor, days=5)
    unrelated = make_booking(other_customer, service, vendor=other_vendor, days=6)

    assert ids(client_for(customer).get("/api/bookings/")) == {str(mine.pk), str(mine_with_other_vendor.pk)}
    assert ids(client_for(other_customer).get("/api/bookings/")) == {str(theirs.pk), str(unrelated.pk)}
    assert ids(client_for(vendor.user).get("/api/bookings/")) == {str(mine.pk), str(theirs.pk)}
    assert ids(client_for(OpsFactory()).get("/api/bookings/")) == {
        str(b.pk) for b in (mine, mine_with_other_vendor, theirs, unrelated)
    }


def test_a_vendor_keeps_seeing_an_offer_they_rejected_but_not_the_contacts(client_for, customer, service):
    # given: two eligible vendors; the platform offers the booking to one, who rejects it
    first, second = VendorFactory(), VendorFactory()
    for v in (first, second):
        VendorServiceFactory(vendor=v, service=service)
    booking = make_booking(customer, service)
    offered = booking.vendor
    other = second if offered == first else first
    booking_reject(booking=booking, user=offered.user, reason="busy")
    booking.refresh_from_db()
    assert booking.vendor == other
    booking_accept(booking=booking, user=other.user)

    # when
    rejected_view = client_for(offered.user).get(f"/api/bookings/{booking.pk}/")
    holder_view = client_for(other.user).get(f"/api/bookings/{booking.pk}/")

    # then: the rejecting vendor still sees the job in their history, but no contact details
    assert str(booking.pk) in ids(client_for(offered.user).get("/api/bookings/"))
    assert rejected_view.status_code == 200
    body = rejected_view.json()
    assert body["status"] == "confirmed"
    assert body["customer"]["phone"] is None
    assert body["address"]["line1"] is None
    assert body["address"]["line2"] is None
    assert body["address"]["lat"] is None
    assert body["vendor"]["phone"] is None
    assert holder_view.json()["customer"]["phone"] == customer.phone
    assert holder_view.json()["address"]["line1"] == ADDRESS["line1"]


def test_list_filters_by_status_and_refuses_an_unknown_status(client_for, customer, vendor, service):
    pending = make_booking(customer, service, vendor=vendor, days=3)
    confirmed = make_booking(customer, service, vendor=vendor, days=4)
    booking_accept(booking=confirmed, user=vendor.user)
    api = client_for(customer)

    assert ids(api.get("/api/bookings/?status=pending")) == {str(pending.pk)}
    assert ids(api.get("/api/bookings/?status=confirmed")) == {str(confirmed.pk)}
    assert ids(api.get("/api/bookings/?status=pending,confirmed")) == {str(pending.pk), str(confirmed.pk)}
    assert api.get("/api/bookings/?status=bogus").status_code == 400
    assert api.get("/api/bookings/?date_from=yesterday").status_code == 400


# --- contact details only once confirmed ---------------------------------------------------------


def test_phone_and_exact_address_are_hidden_until_confirmed(client_for, customer, vendor, booking):
    customer_api, vendor_api = client_for(customer), client_for(vendor.user)

    before_customer = customer_api.get(f"/api/bookings/{booking.pk}/").json()
    before_vendor = vendor_api.get(f"/api/bookings/{booking.pk}/").json()
    vendor_list_row = vendor_api.get("/api/bookings/").json()["results"][0]

    assert before_customer["vendor"]["id"] == str(vendor.pk)
    assert before_customer["vendor"]["phone"] is None
    assert before_customer["address"]["line1"] == ADDRESS_WITH_LINE2["line1"]  # their own address
    assert before_vendor["customer"]["phone"] is None
    for view in (before_vendor, vendor_list_row):
        assert view["address"]["line1"] is None
        assert view["address"]["line2"] is None
        assert view["address"]["lat"] is None and view["address"]["lng"] is None
        assert view["address"]["pincode"] == "560034"
        assert view["address"]["city"] == "Bengaluru"
    assert vendor.user.phone not in str(before_customer)
    assert customer.phone not in str(before_vendor)
    assert "Tower 2" not in str(before_vendor)

    accepted = vendor_api.post(f"/api/bookings/{booking.pk}/accept_booking/")
    assert accepted.status_code == 200
    after_customer = customer_api.get(f"/api/bookings/{booking.pk}/").json()
    after_vendor = vendor_api.get(f"/api/bookings/{booking.pk}/").json()

    assert after_customer["vendor"]["phone"] == vendor.user.phone
    assert after_vendor["customer"]["phone"] == customer.phone
    assert after_vendor["address"]["line1"] == ADDRESS_WITH_LINE2["line1"]
    assert after_vendor["address"]["line2"] == ADDRESS_WITH_LINE2["line2"]
    assert after_vendor["address"]["lat"] == "12.935000"
    assert accepted.json()["customer"]["phone"] == customer.phone


def test_ops_see_contacts_at_any_status(client_for, customer, vendor, booking):
    body = client_for(OpsFactory()).get(f"/api/bookings/{booking.pk}/").json()

    assert body["customer"]["phone"] == customer.phone
    assert body["vendor"]["phone"] == vendor.user.phone
    assert body["address"]["line1"] == ADDRESS_WITH_LINE2["line1"]


def test_contacts_are_hidden_again_after_cancellation(client_for, customer, vendor, booking):
    booking_accept(booking=booking, user=vendor.user)
    assert client_for(customer).post(f"/api/bookings/{booking.pk}/cancel/", {"reason": "x"}).status_code == 200

    body = client_for(vendor.user).get(f"/api/bookings/{booking.pk}/").json()

    assert body["status"] == "cancelled"
    assert body["customer"]["phone"] is None
    assert body["address"]["line1"] is None


# --- unauthenticated -----------------------------------------------------------------------------


def test_unauthenticated_requests_answer_401(api_client, booking):
    assert api_client.get("/api/bookings/").status_code == 401
    assert api_client.get(f"/api/bookings/{booking.pk}/").status_code == 401
    assert api_client.post("/api/bookings/", {}, format="json").status_code == 401
    for action in ACTIONS:
        assert api_client.post(f"/api/bookings/{booking.pk}/{action}/", {}, format="json").status_code == 401
    assert api_client.post("/api/promo-codes/validate/", {"code": "X", "amount": "1"}).status_code == 401
    booking.refresh_from_db()
    assert booking.status == BookingStatus.PENDING


# --- retries -------------------------------------------------------------------------------------


def test_repeating_a_transition_answers_200_and_changes_nothing(client_for, customer, vendor, booking):
    vendor_api, customer_api = client_for(vendor.user), client_for(customer)
    settings_row = SystemSettings.load()
    settings_row.start_early_minutes = 5 * 24 * 60
    settings_row.save(update_fields=["start_early_minutes"])

    for action, status in [("accept_booking", "confirmed"), ("start_booking", "in_progress")]:
        first = vendor_api.post(f"/api/bookings/{booking.pk}/{action}/")
        events = BookingEvent.objects.filter(booking=booking).count()
        again = vendor_api.post(f"/api/bookings/{booking.pk}/{action}/")
        assert (first.status_code, again.status_code) == (200, 200), action
        assert again.json()["status"] == status
        assert BookingEvent.objects.filter(booking=booking).count() == events

    # Going back is not a retry: 409 with the current status.
    back = vendor_api.post(f"/api/bookings/{booking.pk}/accept_booking/")
    assert back.status_code == 409
    assert back.json()["status"] == "in_progress"
    late_cancel = customer_api.post(f"/api/bookings/{booking.pk}/cancel/", {"reason": "x"}, format="json")
    assert late_cancel.status_code == 409
    assert late_cancel.json()["status"] == "in_progress"


def test_a_repeated_customer_cancellation_answers_200(client_for, customer, booking):
    api = client_for(customer)

    first = api.post(f"/api/bookings/{booking.pk}/cancel/", {"reason": "x"}, format="json")
    again = api.post(f"/api/bookings/{booking.pk}/cancel/", {"reason": "x"}, format="json")

    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json()["status"] == "cancelled"
    assert again.json()["refund_amount"] == first.json()["refund_amount"] == first.json()["price"]["total"]
    assert BookingEvent.objects.filter(booking=booking, event="cancelled").count() == 1
