"""Earnings and payouts (ARCHITECTURE §4, §6 "Payouts"): earnings recorded once per ledger
transaction, the hold, payout runs netting what vendors owe, transfer retries and failures, ops
retry and bank payment, transfer reversals by webhook, the API, and the ledger staying consistent."""

import itertools
import re
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.errors import Conflict, Forbidden, InvalidInput
from core.models import AuditLog, Notification, Role, SystemSettings
from core.tests.factories import CustomerFactory, OpsFactory, UserFactory, VendorFactory
from payments.ledger import (
    BANK,
    GATEWAY_CLEARING,
    ledger_post,
    post_cancellation_fee,
    post_capture,
    post_cash_collected,
    post_refund,
    vendor_account,
    vendor_balance,
)
from payments.models import (
    Earning,
    FakeGatewayObject,
    LedgerKind,
    LedgerTransaction,
    PaymentAttempt,
    Payout,
    PayoutStatus,
    WebhookEvent,
)
from payments.payouts import (
    MAX_TRANSFER_TRIES,
    earning_record,
    earnings_summary,
    payout_mark_paid,
    payout_retry,
    payouts_retry_due,
    payouts_run,
)
from payments.tasks import retry_payouts, run_payouts
from payments.tests.test_ledger import make_booking, mark
from payments.tests.test_webhooks import deliver, event

D = Decimal
pytestmark = pytest.mark.django_db

PO_NUMBER = re.compile(r"^PO-\d{8}-\d{5}$")
_slots = itertools.count()


# --- helpers -------------------------------------------------------------------------------------


def vendor_with_account(account="acct_vendor_1", **kwargs):
    return VendorFactory(payout_account_id=account, **kwargs)


def booking_for(vendor, price="1000.00"):
    """A cash booking at ``vendor`` (cash, so no card wiring is involved), each in its own slot."""
    n = next(_slots)
    # an hour's visit every two hours: the travel buffer keeps back-to-back hours apart
    return make_booking(price, vendor=vendor, payment_method="cash", days=2 + (n // 6) % 25, hour=8 + 2 * (n % 6))


def card_attempt(booking):
    """A captured card attempt made directly (the gateway's side is not what these tests are about)."""
    attempt = PaymentAttempt.objects.create(
        booking=booking,
        method="card",
        amount=booking.total,
        currency=booking.currency,
        gateway="fake",
        is_active=not PaymentAttempt.objects.filter(booking=booking, is_active=True).exists(),
    )
    mark(attempt, captured=booking.total)
    return attempt


def captured(vendor, *, at, price="1000.00"):
    """A booking of ``vendor`` captured at ``at``: the ledger capture and its earning."""
    booking = booking_for(vendor, price)
    attempt = card_attempt(booking)
    posted = post_capture(booking, attempt)
    return booking, attempt, earning_record(booking=booking, ledger_transaction=posted, now=at)


def ledger_ok():
    call_command("ledger_check")
    return True


def transfer_requests(fake):
    return list(fake.posts("/v1/transfers"))


def idempotency_key(request):
    return {name.lower(): value for name, value in request.headers.items()}.get("idempotency-key")


def notified(kind, user=None):
    rows = Notification.objects.filter(kind=kind)
    return rows.filter(user=user) if user is not None else rows


@pytest.fixture
def ops():
    return OpsFactory()


@pytest.fixture
def admin():
    return UserFactory(role=Role.SUPER_ADMIN, is_staff=True)


@pytest.fixture
def t0():
    return timezone.now()


# --- earnings ------------------------------------------------------------------------------------


def test_an_earning_is_recorded_once_per_ledger_transaction_with_the_vendor_share(t0):
    vendor = vendor_with_account()
    booking = booking_for(vendor)
    attempt = card_attempt(booking)
    posted = post_capture(booking, attempt)

    first = earning_record(booking=booking, ledger_transaction=posted, now=t0)
    again = earning_record(booking=booking, ledger_transaction=posted, now=t0 + timedelta(hours=5))

    assert again.pk == first.pk
    assert Earning.objects.count() == 1
    assert first.amount == D("850.00") == booking.vendor_earning
    assert first.vendor_id == vendor.pk and first.booking_id == booking.pk and first.currency == "INR"
    assert first.available_at == t0 + timedelta(hours=24)
    credit = posted.lines.get(account=vendor_account(vendor)).amount
    assert first.amount == -credit
    assert AuditLog.objects.filter(action="earning.recorded", object_id=str(first.pk)).count() == 1


def test_a_cancellation_fee_earns_its_pro_rata_share_and_the_hold_is_a_setting(t0):
    settings_row = SystemSettings.load()
    settings_row.payout_hold_hours = 48
    settings_row.save()
    booking = booking_for(vendor_with_account())
    attempt = card_attempt(booking)
    mark(attempt, captured=D("590.00"))

    earning = earning_record(
        booking=booking, ledger_transaction=post_cancellation_fee(booking, attempt, D("590.00")), now=t0
    )

    assert earning.amount == D("425.00")  # 850 × 590 / 1180
    assert earning.available_at == t0 + timedelta(hours=48)


def test_transactions_that_credit_no_vendor_record_no_earning(t0):
    booking = booking_for(vendor_with_account())
    cash = post_cash_collected(booking)  # the vendor holds the cash: a net debit on their account

    assert earning_record(booking=booking, ledger_transaction=cash, now=t0) is None
    assert earning_record(booking=booking, ledger_transaction=None, now=t0) is None
    assert not Earning.objects.exists()


# --- the payout run ------------------------------------------------------------------------------


def test_the_hold_is_respected_to_its_edge(t0):
    vendor = vendor_with_account()
    captured(vendor, at=t0)

    assert payouts_run(now=t0 + timedelta(hours=24) - timedelta(microseconds=1)) == []
    assert not Payout.objects.exists()

    (payout,) = payouts_run(now=t0 + timedelta(hours=24))
    assert payout.amount == D("850.00")


def test_a_run_pays_payable_earnings_through_the_gateway(t0):
    # given two vendors with money past the hold, and one earning still on hold
    first, second = vendor_with_account("acct_first"), vendor_with_account("acct_second")
    earnings = [captured(first, at=t0)[2], captured(first, at=t0, price="500.00")[2], captured(second, at=t0)[2]]
    held = captured(first, at=t0 + timedelta(hours=20))[2]
    run_at = t0 + timedelta(hours=25)

    # when
    payouts = payouts_run(now=run_at)

    # then one payout per vendor, numbered per platform day, paid by a transfer each
    assert len(payouts) == 2
    day = timezone.localdate(run_at).strftime("%Y%m%d")
    assert [p.number for p in payouts] == [f"PO-{day}-00001", f"PO-{day}-00002"]
    assert all(PO_NUMBER.match(p.number) for p in payouts)
    by_vendor = {p.vendor_id: p for p in payouts}
    assert by_vendor[first.pk].amount == D("1275.00")  # 850 + 425; the held 850 waits
    assert by_vendor[second.pk].amount == D("850.00")
    for payout in payouts:
        assert payout.status == PayoutStatus.PAID
        assert payout.paid_at == run_at
        assert payout.gateway_transfer_id.startswith("tr_")
        transfer = FakeGatewayObject.objects.get(pk=payout.gateway_transfer_id)
        assert transfer.data["amount"] == int(payout.amount * 100)
        assert transfer.data["destination"] == payout.vendor.payout_account_id
        assert transfer.data["metadata"]["payout"] == payout.number
        assert notified("payout.paid", payout.vendor.user).count() == 1
        assert AuditLog.objects.filter(object_id=str(payout.pk), action="payout.paid").exists()
    assert {e.pk for e in by_vendor[first.pk].earnings.all()} == {earnings[0].pk, earnings[1].pk}
    held.refresh_from_db()
    assert held.payout_id is None
    assert vendor_balance(first) == D("850.00") and vendor_balance(second) == D("0.00")
    posted = LedgerTransaction.objects.get(idempotency_key=f"payout:{by_vendor[second.pk].number}")
    assert sorted((line.account, line.amount) for line in posted.lines.all()) == sorted(
        [(vendor_account(second), D("850.00")), (GATEWAY_CLEARING, D("-850.00"))]
    )
    # a second run finds nothing more to pay
    assert payouts_run(now=run_at + timedelta(minutes=1)) == []
    assert ledger_ok()


def test_what_a_vendor_owes_for_cash_is_netted(t0):
    vendor = vendor_with_account()
    captured(vendor, at=t0)  # earns 850
    post_cash_collected(booking_for(vendor))  # keeps 1180 cash, owes commission 150 + tax 180

    (payout,) = payouts_run(now=t0 + timedelta(days=1))

    assert payout.amount == D("520.00")
    assert payout.status == PayoutStatus.PAID
    assert vendor_balance(vendor) == D("0.00")
    assert ledger_ok()


def test_no_payout_while_the_vendor_owes_more_than_they_earned(t0):
    vendor = vendor_with_account()
    post_cash_collected(booking_for(vendor))

    assert payouts_run(now=t0 + timedelta(days=2)) == []
    assert vendor_balance(vendor) == D("-330.00")


def test_a_refund_after_payout_is_netted_against_the_next_payout(t0):
    vendor = vendor_with_account()
    booking, attempt, _earning = captured(vendor, at=t0)
    (first,) = payouts_run(now=t0 + timedelta(days=1))
    assert first.amount == D("850.00")

    # the customer gets half back after the vendor was paid: the vendor owes 425
    post_refund(booking, attempt, D("590.00"), reference="re_after_payout")
    mark(attempt, captured=booking.total, refunded=D("590.00"))
    assert vendor_balance(vendor) == D("-425.00")

    later = t0 + timedelta(days=2)
    captured(vendor, at=later)
    assert payouts_run(now=later + timedelta(hours=1)) == []  # 425 net, but the new 850 is on hold
    (second,) = payouts_run(now=later + timedelta(hours=24))
    assert second.amount == D("425.00")
    assert vendor_balance(vendor) == D("0.00")
    assert ledger_ok()


def test_vendors_without_a_payout_account_are_skipped_and_ops_told(t0, ops):
    vendor = VendorFactory(payout_account_id="")
    captured(vendor, at=t0)

    assert payouts_run(now=t0 + timedelta(days=1)) == []

    assert vendor_balance(vendor) == D("850.00")
    (message,) = notified("payout.no_account", ops)
    assert message.data["vendor_ids"] == [str(vendor.pk)]
    assert "850.00" in message.body


def test_the_tasks_run_the_payouts_and_the_retries(t0):
    vendor = vendor_with_account()
    captured(vendor, at=t0 - timedelta(days=2))

    assert run_payouts() == 1
    assert retry_payouts() == 0
    assert Payout.objects.get(vendor=vendor).status == PayoutStatus.PAID


def run_queries(vendors, *, at):
    """The run's queries, less the fake gateway's own (one transfer per payout: its table, and
    the savepoint of its transaction)."""
    with CaptureQueriesContext(connection) as queries:
        payouts = payouts_run(now=at)
    assert len(payouts) == vendors
    return [
        q["sql"]
        for q in queries.captured_queries
        if "payments_fakegatewayobject" not in q["sql"] and "SAVEPOINT" not in q["sql"]
    ]


def test_a_run_costs_the_same_queries_for_2_and_8_vendors(t0):
    # given: a run for 2 vendors, then one for 8 (bench/jobs.py runs it for 10,000)
    for _ in range(2):
        captured(vendor_with_account(f"acct_small_{_}"), at=t0)
    small = run_queries(2, at=t0 + timedelta(days=1))
    for index in range(8):
        captured(vendor_with_account(f"acct_large_{index}"), at=t0 + timedelta(days=1))
    # when
    large = run_queries(8, at=t0 + timedelta(days=2))
    # then: payouts, earnings, ledger postings, audit entries and notifications are written in
    # bulk per chunk of vendors, not per vendor
    assert len(large) == len(small)
    assert Payout.objects.filter(status=PayoutStatus.PAID).count() == 10
    assert AuditLog.objects.filter(action="payout.created").count() == 10
    assert notified("payout.paid").count() == 10
    assert ledger_ok()


def test_a_payout_the_ledger_refuses_in_bulk_is_skipped_alone(t0):
    # given: two vendors to pay, and the key of the first payout number of the day already
    # taken in the ledger by another movement (as if posted by hand)
    first, second = sorted((vendor_with_account("acct_a"), vendor_with_account("acct_b")), key=lambda v: str(v.pk))
    for vendor in (first, second):
        captured(vendor, at=t0)
    run_at = t0 + timedelta(days=1)
    day = timezone.localdate(run_at).strftime("%Y%m%d")
    ledger_post(
        kind=LedgerKind.ADJUSTMENT,
        lines=[(BANK, D("1.00")), (GATEWAY_CLEARING, D("-1.00"))],
        idempotency_key=f"payout:PO-{day}-00001",
        memo="posted by hand",
    )
    # when
    payouts = payouts_run(now=run_at)
    # then: the chunk is posted one vendor at a time; only the first vendor waits (its number
    # is a gap), the second is paid
    assert [(p.vendor_id, p.number, p.status) for p in payouts] == [(second.pk, f"PO-{day}-00002", PayoutStatus.PAID)]
    assert vendor_balance(first) == D("850.00") and vendor_balance(second) == D("0.00")


# --- transfer failures -----------------------------------------------------------------------------


@pytest.fixture
def stripe_gateway(fake_stripe, settings):
    # One gateway call per try: the SDK's own retries would consume the scripted errors too.
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    return fake_stripe


def test_an_unavailable_gateway_is_retried_with_backoff_then_the_payout_fails(t0, stripe_gateway, ops, admin):
    # given a gateway that does not answer for the next five tries
    vendor = vendor_with_account()
    captured(vendor, at=t0)
    stripe_gateway.fail_next(503, times=MAX_TRANSFER_TRIES)
    run_at = t0 + timedelta(days=1)

    # when the run and the retry sweep go on
    (payout,) = payouts_run(now=run_at)
    assert (payout.status, payout.tries) == (PayoutStatus.PENDING, 1)
    assert payout.next_try_at == run_at + timedelta(minutes=5)
    assert payouts_retry_due(now=run_at + timedelta(minutes=4)) == []  # not due yet
    waits = []
    while payout.status == PayoutStatus.PENDING:
        before = payout.next_try_at
        (payout,) = payouts_retry_due(now=before)
        if payout.status == PayoutStatus.PENDING:
            waits.append(payout.next_try_at - before)

    # then every try used the same key, with growing waits, and the payout failed after the last
    assert waits == [timedelta(minutes=10), timedelta(minutes=20), timedelta(minutes=40)]
    assert payout.status == PayoutStatus.FAILED and payout.tries == MAX_TRANSFER_TRIES
    requests = transfer_requests(stripe_gateway)
    assert len(requests) == MAX_TRANSFER_TRIES
    assert {idempotency_key(r) for r in requests} == {f"payout-{payout.number}"}
    assert not stripe_gateway.objects("transfer")
    # the money is owed to the vendor again, and ops know
    assert LedgerTransaction.objects.filter(
        kind=LedgerKind.PAYOUT_REVERSAL, idempotency_key=f"payout_reversal:{payout.number}"
    ).exists()
    assert vendor_balance(vendor) == D("850.00")
    assert notified("payout.failed", ops).count() == 1 and notified("payout.failed", admin).count() == 1
    assert not notified("payout.paid").exists()
    assert ledger_ok()

    # a later run leaves a vendor with a failed payout to ops
    assert payouts_run(now=run_at + timedelta(days=1)) == []

    # ops retry once the gateway is back: a new round, a new key, paid
    retried = payout_retry(payout=payout, actor=ops, now=run_at + timedelta(days=1))
    assert retried.status == PayoutStatus.PAID and retried.pk == payout.pk
    assert idempotency_key(transfer_requests(stripe_gateway)[-1]) == f"payout-{payout.number}-R1"
    assert LedgerTransaction.objects.filter(idempotency_key=f"payout:{payout.number}-R1").exists()
    assert vendor_balance(vendor) == D("0.00")
    assert AuditLog.objects.filter(action="payout.retry", actor=ops, object_id=str(payout.pk)).exists()
    assert ledger_ok()


def test_a_retry_after_an_outage_sends_the_same_transfer_once(t0, stripe_gateway, ops):
    vendor = vendor_with_account()
    captured(vendor, at=t0)
    stripe_gateway.fail_next(503)
    (payout,) = payouts_run(now=t0 + timedelta(days=1))
    assert payout.status == PayoutStatus.PENDING

    # ops may not pay it by bank while its transfer can still go through
    with pytest.raises(Conflict):
        payout_mark_paid(payout=payout, bank_reference="UTR-1", actor=ops)
    # nor retry it by hand: it is being retried (a retry of a pending payout changes nothing)
    assert payout_retry(payout=payout, actor=ops).status == PayoutStatus.PENDING

    (payout,) = payouts_retry_due(now=payout.next_try_at)

    assert payout.status == PayoutStatus.PAID
    assert [idempotency_key(r) for r in transfer_requests(stripe_gateway)] == [f"payout-{payout.number}"] * 2
    (transfer,) = stripe_gateway.objects("transfer")
    assert transfer["id"] == payout.gateway_transfer_id and transfer["amount"] == 85000
    assert ledger_ok()


def test_a_refused_transfer_fails_at_once_and_ops_can_pay_by_bank(t0, ops):
    # given a payout account the gateway refuses (not an acct_ id)
    vendor = vendor_with_account("bank-account-42")
    captured(vendor, at=t0)

    (payout,) = payouts_run(now=t0 + timedelta(days=1))

    assert (payout.status, payout.tries) == (PayoutStatus.FAILED, 1)
    assert "InvalidPaymentRequest" in payout.last_error
    assert vendor_balance(vendor) == D("850.00")
    assert notified("payout.failed", ops).count() == 1

    # marking it paid needs ops and a reference
    with pytest.raises(Forbidden):
        payout_mark_paid(payout=payout, bank_reference="UTR-77", actor=vendor.user)
    with pytest.raises(InvalidInput):
        payout_mark_paid(payout=payout, bank_reference="  ", actor=ops)

    paid = payout_mark_paid(payout=payout, bank_reference="UTR-77", actor=ops)

    assert paid.status == PayoutStatus.PAID and paid.bank_reference == "UTR-77"
    bank = LedgerTransaction.objects.get(idempotency_key=f"payout:{payout.number}-BANK")
    assert sorted((line.account, line.amount) for line in bank.lines.all()) == sorted(
        [(vendor_account(vendor), D("850.00")), (BANK, D("-850.00"))]
    )
    assert vendor_balance(vendor) == D("0.00")
    assert AuditLog.objects.filter(action="payout.marked_paid", actor=ops, object_id=str(payout.pk)).exists()
    assert notified("payout.paid", vendor.user).count() == 1
    # again with the same reference: nothing changes; with another: refused
    assert payout_mark_paid(payout=payout, bank_reference="UTR-77", actor=ops).status == PayoutStatus.PAID
    with pytest.raises(Conflict):
        payout_mark_paid(payout=payout, bank_reference="UTR-78", actor=ops)
    assert LedgerTransaction.objects.filter(kind=LedgerKind.PAYOUT).count() == 2
    assert ledger_ok()


def test_an_ops_retry_is_refused_when_the_balance_no_longer_covers_the_payout(t0, ops):
    vendor = vendor_with_account("not-an-account")
    booking, attempt, _earning = captured(vendor, at=t0)
    (payout,) = payouts_run(now=t0 + timedelta(days=1))
    assert payout.status == PayoutStatus.FAILED
    post_refund(booking, attempt, booking.total, reference="re_full")
    mark(attempt, captured=booking.total, refunded=booking.total)
    vendor.payout_account_id = "acct_fixed"
    vendor.save()

    with pytest.raises(Forbidden):
        payout_retry(payout=payout, actor=vendor.user)
    with pytest.raises(Conflict):
        payout_retry(payout=payout, actor=ops)

    payout.refresh_from_db()
    assert payout.status == PayoutStatus.FAILED
    assert vendor_balance(vendor) == D("0.00")
    assert ledger_ok()


# --- transfer reversals (webhooks) ---------------------------------------------------------------------


def transfer_event(payout, *, amount_reversed=None, reversed_=True, event_type="transfer.reversed"):
    minor = int(payout.amount * 100)
    return event(
        event_type,
        {
            "id": payout.gateway_transfer_id,
            "object": "transfer",
            "amount": minor,
            "amount_reversed": minor if amount_reversed is None else amount_reversed,
            "currency": "inr",
            "reversed": reversed_,
            "metadata": {"payout": payout.number, "reference": payout.number},
        },
    )


def test_a_reversed_transfer_fails_the_payout_once(t0, ops):
    vendor = vendor_with_account()
    captured(vendor, at=t0)
    (payout,) = payouts_run(now=t0 + timedelta(days=1))
    assert vendor_balance(vendor) == D("0.00")

    first = deliver(transfer_event(payout))
    again = deliver(transfer_event(payout))  # another event for the same reversal

    assert (first.status_code, again.status_code) == (200, 200)
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.FAILED and payout.paid_at is None
    assert vendor_balance(vendor) == D("850.00")
    assert LedgerTransaction.objects.filter(kind=LedgerKind.PAYOUT_REVERSAL).count() == 1
    assert notified("payout.failed", ops).count() == 1
    assert list(WebhookEvent.objects.values_list("state", flat=True)) == [WebhookEvent.State.PROCESSED] * 2
    assert ledger_ok()


def test_a_partly_reversed_transfer_is_flagged_for_ops(t0, ops):
    vendor = vendor_with_account()
    captured(vendor, at=t0)
    (payout,) = payouts_run(now=t0 + timedelta(days=1))

    response = deliver(transfer_event(payout, amount_reversed=10000, reversed_=False))

    assert response.status_code == 200
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.PAID
    assert "partly reversed" in payout.last_error
    assert notified("payout.reversed", ops).count() == 1
    assert not LedgerTransaction.objects.filter(kind=LedgerKind.PAYOUT_REVERSAL).exists()


def test_a_reversal_of_an_unknown_transfer_is_ignored():
    response = deliver(
        event("transfer.reversed", {"id": "tr_unknown", "object": "transfer", "amount": 100, "currency": "inr"})
    )
    assert response.status_code == 200
    assert WebhookEvent.objects.get().state == WebhookEvent.State.IGNORED


# --- concurrency -----------------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_runs_pay_a_vendor_once(t0):
    vendor = vendor_with_account()
    captured(vendor, at=t0)
    run_at = t0 + timedelta(days=1)
    barrier, results, errors = threading.Barrier(2), [], []

    def run():
        try:
            barrier.wait(5)
            results.append(payouts_run(now=run_at))
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert errors == []
    assert sorted(len(r) for r in results) == [0, 1]
    (payout,) = Payout.objects.all()
    assert payout.status == PayoutStatus.PAID and payout.amount == D("850.00")
    assert LedgerTransaction.objects.filter(kind=LedgerKind.PAYOUT).count() == 1
    assert FakeGatewayObject.objects.filter(kind="transfer").count() == 1
    assert vendor_balance(vendor) == D("0.00")
    assert ledger_ok()


# --- the API -------------------------------------------------------------------------------------------------


def make_payouts(vendor, count, start=1):
    return [
        Payout.objects.create(
            number=f"PO-20270301-{n:05d}", vendor=vendor, amount=D("100.50"), currency="INR", status=PayoutStatus.PAID
        )
        for n in range(start, start + count)
    ]


def test_payouts_are_listed_per_role(client_for, ops):
    mine, theirs = vendor_with_account("acct_mine"), vendor_with_account("acct_theirs")
    own = make_payouts(mine, 2)
    other = make_payouts(theirs, 1, start=10)

    as_vendor = client_for(mine.user).get("/api/payouts/")
    as_ops = client_for(ops).get("/api/payouts/")
    as_customer = client_for(CustomerFactory()).get("/api/payouts/")

    assert as_vendor.status_code == 200
    assert as_vendor.data["count"] == 2 and {"next", "previous"} <= set(as_vendor.data)
    assert {row["number"] for row in as_vendor.data["results"]} == {p.number for p in own}
    row = as_vendor.data["results"][0]
    assert row["amount"] == "100.50" and row["currency"] == "INR" and row["status"] == "paid"
    assert "last_error" not in row
    assert as_ops.status_code == 200 and as_ops.data["count"] == 3
    assert other[0].number in {row["number"] for row in as_ops.data["results"]}
    assert "last_error" in as_ops.data["results"][0]
    assert as_customer.status_code == 403
    assert client_for(ops).get("/api/payouts/", {"vendor": str(theirs.pk)}).data["count"] == 1


def test_the_payout_list_costs_the_same_queries_for_2_and_10_rows(client_for):
    vendor = vendor_with_account()
    client = client_for(vendor.user)

    def queries_for(rows):
        Payout.objects.all().delete()
        make_payouts(vendor, rows)
        with CaptureQueriesContext(connection) as captured_queries:
            response = client.get("/api/payouts/")
        assert response.status_code == 200 and len(response.data["results"]) == rows
        return len(captured_queries)

    assert queries_for(2) == queries_for(10)


def test_earnings_show_totals_and_rows_by_period(client_for, t0):
    vendor = vendor_with_account()
    captured(vendor, at=t0 - timedelta(days=3))
    payouts_run(now=t0 - timedelta(days=1))  # pays the first earning
    captured(vendor, at=t0 - timedelta(hours=25))  # past the hold: payable
    captured(vendor, at=t0, price="500.00")  # on hold: 425
    client = client_for(vendor.user)

    response = client.get("/api/earnings/")

    assert response.status_code == 200
    assert response.data["currency"] == "INR" and response.data["period"] == "day"
    assert response.data["totals"] == {
        "pending": "425.00",
        "payable": "850.00",
        "processing": "0.00",
        "paid": "850.00",
        "balance": "1275.00",
    }
    rows = response.data["rows"]
    assert sum(D(row["amount"]) for row in rows) == D("2125.00")
    assert sum(row["count"] for row in rows) == 3
    assert rows == sorted(rows, key=lambda row: row["period_start"], reverse=True)

    by_month = client.get("/api/earnings/", {"period": "month"}).data["rows"]
    assert sum(D(row["amount"]) for row in by_month) == D("2125.00")
    assert all(row["period_start"].endswith("-01") for row in by_month)
    assert client.get("/api/earnings/", {"period": "year"}).status_code == 400


def test_earnings_are_for_vendors_only(client_for, ops):
    assert client_for(CustomerFactory()).get("/api/earnings/").status_code == 403
    assert client_for(ops).get("/api/earnings/").status_code == 403


def test_earnings_summary_weeks_start_on_monday(t0):
    vendor = vendor_with_account()
    captured(vendor, at=t0)

    summary = earnings_summary(vendor=vendor, now=t0, period="week")

    (row,) = summary["rows"]
    assert row["period_start"].weekday() == 0
    assert row["amount"] == D("850.00") and row["count"] == 1
    assert summary["totals"]["pending"] == D("850.00")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_run_sends_its_transfers_a_few_at_a_time_and_pays_each_vendor_once(t0):
    # given: more vendors to pay than transfers in flight at once (outside a transaction, as
    # the task runs it, the transfers go out from threads of their own)
    from payments import payouts

    vendors = [vendor_with_account(f"acct_many_{index}") for index in range(payouts.TRANSFER_CONCURRENCY * 2 + 1)]
    for vendor in vendors:
        captured(vendor, at=t0)
    # when
    made = payouts_run(now=t0 + timedelta(days=1))
    # then
    assert len(made) == len(vendors)
    assert all(payout.status == PayoutStatus.PAID for payout in made)
    assert FakeGatewayObject.objects.filter(kind="transfer").count() == len(vendors)
    assert {p.gateway_transfer_id for p in made} == set(
        FakeGatewayObject.objects.filter(kind="transfer").values_list("pk", flat=True)
    )
    assert notified("payout.paid").count() == len(vendors)
    assert all(vendor_balance(vendor) == D("0.00") for vendor in vendors)
    assert ledger_ok()
