"""One capture, however many ask at once (ARCHITECTURE §5 "No lock is held across a call to a
gateway", §6; payments/operations.py).

Real threads with their own PostgreSQL connections ask to capture one booking at the same instant:
through the service (the signature flow and ops), through the ops API, and as two sweeps running
the same due operation. Exactly one capture request may reach Stripe (the fake Stripe server
counts them), with one PaymentOperation and one ledger capture transaction."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from bookings.models import Booking, BookingStatus
from bookings.services.creation import booking_create
from bookings.services.transitions import booking_accept, booking_complete, booking_start
from bookings.tests.conftest import ADDRESS, local_time
from bookings.tests.factories import ServiceFactory, VendorServiceFactory
from bookings.tests.photos import add_job_photos
from core.tests.concurrency import all_at_once
from core.tests.factories import CustomerFactory, OpsFactory, VendorFactory
from payments.checkout import active_attempt, attempt_prepare, payment_confirm
from payments.gateways import get_gateway
from payments.ledger import attempt_mismatches, unbalanced_transactions
from payments.models import (
    AttemptStatus,
    LedgerKind,
    LedgerTransaction,
    OperationKind,
    OperationState,
    PaymentAttempt,
    PaymentOperation,
)
from payments.operations import booking_capture_payment, operations_run_due

D = Decimal
pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def capture_requests(fake_stripe):
    return [r for r in fake_stripe.posts("/v1/payment_intents/") if r.path.endswith("/capture")]


@pytest.fixture
def completed(fake_stripe):
    """A card booking (stripe gateway) authorised through Stripe.js and the server's re-read,
    accepted, started and completed: ready to be captured."""
    service = ServiceFactory(duration_minutes=60)
    vendor = VendorFactory(payout_account_id="acct_test_1")
    VendorServiceFactory(vendor=vendor, service=service, price=D("1000.00"))
    customer = CustomerFactory()
    start = local_time(2, 10)
    booking = booking_create(
        customer=customer,
        lines=[{"service_id": service.pk, "quantity": 1}],
        scheduled_at=start,
        address=ADDRESS,
        vendor_id=str(vendor.pk),
        payment_method="card",
    )
    attempt = attempt_prepare(attempt=active_attempt(booking))
    get_gateway().confirm_payment_intent(attempt.gateway_intent_id, payment_method_id="pm_card_visa")
    attempt = payment_confirm(attempt=attempt, user=customer)
    assert attempt.status == AttemptStatus.AUTHORIZED
    booking_accept(booking=booking, user=vendor.user)
    booking_start(booking=booking, user=vendor.user, now=start)
    add_job_photos(booking)
    booking_complete(booking=booking, user=vendor.user, now=start + timedelta(hours=1))
    booking.refresh_from_db()
    assert booking.status == BookingStatus.COMPLETED
    assert capture_requests(fake_stripe) == []
    return booking, attempt


def assert_captured_once(fake_stripe, booking, attempt):
    succeeded = [r for r in capture_requests(fake_stripe) if r.status == 200]
    assert len(succeeded) == 1, [(r.path, r.status) for r in capture_requests(fake_stripe)]
    assert PaymentOperation.objects.filter(booking=booking, kind=OperationKind.CAPTURE).count() == 1
    assert PaymentOperation.objects.get(booking=booking).state == OperationState.SUCCEEDED
    captures = LedgerTransaction.objects.filter(booking=booking, kind=LedgerKind.CAPTURE)
    assert captures.count() == 1 and captures.get().attempt_id == attempt.pk
    attempt.refresh_from_db()
    assert (attempt.status, attempt.amount_captured) == (AttemptStatus.CAPTURED, D("1180.00"))
    intent = get_gateway().retrieve_payment_intent(attempt.gateway_intent_id)
    assert (intent.status, intent.amount_received) == ("succeeded", D("1180.00"))
    assert unbalanced_transactions() == [] and attempt_mismatches() == []


def test_two_simultaneous_capture_calls_capture_once(fake_stripe, completed):
    booking, attempt = completed
    ops = OpsFactory()

    def capture():
        with transaction.atomic():
            return booking_capture_payment(booking=Booking.objects.get(pk=booking.pk), actor=ops, reason="signed")

    first, second = all_at_once(capture, capture)

    assert first.pk == second.pk
    assert_captured_once(fake_stripe, booking, attempt)


def test_two_ops_pressing_capture_at_once_in_the_api_capture_once(fake_stripe, completed):
    booking, attempt = completed
    ops = [OpsFactory(), OpsFactory()]

    def press(user):
        def call():
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
            response = client.post(
                f"/api/bookings/{booking.pk}/capture_payment/", {"reason": "Signed on paper"}, format="json"
            )
            return response.status_code, response.json()["status"]

        return call

    answers = all_at_once(press(ops[0]), press(ops[1]))

    assert answers == [(200, "signed"), (200, "signed")]
    assert_captured_once(fake_stripe, booking, attempt)
    # one of them signed it; the other's request was the retry of a transition already made
    assert booking.events.filter(event="captured_by_ops").count() == 1


def test_two_sweeps_running_one_due_capture_at_once_capture_once(fake_stripe, completed, settings):
    booking, attempt = completed
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    fake_stripe.fail_next(500)  # the first try meets an outage: the operation waits for the sweep
    with transaction.atomic():
        op = booking_capture_payment(booking=booking, reason="signed")
    op.refresh_from_db()
    assert (op.state, op.tries) == (OperationState.PENDING, 1)
    # the retry's capture is slow, so both sweeps are in flight together
    fake_stripe.delay_next(0.2, times=4)
    due = op.next_try_at + timedelta(seconds=1)

    all_at_once(lambda: operations_run_due(now=due), lambda: operations_run_due(now=due))

    assert [r.status for r in capture_requests(fake_stripe)] == [500, 200]
    op.refresh_from_db()
    assert (op.state, op.tries) == (OperationState.SUCCEEDED, 2)
    assert_captured_once(fake_stripe, booking, attempt)


def test_a_sweep_during_a_running_capture_leaves_it_to_its_worker(fake_stripe, completed):
    """The operation is claimed with a lease before the gateway call: a sweep that finds it
    running (its worker still waiting for Stripe) does not start a second capture."""
    booking, attempt = completed
    fake_stripe.delay_next(0.5)
    started = threading.Event()

    def capture_in_request():
        started.set()
        with transaction.atomic():
            return booking_capture_payment(booking=booking, reason="signed")  # runs at commit, slowly

    def sweep_meanwhile():
        started.wait(timeout=10)
        deadline = timezone.now() + timedelta(seconds=5)
        while not PaymentOperation.objects.filter(booking=booking, state=OperationState.RUNNING).exists():
            assert timezone.now() < deadline, "the capture never started running"
        return operations_run_due(now=timezone.now() + timedelta(minutes=1))

    all_at_once(capture_in_request, sweep_meanwhile)

    assert_captured_once(fake_stripe, booking, attempt)
    assert PaymentAttempt.objects.filter(booking=booking).count() == 1
