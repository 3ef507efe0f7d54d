"""Manual payments (payments/manual.py): money a customer paid outside the gateway, recorded by
ops — exact ledger lines, the vendor's earning, the audit entry, what may and may not be
recorded, and the ledger staying consistent."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.management import call_command
from django.utils import timezone

from bookings.services.transitions import booking_cancel
from core.errors import Conflict, Forbidden, InvalidInput
from core.models import AuditLog, Role
from core.tests.factories import OpsFactory, UserFactory
from payments.checkout import payment_confirm
from payments.gateways import get_gateway
from payments.gateways.base import CardDetails
from payments.ledger import (
    BANK,
    CASH_ON_HAND,
    PLATFORM_REVENUE,
    TAX_PAYABLE,
    booking_kept,
    vendor_account,
)
from payments.manual import booking_amount_owed, manual_payment_record
from payments.models import AttemptStatus, Earning, LedgerKind, LedgerTransaction, PaymentAttempt
from payments.tests.test_ledger import make_booking
from payments.tests.test_webhooks import deliver, event

D = Decimal
pytestmark = pytest.mark.django_db

CARD = CardDetails(number="4242424242424242", exp_month=12, exp_year=2030, cvc="123")


@pytest.fixture
def ops():
    return OpsFactory()


@pytest.fixture
def t0():
    return timezone.now()


def lines_of(posted):
    return sorted((line.account, line.amount) for line in posted.lines.all())


def ledger_ok():
    call_command("ledger_check")
    return True


@pytest.fixture
def cancelled_with_fee(ops, django_capture_on_commit_callbacks):
    """A cash booking of 1180.00 (1000 + 18 % tax) that ops cancelled keeping a 590.00 fee; the
    settlement ran (a cash fee is not collected at cancellation: the cash attempt is cancelled)."""
    booking = make_booking("1000.00", payment_method="cash")
    with django_capture_on_commit_callbacks(execute=True):
        booking = booking_cancel(booking=booking, user=ops, reason="Customer not at home", refund_amount=D("590.00"))
    attempt = PaymentAttempt.objects.get(booking=booking)
    assert (booking.cancellation_fee, attempt.status, attempt.is_active) == (
        D("590.00"),
        AttemptStatus.CANCELLED,
        False,
    )
    return booking


def hold_released(booking):
    """A card booking whose authorisation the bank released: authorised at checkout, then the
    intent cancelled at the gateway and the webhook delivered (the attempt ends)."""
    attempt = PaymentAttempt.objects.get(booking=booking, is_active=True)
    attempt = payment_confirm(attempt=attempt, user=booking.customer, card=CARD)
    assert attempt.status == AttemptStatus.AUTHORIZED
    get_gateway().cancel_payment_intent(attempt.gateway_intent_id, reason="abandoned")
    response = deliver(event("payment_intent.canceled", {"id": attempt.gateway_intent_id, "object": "payment_intent"}))
    assert response.status_code == 200
    attempt.refresh_from_db()
    assert (attempt.status, attempt.is_active) == (AttemptStatus.CANCELLED, False)
    return attempt


# --- recording -------------------------------------------------------------------------------------


def test_a_cancellation_fee_paid_by_upi_is_posted_earned_and_audited(cancelled_with_fee, ops, t0):
    booking = cancelled_with_fee
    assert booking_amount_owed(booking) == D("590.00")

    recorded = manual_payment_record(
        booking=booking, amount=D("590.00"), method="upi", reference=" UPI-4471 ", actor=ops, now=t0
    )

    posted = recorded.ledger_transaction
    assert recorded.created
    assert (posted.kind, posted.booking_id, posted.attempt_id) == (LedgerKind.MANUAL_PAYMENT, booking.pk, None)
    assert (posted.reference, posted.created_by) == ("UPI-4471", ops)
    assert posted.memo == "manual payment by upi"
    # 590 of 1180 is half: the vendor's 850, the commission's 150 and the tax's 180 each halved
    assert lines_of(posted) == sorted(
        [
            (BANK, D("590.00")),
            (vendor_account(booking.vendor_id), D("-425.00")),
            (PLATFORM_REVENUE, D("-75.00")),
            (TAX_PAYABLE, D("-90.00")),
        ]
    )
    earning = Earning.objects.get(ledger_transaction=posted)
    assert recorded.earning == earning
    assert (earning.vendor_id, earning.booking_id, earning.amount) == (booking.vendor_id, booking.pk, D("425.00"))
    assert earning.available_at == t0 + timedelta(hours=24)
    entry = AuditLog.objects.get(action="payment.manual_recorded")
    assert (entry.actor, entry.object_type, entry.object_id) == (ops, "bookings.booking", str(booking.pk))
    assert entry.new_values["amount"] == "590.00"
    assert entry.new_values["method"] == "upi"
    assert entry.new_values["reference"] == "UPI-4471"
    assert entry.new_values["ledger_transaction"] == str(posted.pk)
    assert booking_kept(booking) == D("590.00")
    assert booking_amount_owed(booking) == D("0.00")
    assert ledger_ok()

    # the fee is paid: nothing more can be recorded
    with pytest.raises(Conflict):
        manual_payment_record(booking=booking, amount=D("0.01"), method="cash", reference="R-2", actor=ops)


def test_a_booking_can_be_paid_in_parts_up_to_what_it_owes(ops):
    # given a card booking whose hold the bank released: the customer pays by bank and in cash
    booking = make_booking("1000.00", payment_method="card", days=2)
    hold_released(booking)
    assert booking_amount_owed(booking) == booking.total == D("1180.00")

    with pytest.raises(InvalidInput) as over:
        manual_payment_record(booking=booking, amount=D("1180.01"), method="bank_transfer", reference="N1", actor=ops)
    assert "1180.00" in str(over.value.fields["amount"][0])
    assert not LedgerTransaction.objects.filter(kind=LedgerKind.MANUAL_PAYMENT).exists()

    first = manual_payment_record(
        booking=booking, amount=D("1000.00"), method="bank_transfer", reference="NEFT-1", actor=ops
    )
    with pytest.raises(InvalidInput) as over:
        manual_payment_record(booking=booking, amount=D("180.01"), method="cash", reference="RCPT-9", actor=ops)
    assert "180.00" in str(over.value.fields["amount"][0])
    second = manual_payment_record(booking=booking, amount=D("180.00"), method="cash", reference="RCPT-9", actor=ops)

    assert dict(lines_of(first.ledger_transaction))[BANK] == D("1000.00")
    assert dict(lines_of(second.ledger_transaction))[CASH_ON_HAND] == D("180.00")
    # the two parts together are split exactly as the whole total
    vendor = vendor_account(booking.vendor_id)
    parts = [first.ledger_transaction, second.ledger_transaction]
    assert sum(line.amount for posted in parts for line in posted.lines.filter(account=vendor)) == D("-850.00")
    assert sum(line.amount for posted in parts for line in posted.lines.filter(account=TAX_PAYABLE)) == D("-180.00")
    assert sum(e.amount for e in Earning.objects.filter(booking=booking)) == D("850.00")
    assert booking_kept(booking) == D("1180.00")
    with pytest.raises(Conflict):
        manual_payment_record(booking=booking, amount=D("0.01"), method="upi", reference="U-1", actor=ops)
    assert ledger_ok()


def test_recording_the_same_reference_again_returns_the_first_payment(cancelled_with_fee, ops):
    booking = cancelled_with_fee
    first = manual_payment_record(booking=booking, amount=D("300.00"), method="cheque", reference="CHQ-1", actor=ops)

    again = manual_payment_record(booking=booking, amount=D("300.00"), method="cheque", reference="CHQ-1", actor=ops)

    assert not again.created
    assert again.ledger_transaction.pk == first.ledger_transaction.pk
    assert again.earning == first.earning
    assert LedgerTransaction.objects.filter(kind=LedgerKind.MANUAL_PAYMENT).count() == 1
    assert AuditLog.objects.filter(action="payment.manual_recorded").count() == 1
    with pytest.raises(Conflict):
        manual_payment_record(booking=booking, amount=D("290.00"), method="cheque", reference="CHQ-1", actor=ops)
    assert booking_kept(booking) == D("300.00")


# --- refusals ---------------------------------------------------------------------------------------


def nothing_recorded():
    return (
        not LedgerTransaction.objects.filter(kind=LedgerKind.MANUAL_PAYMENT).exists()
        and not Earning.objects.exists()
        and not AuditLog.objects.filter(action="payment.manual_recorded").exists()
    )


@pytest.mark.parametrize("who", ["customer", "vendor", "onboard_manager", "anonymous"])
def test_only_ops_record_manual_payments(cancelled_with_fee, who):
    booking = cancelled_with_fee
    actor = {
        "customer": lambda: booking.customer,
        "vendor": lambda: booking.vendor.user,
        "onboard_manager": lambda: UserFactory(role=Role.ONBOARD_MANAGER, is_staff=True),
        "anonymous": AnonymousUser,
    }[who]()

    with pytest.raises(Forbidden):
        manual_payment_record(booking=booking, amount=D("590.00"), method="upi", reference="UPI-1", actor=actor)

    assert nothing_recorded()


def test_a_super_admin_may_record_one():
    admin = UserFactory(role=Role.SUPER_ADMIN, is_staff=True, is_superuser=True)
    booking = make_booking("1000.00", payment_method="card", days=2)
    hold_released(booking)

    recorded = manual_payment_record(booking=booking, amount=D("1180.00"), method="cash", reference="R-1", actor=admin)

    assert recorded.ledger_transaction.created_by == admin


@pytest.mark.parametrize(
    ("amount", "method", "reference", "field"),
    [
        (D("0"), "upi", "R", "amount"),
        (D("-10.00"), "upi", "R", "amount"),
        (D("10.001"), "upi", "R", "amount"),
        (10.5, "upi", "R", "amount"),
        ("ten", "upi", "R", "amount"),
        (D("NaN"), "upi", "R", "amount"),
        (D("10.00"), "paypal", "R", "method"),
        (D("10.00"), "cash", "   ", "reference"),
        (D("10.00"), "cash", "R" * 101, "reference"),
    ],
)
def test_bad_input_is_refused_field_by_field(cancelled_with_fee, ops, amount, method, reference, field):
    with pytest.raises(InvalidInput) as refused:
        manual_payment_record(booking=cancelled_with_fee, amount=amount, method=method, reference=reference, actor=ops)

    assert set(refused.value.fields) == {field}
    assert nothing_recorded()


def test_refused_while_the_vendor_is_still_to_collect_the_cash(ops):
    booking = make_booking("1000.00", payment_method="cash")

    with pytest.raises(Conflict) as refused:
        manual_payment_record(booking=booking, amount=D("1180.00"), method="upi", reference="U-7", actor=ops)

    assert "twice" in str(refused.value)
    assert nothing_recorded()


def test_refused_while_the_card_is_authorised(ops):
    booking = make_booking("1000.00", payment_method="card", days=2)
    attempt = PaymentAttempt.objects.get(booking=booking, is_active=True)
    assert payment_confirm(attempt=attempt, user=booking.customer, card=CARD).status == AttemptStatus.AUTHORIZED

    with pytest.raises(Conflict):
        manual_payment_record(booking=booking, amount=D("100.00"), method="bank_transfer", reference="N-1", actor=ops)

    assert nothing_recorded()


def test_a_cancelled_booking_owes_its_fee_not_its_total(cancelled_with_fee, ops):
    with pytest.raises(InvalidInput):
        manual_payment_record(booking=cancelled_with_fee, amount=D("1180.00"), method="upi", reference="U-1", actor=ops)
    assert nothing_recorded()


def test_a_cancelled_booking_without_a_fee_owes_nothing(ops, django_capture_on_commit_callbacks):
    booking = make_booking("1000.00", payment_method="cash")
    with django_capture_on_commit_callbacks(execute=True):
        booking = booking_cancel(booking=booking, user=booking.customer, reason="plans changed")

    with pytest.raises(Conflict):
        manual_payment_record(booking=booking, amount=D("10.00"), method="upi", reference="U-1", actor=ops)
    assert nothing_recorded()
