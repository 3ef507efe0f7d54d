"""The daily reconciliation (payments/reconciliation.py): differences between our card payments
and the gateway are made on the gateway's side, through the gateway interface — a hold the bank
released, a capture made in the gateway's dashboard — as they happen in real life; then one issue
per payment, ops told once, no duplicates, automatic and manual resolution, applying the gateway's
state when it is ahead, gateway errors, and the ledger check."""

from datetime import timedelta
from decimal import Decimal

import pytest
from celery.schedules import crontab
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.management import call_command

from bookings.services.creation import booking_create
from bookings.tests.conftest import ADDRESS, local_time
from bookings.tests.factories import ServiceFactory, VendorServiceFactory
from core.errors import Conflict, Forbidden, InvalidInput
from core.models import AuditLog, Notification, Role
from core.tests.factories import CustomerFactory, OpsFactory, UserFactory, VendorFactory
from payments.checkout import attempt_prepare, payment_confirm
from payments.gateways import get_gateway
from payments.gateways.base import CardDetails
from payments.ledger import GATEWAY_CLEARING
from payments.models import (
    AttemptStatus,
    Earning,
    LedgerKind,
    LedgerTransaction,
    OperationState,
    PaymentAttempt,
    ReconciliationIssue,
)
from payments.operations import booking_capture_payment
from payments.reconciliation import payments_reconcile, reconciliation_issue_resolve, reconciliation_issue_sync
from payments.tasks import reconcile_payments
from payments.tests.test_webhooks import deliver, event

D = Decimal
pytestmark = pytest.mark.django_db

CARD = CardDetails(number="4242424242424242", exp_month=12, exp_year=2030, cvc="123")
KIND = "payment.reconciliation"


# --- helpers -------------------------------------------------------------------------------------


def card_booking():
    """A card booking for 1000.00 + 18 % tax, two days out (so checkout authorises the card)."""
    service = ServiceFactory(duration_minutes=60)
    vendor = VendorFactory()
    VendorServiceFactory(vendor=vendor, service=service, price=D("1000.00"))
    return booking_create(
        customer=CustomerFactory(),
        lines=[{"service_id": service.pk, "quantity": 1}],
        scheduled_at=local_time(2, 10),
        address=ADDRESS,
        vendor_id=str(vendor.pk),
        payment_method="card",
    )


def authorised(booking=None) -> PaymentAttempt:
    """The customer confirms the card at checkout: the attempt is authorised at the gateway."""
    booking = booking or card_booking()
    attempt = PaymentAttempt.objects.get(booking=booking, is_active=True)
    attempt = payment_confirm(attempt=attempt, user=booking.customer, card=CARD)
    assert attempt.status == AttemptStatus.AUTHORIZED
    return attempt


def bank_releases_the_hold(attempt):
    """The authorisation is released at the gateway and we are not told (no webhook)."""
    intent = get_gateway().cancel_payment_intent(attempt.gateway_intent_id, reason="abandoned")
    assert intent.status == "canceled"


def captured_in_the_dashboard(attempt):
    """Someone captures the hold in the gateway's dashboard and the webhook never reaches us."""
    intent = get_gateway().capture_payment_intent(attempt.gateway_intent_id, idempotency_key=f"dashboard-{attempt.pk}")
    assert intent.status == "succeeded"
    return intent


def intent_event(event_type, intent):
    return event(
        event_type,
        {
            "id": intent.id,
            "object": "payment_intent",
            "currency": intent.currency.lower(),
            "amount": int(intent.amount * 100),
            "amount_received": int(intent.amount_received * 100),
            "status": intent.status,
        },
    )


def notified(user=None):
    rows = Notification.objects.filter(kind=KIND)
    return rows.filter(user=user) if user is not None else rows


def ledger_ok():
    call_command("ledger_check")
    return True


@pytest.fixture
def ops():
    return OpsFactory()


@pytest.fixture
def admin():
    return UserFactory(role=Role.SUPER_ADMIN, is_staff=True, is_superuser=True)


@pytest.fixture
def onboarder():
    return UserFactory(role=Role.ONBOARD_MANAGER, is_staff=True)


# --- finding differences -------------------------------------------------------------------------


def test_payments_that_agree_with_the_gateway_raise_nothing(ops):
    authorised()  # authorised on both sides
    waiting = PaymentAttempt.objects.get(booking=card_booking(), is_active=True)
    attempt_prepare(attempt=waiting)  # an intent waiting for the card on both sides

    assert payments_reconcile() == []

    assert not ReconciliationIssue.objects.exists()
    assert not notified().exists()


def test_a_hold_released_at_the_gateway_opens_one_issue_and_tells_ops_once(ops, admin, onboarder):
    # given an authorised card payment whose hold the bank released without telling us
    attempt = authorised()
    agreeing = authorised()
    bank_releases_the_hold(attempt)

    # when the reconciliation runs
    (issue,) = payments_reconcile()

    # then one issue for that payment, and every ops manager and super admin is told once
    assert issue.attempt_id == attempt.pk and issue.resolved_at is None
    assert issue.local_state.startswith("authorized")
    assert issue.gateway_state.startswith("canceled")
    assert "ahead" in issue.detail
    assert ReconciliationIssue.objects.filter(attempt=agreeing).count() == 0
    assert notified(ops).count() == 1
    assert notified(admin).count() == 1
    assert notified().count() == 2  # not the onboard manager, the customer or the vendor
    message = notified(ops).get()
    assert attempt.booking.booking_number in message.body
    assert message.data == {"issue_id": issue.pk, "attempt_id": str(attempt.pk), "booking_id": str(attempt.booking_id)}
    assert AuditLog.objects.filter(action="reconciliation.opened", object_id=str(issue.pk)).count() == 1
    # reconciliation flags; it does not change the payment
    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.AUTHORIZED

    # a second run keeps the same issue and tells nobody again
    (again,) = payments_reconcile()
    assert again.pk == issue.pk
    assert ReconciliationIssue.objects.count() == 1
    assert notified().count() == 2


def test_an_issue_whose_difference_goes_away_is_resolved_automatically(ops):
    attempt = authorised()
    bank_releases_the_hold(attempt)
    (issue,) = payments_reconcile()

    # the gateway's late webhook finally arrives
    intent = get_gateway().retrieve_payment_intent(attempt.gateway_intent_id)
    assert deliver(intent_event("payment_intent.canceled", intent)).status_code == 200

    assert payments_reconcile() == []

    issue.refresh_from_db()
    assert issue.resolved_at is not None and issue.resolved_by is None
    assert "agree again" in issue.note
    assert AuditLog.objects.filter(action="reconciliation.auto_resolved", object_id=str(issue.pk)).exists()
    assert notified().count() == 1  # only the opening
    assert payments_reconcile() == []
    assert ReconciliationIssue.objects.count() == 1


def test_ops_resolve_an_issue_with_a_note_and_the_same_difference_is_not_reopened(ops, admin):
    attempt = authorised()
    bank_releases_the_hold(attempt)
    (issue,) = payments_reconcile()

    with pytest.raises(Forbidden):
        reconciliation_issue_resolve(issue=issue, actor=attempt.booking.customer, note="fine")
    with pytest.raises(Forbidden):
        reconciliation_issue_resolve(issue=issue, actor=AnonymousUser(), note="fine")
    with pytest.raises(InvalidInput):
        reconciliation_issue_resolve(issue=issue, actor=ops, note="   ")

    resolved = reconciliation_issue_resolve(issue=issue, actor=ops, note="Customer will pay at the door; booking kept.")

    assert resolved.resolved_by == ops and resolved.resolved_at is not None
    assert resolved.note == "Customer will pay at the door; booking kept."
    assert AuditLog.objects.filter(action="reconciliation.resolved", actor=ops, object_id=str(issue.pk)).exists()
    with pytest.raises(Conflict):
        reconciliation_issue_resolve(issue=issue, actor=admin, note="again")
    # ops accepted exactly this difference: later runs do not bring it back
    assert payments_reconcile() == []
    assert ReconciliationIssue.objects.count() == 1
    assert notified(ops).count() == 1


def test_another_difference_after_a_resolution_opens_a_new_issue(ops):
    attempt = authorised()
    bank_releases_the_hold(attempt)
    (first,) = payments_reconcile()
    reconciliation_issue_resolve(issue=first, actor=ops, note="Bank released it; the customer pays in cash.")
    assert payments_reconcile() == []  # accepted by ops

    # then a capture event for the released intent reaches us, carrying an amount the gateway never
    # took (as a misrouted or misconfigured integration would send)
    told = intent_event("payment_intent.succeeded", get_gateway().retrieve_payment_intent(attempt.gateway_intent_id))
    told["data"]["object"]["amount_received"] = int(attempt.amount * 100)
    assert deliver(told).status_code == 200
    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.CAPTURED

    (second,) = payments_reconcile()

    assert second.pk != first.pk
    assert second.local_state.startswith("captured")
    assert "1180.00" in second.detail and "canceled" in second.detail
    assert notified(ops).count() == 2


def test_a_capture_made_in_the_dashboard_can_be_applied_by_ops(ops):
    # given a capture at the gateway we were never told about
    attempt = authorised()
    captured_in_the_dashboard(attempt)
    (issue,) = payments_reconcile()
    assert issue.gateway_state.startswith("succeeded")
    assert not LedgerTransaction.objects.filter(kind=LedgerKind.CAPTURE).exists()

    with pytest.raises(Forbidden):
        reconciliation_issue_sync(issue=issue, actor=attempt.booking.customer)

    # when ops apply the gateway's state
    resolved = reconciliation_issue_sync(issue=issue, actor=ops)

    # then the payment is recorded as the webhook would have: captured, in the ledger, earned
    attempt.refresh_from_db()
    assert (attempt.status, attempt.amount_captured) == (AttemptStatus.CAPTURED, D("1180.00"))
    capture = LedgerTransaction.objects.get(kind=LedgerKind.CAPTURE, attempt=attempt)
    assert capture.lines.get(account=GATEWAY_CLEARING).amount == D("1180.00")
    assert Earning.objects.get(ledger_transaction=capture).amount == D("850.00")
    assert resolved.resolved_by == ops and resolved.resolved_at is not None
    assert "captured" in resolved.note
    assert AuditLog.objects.filter(action="reconciliation.synced", actor=ops, object_id=str(issue.pk)).exists()
    assert ledger_ok()
    assert payments_reconcile() == []
    with pytest.raises(Conflict):
        reconciliation_issue_sync(issue=issue, actor=ops)


def test_a_hold_released_at_the_gateway_can_be_applied_by_ops(ops):
    attempt = authorised()
    bank_releases_the_hold(attempt)
    (issue,) = payments_reconcile()

    reconciliation_issue_sync(issue=issue, actor=ops)

    attempt.refresh_from_db()
    issue.refresh_from_db()
    assert (attempt.status, attempt.is_active) == (AttemptStatus.CANCELLED, False)
    assert issue.resolved_at is not None


def test_a_capture_the_gateway_does_not_have_needs_a_person(ops):
    # given our books say the whole amount was captured, but the gateway's capture was partial
    attempt = authorised()
    intent = get_gateway().capture_payment_intent(
        attempt.gateway_intent_id, amount=D("590.00"), idempotency_key=f"partial-{attempt.pk}"
    )
    told = intent_event("payment_intent.succeeded", intent)
    # the event that reaches us carries the full amount (a misconfigured integration)
    told["data"]["object"]["amount_received"] = int(attempt.amount * 100)
    assert deliver(told).status_code == 200
    attempt.refresh_from_db()
    assert attempt.amount_captured == D("1180.00")

    (issue,) = payments_reconcile()

    assert "1180.00" in issue.detail and "590.00" in issue.detail
    # applying the gateway's state cannot fix it: the gateway is not ahead
    with pytest.raises(Conflict):
        reconciliation_issue_sync(issue=issue, actor=ops)
    issue.refresh_from_db()
    assert issue.resolved_at is None


def test_an_intent_the_gateway_does_not_know_is_a_difference(ops):
    attempt = authorised()
    PaymentAttempt.objects.filter(pk=attempt.pk).update(gateway_intent_id="pi_fake_unknown")

    (issue,) = payments_reconcile()

    assert "pi_fake_unknown" in issue.detail


def test_a_payment_whose_money_is_moving_now_is_left_for_its_operation(ops):
    # given a capture operation queued (not yet run) and the gateway already captured
    attempt = authorised()
    booking_capture_payment(booking=attempt.booking, actor=ops, reason="signed on paper")
    assert attempt.booking.payment_operations.get().state == OperationState.PENDING
    captured_in_the_dashboard(attempt)

    assert payments_reconcile() == []
    assert not ReconciliationIssue.objects.exists()


def test_a_gateway_error_for_one_payment_does_not_stop_the_others(fake_stripe, ops):
    # given two payments whose holds were released, on the stripe gateway (the real SDK)
    def stripe_authorised():
        booking = card_booking()
        attempt = attempt_prepare(attempt=PaymentAttempt.objects.get(booking=booking, is_active=True))
        get_gateway().confirm_payment_intent(attempt.gateway_intent_id, payment_method_id="pm_card_visa")
        return payment_confirm(attempt=attempt, user=booking.customer)  # the server re-reads the intent

    first, second = stripe_authorised(), stripe_authorised()
    assert first.status == second.status == AttemptStatus.AUTHORIZED
    bank_releases_the_hold(first)
    bank_releases_the_hold(second)
    PaymentAttempt.objects.filter(pk=first.pk).update(updated_at=first.updated_at - timedelta(minutes=5))
    # the gateway fails every try of the first read (the SDK retries twice)
    fake_stripe.fail_next(500, times=1 + settings.STRIPE_MAX_NETWORK_RETRIES)

    (issue,) = payments_reconcile()

    assert issue.attempt_id == second.pk
    # the next run reaches the first one too
    assert {issue.attempt_id for issue in payments_reconcile()} == {first.pk, second.pk}
    assert ReconciliationIssue.objects.count() == 2


# --- the ledger check ----------------------------------------------------------------------------


def test_ledger_problems_tell_ops_once_per_run(ops, admin):
    # given a capture recorded through the webhook, then a refund made in the gateway's dashboard:
    # its charge.refunded webhook updates the payment, but no refund was posted to the ledger
    attempt = authorised()
    intent = captured_in_the_dashboard(attempt)
    deliver(intent_event("payment_intent.succeeded", intent))
    refund = get_gateway().refund(attempt.gateway_intent_id, amount=D("100.00"), idempotency_key="dashboard-refund")
    deliver(
        event(
            "charge.refunded",
            {
                "id": "ch_fake_1",
                "object": "charge",
                "payment_intent": attempt.gateway_intent_id,
                "currency": "inr",
                "amount_captured": 118000,
                "amount_refunded": int(refund.amount * 100),
            },
        )
    )
    attempt.refresh_from_db()
    assert attempt.amount_refunded == D("100.00")

    # the gateway and the payment agree (refunds cannot be read from the gateway)…
    assert payments_reconcile() == []

    # …but the ledger does not: ops are told, once per run, with the count
    assert notified(ops).count() == 1 and notified(admin).count() == 1
    message = notified(ops).get()
    assert message.data == {"ledger_problems": 1}
    assert "1 problem" in message.body
    payments_reconcile()
    assert notified(ops).count() == 2


def test_a_clean_ledger_tells_nobody(ops):
    attempt = authorised()
    intent = captured_in_the_dashboard(attempt)
    deliver(intent_event("payment_intent.succeeded", intent))

    assert payments_reconcile() == []
    assert not notified().exists()
    assert ledger_ok()


# --- scheduling ----------------------------------------------------------------------------------


def test_the_daily_task_runs_the_reconciliation(ops):
    attempt = authorised()
    bank_releases_the_hold(attempt)

    assert reconcile_payments() == 1
    assert ReconciliationIssue.objects.filter(attempt=attempt, resolved_at__isnull=True).count() == 1


def test_the_reconciliation_is_scheduled_daily_at_a_quiet_hour():
    entry = settings.CELERY_BEAT_SCHEDULE["reconcile-payments"]

    assert entry["task"] == "payments.tasks.reconcile_payments"
    assert entry["schedule"] == crontab(hour=23, minute=0)
