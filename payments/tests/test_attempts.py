"""The payment attempt's forward-only status machine (§6)."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from bookings.services.creation import booking_create
from bookings.tests.conftest import ADDRESS, local_time
from bookings.tests.factories import ServiceFactory, VendorServiceFactory
from core.models import AuditLog
from core.tests.factories import CustomerFactory, VendorFactory
from payments.models import AttemptStatus, PaymentAttempt
from payments.services import attempt_advance, attempt_can_move

S = AttemptStatus


@pytest.mark.parametrize(
    ("current", "target", "allowed"),
    [
        (S.REQUIRES_PAYMENT_METHOD, S.REQUIRES_ACTION, True),
        (S.REQUIRES_ACTION, S.AUTHORIZED, True),
        (S.CARD_SAVED, S.AUTHORIZED, True),
        (S.REQUIRES_PAYMENT_METHOD, S.CAPTURED, True),  # "succeeded" may arrive before "capturable"
        (S.AUTHORIZED, S.CAPTURED, True),
        (S.CAPTURED, S.PARTIALLY_REFUNDED, True),
        (S.PARTIALLY_REFUNDED, S.REFUNDED, True),
        (S.AUTHORIZED, S.CANCELLED, True),
        (S.REQUIRES_ACTION, S.FAILED, True),
        (S.AUTHORIZED, S.REQUIRES_ACTION, False),
        (S.CAPTURED, S.AUTHORIZED, False),
        (S.PARTIALLY_REFUNDED, S.CAPTURED, False),
        (S.CAPTURED, S.CANCELLED, False),  # captured money is refunded, never voided
        (S.CAPTURED, S.FAILED, False),
        (S.AUTHORIZED, S.AUTHORIZED, False),
        (S.REFUNDED, S.PARTIALLY_REFUNDED, False),
        (S.CANCELLED, S.AUTHORIZED, False),
        (S.FAILED, S.REQUIRES_ACTION, False),
        (S.CANCELLED, S.FAILED, False),
    ],
)
def test_statuses_only_move_forward(current, target, allowed):
    assert attempt_can_move(current, target) is allowed


@pytest.fixture
def booking(db):
    service = ServiceFactory()
    vendor = VendorFactory()
    VendorServiceFactory(vendor=vendor, service=service)
    return booking_create(
        customer=CustomerFactory(),
        lines=[{"service_id": service.pk, "quantity": 1}],
        scheduled_at=local_time(3, 10),
        address=ADDRESS,
        vendor_id=str(vendor.pk),
        payment_method="card",
    )


@pytest.fixture
def attempt(booking):
    """The attempt booking creation opened for the card booking."""
    return PaymentAttempt.objects.get(booking=booking, is_active=True)


def test_a_late_authorised_signal_never_moves_a_captured_attempt_back(attempt, django_capture_on_commit_callbacks):
    attempt_advance(attempt=attempt, to_status=S.AUTHORIZED)
    attempt_advance(attempt=attempt, to_status=S.CAPTURED, amount_captured=attempt.amount)
    attempt, moved = attempt_advance(attempt=attempt, to_status=S.AUTHORIZED)
    assert moved is False
    attempt.refresh_from_db()
    assert attempt.status == S.CAPTURED
    assert attempt.amount_captured == attempt.amount
    assert attempt.authorized_at is not None and attempt.captured_at is not None


def test_a_declined_attempt_ends_and_frees_the_booking_for_a_new_one(attempt, booking):
    attempt_advance(attempt=attempt, to_status=S.FAILED, failure_code="card_declined")
    attempt.refresh_from_db()
    assert (attempt.status, attempt.is_active, attempt.failure_code) == (S.FAILED, False, "card_declined")
    retry = PaymentAttempt.objects.create(booking=booking, method="card", amount=booking.total, currency="INR")
    assert retry.is_active


def test_two_active_attempts_for_one_booking_are_refused_by_the_database(attempt, booking):
    with pytest.raises(IntegrityError), transaction.atomic():
        PaymentAttempt.objects.create(booking=booking, method="card", amount=booking.total, currency="INR")


def test_refunds_cannot_exceed_the_capture_in_the_database(attempt):
    attempt_advance(attempt=attempt, to_status=S.CAPTURED, amount_captured=Decimal("100.00"))
    with pytest.raises(IntegrityError), transaction.atomic():
        PaymentAttempt.objects.filter(pk=attempt.pk).update(amount_refunded=Decimal("100.01"))


def test_each_move_is_audited_and_pushed_to_the_booking_socket(attempt, django_capture_on_commit_callbacks):
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    from core.realtime import booking_group

    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(booking_group(attempt.booking_id), channel)
    with django_capture_on_commit_callbacks(execute=True):
        attempt_advance(attempt=attempt, to_status=S.AUTHORIZED)
    message = async_to_sync(layer.receive)(channel)["message"]
    assert (message["event"], message["data"]["payment_status"]) == ("payment.authorized", "authorized")
    assert AuditLog.objects.filter(action="payment.authorized", object_id=str(attempt.pk)).count() == 1
