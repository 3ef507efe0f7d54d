"""POST /api/payments/webhook/ (§6): signatures on the raw body, events stored once, handlers
order-safe and idempotent."""

import json
import threading
import time
import uuid
from decimal import Decimal

import pytest
import stripe
from django.conf import settings
from django.db import connection
from django.test import Client

from bookings.services.creation import booking_create
from bookings.tests.conftest import ADDRESS, local_time
from bookings.tests.factories import ServiceFactory, VendorServiceFactory
from core.models import Notification
from core.tests.factories import CustomerFactory, OpsFactory, VendorFactory
from payments.models import AttemptStatus, LedgerTransaction, PaymentAttempt, WebhookEvent

URL = "/api/payments/webhook/"


def event(event_type, obj, event_id=None):
    return {
        "id": event_id or f"evt_{uuid.uuid4().hex[:16]}",
        "object": "event",
        "type": event_type,
        "data": {"object": obj},
    }


def deliver(payload: dict, *, timestamp=None, secret=None, client=None):
    body = json.dumps(payload)
    header = stripe.WebhookSignature.generate_signature_header(
        body, secret or settings.STRIPE_WEBHOOK_SECRET, timestamp=timestamp
    )
    return (client or Client()).post(URL, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header)


def make_attempt(intent_id="pi_test_1"):
    service = ServiceFactory()
    vendor = VendorFactory()
    VendorServiceFactory(vendor=vendor, service=service)
    booking = booking_create(
        customer=CustomerFactory(),
        lines=[{"service_id": service.pk, "quantity": 1}],
        scheduled_at=local_time(3, 10),
        address=ADDRESS,
        vendor_id=str(vendor.pk),
        payment_method="card",
    )
    attempt = PaymentAttempt.objects.get(booking=booking, is_active=True)
    PaymentAttempt.objects.filter(pk=attempt.pk).update(gateway="fake", gateway_intent_id=intent_id)
    attempt.refresh_from_db()
    return attempt


def intent(intent_id, **fields):
    return {"id": intent_id, "object": "payment_intent", "currency": "inr", **fields}


def minor(amount: Decimal) -> int:
    return int(amount * 100)


@pytest.mark.django_db
class TestSignature:
    def test_a_valid_signature_is_accepted_and_the_event_stored(self):
        response = deliver(event("customer.created", {"id": "cus_1"}))
        assert response.status_code == 200
        assert WebhookEvent.objects.get().state == WebhookEvent.State.IGNORED

    def test_a_bad_signature_is_400_and_nothing_stored(self):
        response = deliver(event("payment_intent.succeeded", intent("pi_x")), secret="whsec_someone_else")
        assert response.status_code == 400
        assert not WebhookEvent.objects.exists()

    def test_a_signature_older_than_300_seconds_is_400(self):
        response = deliver(event("payment_intent.succeeded", intent("pi_x")), timestamp=int(time.time()) - 301)
        assert response.status_code == 400
        assert not WebhookEvent.objects.exists()

    def test_a_missing_signature_is_400(self):
        response = Client().post(URL, data=json.dumps(event("x.y", {})), content_type="application/json")
        assert response.status_code == 400

    def test_a_tampered_body_is_400(self):
        payload = event("payment_intent.succeeded", intent("pi_x", amount_received=100))
        body = json.dumps(payload)
        header = stripe.WebhookSignature.generate_signature_header(body, settings.STRIPE_WEBHOOK_SECRET)
        tampered = body.replace('"amount_received": 100', '"amount_received": 999999')
        response = Client().post(URL, data=tampered, content_type="application/json", HTTP_STRIPE_SIGNATURE=header)
        assert response.status_code == 400

    def test_only_post(self):
        assert Client().get(URL).status_code == 405


@pytest.mark.django_db
class TestHandlers:
    def test_capturable_then_succeeded_moves_the_attempt_forward(self):
        attempt = make_attempt()
        deliver(event("payment_intent.amount_capturable_updated", intent("pi_test_1", payment_method="pm_1")))
        attempt.refresh_from_db()
        assert (attempt.status, attempt.gateway_payment_method_id) == (AttemptStatus.AUTHORIZED, "pm_1")
        deliver(event("payment_intent.succeeded", intent("pi_test_1", amount_received=minor(attempt.amount))))
        attempt.refresh_from_db()
        assert attempt.status == AttemptStatus.CAPTURED
        assert attempt.amount_captured == attempt.amount

    def test_events_in_reversed_order_end_in_the_same_state(self):
        attempt = make_attempt()
        deliver(event("payment_intent.succeeded", intent("pi_test_1", amount_received=minor(attempt.amount))))
        response = deliver(event("payment_intent.amount_capturable_updated", intent("pi_test_1")))
        assert response.status_code == 200
        attempt.refresh_from_db()
        assert attempt.status == AttemptStatus.CAPTURED
        assert attempt.amount_captured == attempt.amount

    def test_a_duplicate_event_is_acknowledged_and_ignored(self):
        attempt = make_attempt()
        payload = event(
            "payment_intent.payment_failed",
            intent("pi_test_1", last_payment_error={"decline_code": "insufficient_funds"}),
        )
        first, second = deliver(payload), deliver(payload)
        assert (first.status_code, second.status_code) == (200, 200)
        assert second.json()["status"] == "duplicate"
        assert WebhookEvent.objects.count() == 1
        attempt.refresh_from_db()
        assert (attempt.status, attempt.failure_code, attempt.is_active) == (
            AttemptStatus.FAILED,
            "insufficient_funds",
            False,
        )

    def test_a_late_canceled_event_does_not_undo_a_capture(self):
        attempt = make_attempt()
        deliver(event("payment_intent.succeeded", intent("pi_test_1", amount_received=minor(attempt.amount))))
        deliver(event("payment_intent.canceled", intent("pi_test_1")))
        attempt.refresh_from_db()
        assert attempt.status == AttemptStatus.CAPTURED

    def test_refunds_accumulate_and_finish_as_refunded(self):
        attempt = make_attempt()
        total = minor(attempt.amount)
        deliver(event("payment_intent.succeeded", intent("pi_test_1", amount_received=total)))
        charge = {
            "id": "ch_1",
            "object": "charge",
            "payment_intent": "pi_test_1",
            "currency": "inr",
            "amount_captured": total,
        }
        deliver(event("charge.refunded", {**charge, "amount_refunded": 10000}))
        attempt.refresh_from_db()
        assert (attempt.status, attempt.amount_refunded) == (AttemptStatus.PARTIALLY_REFUNDED, Decimal("100.00"))
        deliver(event("charge.refunded", {**charge, "amount_refunded": 15000}))
        attempt.refresh_from_db()
        assert (attempt.status, attempt.amount_refunded) == (AttemptStatus.PARTIALLY_REFUNDED, Decimal("150.00"))
        # an older event arriving late never lowers the amount
        deliver(event("charge.refunded", {**charge, "amount_refunded": 10000}))
        attempt.refresh_from_db()
        assert attempt.amount_refunded == Decimal("150.00")
        deliver(event("charge.refunded", {**charge, "amount_refunded": total}))
        attempt.refresh_from_db()
        assert (attempt.status, attempt.amount_refunded) == (AttemptStatus.REFUNDED, attempt.amount)

    def test_a_refund_reported_before_the_capture_still_records_both(self):
        attempt = make_attempt()
        total = minor(attempt.amount)
        charge = {"id": "ch_1", "object": "charge", "payment_intent": "pi_test_1", "currency": "inr"}
        deliver(event("charge.refunded", {**charge, "amount_captured": total, "amount_refunded": 5000}))
        attempt.refresh_from_db()
        assert attempt.amount_captured == attempt.amount
        assert (attempt.status, attempt.amount_refunded) == (AttemptStatus.PARTIALLY_REFUNDED, Decimal("50.00"))

    def test_an_event_for_an_unknown_intent_is_ignored(self):
        response = deliver(event("payment_intent.succeeded", intent("pi_nobody", amount_received=100)))
        assert response.status_code == 200
        assert WebhookEvent.objects.get().state == WebhookEvent.State.IGNORED

    def test_a_dispute_tells_ops(self):
        attempt = make_attempt()
        ops = OpsFactory()
        deliver(
            event(
                "charge.dispute.created",
                {"id": "dp_1", "object": "dispute", "payment_intent": "pi_test_1", "amount": 70800, "currency": "inr"},
            )
        )
        note = Notification.objects.get(user=ops, kind="payment.dispute")
        assert attempt.booking.booking_number in note.body
        assert "708.00" in note.body

    def test_a_failed_handler_is_retried_on_the_next_delivery(self):
        # given: the gateway reports more captured than the attempt allows, which the database
        # refuses (captured <= amount), so the handler fails and nothing is recorded
        attempt = make_attempt()
        payload = event("payment_intent.succeeded", intent("pi_test_1", amount_received=minor(attempt.amount) + 100))
        assert deliver(payload).status_code == 500
        record = WebhookEvent.objects.get()
        assert record.state == WebhookEvent.State.FAILED and "IntegrityError" in record.error
        attempt.refresh_from_db()
        assert attempt.status == AttemptStatus.REQUIRES_PAYMENT_METHOD
        assert not LedgerTransaction.objects.exists()
        # when: the gateway delivers the same event again
        record.error = ""
        record.save(update_fields=["error"])
        response = deliver(payload)
        # then: it is handled again (and fails again), not dismissed as a duplicate
        assert response.status_code == 500
        record.refresh_from_db()
        assert record.state == WebhookEvent.State.FAILED and "IntegrityError" in record.error
        assert WebhookEvent.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_identical_events_delivered_at_once_are_handled_once():
    attempt = make_attempt()
    payload = event("payment_intent.payment_failed", intent("pi_test_1", last_payment_error={"code": "card_declined"}))
    barrier = threading.Barrier(2)
    statuses = []

    def worker():
        try:
            barrier.wait(timeout=10)
            statuses.append(deliver(payload).json()["status"])
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(statuses) == ["duplicate", "processed"]
    assert WebhookEvent.objects.count() == 1
    from core.models import AuditLog

    assert AuditLog.objects.filter(action="payment.failed", object_id=str(attempt.pk)).count() == 1
