"""The ledger (ARCHITECTURE §4): balanced double-entry lines for every money movement.

Sign convention: a line's amount is signed, **debit positive, credit negative**; the lines of one
transaction sum to exactly zero, so the sum of all lines in the ledger is zero too. An account's
balance is ``SUM(amount)`` of its lines, computed by the database; nothing keeps a running counter.

Accounts (debit-positive balance in brackets):

    gateway_clearing          asset: money the gateway holds for us (Stripe balance)    [+ = held]
    bank                      asset: the platform's bank account                         [+ = held]
    cash_on_hand              asset: cash ops took in person (manual payments)          [+ = held]
    vendor_payable:<uuid>     liability per vendor: their earnings not yet paid out     [− = we owe them,
                              + = they owe us (cash commission and tax, refunds after payout)]
    platform_revenue          income: commission earned                                  [− = earned]
    customer_refunds          contra-income: commission given back with refunds          [+ = given back]
    promo_expense             expense: promo discounts the platform funds                [+ = spent]
    tax_payable               liability: tax collected, owed to the tax authority        [− = owed]
    suspense                  unexplained differences, parked by an adjustment for ops

A booking's money is split per its §4 snapshot, ``total = vendor_earning + platform_fee + tax`` with
``platform_fee = commission − discount``; the platform's share is posted gross, as commission
(platform_revenue) and promo subsidy (promo_expense), so the promo spend stays visible. A kept or
refunded part of the total is split with ``split_kept_amount`` (remainder to the platform); the
platform share is then divided into commission and discount, the discount share rounded on its
own and the commission share taking what is left.

Every money movement has one function here. Each is idempotent through the transaction's unique
``idempotency_key``, which names the movement (``capture:<attempt>``, ``refund:<reference>``,
``payout:<PO-…>``…): posting it again returns the transaction already posted.

Posted rows are never updated or deleted (payments.models.LedgerAppendOnlyQuerySet); a correction
is a new transaction (``post_adjustment``).
"""

import re
import uuid
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Q, Sum

from bookings.services.pricing import split_kept_amount
from core.audit import audit_record
from core.models import MONEY_DIGITS, MONEY_PLACES
from core.money import CENT, ZERO, money
from payments.models import (
    AttemptStatus,
    LedgerKind,
    LedgerLine,
    LedgerTransaction,
    PaymentAttempt,
)

GATEWAY_CLEARING = "gateway_clearing"
BANK = "bank"
CASH_ON_HAND = "cash_on_hand"
PLATFORM_REVENUE = "platform_revenue"
CUSTOMER_REFUNDS = "customer_refunds"
PROMO_EXPENSE = "promo_expense"
TAX_PAYABLE = "tax_payable"
SUSPENSE = "suspense"
VENDOR_PAYABLE = "vendor_payable"

FIXED_ACCOUNTS = frozenset(
    {GATEWAY_CLEARING, BANK, CASH_ON_HAND, PLATFORM_REVENUE, CUSTOMER_REFUNDS, PROMO_EXPENSE, TAX_PAYABLE, SUSPENSE}
)
# Where money from outside arrives, or leaves from: a refund or payout credits one of these.
RECEIPT_ACCOUNTS = (GATEWAY_CLEARING, BANK, CASH_ON_HAND)
_VENDOR_ACCOUNT_RE = re.compile(r"^vendor_payable:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

# Money the customer paid for a booking (through the gateway, to the vendor in cash, or to ops).
CAPTURE_KINDS = (LedgerKind.CAPTURE, LedgerKind.CANCELLATION_FEE)
MONEY_IN_KINDS = (*CAPTURE_KINDS, LedgerKind.MANUAL_PAYMENT, LedgerKind.CASH_COLLECTED)

# Offline payments recorded by ops, and the account the money lands on.
MANUAL_PAYMENT_ACCOUNTS = {"cash": CASH_ON_HAND, "bank_transfer": BANK, "upi": BANK, "cheque": BANK}

MAX_AMOUNT = Decimal(10) ** (MONEY_DIGITS - MONEY_PLACES)

CAPTURED_STATUSES = (AttemptStatus.CAPTURED, AttemptStatus.PARTIALLY_REFUNDED, AttemptStatus.REFUNDED)


class LedgerError(ValueError):
    """A posting the ledger refuses; nothing was written."""


class LedgerConflict(LedgerError):
    """The idempotency key was already posted for a different movement (other kind, booking,
    attempt or lines)."""


# --- accounts --------------------------------------------------------------------------------------


def vendor_account(vendor) -> str:
    """``vendor_payable:<vendor uuid>`` for a VendorProfile or its id."""
    vendor_id = getattr(vendor, "pk", vendor)
    return f"{VENDOR_PAYABLE}:{uuid.UUID(str(vendor_id))}"


def is_valid_account(account) -> bool:
    return isinstance(account, str) and (account in FIXED_ACCOUNTS or bool(_VENDOR_ACCOUNT_RE.match(account)))


# --- posting ---------------------------------------------------------------------------------------


def _checked_lines(lines) -> list[tuple[str, Decimal]]:
    try:
        lines = [(account, amount) for account, amount in lines]
    except (TypeError, ValueError) as exc:
        raise LedgerError("Lines are (account, Decimal amount) pairs.") from exc
    if len(lines) < 2:
        raise LedgerError("A ledger transaction needs at least two lines.")
    checked = []
    for account, amount in lines:
        if not is_valid_account(account):
            raise LedgerError(f"Unknown ledger account {account!r}.")
        if not isinstance(amount, Decimal):
            raise LedgerError(f"Amounts must be Decimal, not {type(amount).__name__} ({amount!r} on {account}).")
        if not amount.is_finite() or amount != amount.quantize(CENT):
            raise LedgerError(f"Amounts have at most 2 decimal places ({amount!r} on {account}).")
        if amount == 0:
            raise LedgerError(f"A ledger line cannot be zero ({account}).")
        if abs(amount) >= MAX_AMOUNT:
            raise LedgerError(f"{amount} on {account} is beyond what a money field holds.")
        checked.append((account, amount.quantize(CENT)))
    total = sum((amount for _, amount in checked), ZERO)
    if total != 0:
        raise LedgerError(f"Unbalanced transaction: the lines sum to {total}, not 0.")
    return checked


def _same_movement(existing: LedgerTransaction, *, kind, booking, attempt, lines, currency) -> bool:
    if existing.kind != kind:
        return False
    if existing.booking_id != getattr(booking, "pk", None) or existing.attempt_id != getattr(attempt, "pk", None):
        return False
    posted = Counter((line.account, line.amount, line.currency) for line in existing.lines.all())
    return posted == Counter((account, amount, currency) for account, amount in lines)


def ledger_post(
    *,
    kind: str,
    lines: list[tuple[str, Decimal]],
    idempotency_key: str,
    booking=None,
    attempt=None,
    reference: str = "",
    memo: str = "",
    actor=None,
    currency: str | None = None,
) -> LedgerTransaction:
    """Post one balanced transaction and return it.

    Refuses (LedgerError, a ValueError; nothing written) fewer than two lines, an amount that is
    not a Decimal with at most 2 places, a zero line, an unknown account, or lines that do not sum
    to exactly zero. The transaction row is inserted first, inside a savepoint, under the unique
    ``idempotency_key``: when the key was already posted the existing transaction is returned
    (``posted_now`` False) if it is the same movement, and LedgerConflict is raised if it is not.
    """
    if kind not in LedgerKind.values:
        raise LedgerError(f"Unknown ledger transaction kind {kind!r}.")
    if not idempotency_key or len(idempotency_key) > 200:
        raise LedgerError("A ledger transaction needs an idempotency key of at most 200 characters.")
    if len(memo) > 500 or len(reference) > 100:
        raise LedgerError("memo is at most 500 characters and reference at most 100.")
    checked = _checked_lines(lines)
    currency = currency or (booking.currency if booking is not None else settings.CURRENCY)
    with transaction.atomic():
        try:
            with transaction.atomic():
                posted = LedgerTransaction.objects.create(
                    kind=kind,
                    idempotency_key=idempotency_key,
                    booking=booking,
                    attempt=attempt,
                    reference=reference,
                    memo=memo,
                    created_by=actor if getattr(actor, "pk", None) else None,
                )
        except IntegrityError:
            existing = LedgerTransaction.objects.filter(idempotency_key=idempotency_key).first()
            if existing is None:
                raise
            if not _same_movement(
                existing, kind=kind, booking=booking, attempt=attempt, lines=checked, currency=currency
            ):
                raise LedgerConflict(
                    f"Idempotency key {idempotency_key!r} was already posted for another movement "
                    f"(transaction {existing.pk})."
                ) from None
            existing.posted_now = False
            return existing
        LedgerLine.objects.bulk_create(
            [
                LedgerLine(transaction=posted, account=account, amount=amount, currency=currency)
                for account, amount in checked
            ]
        )
    posted.posted_now = True
    return posted


def _existing(idempotency_key: str, *, kind, booking=None, attempt=None, lines=None, receipt=None):
    """The transaction already posted under this key, for helpers whose lines depend on what was
    posted before: a replay must return it rather than compute new lines (and trip a limit the
    first posting itself used up). LedgerConflict if the key was used for another movement."""
    existing = LedgerTransaction.objects.filter(idempotency_key=idempotency_key).first()
    if existing is None:
        return None
    same = (
        existing.kind == kind
        and existing.booking_id == getattr(booking, "pk", None)
        and existing.attempt_id == getattr(attempt, "pk", None)
    )
    if same and lines is not None:
        currency = booking.currency if booking is not None else settings.CURRENCY
        same = _same_movement(existing, kind=kind, booking=booking, attempt=attempt, lines=lines, currency=currency)
    if same and receipt is not None and receipt[1] != 0:
        # the lines depend on what was posted before, but the money that moved must be the same
        same = existing.lines.filter(account=receipt[0], amount=receipt[1]).exists()
    if not same:
        raise LedgerConflict(
            f"Idempotency key {idempotency_key!r} was already posted for another movement (transaction {existing.pk})."
        )
    existing.posted_now = False
    return existing


def _nonzero(lines):
    return [(account, amount) for account, amount in lines if amount != 0]


# --- a booking's shares ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shares:
    """How an amount of a booking's total divides: vendor + commission − discount + tax == amount."""

    vendor: Decimal
    commission: Decimal
    discount: Decimal
    tax: Decimal

    @property
    def platform_fee(self) -> Decimal:
        return self.commission - self.discount

    @property
    def amount(self) -> Decimal:
        return self.vendor + self.platform_fee + self.tax

    def __sub__(self, other: "Shares") -> "Shares":
        return Shares(
            vendor=self.vendor - other.vendor,
            commission=self.commission - other.commission,
            discount=self.discount - other.discount,
            tax=self.tax - other.tax,
        )


def booking_shares(booking, amount: Decimal) -> Shares:
    """The §4 split of ``amount`` (0 ≤ amount ≤ total) of the booking's total.

    The whole total is the snapshot itself (this also covers a zero-total booking, whose promo
    pays the vendor's whole earning). A part is split over vendor_earning, platform_fee and tax with
    ``split_kept_amount`` (each rounded, remainder to the platform); the platform share is then
    divided into the discount's own share (rounded) and the commission (the rest)."""
    amount = money(amount)
    if not ZERO <= amount <= booking.total:
        raise LedgerError(f"{amount} is not a part of the booking's total {booking.total}.")
    if amount == booking.total:
        return Shares(
            vendor=booking.vendor_earning, commission=booking.commission, discount=booking.discount, tax=booking.tax
        )
    split = split_kept_amount(booking=booking, amount=amount)
    discount = money(amount * booking.discount / booking.total)
    return Shares(
        vendor=split["vendor_earning"],
        commission=split["platform_fee"] + discount,
        discount=discount,
        tax=split["tax"],
    )


NO_SHARES = Shares(vendor=ZERO, commission=ZERO, discount=ZERO, tax=ZERO)


def _shares_of(booking, amount_so_far: Decimal) -> Shares:
    """The shares already allocated when ``amount_so_far`` has been posted: none before the first
    posting (for a zero-total booking 0 is also the whole total, whose shares are not zero)."""
    return NO_SHARES if amount_so_far == 0 else booking_shares(booking, amount_so_far)


def _share_lines(booking, shares: Shares, *, sign: int, vendor_acct: str | None = None) -> list[tuple[str, Decimal]]:
    """The lines allocating ``shares`` of a booking: sign=+1 for money kept (credit the vendor,
    revenue and tax, debit the promo), −1 for money given back (the reverse, with the commission
    given back on customer_refunds)."""
    if vendor_acct is None and booking.vendor_id is not None:
        vendor_acct = vendor_account(booking.vendor_id)
    if shares.vendor and vendor_acct is None:
        raise LedgerError("The booking has no vendor to credit.")
    vendor_lines = [(vendor_acct, -sign * shares.vendor)] if vendor_acct else []
    revenue_account = PLATFORM_REVENUE if sign > 0 else CUSTOMER_REFUNDS
    return [
        *vendor_lines,
        (revenue_account, -sign * shares.commission),
        (PROMO_EXPENSE, sign * shares.discount),
        (TAX_PAYABLE, -sign * shares.tax),
    ]


def _source_filter(booking, attempt) -> Q:
    return Q(transaction__booking=booking) & (
        Q(transaction__attempt=attempt) if attempt is not None else Q(transaction__attempt__isnull=True)
    )


def _sum(queryset) -> Decimal:
    """SUM(amount) in the database. Rounded to cents because SQLite (the no-services test run) sums
    decimals as floating point; on PostgreSQL the numeric sum is exact already."""
    return money(queryset.aggregate(total=Sum("amount", default=ZERO))["total"])


def _received_lines(extra: Q):
    """The lines recording money the customer paid: receipt-account debits of captures and manual
    payments, and the cash a vendor took (the debit on their own account in cash_collected)."""
    return LedgerLine.objects.filter(
        extra,
        Q(transaction__kind__in=[*CAPTURE_KINDS, LedgerKind.MANUAL_PAYMENT], account__in=RECEIPT_ACCOUNTS)
        | Q(transaction__kind=LedgerKind.CASH_COLLECTED, account__startswith=f"{VENDOR_PAYABLE}:", amount__gt=0),
    )


def _refunded_lines(extra: Q):
    return LedgerLine.objects.filter(extra, transaction__kind=LedgerKind.REFUND, account__in=RECEIPT_ACCOUNTS)


def source_received(booking, attempt=None) -> Decimal:
    """What the ledger holds as paid for the booking through ``attempt`` (or without an attempt)."""
    return _sum(_received_lines(_source_filter(booking, attempt)))


def source_refunded(booking, attempt=None) -> Decimal:
    return -_sum(_refunded_lines(_source_filter(booking, attempt)))


def _credited_vendor_account(booking, attempt) -> str | None:
    """The vendor account the source's payments credited (a refund debits that vendor even if the
    booking has changed hands since)."""
    return (
        LedgerLine.objects.filter(
            _source_filter(booking, attempt),
            transaction__kind__in=MONEY_IN_KINDS,
            account__startswith=f"{VENDOR_PAYABLE}:",
            amount__lt=0,
        )
        .order_by("id")
        .values_list("account", flat=True)
        .first()
    )


def booking_kept(booking) -> Decimal:
    """What the customer has paid for the booking, net of refunds, by every route (a SUM)."""
    where = Q(transaction__booking=booking)
    return _sum(_received_lines(where)) + _sum(_refunded_lines(where))


def _lock_source(booking, attempt):
    """Serialise the movements of one money source. The attempt row when there is one (the payment
    services lock it anyway), else the booking row (bookings/locks.py order: booking first)."""
    if attempt is not None:
        PaymentAttempt.objects.select_for_update().filter(pk=attempt.pk).first()
    else:
        type(booking).objects.select_for_update().filter(pk=booking.pk).first()


def _check_attempt(booking, attempt, *, method=None):
    if attempt.booking_id != booking.pk:
        raise LedgerError(f"Attempt {attempt.pk} belongs to another booking.")
    if attempt.currency != booking.currency:
        raise LedgerError("The attempt and the booking have different currencies.")
    if method and attempt.method != method:
        raise LedgerError(f"Attempt {attempt.pk} is a {attempt.method} attempt, not {method}.")


def _check_amount(amount):
    if not isinstance(amount, Decimal):
        raise LedgerError(f"Amounts must be Decimal, not {type(amount).__name__}.")
    if amount != amount.quantize(CENT):
        raise LedgerError(f"Amounts have at most 2 decimal places ({amount!r}).")
    return amount.quantize(CENT)


def _booking_money_in(*, booking, attempt, amount, receipt_account, kind, key, reference="", memo="", actor=None):
    """Money paid for a booking lands on ``receipt_account``; its shares are allocated. Shares
    telescope over the source (booking, attempt): the n-th payment posts shares(received after) −
    shares(received before), so the source's payments together are split exactly as their sum."""
    with transaction.atomic():
        _lock_source(booking, attempt)
        existing = _existing(key, kind=kind, booking=booking, attempt=attempt, receipt=(receipt_account, amount))
        if existing is not None:
            return existing
        kept = booking_kept(booking)
        if kept + amount > booking.total:
            raise LedgerError(f"Booking {booking.pk} would keep more than its total {booking.total}: {kept}+{amount}.")
        before = source_received(booking, attempt)
        shares = booking_shares(booking, before + amount) - _shares_of(booking, before)
        lines = _nonzero([(receipt_account, amount), *_share_lines(booking, shares, sign=+1)])
        if not lines:
            return None
        return ledger_post(
            kind=kind,
            lines=lines,
            idempotency_key=key,
            booking=booking,
            attempt=attempt,
            reference=reference,
            memo=memo,
            actor=actor,
        )


# --- one function per money movement ---------------------------------------------------------------


def post_capture(booking, attempt, amount: Decimal | None = None, *, kind=LedgerKind.CAPTURE, actor=None):
    """The gateway captured ``amount`` (default: the whole total) of a card attempt.

    Full capture: debit gateway_clearing total; credit vendor_payable:<vendor> vendor_earning,
    platform_revenue commission and tax_payable tax; debit promo_expense discount. A partial
    capture (a cancellation fee, a partial settlement) allocates the §4 split of the amount.
    Keyed ``capture:<attempt id>`` — a PaymentIntent is captured once, whatever the reason.

    ``attempt`` may be None only for a zero-total booking (nothing to capture): then only the
    allocation is posted — the promo funds the vendor's earning and the commission. Returns None
    when there is nothing to post (a zero subtotal)."""
    if kind not in CAPTURE_KINDS:
        raise LedgerError(f"{kind!r} is not a capture.")
    amount = booking.total if amount is None else _check_amount(amount)
    if attempt is None:
        if booking.total != 0 or amount != 0:
            raise LedgerError("Capturing money needs the payment attempt it was captured on.")
        key = f"capture:booking:{booking.pk}"
    else:
        _check_attempt(booking, attempt, method="card")
        if not ZERO < amount <= attempt.amount:
            raise LedgerError(f"A capture is more than 0 and at most the attempt's {attempt.amount}, not {amount}.")
        key = f"capture:{attempt.pk}"
    return _booking_money_in(
        booking=booking,
        attempt=attempt,
        amount=amount,
        receipt_account=GATEWAY_CLEARING,
        kind=kind,
        key=key,
        reference=getattr(attempt, "gateway_intent_id", ""),
        actor=actor,
    )


def post_cancellation_fee(booking, attempt, amount: Decimal, *, actor=None):
    """A cancellation fee kept by a partial capture of the card attempt (§4: the fee is split over
    vendor_earning, platform_fee and tax pro rata, the rounding remainder on the platform)."""
    return post_capture(booking, attempt, amount, kind=LedgerKind.CANCELLATION_FEE, actor=actor)


def post_refund(booking, attempt, amount: Decimal, *, reference: str, paid_from: str | None = None, actor=None):
    """``amount`` given back to the customer, reversing the shares proportionally: credit
    ``paid_from`` (gateway_clearing for a card attempt, else bank); debit vendor_payable:<vendor>
    and tax_payable their shares, debit customer_refunds the commission share, credit promo_expense
    the discount share.

    ``reference`` names this refund (the gateway refund id, or ours): key ``refund:<reference>``.
    Shares telescope over the source's refunds — shares(refunded after) − shares(refunded before) —
    so the first refund is split exactly as §4 and refunding everything that was paid reverses its
    allocation to the cent. Refused beyond what the source (booking, attempt) has paid."""
    amount = _check_amount(amount)
    if amount <= 0:
        raise LedgerError("A refund is more than 0.")
    if not reference:
        raise LedgerError("A refund needs its reference (the gateway refund id, or ours).")
    if attempt is not None:
        _check_attempt(booking, attempt)
    if paid_from is None:
        paid_from = GATEWAY_CLEARING if attempt is not None and attempt.method == "card" else BANK
    if paid_from not in RECEIPT_ACCOUNTS:
        raise LedgerError(f"A refund is paid from one of {', '.join(RECEIPT_ACCOUNTS)}.")
    key = f"refund:{reference}"
    with transaction.atomic():
        _lock_source(booking, attempt)
        existing = _existing(
            key, kind=LedgerKind.REFUND, booking=booking, attempt=attempt, receipt=(paid_from, -amount)
        )
        if existing is not None:
            return existing
        received = source_received(booking, attempt)
        before = source_refunded(booking, attempt)
        if before + amount > received:
            raise LedgerError(
                f"Refunding {amount} would give back more than was paid ({received}, {before} refunded already)."
            )
        shares = booking_shares(booking, before + amount) - _shares_of(booking, before)
        return ledger_post(
            kind=LedgerKind.REFUND,
            lines=_nonzero(
                [
                    (paid_from, -amount),
                    *_share_lines(booking, shares, sign=-1, vendor_acct=_credited_vendor_account(booking, attempt)),
                ]
            ),
            idempotency_key=key,
            booking=booking,
            attempt=attempt,
            reference=reference,
            actor=actor,
        )


def post_cash_collected(booking, attempt=None, *, actor=None):
    """The vendor collected the booking's total in cash.

    The cash is in the vendor's hands, so it is debited to the vendor's own account (the vendor
    holds it for the platform), and the total is allocated as in a full capture: credit the vendor
    their earning, platform_revenue the commission, tax_payable the tax; debit promo_expense the
    discount. The vendor's account nets to a debit of total − vendor_earning = platform_fee + tax:
    the commission less the promo the platform funds, plus the tax — what the vendor owes, netted
    against their next payouts. With a promo larger than commission + tax that is a credit (the
    platform owes the vendor the subsidy).

    Both vendor lines are kept (not netted) so the ledger shows the cash taken; ledger_check
    compares it with a cash attempt's captured amount. Keyed ``cash_collected:<booking id>``."""
    if booking.payment_method != "cash":
        raise LedgerError(f"Booking {booking.pk} is not paid in cash.")
    if booking.vendor_id is None:
        raise LedgerError("Cash is collected by the booking's vendor; it has none.")
    if attempt is not None:
        _check_attempt(booking, attempt, method="cash")
    return _booking_money_in(
        booking=booking,
        attempt=attempt,
        amount=booking.total,
        receipt_account=vendor_account(booking.vendor_id),
        kind=LedgerKind.CASH_COLLECTED,
        key=f"cash_collected:{booking.pk}",
        actor=actor,
    )


def post_manual_payment(booking, amount: Decimal, method: str, reference: str, *, attempt=None, actor=None):
    """Ops recorded a payment made outside the gateway (§6, issue 4 item 8): debit cash_on_hand
    (method ``cash``) or bank (``bank_transfer``, ``upi``, ``cheque``) and allocate the amount's
    shares as a capture would. Keyed ``manual_payment:<booking>:<method>:<reference>``."""
    amount = _check_amount(amount)
    if amount <= 0:
        raise LedgerError("A payment is more than 0.")
    if method not in MANUAL_PAYMENT_ACCOUNTS:
        raise LedgerError(f"Manual payment method is one of {', '.join(MANUAL_PAYMENT_ACCOUNTS)}.")
    if not reference:
        raise LedgerError("A manual payment needs its reference (receipt or bank reference).")
    if attempt is not None:
        _check_attempt(booking, attempt)
    return _booking_money_in(
        booking=booking,
        attempt=attempt,
        amount=amount,
        receipt_account=MANUAL_PAYMENT_ACCOUNTS[method],
        kind=LedgerKind.MANUAL_PAYMENT,
        key=f"manual_payment:{booking.pk}:{method}:{reference}",
        reference=reference,
        memo=f"manual payment by {method}",
        actor=actor,
    )


def post_payout(vendor, amount: Decimal, payout_reference: str, *, paid_from: str = GATEWAY_CLEARING, actor=None):
    """A payout to the vendor: debit vendor_payable:<vendor>, credit gateway_clearing (a Connect
    transfer) or bank (ops paid by bank transfer). Refused above the vendor's balance, so a vendor
    balance goes below zero only through cash and refunds after payout (§4). Keyed
    ``payout:<payout reference>``."""
    from bookings.locks import lock_vendors

    amount = _check_amount(amount)
    if amount <= 0:
        raise LedgerError("A payout is more than 0.")
    if paid_from not in (GATEWAY_CLEARING, BANK):
        raise LedgerError("A payout is paid from gateway_clearing or bank.")
    if not payout_reference:
        raise LedgerError("A payout needs its reference.")
    account = vendor_account(vendor)
    key = f"payout:{payout_reference}"
    with transaction.atomic():
        lock_vendors([getattr(vendor, "pk", vendor)])
        lines = [(account, amount), (paid_from, -amount)]
        existing = _existing(key, kind=LedgerKind.PAYOUT, lines=lines)
        if existing is not None:
            return existing
        balance = vendor_balance(vendor)
        if amount > balance:
            raise LedgerError(f"Paying out {amount} is more than the vendor's balance {balance}.")
        return ledger_post(
            kind=LedgerKind.PAYOUT,
            lines=lines,
            idempotency_key=key,
            reference=payout_reference,
            memo=f"payout {payout_reference}",
            actor=actor,
        )


def post_payouts(
    payouts, *, paid_from: str = GATEWAY_CLEARING, actor=None, balances: dict | None = None
) -> dict[str, LedgerTransaction]:
    """``post_payout`` for many vendors at once (the payout run): ``payouts`` are ``(vendor,
    amount, payout_reference)``, at most one per vendor; one transaction each, written with two
    bulk inserts. Returns {payout reference: transaction}. ``balances``: {vendor id: balance} as
    the caller read them under the same locks (read here otherwise).

    Called inside a transaction with the vendors' rows locked (bookings.locks). All or nothing:
    LedgerError, with nothing written, when any of them would be refused by ``post_payout`` (≤ 0,
    above the vendor's balance) or its key was posted before — the caller then posts them one by
    one, and only that one is refused."""
    if paid_from not in (GATEWAY_CLEARING, BANK):
        raise LedgerError("A payout is paid from gateway_clearing or bank.")
    prepared = []
    for vendor, amount, reference in payouts:
        amount = _check_amount(amount)
        if amount <= 0:
            raise LedgerError("A payout is more than 0.")
        if not reference:
            raise LedgerError("A payout needs its reference.")
        account = vendor_account(vendor)
        prepared.append((account, amount, reference, _checked_lines([(account, amount), (paid_from, -amount)])))
    if not prepared:
        return {}
    accounts = [account for account, *_rest in prepared]
    if len(set(accounts)) != len(accounts):
        raise LedgerError("At most one payout per vendor in a batch.")
    keys = [f"payout:{reference}" for _account, _amount, reference, _lines in prepared]
    if LedgerTransaction.objects.filter(idempotency_key__in=keys).exists():
        raise LedgerError("A payout of this batch was posted before.")
    currency = settings.CURRENCY
    if balances is not None:
        balances = {vendor_account(vendor): amount for vendor, amount in balances.items()}
    else:
        balances = {
            row["account"]: -money(row["total"])
            for row in LedgerLine.objects.filter(account__in=accounts, currency=currency)
            .values("account")
            .annotate(total=Sum("amount"))
            .order_by()
        }
    for account, amount, reference, _lines in prepared:
        if amount > balances.get(account, ZERO):
            raise LedgerError(
                f"Paying out {amount} ({reference}) is more than the vendor's balance {balances.get(account, ZERO)}."
            )
    created_by = actor if getattr(actor, "pk", None) else None
    posted = LedgerTransaction.objects.bulk_create(
        [
            LedgerTransaction(
                kind=LedgerKind.PAYOUT,
                idempotency_key=f"payout:{reference}",
                reference=reference,
                memo=f"payout {reference}",
                created_by=created_by,
            )
            for _account, _amount, reference, _lines in prepared
        ],
        batch_size=5000,
    )
    LedgerLine.objects.bulk_create(
        [
            LedgerLine(transaction=txn, account=account, amount=amount, currency=currency)
            for txn, (_vendor_account, _amount, _reference, lines) in zip(posted, prepared, strict=True)
            for account, amount in lines
        ],
        batch_size=5000,
    )
    for txn in posted:
        txn.posted_now = True
    return {txn.reference: txn for txn in posted}


def post_payout_reversal(vendor, amount: Decimal, payout_reference: str, *, actor=None):
    """A posted payout that came back (a failed or reversed transfer): the payout's lines reversed
    for ``amount`` (at most the payout's). Keyed ``payout_reversal:<payout reference>``."""
    amount = _check_amount(amount)
    account = vendor_account(vendor)
    payout = LedgerTransaction.objects.filter(idempotency_key=f"payout:{payout_reference}").first()
    if payout is None:
        raise LedgerError(f"No payout {payout_reference} in the ledger.")
    lines = {line.account: line.amount for line in payout.lines.all()}
    if account not in lines:
        raise LedgerError(f"Payout {payout_reference} was not to this vendor.")
    if not ZERO < amount <= lines[account]:
        raise LedgerError(f"A reversal is more than 0 and at most the payout's {lines[account]}.")
    (paid_from,) = (name for name in lines if name != account)
    return ledger_post(
        kind=LedgerKind.PAYOUT_REVERSAL,
        lines=[(account, -amount), (paid_from, amount)],
        idempotency_key=f"payout_reversal:{payout_reference}",
        reference=payout_reference,
        memo=f"payout {payout_reference} reversed",
        actor=actor,
    )


def post_adjustment(*, lines, reason: str, reference: str, booking=None, actor=None):
    """A correction by ops: any balanced lines, with the reason; audited. Keyed
    ``adjustment:<reference>``."""
    if not reason:
        raise LedgerError("An adjustment needs its reason.")
    posted = ledger_post(
        kind=LedgerKind.ADJUSTMENT,
        lines=lines,
        idempotency_key=f"adjustment:{reference}",
        booking=booking,
        reference=reference,
        memo=reason,
        actor=actor,
    )
    if posted.posted_now:
        audit_record(
            actor=actor,
            action="ledger.adjustment",
            obj=posted,
            new={"reason": reason, "lines": "; ".join(f"{line.account} {line.amount}" for line in posted.lines.all())},
        )
    return posted


# --- balances: SUMs in the database ----------------------------------------------------------------


def account_balance(account: str, *, currency: str | None = None) -> Decimal:
    """The SUM of the account's lines: debit positive, credit negative."""
    return _sum(LedgerLine.objects.filter(account=account, currency=currency or settings.CURRENCY))


def vendor_balance(vendor, *, currency: str | None = None) -> Decimal:
    """What the platform owes the vendor (the credit balance of vendor_payable:<vendor>, so
    positive = owed to the vendor, negative = the vendor owes the platform)."""
    return -account_balance(vendor_account(vendor), currency=currency)


def vendor_balances(*, currency: str | None = None) -> dict[str, Decimal]:
    """{vendor id: vendor_balance} for every vendor with ledger lines, in one grouped query."""
    rows = (
        LedgerLine.objects.filter(account__startswith=f"{VENDOR_PAYABLE}:", currency=currency or settings.CURRENCY)
        .values("account")
        .annotate(total=Sum("amount"))
        .order_by("account")
    )
    return {row["account"].split(":", 1)[1]: -money(row["total"]) for row in rows}


# --- integrity: what ledger_check verifies ---------------------------------------------------------


def unbalanced_transactions() -> list[str]:
    """A description per transaction whose lines do not sum to zero, that has fewer than two
    lines, or that mixes currencies."""
    problems = []
    rows = (
        LedgerTransaction.objects.annotate(
            total=Sum("lines__amount"), count=Count("lines"), currencies=Count("lines__currency", distinct=True)
        )
        .values_list("id", "total", "count", "currencies")
        .order_by("created_at", "id")
    )
    for pk, total, count, currencies in rows.iterator(chunk_size=2000):
        # The sum is compared here, as a Decimal, rather than in SQL: SQLite keeps decimals as
        # floating point, where a balanced sum need not be exactly 0.
        if count < 2:
            problems.append(f"transaction {pk}: {count} line(s)")
        elif currencies > 1:
            problems.append(f"transaction {pk}: mixes currencies")
        elif money(total) != 0:
            problems.append(f"transaction {pk}: lines sum to {money(total)}")
    return problems


def _by_attempt(queryset) -> dict:
    rows = queryset.values("transaction__attempt").annotate(total=Sum("amount")).order_by()
    return {row["transaction__attempt"]: money(row["total"]) for row in rows}


def attempt_mismatches() -> list[str]:
    """A description per payment attempt whose captured or refunded amount differs from the
    ledger: a card attempt against its gateway_clearing lines (captures; refunds), a cash attempt
    against the cash its vendor took (cash_collected) and its refunds."""
    with_attempt = Q(transaction__attempt__isnull=False)
    card_received = _by_attempt(
        LedgerLine.objects.filter(with_attempt, transaction__kind__in=CAPTURE_KINDS, account=GATEWAY_CLEARING)
    )
    card_refunded = _by_attempt(
        LedgerLine.objects.filter(with_attempt, transaction__kind=LedgerKind.REFUND, account=GATEWAY_CLEARING)
    )
    cash_received = _by_attempt(
        LedgerLine.objects.filter(
            with_attempt,
            transaction__kind=LedgerKind.CASH_COLLECTED,
            account__startswith=f"{VENDOR_PAYABLE}:",
            amount__gt=0,
        )
    )
    any_refunded = _by_attempt(_refunded_lines(with_attempt))
    in_ledger = set(card_received) | set(card_refunded) | set(cash_received) | set(any_refunded)
    attempts = PaymentAttempt.objects.filter(
        Q(amount_captured__gt=0) | Q(amount_refunded__gt=0) | Q(status__in=CAPTURED_STATUSES) | Q(pk__in=in_ledger)
    ).order_by("created_at", "pk")
    problems = []
    for attempt in attempts.iterator(chunk_size=2000):
        if attempt.method == "card":
            received = card_received.get(attempt.pk, ZERO)
            refunded = -card_refunded.get(attempt.pk, ZERO)
            where = "gateway_clearing"
        else:
            received = cash_received.get(attempt.pk, ZERO)
            refunded = -any_refunded.get(attempt.pk, ZERO)
            where = "cash collected"
        if attempt.amount_captured != received:
            problems.append(f"attempt {attempt.pk}: captured {attempt.amount_captured}, {where} in ledger {received}")
        elif attempt.status in CAPTURED_STATUSES and received == 0:
            problems.append(f"attempt {attempt.pk}: {attempt.status} but nothing captured in the ledger")
        if attempt.amount_refunded != refunded:
            problems.append(f"attempt {attempt.pk}: refunded {attempt.amount_refunded}, in the ledger {refunded}")
    return problems
