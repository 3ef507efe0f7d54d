"""The signature flow through the API (issue 5 items 2–4, 6; ARCHITECTURE §7, §10): complete →
request → sign → captured → earning, the dispute path for ratings 1 and 2, the status codes, and
signing by the link's token without logging in."""

import base64
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from bookings.models import Booking, BookingStatus
from core.models import Notification, NotificationDelivery, VendorProfile
from core.tests.factories import CustomerFactory
from payments.ledger import vendor_account, vendor_balance
from payments.models import AttemptStatus, Earning, LedgerKind, LedgerTransaction, OperationKind, PaymentOperation
from payments.operations import active_attempt
from signatures.models import Review, Signature, SignatureRequest
from signatures.tests.conftest import TOTAL, VENDOR_EARNING, data_url, png_bytes, sign_token

pytestmark = pytest.mark.django_db


class Api:
    """A JWT client whose request's after-commit work (the capture, the messages) runs after it."""

    def __init__(self, client, on_commit):
        self.client = client
        self.on_commit = on_commit

    def call(self, method, url, data=None, status=200):
        with self.on_commit(execute=True):
            send = self.client.post if method == "post" else self.client.get
            response = send(url, data, format="json") if method == "post" else send(url)
        assert response.status_code == status, (response.status_code, response.content[:1000])
        return response.json() if response.content else None

    def post(self, url, data=None, status=200):
        return self.call("post", url, data or {}, status)

    def get(self, url, status=200):
        return self.call("get", url, status=status)


@pytest.fixture
def api(client_for, django_capture_on_commit_callbacks):
    def make(user=None):
        client = client_for(user) if user is not None else APIClient()
        return Api(client, django_capture_on_commit_callbacks)

    return make


def request_signature(api, world, booking, status=201):
    return api(world.vendor.user).post(f"/api/bookings/{booking.pk}/request_signature/", status=status)


@pytest.mark.parametrize("method", ["card", "cash"])
def test_complete_request_sign_capture_earning(world, api, method):
    # given a completed job with its photos
    booking = world.complete(method=method)

    # when the vendor asks for the signature
    created = request_signature(api, world, booking)

    # then the booking awaits it and the customer got the link by SMS and e-mail
    assert created["status"] == "open" and created["expires_at"]
    booking.refresh_from_db()
    assert booking.status == BookingStatus.AWAITING_SIGNATURE
    note = Notification.objects.get(user=world.customer, kind="signature.requested")
    assert note.data["sign_path"].startswith("/sign/") and note.data["signature_request_id"] == created["id"]
    assert note.data["sign_url"] == settings.SITE_URL + note.data["sign_path"]
    assert note.data["sign_url"] in note.body
    assert set(NotificationDelivery.objects.filter(notification=note).values_list("channel", flat=True)) == {
        "sms",
        "email",
    }
    # the link's token is not stored with the request
    request = SignatureRequest.objects.get(pk=created["id"])
    assert sign_token(booking) not in (request.token_hash, request.token_nonce)

    # when the customer signs with a rating and a drawn signature
    image = png_bytes()
    signed = api(world.customer).post(
        f"/api/signatures/{created['id']}/sign/",
        {
            "satisfaction_rating": 5,
            "comments": "Spotless kitchen, on time.",
            "signer_name": "Asha Rao",
            "signature_image": data_url(image),
        },
    )

    # then the booking is signed, the payment taken once, the vendor's earning recorded
    assert signed["status"] == "signed" and len(signed["signature_hash"]) == 64
    booking.refresh_from_db()
    assert booking.status == BookingStatus.SIGNED
    (operation,) = PaymentOperation.objects.filter(booking=booking, kind=OperationKind.CAPTURE)
    assert operation.state == "succeeded"
    attempt = active_attempt(booking)
    assert (attempt.status, attempt.amount_captured) == (AttemptStatus.CAPTURED, TOTAL)
    if method == "card":
        (earning,) = Earning.objects.filter(booking=booking)
        assert (earning.vendor_id, earning.amount) == (world.vendor.pk, VENDOR_EARNING)
        assert vendor_balance(world.vendor) == VENDOR_EARNING
    else:
        # cash: the vendor holds the money and owes the platform its commission and the tax
        assert LedgerTransaction.objects.filter(booking=booking, kind=LedgerKind.CASH_COLLECTED).count() == 1
        assert vendor_balance(world.vendor) == VENDOR_EARNING - TOTAL
        assert not Earning.objects.filter(booking=booking).exists()
    call_command("ledger_check")

    # the signature is one resource with its request, and it verifies
    resource = api(world.customer).get(f"/api/signatures/{created['id']}/")
    assert resource["status"] == "signed" and resource["booking_status"] == "signed"
    signature = resource["signature"]
    assert signature["satisfaction_rating"] == 5 and signature["signer_name"] == "Asha Rao"
    assert signature["signature_hash"] == signed["signature_hash"]
    assert signature["amount"] == str(TOTAL) and len(signature["photo_checksums"]) == 2
    assert signature["signature_image"] == data_url(image)
    verified = api(world.vendor.user).get(f"/api/signatures/{created['id']}/verify/")
    assert verified["valid"] is True
    assert verified["signature_hash"] == verified["computed_hash"] == signed["signature_hash"]

    # the rating is the vendor's review and average
    vendor = VendorProfile.objects.get(pk=world.vendor.pk)
    assert (vendor.rating_avg, vendor.rating_count) == (Decimal("5.00"), 1)
    page = api().get(f"/api/vendors/{world.vendor.pk}/")
    assert page["reviews_count"] == 1
    assert page["recent_reviews"][0]["rating"] == 5
    assert page["recent_reviews"][0]["comments"] == "Spotless kitchen, on time."
    # and the vendor was told
    assert Notification.objects.filter(user=world.vendor.user, kind="signature.signed").exists()


@pytest.mark.parametrize("rating", [1, 2])
def test_a_low_rating_is_a_dispute_held_for_ops(world, api, rating):
    booking = world.complete(method="card")
    created = request_signature(api, world, booking)
    url = f"/api/signatures/{created['id']}/sign/"

    # a rating of 1 or 2 needs a comment
    refused = api(world.customer).post(url, {"satisfaction_rating": rating}, status=400)
    assert "comments" in refused
    assert not Signature.objects.exists()

    disputed = api(world.customer).post(url, {"satisfaction_rating": rating, "comments": "Left the sink leaking."})

    assert disputed["status"] == "disputed"
    booking.refresh_from_db()
    assert booking.status == BookingStatus.DISPUTED
    # capture held: nothing asked of the gateway, the card still only authorised
    assert not PaymentOperation.objects.filter(booking=booking).exists()
    assert active_attempt(booking).status == AttemptStatus.AUTHORIZED
    assert Notification.objects.filter(user=world.ops, kind="booking.disputed").exists()
    assert Notification.objects.filter(user=world.vendor.user, kind="booking.disputed").exists()
    # the rating still counts, and the signature verifies
    review = Review.objects.get(booking=booking)
    assert (review.rating, review.comments) == (rating, "Left the sink leaking.")
    vendor = VendorProfile.objects.get(pk=world.vendor.pk)
    assert (vendor.rating_avg, vendor.rating_count) == (Decimal(f"{rating}.00"), 1)
    assert api(world.ops).get(f"/api/signatures/{created['id']}/verify/")["valid"] is True
    assert vendor_balance(world.vendor) == 0 and vendor_account(world.vendor)


def test_signing_with_the_token_needs_no_login(world, api):
    booking = world.complete()
    created = request_signature(api, world, booking)
    url = f"/api/signatures/{created['id']}/sign/"

    # no login, no token → 401; a wrong token → 404; the link's token → signed
    api().post(url, {"satisfaction_rating": 4}, status=401)
    api().post(url, {"satisfaction_rating": 4, "token": "0" * 64}, status=404)
    signed = api().post(url, {"satisfaction_rating": 4, "token": sign_token(booking)})

    assert signed["status"] == "signed"
    signature = Signature.objects.get(booking=booking)
    assert signature.signed_via == "token" and signature.customer_id == world.customer.pk
    # the signer name defaults to the customer's name
    assert signature.signer_name == world.customer.get_full_name()


def test_a_logged_in_vendor_device_can_still_be_used_with_the_token(world, api):
    """The customer signs on the vendor's phone through the link: the token decides, not the session."""
    booking = world.complete()
    created = request_signature(api, world, booking)
    url = f"/api/signatures/{created['id']}/sign/"

    api(world.vendor.user).post(url, {"satisfaction_rating": 4}, status=404)
    signed = api(world.vendor.user).post(url, {"satisfaction_rating": 4, "token": sign_token(booking)})

    assert signed["status"] == "signed"


def test_expired_is_410_signed_twice_is_409_not_the_customer_is_404(world, api):
    booking = world.complete()
    created = request_signature(api, world, booking)
    url = f"/api/signatures/{created['id']}/sign/"
    stranger = CustomerFactory()

    api(stranger).post(url, {"satisfaction_rating": 5}, status=404)
    api(world.vendor.user).post(url, {"satisfaction_rating": 5}, status=404)
    api(world.ops).post(url, {"satisfaction_rating": 5}, status=404)
    api(world.customer).post("/api/signatures/not-a-uuid/sign/", {"satisfaction_rating": 5}, status=404)
    api(world.customer).post(url, {"satisfaction_rating": 5})
    again = api(world.customer).post(url, {"satisfaction_rating": 5}, status=409)
    assert again["status"] == "signed"
    assert Signature.objects.count() == 1
    assert PaymentOperation.objects.filter(booking=booking).count() == 1

    # an expired request answers 410
    other = world.complete(index=1)
    expired = request_signature(api, world, other)
    SignatureRequest.objects.filter(pk=expired["id"]).update(status="expired")
    api(world.customer).post(f"/api/signatures/{expired['id']}/sign/", {"satisfaction_rating": 5}, status=410)
    # …as does one past its deadline that the sweep has not reached yet
    third = world.complete(index=2)
    late = request_signature(api, world, third)
    request = SignatureRequest.objects.get(pk=late["id"])
    SignatureRequest.objects.filter(pk=request.pk).update(
        created_at=request.created_at.replace(year=2020), expires_at=request.created_at.replace(year=2021)
    )
    api(world.customer).post(
        f"/api/signatures/{late['id']}/sign/", {"satisfaction_rating": 5, "token": sign_token(third)}, status=410
    )
    assert Booking.objects.get(pk=third.pk).status == BookingStatus.AWAITING_SIGNATURE


def test_request_signature_rules(world, api, second_vendor):
    booking = world.complete()
    url = f"/api/bookings/{booking.pk}/request_signature/"

    api(world.customer).post(url, status=403)
    api(second_vendor.user).post(url, status=404)
    first = api(world.vendor.user).post(url, status=201)
    # a retry answers the same open request
    again = api(world.vendor.user).post(url, status=200)
    assert again["id"] == first["id"]
    assert SignatureRequest.objects.filter(booking=booking).count() == 1
    # ops may send it too (the same open request)
    assert api(world.ops).post(url, status=200)["id"] == first["id"]
    # not before the job is completed
    pending = world.complete(index=1)
    Booking.objects.filter(pk=pending.pk).update(status=BookingStatus.IN_PROGRESS)
    assert api(world.vendor.user).post(f"/api/bookings/{pending.pk}/request_signature/", status=409)["status"] == (
        "in_progress"
    )


def test_drawn_signature_is_checked_by_decoding(world, api):
    booking = world.complete()
    created = request_signature(api, world, booking)
    url = f"/api/signatures/{created['id']}/sign/"
    customer = api(world.customer)
    png = png_bytes()

    not_png = "data:image/png;base64," + base64.b64encode(b"GIF89a not a png").decode()
    customer.post(url, {"satisfaction_rating": 5, "signature_image": not_png}, status=400)
    customer.post(url, {"satisfaction_rating": 5, "signature_image": data_url(png[: len(png) // 2])}, status=400)
    customer.post(url, {"satisfaction_rating": 5, "signature_image": "data:image/jpeg;base64,AAAA"}, status=400)
    customer.post(url, {"satisfaction_rating": 5, "signature_image": "data:image/png;base64,@@@"}, status=400)
    too_big = data_url(png + b"\0" * (1024 * 1024))
    customer.post(url, {"satisfaction_rating": 5, "signature_image": too_big}, status=413)
    customer.post(url, {"satisfaction_rating": 6}, status=400)
    customer.post(url, {"satisfaction_rating": 5, "comments": "x" * 1001}, status=400)
    assert not Signature.objects.exists()

    customer.post(url, {"satisfaction_rating": 5, "signature_image": data_url(png)})
    assert bytes(Signature.objects.get().signature_image) == png


def test_signing_is_throttled(world, api):
    booking = world.complete()
    created = request_signature(api, world, booking)
    url = f"/api/signatures/{created['id']}/sign/"
    anonymous = api()

    for _ in range(10):
        anonymous.post(url, {"satisfaction_rating": 4, "token": "f" * 64}, status=404)
    anonymous.post(url, {"satisfaction_rating": 4, "token": sign_token(booking)}, status=429)


def test_lists_are_role_filtered(world, api, second_vendor):
    mine = world.complete()
    theirs = world.complete(index=1, vendor=second_vendor, customer=CustomerFactory())
    first = request_signature(api, world, mine)
    second = api(second_vendor.user).post(f"/api/bookings/{theirs.pk}/request_signature/", status=201)

    def ids(user):
        return {row["id"] for row in api(user).get("/api/signatures/")["results"]}

    assert ids(world.customer) == {first["id"]}
    assert ids(world.vendor.user) == {first["id"]}
    assert ids(second_vendor.user) == {second["id"]}
    assert ids(world.ops) == {first["id"], second["id"]}
    api(world.customer).get(f"/api/signatures/{second['id']}/", status=404)
    api(world.vendor.user).get(f"/api/signatures/{second['id']}/verify/", status=404)
    api(world.customer).get(f"/api/signatures/{first['id']}/verify/", status=409)
    api().get("/api/signatures/", status=401)


def test_signature_list_and_vendor_page_have_fixed_query_counts(world, api):
    def measure(url, user=None):
        client = api(user).client
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200
        return len(queries)

    def signed_bookings(start, count):
        for index in range(start, start + count):
            booking = world.complete(index=index, customer=world.customer)
            request = request_signature(api, world, booking)
            api(world.customer).post(
                f"/api/signatures/{request['id']}/sign/", {"satisfaction_rating": 3 + index % 3, "comments": "ok"}
            )

    signed_bookings(0, 2)
    few_list = measure("/api/signatures/", world.ops)
    few_page = measure(f"/api/vendors/{world.vendor.pk}/")
    signed_bookings(2, 6)
    many_list = measure("/api/signatures/", world.ops)
    many_page = measure(f"/api/vendors/{world.vendor.pk}/")

    assert few_list == many_list <= 3  # JWT user + count + page
    assert few_page == many_page
    page = api().get(f"/api/vendors/{world.vendor.pk}/")
    assert page["reviews_count"] == 8 and len(page["recent_reviews"]) == 5
