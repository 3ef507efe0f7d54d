"""Signing at the same instant (issue 5 Tests), with real threads and their own PostgreSQL
connections: a double sign gives one signature and one capture; signatures for one vendor at once
give the exact rating count and average and a chain with no shared previous hash."""

from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from bookings.models import BookingStatus
from core.models import VendorProfile
from core.tests.concurrency import all_at_once
from payments.models import AttemptStatus, LedgerKind, LedgerTransaction, OperationKind, PaymentOperation
from payments.operations import active_attempt
from signatures.models import Review, Signature
from signatures.services import signature_request
from signatures.tests.conftest import TOTAL

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def signing(user, request_id, body):
    def call():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
        response = client.post(f"/api/signatures/{request_id}/sign/", body, format="json")
        return response.status_code, response.json()

    return call


def test_a_double_sign_at_once_makes_one_signature_and_one_capture(world):
    booking = world.complete(method="card")
    request, _created = signature_request(booking=booking, user=world.vendor.user)
    body = {"satisfaction_rating": 5, "comments": "Great"}

    answers = all_at_once(signing(world.customer, request.pk, body), signing(world.customer, request.pk, body))

    assert sorted(status for status, _body in answers) == [200, 409]
    assert Signature.objects.filter(booking=booking).count() == 1
    booking.refresh_from_db()
    assert booking.status == BookingStatus.SIGNED
    (operation,) = PaymentOperation.objects.filter(booking=booking, kind=OperationKind.CAPTURE)
    assert operation.state == "succeeded"
    assert LedgerTransaction.objects.filter(booking=booking, kind=LedgerKind.CAPTURE).count() == 1
    attempt = active_attempt(booking)
    assert (attempt.status, attempt.amount_captured) == (AttemptStatus.CAPTURED, TOTAL)
    call_command("ledger_check")
    call_command("verify_signatures")


def test_signatures_for_one_vendor_at_once_keep_the_rating_exact(world):
    ratings = [5, 4, 3, 1, 2, 5, 4, 4]
    requests = []
    for index in range(len(ratings)):
        booking = world.complete(index=index)
        request, _created = signature_request(booking=booking, user=world.vendor.user)
        requests.append(request)

    answers = all_at_once(
        *(
            signing(world.customer, request.pk, {"satisfaction_rating": rating, "comments": f"Rated {rating}"})
            for request, rating in zip(requests, ratings, strict=True)
        )
    )

    assert [status for status, _body in answers] == [200] * len(ratings)
    vendor = VendorProfile.objects.get(pk=world.vendor.pk)
    expected = (Decimal(sum(ratings)) / len(ratings)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    assert (vendor.rating_count, vendor.rating_avg) == (len(ratings), expected)
    assert Review.objects.filter(vendor=world.vendor).count() == len(ratings)
    # the chain was appended one at a time: consecutive sequences, each previous hash taken once
    signatures = list(Signature.objects.order_by("sequence"))
    assert [s.sequence for s in signatures] == list(range(1, len(ratings) + 1))
    assert len({s.previous_hash for s in signatures}) == len(ratings)
    call_command("verify_signatures")
