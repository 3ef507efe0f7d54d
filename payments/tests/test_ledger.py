"""The ledger (ARCHITECTURE §4): balanced double-entry lines for every money movement, balances
summed in the database, and ``manage.py ledger_check``."""

import random
import threading
import time
from collections import Counter, defaultdict
from decimal import Decimal

import pytest
from django.core.management import call_command, execute_from_command_line
from django.core.management.base import CommandError
from django.db import connection, connections, transaction

from bookings.models import PromoKind
from bookings.services.creation import booking_create
from bookings.services.pricing import split_kept_amount
from bookings.tests.conftest import ADDRESS, local_time
from bookings.tests.factories import PromoCodeFactory, ServiceFactory, VendorServiceFactory
from core.models import AuditLog
from core.money import ZERO, money
from core.tests.factories import CustomerFactory, OpsFactory, VendorFactory
from payments.ledger import (
    BANK,
    CASH_ON_HAND,
    CUSTOMER_REFUNDS,
    GATEWAY_CLEARING,
    PLATFORM_REVENUE,
    PROMO_EXPENSE,
    SUSPENSE,
    TAX_PAYABLE,
    LedgerConflict,
    LedgerError,
    account_balance,
    attempt_mismatches,
    booking_kept,
    ledger_post,
    post_adjustment,
    post_cancellation_fee,
    post_capture,
    post_cash_collected,
    post_manual_payment,
    post_payout,
    post_payout_reversal,
    post_refund,
    unbalanced_transactions,
    vendor_account,
    vendor_balance,
    vendor_balances,
)
from payments.models import AttemptStatus, LedgerKind, LedgerLine, LedgerTransaction, PaymentAttempt

D = Decimal
pytestmark = pytest.mark.django_db


# --- helpers -------------------------------------------------------------------------------------


def make_booking(price, *, promo_value=None, payment_method="card", vendor=None, days=3, hour=10):
    """A booking for one service at the chosen vendor's ``price``, optionally with a fixed promo."""
    service = ServiceFactory(duration_minutes=60)
    vendor = vendor or VendorFactory()
    VendorServiceFactory(vendor=vendor, service=service, price=D(price))
    code = None
    if promo_value is not None:
        code = PromoCodeFactory(kind=PromoKind.FIXED, value=D(promo_value)).code
    return booking_create(
        customer=CustomerFactory(),
        lines=[{"service_id": service.pk, "quantity": 1}],
        scheduled_at=local_time(days, hour),
        address=ADDRESS,
        vendor_id=str(vendor.pk),
        payment_method=payment_method,
        promo_code=code,
    )


def attempt_for(booking):
    """The booking's active attempt (made here unless booking creation already made one)."""
    existing = PaymentAttempt.objects.filter(booking=booking, is_active=True).first()
    if existing is not None:
        return existing
    return PaymentAttempt.objects.create(
        booking=booking, method=booking.payment_method, amount=booking.total, currency=booking.currency
    )


def mark(attempt, *, captured=None, refunded=None):
    """What the payment services would record once the gateway moved the money."""
    changes = {}
    if captured is not None:
        changes.update(amount_captured=captured, status=AttemptStatus.CAPTURED)
    if refunded is not None:
        changes.update(
            amount_refunded=refunded,
            status=AttemptStatus.REFUNDED
            if refunded == (captured if captured is not None else attempt.amount_captured)
            else AttemptStatus.PARTIALLY_REFUNDED,
        )
    PaymentAttempt.objects.filter(pk=attempt.pk).update(**changes)
    attempt.refresh_from_db()


def lines_of(posted):
    return sorted((line.account, line.amount) for line in posted.lines.all())


def expected(*pairs):
    return sorted(pairs)


def nothing_written():
    return LedgerTransaction.objects.count() == 0 and LedgerLine.objects.count() == 0


# --- one function per money movement, on concrete bookings ---------------------------------------


def test_full_capture_credits_vendor_platform_and_tax():
    booking = make_booking("1000.00")
    attempt = attempt_for(booking)
    vendor = vendor_account(booking.vendor_id)

    posted = post_capture(booking, attempt)

    assert (booking.total, booking.vendor_earning, booking.commission, booking.tax) == (
        D("1180.00"),
        D("850.00"),
        D("150.00"),
        D("180.00"),
    )
    assert posted.kind == LedgerKind.CAPTURE
    assert posted.idempotency_key == f"capture:{attempt.pk}"
    assert (posted.booking_id, posted.attempt_id) == (booking.pk, attempt.pk)
    assert lines_of(posted) == expected(
        (GATEWAY_CLEARING, D("1180.00")),
        (vendor, D("-850.00")),
        (PLATFORM_REVENUE, D("-150.00")),
        (TAX_PAYABLE, D("-180.00")),
    )
    assert {line.currency for line in posted.lines.all()} == {"INR"}


def test_full_capture_with_a_promo_larger_than_the_commission_books_the_subsidy():
    # given: 200.00 with a 50.00 promo: commission 30.00, so the platform fee is −20.00
    booking = make_booking("200.00", promo_value="50.00")
    assert booking.platform_fee == D("-20.00")
    assert booking.total == D("177.00")

    # when
    posted = post_capture(booking, attempt_for(booking))

    # then: the customer pays 177.00; the vendor earns 170.00 on the full subtotal; the promo is an
    # expense of 50.00 against 30.00 commission
    assert lines_of(posted) == expected(
        (GATEWAY_CLEARING, D("177.00")),
        (vendor_account(booking.vendor_id), D("-170.00")),
        (PLATFORM_REVENUE, D("-30.00")),
        (PROMO_EXPENSE, D("50.00")),
        (TAX_PAYABLE, D("-27.00")),
    )
    assert vendor_balance(booking.vendor_id) == D("170.00")
    # platform income net of the promo is the (negative) platform fee
    assert -(account_balance(PLATFORM_REVENUE) + account_balance(PROMO_EXPENSE)) == D("-20.00")


def test_a_50_percent_cancellation_fee_is_split_pro_rata_with_the_remainder_on_the_platform():
    # given: subtotal 100.08 → tax 18.01, total 118.09, commission 15.01, vendor earning 85.07
    booking = make_booking("100.08")
    assert (booking.total, booking.vendor_earning, booking.platform_fee, booking.tax) == (
        D("118.09"),
        D("85.07"),
        D("15.01"),
        D("18.01"),
    )
    fee = money(booking.total * D("0.5"))
    assert fee == D("59.05")  # 59.045 half up

    # when
    posted = post_cancellation_fee(booking, attempt_for(booking), fee)

    # then: 42.5386 → 42.54 and 9.0055 → 9.01 for vendor and tax; 7.5055 would round to 7.51, but
    # the three rounded shares would make 59.06, so the platform takes the −0.01 remainder: 7.50
    assert posted.kind == LedgerKind.CANCELLATION_FEE
    assert lines_of(posted) == expected(
        (GATEWAY_CLEARING, D("59.05")),
        (vendor_account(booking.vendor_id), D("-42.54")),
        (PLATFORM_REVENUE, D("-7.50")),
        (TAX_PAYABLE, D("-9.01")),
    )


def test_a_50_percent_fee_with_a_subsidising_promo_splits_the_platform_share_into_commission_and_promo():
    # given: 250.00 with a 45.55 promo: tax 36.80, total 241.25, commission 37.50, platform fee −8.05
    booking = make_booking("250.00", promo_value="45.55")
    assert (booking.total, booking.vendor_earning, booking.platform_fee, booking.tax) == (
        D("241.25"),
        D("212.50"),
        D("-8.05"),
        D("36.80"),
    )
    fee = money(booking.total * D("0.5"))
    assert fee == D("120.63")

    # when
    posted = post_cancellation_fee(booking, attempt_for(booking), fee)

    # then: vendor 106.25, tax 18.40, platform −4.03 + 0.01 remainder = −4.02 (as split_kept_amount);
    # the promo's own share is 120.63 × 45.55 / 241.25 = 22.776 → 22.78, the commission the rest 18.76
    assert split_kept_amount(booking=booking, amount=fee) == {
        "vendor_earning": D("106.25"),
        "platform_fee": D("-4.02"),
        "tax": D("18.40"),
    }
    assert lines_of(posted) == expected(
        (GATEWAY_CLEARING, D("120.63")),
        (vendor_account(booking.vendor_id), D("-106.25")),
        (PLATFORM_REVENUE, D("-18.76")),
        (PROMO_EXPENSE, D("22.78")),
        (TAX_PAYABLE, D("-18.40")),
    )


def test_a_full_refund_reverses_the_capture_to_the_cent():
    booking = make_booking("200.00", promo_value="50.00")
    attempt = attempt_for(booking)
    post_capture(booking, attempt)

    posted = post_refund(booking, attempt, D("177.00"), reference="re_full")

    assert posted.kind == LedgerKind.REFUND
    assert posted.idempotency_key == "refund:re_full"
    assert lines_of(posted) == expected(
        (GATEWAY_CLEARING, D("-177.00")),
        (vendor_account(booking.vendor_id), D("170.00")),
        (CUSTOMER_REFUNDS, D("30.00")),
        (PROMO_EXPENSE, D("-50.00")),
        (TAX_PAYABLE, D("27.00")),
    )
    assert account_balance(GATEWAY_CLEARING) == D("0.00")
    assert account_balance(TAX_PAYABLE) == D("0.00")
    assert account_balance(PROMO_EXPENSE) == D("0.00")
    assert vendor_balance(booking.vendor_id) == D("0.00")
    assert account_balance(PLATFORM_REVENUE) + account_balance(CUSTOMER_REFUNDS) == D("0.00")
    assert booking_kept(booking) == D("0.00")


def test_partial_refunds_split_pro_rata_and_together_reverse_exactly():
    # given: 100.08 captured in full (118.09 = 85.07 + 15.01 + 18.01)
    booking = make_booking("100.08")
    attempt = attempt_for(booking)
    post_capture(booking, attempt)
    vendor = vendor_account(booking.vendor_id)

    # when: refunded in three parts
    first = post_refund(booking, attempt, D("10.00"), reference="re_1")
    second = post_refund(booking, attempt, D("4.18"), reference="re_2")
    third = post_refund(booking, attempt, D("103.91"), reference="re_3")

    # then: the first is the §4 split of 10.00
    assert lines_of(first) == expected(
        (GATEWAY_CLEARING, D("-10.00")), (vendor, D("7.20")), (CUSTOMER_REFUNDS, D("1.27")), (TAX_PAYABLE, D("1.53"))
    )
    # the next take shares(refunded after) − shares(refunded before): 14.18 splits 10.22/1.80/2.16.
    # (Split on its own, 4.18 would give the vendor 3.01 and the tax 0.64, and the three refunds
    # would leave 0.01 on the vendor's account and −0.01 on tax_payable.)
    assert lines_of(second) == expected(
        (GATEWAY_CLEARING, D("-4.18")), (vendor, D("3.02")), (CUSTOMER_REFUNDS, D("0.53")), (TAX_PAYABLE, D("0.63"))
    )
    assert lines_of(third) == expected(
        (GATEWAY_CLEARING, D("-103.91")),
        (vendor, D("74.85")),
        (CUSTOMER_REFUNDS, D("13.21")),
        (TAX_PAYABLE, D("15.85")),
    )
    # and the three together undo the capture exactly
    assert vendor_balance(booking.vendor_id) == D("0.00")
    assert account_balance(TAX_PAYABLE) == D("0.00")
    assert account_balance(GATEWAY_CLEARING) == D("0.00")
    assert account_balance(PLATFORM_REVENUE) == D("-15.01")
    assert account_balance(CUSTOMER_REFUNDS) == D("15.01")


def test_a_refund_replayed_returns_the_first_and_another_amount_on_its_reference_conflicts():
    booking = make_booking("1000.00")
    attempt = attempt_for(booking)
    post_capture(booking, attempt)
    first = post_refund(booking, attempt, D("100.00"), reference="re_1")

    assert post_refund(booking, attempt, D("100.00"), reference="re_1").pk == first.pk
    with pytest.raises(LedgerConflict):
        post_refund(booking, attempt, D("90.00"), reference="re_1")
    assert LedgerTransaction.objects.filter(kind=LedgerKind.REFUND).count() == 1
    assert account_balance(GATEWAY_CLEARING) == D("1080.00")


def test_a_refund_debits_the_vendor_the_payment_credited_even_after_the_booking_changed_hands():
    booking = make_booking("1000.00")
    attempt = attempt_for(booking)
    post_capture(booking, attempt)
    first_vendor, other_vendor = booking.vendor, VendorFactory()
    type(booking).objects.filter(pk=booking.pk).update(vendor=other_vendor)
    booking.refresh_from_db()

    post_refund(booking, attempt, D("1180.00"), reference="re_1")

    assert vendor_balance(first_vendor) == D("0.00")
    assert vendor_balance(other_vendor) == D("0.00")


def test_a_refund_beyond_what_was_paid_is_refused():
    booking = make_booking("100.08")
    attempt = attempt_for(booking)
    post_cancellation_fee(booking, attempt, D("59.05"))
    post_refund(booking, attempt, D("59.00"), reference="re_1")
    count = LedgerTransaction.objects.count()

    with pytest.raises(LedgerError, match="more than was paid"):
        post_refund(booking, attempt, D("0.06"), reference="re_2")

    assert LedgerTransaction.objects.count() == count
    post_refund(booking, attempt, D("0.05"), reference="re_2")
    assert vendor_balance(booking.vendor_id) == D("0.00")
    assert account_balance(TAX_PAYABLE) == D("0.00")


def test_cash_collected_makes_the_vendor_owe_commission_and_tax():
    # given: 1000.00 paid in cash: total 1180.00, vendor earning 850.00
    booking = make_booking("1000.00", payment_method="cash")
    vendor = vendor_account(booking.vendor_id)

    # when
    posted = post_cash_collected(booking)

    # then: the vendor holds 1180.00 of ours and earned 850.00: they owe 330.00 = 150.00 + 180.00
    assert posted.kind == LedgerKind.CASH_COLLECTED
    assert lines_of(posted) == expected(
        (vendor, D("1180.00")),
        (vendor, D("-850.00")),
        (PLATFORM_REVENUE, D("-150.00")),
        (TAX_PAYABLE, D("-180.00")),
    )
    assert vendor_balance(booking.vendor_id) == D("-330.00")
    assert vendor_balance(booking.vendor_id) == -(booking.platform_fee + booking.tax)
    assert account_balance(GATEWAY_CLEARING) == D("0.00")


def test_cash_collected_with_a_subsidising_promo_nets_subsidy_against_tax():
    booking = make_booking("200.00", promo_value="50.00", payment_method="cash")

    posted = post_cash_collected(booking)

    assert lines_of(posted) == expected(
        (vendor_account(booking.vendor_id), D("177.00")),
        (vendor_account(booking.vendor_id), D("-170.00")),
        (PLATFORM_REVENUE, D("-30.00")),
        (PROMO_EXPENSE, D("50.00")),
        (TAX_PAYABLE, D("-27.00")),
    )
    # the vendor owes the tax 27.00 less the 20.00 subsidy
    assert vendor_balance(booking.vendor_id) == D("-7.00")


def test_cash_collected_is_refused_for_a_card_booking():
    booking = make_booking("1000.00")

    with pytest.raises(LedgerError, match="not paid in cash"):
        post_cash_collected(booking)

    assert nothing_written()


def test_a_zero_total_booking_is_funded_by_the_promo():
    # given: a 500.00 promo on 200.00: the customer pays nothing
    booking = make_booking("200.00", promo_value="500.00")
    assert (booking.discount, booking.total, booking.platform_fee) == (D("200.00"), D("0.00"), D("-170.00"))

    posted = post_capture(booking, None)

    assert posted.idempotency_key == f"capture:booking:{booking.pk}"
    assert lines_of(posted) == expected(
        (vendor_account(booking.vendor_id), D("-170.00")),
        (PLATFORM_REVENUE, D("-30.00")),
        (PROMO_EXPENSE, D("200.00")),
    )
    with pytest.raises(LedgerError, match="needs the payment attempt"):
        post_capture(make_booking("100.00", days=4), None)


def test_payouts_debit_the_vendor_and_are_capped_by_the_balance():
    booking = make_booking("1000.00")
    post_capture(booking, attempt_for(booking))
    vendor = booking.vendor

    posted = post_payout(vendor, D("800.00"), "PO-20270301-00001")

    assert posted.kind == LedgerKind.PAYOUT
    assert lines_of(posted) == expected((vendor_account(vendor), D("800.00")), (GATEWAY_CLEARING, D("-800.00")))
    assert vendor_balance(vendor) == D("50.00")
    assert account_balance(GATEWAY_CLEARING) == D("380.00")
    # a replay is the same payout, even though the balance is now below 800.00
    assert post_payout(vendor, D("800.00"), "PO-20270301-00001").pk == posted.pk
    with pytest.raises(LedgerConflict):
        post_payout(vendor, D("700.00"), "PO-20270301-00001")
    with pytest.raises(LedgerError, match="more than the vendor's balance"):
        post_payout(vendor, D("50.01"), "PO-20270301-00002")

    by_bank = post_payout(vendor, D("50.00"), "PO-20270301-00002", paid_from=BANK)

    assert lines_of(by_bank) == expected((vendor_account(vendor), D("50.00")), (BANK, D("-50.00")))
    assert vendor_balance(vendor) == D("0.00")


def test_a_refund_after_payout_makes_the_vendor_owe_and_a_payout_reversal_restores_the_balance():
    booking = make_booking("1000.00")
    attempt = attempt_for(booking)
    post_capture(booking, attempt)
    post_payout(booking.vendor, D("850.00"), "PO-20270301-00003")

    post_refund(booking, attempt, D("1180.00"), reference="re_after_payout")

    assert vendor_balance(booking.vendor) == D("-850.00")

    reversal = post_payout_reversal(booking.vendor, D("850.00"), "PO-20270301-00003")

    assert reversal.kind == LedgerKind.PAYOUT_REVERSAL
    assert lines_of(reversal) == expected(
        (vendor_account(booking.vendor), D("-850.00")), (GATEWAY_CLEARING, D("850.00"))
    )
    assert vendor_balance(booking.vendor) == D("0.00")
    with pytest.raises(LedgerError, match="No payout"):
        post_payout_reversal(booking.vendor, D("1.00"), "PO-unknown")


def test_manual_payments_land_on_bank_or_cash_and_are_allocated():
    booking = make_booking("1000.00")

    by_bank = post_manual_payment(booking, D("1000.00"), "bank_transfer", "UTR123")
    in_cash = post_manual_payment(booking, D("180.00"), "cash", "RCPT-9")

    assert by_bank.kind == LedgerKind.MANUAL_PAYMENT
    # the first 1000.00 of 1180.00: 720.34 / 127.12 / 152.54; the next 180.00 takes the rest
    assert lines_of(by_bank) == expected(
        (BANK, D("1000.00")),
        (vendor_account(booking.vendor_id), D("-720.34")),
        (PLATFORM_REVENUE, D("-127.12")),
        (TAX_PAYABLE, D("-152.54")),
    )
    assert lines_of(in_cash) == expected(
        (CASH_ON_HAND, D("180.00")),
        (vendor_account(booking.vendor_id), D("-129.66")),
        (PLATFORM_REVENUE, D("-22.88")),
        (TAX_PAYABLE, D("-27.46")),
    )
    assert vendor_balance(booking.vendor_id) == booking.vendor_earning
    assert account_balance(TAX_PAYABLE) == -booking.tax
    assert booking_kept(booking) == D("1180.00")
    with pytest.raises(LedgerError, match="more than its total"):
        post_manual_payment(booking, D("0.01"), "upi", "UPI-1")
    with pytest.raises(LedgerError, match="method is one of"):
        post_manual_payment(make_booking("100.00", days=4), D("1.00"), "bitcoin", "X")

    # a refund of money taken without an attempt goes out of the bank
    refund = post_refund(booking, None, D("1180.00"), reference="bank-refund-1")
    assert (BANK, D("-1180.00")) in lines_of(refund)
    assert vendor_balance(booking.vendor_id) == D("0.00")


def test_helpers_refuse_attempts_that_do_not_fit():
    booking = make_booking("1000.00")
    other = make_booking("1000.00", days=4)
    attempt = attempt_for(booking)

    with pytest.raises(LedgerError, match="another booking"):
        post_capture(other, attempt)
    with pytest.raises(LedgerError, match="at most the attempt"):
        post_capture(booking, attempt, D("1180.01"))
    with pytest.raises(LedgerError, match="Decimal"):
        post_capture(booking, attempt, 100.0)
    with pytest.raises(LedgerError, match="reference"):
        post_refund(booking, attempt, D("1.00"), reference="")
    assert nothing_written()


def test_an_adjustment_is_audited():
    ops = OpsFactory()

    posted = post_adjustment(
        lines=[(SUSPENSE, D("12.30")), (BANK, D("-12.30"))], reason="bank fee", reference="ADJ-1", actor=ops
    )

    assert posted.kind == LedgerKind.ADJUSTMENT
    assert posted.created_by == ops
    assert posted.memo == "bank fee"
    entry = AuditLog.objects.get(action="ledger.adjustment")
    assert entry.object_id == str(posted.pk)
    assert entry.actor == ops


# --- ledger_post: idempotency and refusals -------------------------------------------------------


def test_posting_one_capture_twice_gives_one_transaction():
    booking = make_booking("1000.00")
    attempt = attempt_for(booking)

    first = post_capture(booking, attempt)
    again = post_capture(booking, attempt)

    assert again.pk == first.pk
    assert (first.posted_now, again.posted_now) == (True, False)
    assert LedgerTransaction.objects.count() == 1
    assert LedgerLine.objects.count() == 4
    # a PaymentIntent is captured once: a fee on the same attempt is another movement on one key
    with pytest.raises(LedgerConflict):
        post_cancellation_fee(booking, attempt, D("10.00"))
    assert LedgerTransaction.objects.count() == 1


def test_ledger_post_with_one_key_returns_the_first_and_refuses_other_lines():
    lines = [(BANK, D("10.00")), (SUSPENSE, D("-10.00"))]

    first = ledger_post(kind=LedgerKind.ADJUSTMENT, lines=lines, idempotency_key="k-1", memo="x")
    again = ledger_post(kind=LedgerKind.ADJUSTMENT, lines=list(reversed(lines)), idempotency_key="k-1")

    assert again.pk == first.pk
    assert LedgerTransaction.objects.count() == 1
    with pytest.raises(LedgerConflict):
        ledger_post(
            kind=LedgerKind.ADJUSTMENT, lines=[(BANK, D("10.01")), (SUSPENSE, D("-10.01"))], idempotency_key="k-1"
        )
    with pytest.raises(LedgerConflict):
        ledger_post(kind=LedgerKind.PAYOUT, lines=lines, idempotency_key="k-1")
    assert LedgerTransaction.objects.count() == 1
    assert LedgerLine.objects.count() == 2


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([(BANK, D("10.00")), (SUSPENSE, D("-9.99"))], "Unbalanced"),
        ([(BANK, 10.0), (SUSPENSE, -10.0)], "Decimal"),
        ([(BANK, D("10.00")), (SUSPENSE, -10.0)], "Decimal"),
        ([(BANK, 10), (SUSPENSE, -10)], "Decimal"),
        ([(BANK, D("0.00"))], "at least two lines"),
        ([], "at least two lines"),
        ([(BANK, D("0.005")), (SUSPENSE, D("-0.005"))], "2 decimal places"),
        ([(BANK, D("1.00")), (SUSPENSE, D("-1.00")), (GATEWAY_CLEARING, D("0.00"))], "cannot be zero"),
        ([(BANK, D("1.00")), ("vendor_payable:nobody", D("-1.00"))], "Unknown ledger account"),
        ([(BANK, D("1.00")), ("revenue", D("-1.00"))], "Unknown ledger account"),
        ([(BANK, D("NaN")), (SUSPENSE, D("-1.00"))], "2 decimal places"),
    ],
)
def test_ledger_post_refuses_bad_lines_and_writes_nothing(lines, message):
    with pytest.raises(LedgerError, match=message):
        ledger_post(kind=LedgerKind.ADJUSTMENT, lines=lines, idempotency_key="bad")

    assert nothing_written()


def test_ledger_post_accepts_fewer_places_and_stores_two():
    posted = ledger_post(
        kind=LedgerKind.ADJUSTMENT, lines=[(BANK, D("5.3")), (SUSPENSE, D("-5.30"))], idempotency_key="k"
    )

    assert lines_of(posted) == expected((BANK, D("5.30")), (SUSPENSE, D("-5.30")))
    assert str(LedgerLine.objects.get(account=BANK).amount) == "5.30"


def test_ledger_post_refuses_an_unknown_kind():
    with pytest.raises(LedgerError, match="kind"):
        ledger_post(kind="gift", lines=[(BANK, D("1.00")), (SUSPENSE, D("-1.00"))], idempotency_key="k")
    assert nothing_written()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_postings_of_one_key_make_one_transaction():
    lines = [(BANK, D("10.00")), (SUSPENSE, D("-10.00"))]
    first_inserted, results, errors = threading.Event(), {}, []

    def first():
        try:
            with transaction.atomic():
                results["first"] = ledger_post(kind=LedgerKind.ADJUSTMENT, lines=lines, idempotency_key="race")
                first_inserted.set()
                time.sleep(0.5)  # the second blocks on the unique index meanwhile
        except Exception as exc:
            errors.append(exc)
        finally:
            first_inserted.set()
            connection.close()

    def second():
        try:
            first_inserted.wait(5)
            results["second"] = ledger_post(kind=LedgerKind.ADJUSTMENT, lines=lines, idempotency_key="race")
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert errors == []
    assert results["second"].pk == results["first"].pk
    assert (results["first"].posted_now, results["second"].posted_now) == (True, False)
    assert LedgerTransaction.objects.count() == 1
    assert LedgerLine.objects.count() == 2


# --- append-only ---------------------------------------------------------------------------------


def test_posted_lines_and_transactions_cannot_be_changed_or_deleted():
    posted = ledger_post(
        kind=LedgerKind.ADJUSTMENT, lines=[(BANK, D("10.00")), (SUSPENSE, D("-10.00"))], idempotency_key="k"
    )
    line = posted.lines.get(account=BANK)

    line.amount = D("99.00")
    with pytest.raises(PermissionError):
        line.save()
    with pytest.raises(PermissionError):
        line.delete()
    with pytest.raises(PermissionError):
        LedgerLine.objects.filter(pk=line.pk).update(amount=D("99.00"))
    with pytest.raises(PermissionError):
        LedgerLine.objects.all().delete()
    with pytest.raises(PermissionError):
        posted.lines.update(amount=D("1.00"))
    with pytest.raises(PermissionError), transaction.atomic():  # bulk_update's own block breaks the outer one
        LedgerLine.objects.bulk_update([line], ["amount"])
    posted.memo = "rewritten"
    with pytest.raises(PermissionError):
        posted.save()
    with pytest.raises(PermissionError):
        posted.delete()
    with pytest.raises(PermissionError):
        LedgerTransaction.objects.filter(pk=posted.pk).update(memo="rewritten")

    assert lines_of(LedgerTransaction.objects.get(pk=posted.pk)) == expected(
        (BANK, D("10.00")), (SUSPENSE, D("-10.00"))
    )
    assert LedgerTransaction.objects.get(pk=posted.pk).memo == ""


# --- balances ------------------------------------------------------------------------------------


def test_balances_are_sums_over_lines():
    vendor_a, vendor_b = VendorFactory(), VendorFactory()
    first = make_booking("1000.00", vendor=vendor_a)
    second = make_booking("200.00", promo_value="50.00", vendor=vendor_b, days=4)
    cash = make_booking("1000.00", payment_method="cash", vendor=vendor_b, days=5)
    post_capture(first, attempt_for(first))
    post_capture(second, attempt_for(second))
    post_cash_collected(cash)

    assert vendor_balance(vendor_a) == D("850.00")
    assert vendor_balance(vendor_b) == D("-160.00")  # 170.00 earned, 330.00 owed on the cash job
    assert vendor_balances() == {str(vendor_a.pk): D("850.00"), str(vendor_b.pk): D("-160.00")}
    assert account_balance(GATEWAY_CLEARING) == D("1357.00")
    assert account_balance(TAX_PAYABLE) == D("-387.00")
    assert account_balance(PLATFORM_REVENUE) == D("-330.00")
    assert account_balance(PROMO_EXPENSE) == D("50.00")
    assert account_balance(BANK) == D("0.00")
    assert account_balance(GATEWAY_CLEARING, currency="USD") == D("0.00")
    all_lines = LedgerLine.objects.values_list("amount", flat=True)
    assert sum(all_lines, ZERO) == D("0.00")


# --- ledger_check --------------------------------------------------------------------------------


def test_ledger_check_passes_on_good_data(capsys):
    booking = make_booking("100.08")
    attempt = attempt_for(booking)
    post_capture(booking, attempt)
    post_refund(booking, attempt, D("59.05"), reference="re_1")
    mark(attempt, captured=D("118.09"), refunded=D("59.05"))
    cash = make_booking("1000.00", payment_method="cash", days=4)
    cash_attempt = attempt_for(cash)
    post_cash_collected(cash, cash_attempt)
    mark(cash_attempt, captured=D("1180.00"))

    call_command("ledger_check")

    assert "Ledger OK: 3 transaction(s) balanced" in capsys.readouterr().out


def test_ledger_check_names_a_transaction_made_unbalanced_behind_the_orms_back(capsys, monkeypatch):
    posted = ledger_post(
        kind=LedgerKind.ADJUSTMENT, lines=[(BANK, D("10.00")), (SUSPENSE, D("-10.00"))], idempotency_key="k"
    )
    good = ledger_post(
        kind=LedgerKind.ADJUSTMENT, lines=[(BANK, D("1.00")), (SUSPENSE, D("-1.00"))], idempotency_key="k2"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {LedgerLine._meta.db_table} (transaction_id, account, amount, currency) "  # noqa: S608
            "VALUES (%s, %s, %s, %s)",
            [LedgerTransaction._meta.pk.get_db_prep_value(posted.pk, connection), BANK, D("0.01"), "INR"],
        )

    with pytest.raises(CommandError) as caught:
        call_command("ledger_check")

    assert str(posted.pk) in str(caught.value)
    assert str(good.pk) not in str(caught.value)
    assert f"transaction {posted.pk}: lines sum to 0.01" in capsys.readouterr().err
    # and through manage.py: a non-zero exit status (run_from_argv closes the connections when
    # done, which would end this test's transaction)
    monkeypatch.setattr(connections, "close_all", lambda: None)
    with pytest.raises(SystemExit) as exited:
        execute_from_command_line(["manage.py", "ledger_check"])
    assert exited.value.code == 1


def test_ledger_check_names_a_transaction_without_lines():
    lonely = LedgerTransaction.objects.create(kind=LedgerKind.ADJUSTMENT, idempotency_key="lonely")

    assert unbalanced_transactions() == [f"transaction {lonely.pk}: 0 line(s)"]
    with pytest.raises(CommandError, match=str(lonely.pk)):
        call_command("ledger_check")


def test_ledger_check_names_a_captured_attempt_without_its_lines():
    booking = make_booking("1000.00")
    attempt = attempt_for(booking)
    mark(attempt, captured=D("1180.00"))

    with pytest.raises(CommandError) as caught:
        call_command("ledger_check")

    assert f"attempt {attempt.pk}: captured 1180.00, gateway_clearing in ledger 0.00" in str(caught.value)

    post_capture(booking, attempt)
    call_command("ledger_check")

    # a refund the ledger does not know about
    mark(attempt, refunded=D("100.00"))
    assert attempt_mismatches() == [f"attempt {attempt.pk}: refunded 100.00, in the ledger 0.00"]


def test_ledger_check_names_a_capture_posted_for_a_different_amount():
    booking = make_booking("1000.00")
    attempt = attempt_for(booking)
    post_cancellation_fee(booking, attempt, D("590.00"))
    mark(attempt, captured=D("1180.00"))

    assert attempt_mismatches() == [f"attempt {attempt.pk}: captured 1180.00, gateway_clearing in ledger 590.00"]


# --- randomized: every sequence of movements keeps the books right -------------------------------


def _vendor_share(booking, amount):
    """The vendor's part of ``amount`` of a booking per §4, computed with pricing's own split."""
    if amount == booking.total:
        return booking.vendor_earning
    return split_kept_amount(booking=booking, amount=amount)["vendor_earning"]


def _tax_share(booking, amount):
    if amount == booking.total:
        return booking.tax
    return split_kept_amount(booking=booking, amount=amount)["tax"]


def _cents(rng, low, high):
    """A random amount in [low, high]."""
    return D(rng.randint(int(low * 100), int(high * 100))) / 100


@pytest.mark.parametrize("seed", [7, 2027, 31337])
def test_random_money_movements_keep_every_transaction_balanced(seed):
    rng = random.Random(seed)
    services = [ServiceFactory(duration_minutes=60) for _ in range(3)]
    vendors = [VendorFactory() for _ in range(3)]
    for vendor in vendors:
        for service in services:
            VendorServiceFactory(vendor=vendor, service=service, price=D(rng.randint(100, 250_000)) / 100)

    # Bookings, each paid one way: card (capture or fee), cash, or offline (manual payments).
    states = []
    for i in range(9):
        vendor = vendors[i % 3]
        promo = rng.choice(["none", "none", "percentage", "fixed", "fixed"])
        code = None
        if promo == "percentage":
            code = PromoCodeFactory(kind=PromoKind.PERCENTAGE, value=D(rng.randint(1, 100))).code
        elif promo == "fixed":
            code = PromoCodeFactory(kind=PromoKind.FIXED, value=D(rng.randint(1, 150_000)) / 100).code
        chosen = rng.sample(services, rng.randint(1, 3))
        route = rng.choice(["card", "card", "cash", "offline"])
        booking = booking_create(
            customer=CustomerFactory(),
            lines=[{"service_id": s.pk, "quantity": rng.randint(1, 3)} for s in chosen],
            scheduled_at=local_time(1 + i, 9),
            address=ADDRESS,
            vendor_id=str(vendor.pk),
            payment_method="cash" if route == "cash" else "card",
            promo_code=code,
        )
        if booking.total == 0:
            route = "zero"
        attempt = attempt_for(booking) if route in ("card", "cash") else None
        states.append(
            {"booking": booking, "route": route, "attempt": attempt, "received": ZERO, "refunded": ZERO, "done": False}
        )

    expected_vendor = defaultdict(lambda: ZERO)
    expected_tax = ZERO
    payouts = []  # [reference, vendor, amount, reversed]
    calls = []  # (function, args, kwargs) of every successful posting, for replays
    refs = iter(range(1, 10_000))
    cash_vendors = set()

    def post(function, *args, **kwargs):
        before = LedgerTransaction.objects.count()
        posted = function(*args, **kwargs)
        assert posted is not None and posted.posted_now
        assert LedgerTransaction.objects.count() == before + 1
        calls.append((function, args, kwargs, posted.pk))
        return posted

    for _step in range(70):
        actions = ["payout", "payout", "replay", "over_refund"]
        for state in states:
            if state["route"] in ("card", "cash", "zero") and not state["done"]:
                actions.append(("pay", state))
            if state["route"] == "offline" and state["received"] < state["booking"].total:
                actions.append(("pay", state))
            if state["received"] > state["refunded"]:
                actions.append(("refund", state))
        if any(not reversed_ for *_, reversed_ in payouts):
            actions.append("payout_reversal")
        action = rng.choice(actions)
        balances_before = {str(v.pk): vendor_balance(v) for v in vendors}

        if isinstance(action, tuple) and action[0] == "pay":
            state = action[1]
            booking, attempt = state["booking"], state["attempt"]
            vendor_id = str(booking.vendor_id)
            if state["route"] == "card":
                amount = booking.total if rng.random() < 0.5 else _cents(rng, D("0.01"), booking.total)
                if amount == booking.total:
                    post(post_capture, booking, attempt)
                else:
                    post(post_cancellation_fee, booking, attempt, amount)
                mark(attempt, captured=amount)
                state["done"] = True
            elif state["route"] == "cash":
                amount = booking.total
                post(post_cash_collected, booking, attempt)
                mark(attempt, captured=amount)
                expected_vendor[vendor_id] -= amount  # the vendor holds the cash
                cash_vendors.add(vendor_id)
                state["done"] = True
            elif state["route"] == "zero":
                amount = ZERO
                post(post_capture, booking, None)
                expected_vendor[vendor_id] += booking.vendor_earning
                expected_tax += booking.tax
                state["done"] = True
            else:
                amount = _cents(rng, D("0.01"), booking.total - state["received"])
                method = rng.choice(["cash", "bank_transfer", "upi"])
                post(post_manual_payment, booking, amount, method, f"M{next(refs)}")
            if state["route"] != "zero":
                before, after = state["received"], state["received"] + amount
                expected_vendor[vendor_id] += _vendor_share(booking, after) - (
                    _vendor_share(booking, before) if before else ZERO
                )
                expected_tax += _tax_share(booking, after) - (_tax_share(booking, before) if before else ZERO)
                state["received"] = after

        elif isinstance(action, tuple) and action[0] == "refund":
            state = action[1]
            booking, attempt = state["booking"], state["attempt"]
            refundable = state["received"] - state["refunded"]
            amount = refundable if rng.random() < 0.3 else _cents(rng, D("0.01"), refundable)
            post(post_refund, booking, attempt, amount, reference=f"re_{next(refs)}")
            before, after = state["refunded"], state["refunded"] + amount
            expected_vendor[str(booking.vendor_id)] -= _vendor_share(booking, after) - (
                _vendor_share(booking, before) if before else ZERO
            )
            expected_tax -= _tax_share(booking, after) - (_tax_share(booking, before) if before else ZERO)
            state["refunded"] = after
            if attempt is not None:
                mark(attempt, refunded=after)
            # a balance that was not negative goes negative through a refund only after a payout
            # (or against what the vendor owes for cash jobs)
            vendor = str(booking.vendor_id)
            if vendor_balance(vendor) < 0 <= balances_before[vendor]:
                assert any(p[1] == vendor for p in payouts) or vendor in cash_vendors

        elif action == "payout":
            owed = [v for v in vendors if expected_vendor[str(v.pk)] > 0]
            if owed:
                vendor = rng.choice(owed)
                amount = _cents(rng, D("0.01"), expected_vendor[str(vendor.pk)])
                reference = f"PO-20270301-{next(refs):05d}"
                post(post_payout, vendor, amount, reference, paid_from=rng.choice([GATEWAY_CLEARING, BANK]))
                expected_vendor[str(vendor.pk)] -= amount
                payouts.append([reference, str(vendor.pk), amount, False])
                assert vendor_balance(vendor) >= 0  # a payout never takes a balance below zero
            else:
                vendor = rng.choice(vendors)
                with pytest.raises(LedgerError):
                    post_payout(vendor, max(vendor_balance(vendor), ZERO) + D("0.01"), f"PO-X-{next(refs)}")

        elif action == "payout_reversal":
            payout = rng.choice([p for p in payouts if not p[3]])
            amount = _cents(rng, D("0.01"), payout[2])
            post(post_payout_reversal, payout[1], amount, payout[0])
            expected_vendor[payout[1]] += amount
            payout[3] = True

        elif action == "replay" and calls:
            function, args, kwargs, pk = rng.choice(calls)
            count = LedgerTransaction.objects.count()
            again = function(*args, **kwargs)
            assert again.pk == pk and not again.posted_now
            assert LedgerTransaction.objects.count() == count

        elif action == "over_refund":
            state = rng.choice(states)
            count = LedgerTransaction.objects.count()
            with pytest.raises(LedgerError):
                post_refund(
                    state["booking"],
                    state["attempt"],
                    state["received"] - state["refunded"] + D("0.01"),
                    reference=f"re_{next(refs)}",
                )
            assert LedgerTransaction.objects.count() == count

        # after every step: each vendor's balance is what the postings imply; a balance goes
        # below zero only by cash or a refund (checked above), never by a payout
        for vendor in vendors:
            assert vendor_balance(vendor) == expected_vendor[str(vendor.pk)], (seed, _step, action)

    # every transaction balances; all lines together sum to zero; the attempts match the ledger
    assert unbalanced_transactions() == []
    assert attempt_mismatches() == []
    assert sum(LedgerLine.objects.values_list("amount", flat=True), ZERO) == D("0.00")
    per_transaction = Counter()
    for transaction_id, amount in LedgerLine.objects.values_list("transaction_id", "amount"):
        per_transaction[transaction_id] += amount
    assert set(per_transaction.values()) <= {ZERO}
    assert account_balance(TAX_PAYABLE) == -expected_tax
    for state in states:
        assert booking_kept(state["booking"]) == state["received"] - state["refunded"]
    call_command("ledger_check")
    assert len(calls) > 20
