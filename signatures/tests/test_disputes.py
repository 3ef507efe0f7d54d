"""Complaints, disputes and reviews (issue 5 items 6–7; ARCHITECTURE §5, §6): a complaint holds
the vendor's payout; ops settle a dispute by capturing in full, capturing part (or refunding the
difference) or cancelling with a full refund — audited, both parties told, the ledger balanced."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from bookings.models import BookingStatus
from bookings.services.common import BookingConflict
from core.errors import Forbidden, InvalidInput
from core.models import AuditLog, Notification, VendorProfile
from core.tests.factories import CustomerFactory
from payments.ledger import vendor_balance
from payments.models import AttemptStatus, Earning, LedgerKind, LedgerTransaction, OperationKind, PaymentOperation
from payments.operations import active_attempt, operations_run_due
from payments.payouts import payouts_run
from payments.tests.test_webhooks import deliver, event
from signatures.models import Review
from signatures.services import (
    booking_dispute_open,
    dispute_resolve,
    review_hide,
    signature_request,
    signature_sign,
)
from signatures.tests.conftest import TOTAL, VENDOR_EARNING

D = Decimal
pytestmark = pytest.mark.django_db


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def signed(world, commit):
    """``signed(rating=4, method="card", index=0)``: a booking signed by its customer, with the
    after-commit work (the capture, or nothing for a dispute) done."""

    def make(*, rating=4, method="card", index=0):
        booking = world.complete(index=index, method=method)
        with commit():
            request, _created = signature_request(booking=booking, user=world.vendor.user)
            signature_sign(request=request, user=world.customer, rating=rating, comments="About the job")
        booking.refresh_from_db()
        return booking

    return make


def complain(client_for, world, booking, reason="The tap leaks again", status=200):
    response = client_for(world.customer).post(
        f"/api/bookings/{booking.pk}/complain/", {"reason": reason}, format="json"
    )
    assert response.status_code == status, response.content
    return response.json()


def ledger_ok():
    call_command("ledger_check")


def test_a_complaint_holds_the_payout_until_ops_settle_with_a_partial_refund(world, signed, client_for, commit):
    # given a signed, captured booking whose earning is past its hold
    booking = signed()
    (earning,) = Earning.objects.filter(booking=booking)
    assert earning.amount == VENDOR_EARNING

    # when the customer complains
    answer = complain(client_for, world, booking)

    # then it is disputed, ops and the vendor are told, and the payout run leaves the earning alone
    assert answer["status"] == "disputed"
    assert Notification.objects.filter(user=world.ops, kind="booking.disputed").exists()
    assert Notification.objects.filter(user=world.vendor.user, kind="booking.disputed").exists()
    after_hold = earning.available_at + timedelta(hours=1)
    assert payouts_run(now=after_hold) == []
    earning.refresh_from_db()
    assert earning.payout is None

    # when ops settle: the customer pays 800.00 of 1180.00
    with commit():
        dispute_resolve(
            booking=booking, user=world.ops, outcome="capture_partial", amount=D("800.00"), reason="Half redone"
        )

    # then the difference is refunded, the booking is signed, everything balances
    booking.refresh_from_db()
    assert booking.status == BookingStatus.SIGNED
    attempt = active_attempt(booking)
    assert (attempt.status, attempt.amount_captured, attempt.amount_refunded) == (
        AttemptStatus.PARTIALLY_REFUNDED,
        TOTAL,
        D("380.00"),
    )
    ledger_ok()
    assert AuditLog.objects.filter(action="dispute.resolved", object_id=str(booking.pk)).exists()
    assert Notification.objects.filter(user=world.customer, kind="dispute.resolved").exists()
    assert Notification.objects.filter(user=world.vendor.user, kind="dispute.resolved").exists()
    # and the vendor is paid what is left of their share
    balance = vendor_balance(world.vendor)
    assert D("0.00") < balance < VENDOR_EARNING
    (payout,) = payouts_run(now=after_hold)
    assert payout.amount == balance
    ledger_ok()


def test_a_low_rating_settled_by_a_partial_capture(world, signed, commit):
    booking = signed(rating=2)
    assert booking.status == BookingStatus.DISPUTED
    assert not PaymentOperation.objects.filter(booking=booking).exists()

    with commit():
        dispute_resolve(booking=booking, user=world.ops, outcome="capture_partial", amount="590.00", reason="Agreed")

    booking.refresh_from_db()
    assert booking.status == BookingStatus.SIGNED
    attempt = active_attempt(booking)
    assert (attempt.status, attempt.amount_captured) == (AttemptStatus.CAPTURED, D("590.00"))
    (earning,) = Earning.objects.filter(booking=booking)
    assert earning.amount == D("425.00")  # half the total: half the vendor's share
    ledger_ok()


def test_a_rating_of_1_settled_by_cancelling_with_a_full_refund(world, signed, commit):
    booking = signed(rating=1)

    with commit():
        dispute_resolve(booking=booking, user=world.ops, outcome="cancel_refund", reason="Job not done")

    booking.refresh_from_db()
    assert (booking.status, booking.refund_amount, booking.cancellation_fee) == (
        BookingStatus.CANCELLED,
        TOTAL,
        D("0.00"),
    )
    attempt = booking.payment_attempts.get()
    assert attempt.status == AttemptStatus.CANCELLED  # the hold released, nothing taken
    assert not Earning.objects.filter(booking=booking).exists()
    assert booking.events.filter(event="dispute_resolved").exists()
    ledger_ok()


def test_a_complaint_settled_by_cancelling_refunds_the_capture(world, signed, client_for, commit):
    booking = signed()
    complain(client_for, world, booking)

    with commit():
        dispute_resolve(booking=booking, user=world.ops, outcome="cancel_refund", reason="Damage")
    with commit():
        operations_run_due(now=timezone.now() + timedelta(minutes=5))

    attempt = active_attempt(booking) or booking.payment_attempts.get()
    assert (attempt.status, attempt.amount_refunded) == (AttemptStatus.REFUNDED, TOTAL)
    assert vendor_balance(world.vendor) == D("0.00")
    assert LedgerTransaction.objects.filter(booking=booking, kind=LedgerKind.REFUND).count() == 1
    ledger_ok()


def test_a_complaint_settled_in_full_moves_no_money(world, signed, client_for, commit):
    booking = signed()
    complain(client_for, world, booking)
    movements = LedgerTransaction.objects.filter(booking=booking).count()

    with commit():
        dispute_resolve(booking=booking, user=world.ops, outcome="capture_full", reason="Work was fine")

    booking.refresh_from_db()
    assert booking.status == BookingStatus.SIGNED
    assert LedgerTransaction.objects.filter(booking=booking).count() == movements
    assert PaymentOperation.objects.filter(booking=booking).count() == 1
    assert vendor_balance(world.vendor) == VENDOR_EARNING
    # a repeated decision is a retry, not an error
    assert dispute_resolve(booking=booking, user=world.ops, outcome="capture_full", reason="Work was fine").pk
    ledger_ok()


def test_complaint_rules(world, signed, client_for, second_vendor):
    booking = signed()
    url = f"/api/bookings/{booking.pk}/complain/"

    assert client_for(world.vendor.user).post(url, {"reason": "x"}, format="json").status_code == 403
    assert client_for(CustomerFactory()).post(url, {"reason": "x"}, format="json").status_code == 404
    assert client_for(world.customer).post(url, {"reason": ""}, format="json").status_code == 400
    complain(client_for, world, booking)
    assert complain(client_for, world, booking)["status"] == "disputed"  # a retry

    # not before it is signed
    awaiting = world.complete(index=1)
    signature_request(booking=awaiting, user=world.vendor.user)
    assert complain(client_for, world, awaiting, status=409)["status"] == "awaiting_signature"


def test_no_complaint_once_the_earning_is_paid_out(world, signed, client_for):
    booking = signed()
    (earning,) = Earning.objects.filter(booking=booking)
    (payout,) = payouts_run(now=earning.available_at)
    assert payout.earnings.get() == earning

    assert "paid" in complain(client_for, world, booking, status=409)["detail"]


def test_a_cash_booking_may_be_complained_about_within_the_hold(world, signed, client_for):
    within = signed(method="cash")
    late = signed(method="cash", index=1)
    # signed 25 hours ago: past the 24-hour hold, and a cash booking has no earning to wait for
    late.events.filter(to_status="signed").update(created_at=timezone.now() - timedelta(hours=25))

    assert complain(client_for, world, within)["status"] == "disputed"
    complain(client_for, world, late, status=409)


def test_a_cash_booking_captured_cannot_be_refunded_through_the_gateway(world, signed, client_for):
    booking = signed(method="cash")
    complain(client_for, world, booking)

    with pytest.raises(BookingConflict):
        dispute_resolve(booking=booking, user=world.ops, outcome="cancel_refund", reason="x")
    with pytest.raises(BookingConflict):
        dispute_resolve(booking=booking, user=world.ops, outcome="capture_partial", amount="10.00", reason="x")
    dispute_resolve(booking=booking, user=world.ops, outcome="capture_full", reason="Paid in cash, fine")
    ledger_ok()


def test_dispute_resolution_rules(world, signed):
    booking = signed(rating=2)

    for user in (world.vendor.user, world.customer):
        with pytest.raises(Forbidden):
            dispute_resolve(booking=booking, user=user, outcome="capture_full", reason="x")
    with pytest.raises(InvalidInput):
        dispute_resolve(booking=booking, user=world.ops, outcome="capture_full", reason="")
    with pytest.raises(InvalidInput):
        dispute_resolve(booking=booking, user=world.ops, outcome="split", reason="x")
    for amount in (None, "0", "1180.00", "2000.00"):
        with pytest.raises(InvalidInput):
            dispute_resolve(booking=booking, user=world.ops, outcome="capture_partial", amount=amount, reason="x")
    booking.refresh_from_db()
    assert booking.status == BookingStatus.DISPUTED


def test_ops_or_a_chargeback_open_a_dispute_that_holds_the_payout(world, signed):
    booking = signed()
    (earning,) = Earning.objects.filter(booking=booking)

    booking_dispute_open(booking=booking, actor=None, reason="Card chargeback dp_1")

    booking.refresh_from_db()
    assert booking.status == BookingStatus.DISPUTED
    assert payouts_run(now=earning.available_at + timedelta(days=1)) == []
    with pytest.raises(Forbidden):
        booking_dispute_open(booking=booking, actor=world.vendor.user, reason="x")
    assert PaymentOperation.objects.filter(booking=booking, kind=OperationKind.CAPTURE).count() == 1


def test_a_chargeback_webhook_disputes_a_signed_booking_and_holds_its_payout(world, signed):
    # given a signed, captured card booking whose earning is past its hold
    booking = signed()
    (earning,) = Earning.objects.filter(booking=booking)
    intent_id = active_attempt(booking).gateway_intent_id
    assert intent_id

    # when the gateway reports a chargeback on its payment
    payload = event(
        "charge.dispute.created",
        {"id": "dp_1", "object": "dispute", "payment_intent": intent_id, "amount": 118000, "currency": "inr"},
    )
    assert deliver(payload).status_code == 200

    # then the booking is disputed, ops are told, and the payout run leaves the earning alone
    booking.refresh_from_db()
    assert booking.status == BookingStatus.DISPUTED
    assert booking.events.filter(event="dispute_opened", note__contains="dp_1").exists()
    assert Notification.objects.filter(user=world.ops, kind="payment.dispute").exists()
    assert payouts_run(now=earning.available_at + timedelta(days=1)) == []


def test_a_disputed_booking_is_settled_only_by_resolving_it(world, signed, client_for, commit):
    # given a captured booking the customer complained about
    booking = signed()
    complain(client_for, world, booking)

    # when ops try the manual capture instead of resolving the dispute
    response = client_for(world.ops).post(
        f"/api/bookings/{booking.pk}/capture_payment/", {"reason": "Settled", "amount": "800.00"}, format="json"
    )

    # then it is refused and nothing changes: the dispute stays open, no money moves
    assert response.status_code == 409, response.content
    assert response.json()["status"] == "disputed"
    booking.refresh_from_db()
    assert booking.status == BookingStatus.DISPUTED
    assert PaymentOperation.objects.filter(booking=booking).exclude(kind=OperationKind.CAPTURE).count() == 0


def test_ops_hide_an_abusive_review(world, signed, api_client):
    booking = signed(rating=5)
    other = signed(rating=3, index=1)
    review = Review.objects.get(booking=booking)

    with pytest.raises(Forbidden):
        review_hide(review=review, actor=world.customer, reason="x")
    with pytest.raises(InvalidInput):
        review_hide(review=review, actor=world.ops, reason=" ")
    hidden = review_hide(review=review, actor=world.ops, reason="Abusive language")

    assert hidden.is_hidden and hidden.hidden_by == world.ops and hidden.hidden_reason == "Abusive language"
    assert AuditLog.objects.filter(action="review.hidden", object_id=str(review.pk)).exists()
    page = api_client.get(f"/api/vendors/{world.vendor.pk}/").json()
    assert page["reviews_count"] == 1
    assert [r["id"] for r in page["recent_reviews"]] == [str(Review.objects.get(booking=other).pk)]
    # the rating still counts
    vendor = VendorProfile.objects.get(pk=world.vendor.pk)
    assert (vendor.rating_count, vendor.rating_avg) == (2, D("4.00"))
    # hiding again is a no-op
    assert review_hide(review=review, actor=world.ops, reason="again").hidden_reason == "Abusive language"
