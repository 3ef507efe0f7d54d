"""Earnings and payouts (ARCHITECTURE §4 "Money", §6 "Payouts").

**Earnings.** When money is kept for a booking (a capture, a cancellation fee, a manual payment),
the code that posts it to the ledger calls ``earning_record`` in the same transaction: an
``Earning`` row records the vendor's share of that ledger transaction (the net credit on their
``vendor_payable`` account) and when it becomes payable (``available_at`` = now + the system
setting ``payout_hold_hours``, default 24 h, during which the customer may still complain). One
earning per ledger transaction (a OneToOne), so recording twice returns the first.

**What is paid.** The ledger is the truth about money (§4); earnings only say what is still on
hold. A vendor's payout is

    payable = vendor_balance(vendor) − Σ earnings still on hold (available_at > now, no payout)

so what the vendor owes the platform — the commission and tax of cash bookings, a refund after
the earning was paid out — is netted automatically: it is already in the balance. A negative
payable waits for future earnings. A refund of a booking whose earning is still on hold lowers
the balance while the whole earning is still subtracted as held, so the vendor's other money may
wait until that hold ends: on the safe side, and never more than one hold period.

**A payout's life.** ``payouts_run`` (daily, ``payments.tasks.run_payouts``) takes every vendor
with a positive payable, under the vendor's row lock (bookings.locks, so two runs never pay one
vendor twice), creates ``Payout`` PO-YYYYMMDD-NNNNN (platform time zone, per-day counter), links
the earnings past their hold and posts ``post_payout`` (vendor_payable → gateway_clearing) in the
same transaction. After commit, with no lock held, it asks the gateway for a transfer to the
vendor's connected account with the idempotency key ``payout-<ledger reference>`` (the first
round's reference is the payout number: ``payout-PO-…``) — a chunk's transfers a few at a time
(``TRANSFER_CONCURRENCY``), its payouts created, claimed and recorded in bulk:

- success → ``paid`` (paid_at, gateway_transfer_id), vendor notified;
- the gateway unavailable (``GatewayUnavailable``, or an unexpected fault of ours) → still
  ``pending``, ``tries`` + 1, ``next_try_at`` = now + 5 min × 2^(tries−1) (at most 2 h);
  ``payouts_retry_due`` (every 5 minutes) sends the same call with the same key, so a transfer
  that did go through is answered again, never made twice;
- after ``MAX_TRANSFER_TRIES`` (5) outages, or at once for a refusal retrying cannot fix
  (``InvalidPaymentRequest``: a bad or closed account…) → ``failed``: ``post_payout_reversal``
  makes the money owed to the vendor again, and every ops manager and super admin is notified
  (``payout.failed``).

While a vendor has a ``failed`` payout, ``payouts_run`` leaves them alone: ops decide.

- ``payout_retry`` (ops): the same Payout row is sent again in a new *round*: the payout is posted
  to the ledger again under ``<number>-R<n>`` (key ``payout:<number>-R<n>``; the ledger refuses it
  if the vendor's balance no longer covers it), to the vendor's current payout account, with the
  transfer key ``payout-<number>-R<n>`` — a new key, because a gateway may have stored its
  refusal of the old one. Before retrying a payout that failed after the gateway was unreachable
  for every try, ops look in the gateway's dashboard for a transfer with metadata
  ``payout=<number>`` (an unanswered call may still have gone through).
- ``payout_mark_paid`` (ops paid it by bank transfer, with the bank's reference): allowed for a
  *failed* payout only (its gateway posting was reversed): posts ``payout:<number>-BANK`` from
  ``bank``. A *pending* payout is refused (409): its transfer may be in flight or may still go
  through on a retry, and paying it by bank as well would pay the vendor twice; it ends as paid
  or failed within a few hours (``MAX_TRANSFER_TRIES``), after which ops can act.
- A ``transfer.reversed`` webhook (the transfer was pulled back after it was paid) marks the
  payout failed and reverses it in the ledger, once; a partial reversal is flagged to ops, who
  post the correction themselves.

Vendors with money to be paid but no ``payout_account_id`` are skipped; each run tells ops
(``payout.no_account``: how many vendors, how much, the first names) and logs them.

Payout numbers are never reused; a payout the ledger refuses at creation leaves a gap.
Call ``payouts_run``, ``payouts_retry_due``, ``payout_retry`` and ``payout_mark_paid`` outside a
transaction (tasks and admin actions do): they commit before calling the gateway.
"""

import logging
import queue
import re
import threading
import uuid
from datetime import datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, CharField, Count, DateField, F, OuterRef, Q, Subquery, Sum, Value, When
from django.db.models.functions import Trunc
from django.utils import timezone
from django.utils.translation import gettext as _

from bookings.locks import lock_vendors
from bookings.models import BookingStatus
from core.audit import audit_record, audit_record_many
from core.errors import Conflict, Forbidden, InvalidInput
from core.models import Role, SystemSettings
from core.money import ZERO, money
from core.notifications import Message, notify, notify_bulk, notify_ops
from payments.gateways import get_gateway
from payments.gateways.errors import GatewayError
from payments.ledger import (
    BANK,
    GATEWAY_CLEARING,
    VENDOR_PAYABLE,
    LedgerError,
    post_payout,
    post_payout_reversal,
    post_payouts,
    vendor_account,
    vendor_balance,
    vendor_balances,
)
from payments.models import Earning, LedgerLine, LedgerTransaction, Payout, PayoutNumberCounter, PayoutStatus

logger = logging.getLogger(__name__)

MAX_TRANSFER_TRIES = 5
FIRST_BACKOFF = timedelta(minutes=5)
MAX_BACKOFF = timedelta(hours=2)
# How long a claimed transfer is left alone by other sweeps while its gateway call runs.
TRANSFER_LEASE = timedelta(minutes=10)
# Vendors locked and paid per transaction in a run: bounds how long one booking waits on a vendor
# lock (written in bulk, a chunk's payouts take a fraction of a second).
RUN_CHUNK = 250
# Transfers of a run's chunk in flight at once, each in a thread with its own database
# connection (so fewer than DB_POOL_MAX): a gateway call is a network round trip (Stripe: a few
# hundred ms), and 10,000 vendors one call at a time would outlast the task's time limit. 1 sends
# them one by one, as does a run called inside a transaction (other connections could not see
# its payouts).
TRANSFER_CONCURRENCY = 8
# Rounds an ops retry may add to one payout (the ledger reference lookup is bounded by it).
MAX_RETRY_ROUNDS = 20
BANK_SUFFIX = "BANK"

ALLOWED_TRANSITIONS = {
    PayoutStatus.PENDING: {PayoutStatus.PAID, PayoutStatus.FAILED},
    PayoutStatus.FAILED: {PayoutStatus.PENDING, PayoutStatus.PAID},  # ops retry / mark paid by bank
    PayoutStatus.PAID: {PayoutStatus.FAILED},  # the transfer was reversed at the gateway
}

PERIODS = ("day", "week", "month")
DEFAULT_WINDOW = {"day": timedelta(days=30), "week": timedelta(weeks=12), "month": timedelta(days=365)}
MAX_WINDOW = timedelta(days=3 * 366)


def _move(payout, to_status):
    """The one place a payout's status changes: only along ALLOWED_TRANSITIONS (the callers hold
    the row lock and have returned early when the payout is already where they would move it)."""
    if to_status not in ALLOWED_TRANSITIONS.get(payout.status, ()):
        raise Conflict(
            _("A %(from)s payout cannot become %(to)s.") % {"from": payout.status, "to": to_status},
            extra={"status": payout.status},
        )
    payout.status = to_status


def backoff(tries: int) -> timedelta:
    """The wait after the ``tries``-th unanswered transfer call: 5, 10, 20, 40 min … at most 2 h."""
    return min(FIRST_BACKOFF * (2 ** max(tries - 1, 0)), MAX_BACKOFF)


# --- earnings ------------------------------------------------------------------------------------


def earning_record(*, booking, ledger_transaction, now=None) -> Earning | None:
    """Record the vendor's share of ``ledger_transaction`` (money kept for ``booking``), payable
    after the hold. Called inside the transaction that posted it.

    The amount is the net credit on the vendor's ``vendor_payable`` account in that transaction
    (lines are debit positive, so minus their sum). None when the transaction credits no vendor:
    no vendor line, or a net debit (cash the vendor collected, a refund, a payout). Idempotent:
    the earning of a transaction already recorded is returned as it is."""
    if ledger_transaction is None:
        return None
    if ledger_transaction.booking_id != booking.pk:
        raise ValueError(f"Ledger transaction {ledger_transaction.pk} is not for booking {booking.pk}.")
    existing = Earning.objects.filter(ledger_transaction=ledger_transaction).first()
    if existing is not None:
        return existing
    per_account: dict[str, Decimal] = {}
    currency = None
    for account, amount, line_currency in ledger_transaction.lines.filter(
        account__startswith=f"{VENDOR_PAYABLE}:"
    ).values_list("account", "amount", "currency"):
        per_account[account] = per_account.get(account, ZERO) + amount
        currency = line_currency
    if not per_account:
        return None
    if len(per_account) > 1:
        raise ValueError(f"Ledger transaction {ledger_transaction.pk} credits more than one vendor.")
    ((account, total),) = per_account.items()
    credit = -money(total)
    if credit <= 0:
        return None
    now = now or timezone.now()
    hold = timedelta(hours=SystemSettings.load().payout_hold_hours)
    with transaction.atomic():
        earning, created = Earning.objects.get_or_create(
            ledger_transaction=ledger_transaction,
            defaults={
                "vendor_id": uuid.UUID(account.split(":", 1)[1]),
                "booking": booking,
                "amount": credit,
                "currency": currency,
                "available_at": now + hold,
                "created_at": now,
            },
        )
        if created:
            audit_record(
                actor=ledger_transaction.created_by,
                action="earning.recorded",
                obj=earning,
                new={
                    "booking": booking.pk,
                    "amount": credit,
                    "currency": currency,
                    "available_at": earning.available_at.isoformat(),
                    "ledger_transaction": ledger_transaction.pk,
                },
            )
    return earning


def _held(vendor_ids, now) -> dict[str, Decimal]:
    """{vendor id: Σ earnings still on hold} (one grouped query); ``vendor_ids`` None = all.

    On hold: not yet past ``available_at``, or of a *disputed* booking whatever its date — a
    complaint or a low rating holds the earning until ops resolve the dispute (signatures.services)."""
    on_hold = Q(available_at__gt=now) | Q(booking__status=BookingStatus.DISPUTED)
    rows = Earning.objects.filter(on_hold, payout__isnull=True, currency=settings.CURRENCY)
    if vendor_ids is not None:
        rows = rows.filter(vendor_id__in=list(vendor_ids))
    rows = rows.values("vendor_id").annotate(total=Sum("amount")).order_by()
    return {str(row["vendor_id"]): money(row["total"]) for row in rows}


def _balances_of(vendor_ids) -> dict[str, Decimal]:
    """{vendor id: vendor_balance} for these vendors, in one grouped query."""
    accounts = {vendor_account(vendor_id): str(vendor_id) for vendor_id in vendor_ids}
    rows = (
        LedgerLine.objects.filter(account__in=list(accounts), currency=settings.CURRENCY)
        .values("account")
        .annotate(total=Sum("amount"))
        .order_by()
    )
    return {accounts[row["account"]]: -money(row["total"]) for row in rows}


def vendor_payable(vendor, *, now=None) -> Decimal:
    """What a payout run would pay the vendor now: their ledger balance minus their earnings on
    hold (may be ≤ 0: nothing to pay)."""
    now = now or timezone.now()
    vendor_id = str(getattr(vendor, "pk", vendor))
    return vendor_balance(vendor_id) - _held([vendor_id], now).get(vendor_id, ZERO)


# --- payout numbers ------------------------------------------------------------------------------


def next_payout_numbers(now, count: int) -> list[str]:
    """``count`` consecutive PO-YYYYMMDD-NNNNN numbers, counted per day in the platform time zone
    (as booking numbers are). The counter row stays locked until the caller's transaction ends, so
    numbers are never reused."""
    if count <= 0:
        return []
    day = timezone.localdate(now)
    PayoutNumberCounter.objects.bulk_create([PayoutNumberCounter(day=day)], ignore_conflicts=True)
    PayoutNumberCounter.objects.filter(day=day).update(last_value=F("last_value") + count)
    last = PayoutNumberCounter.objects.get(day=day).last_value
    return [f"PO-{day:%Y%m%d}-{value:05d}" for value in range(last - count + 1, last + 1)]


def next_payout_number(now) -> str:
    return next_payout_numbers(now, 1)[0]


# --- the ledger references of a payout -------------------------------------------------------------


def _reference_round(number: str, reference: str) -> int | None:
    if reference == number:
        return 0
    match = re.fullmatch(rf"{re.escape(number)}-R(\d+)", reference)
    return int(match.group(1)) if match else None


def payout_ledger_references(payout) -> list[str]:
    """The ledger references under which this payout was posted, oldest round first: the number,
    then ``<number>-R1`` … for ops retries, then ``<number>-BANK`` when ops paid it by bank. Found
    by exact keys (the unique index), never by a scan."""
    candidates = [payout.number, *(f"{payout.number}-R{n}" for n in range(1, MAX_RETRY_ROUNDS + 1))]
    candidates.append(f"{payout.number}-{BANK_SUFFIX}")
    posted = set(
        LedgerTransaction.objects.filter(idempotency_key__in=[f"payout:{ref}" for ref in candidates]).values_list(
            "reference", flat=True
        )
    )
    return [ref for ref in candidates if ref in posted]


def _current_gateway_reference(payout) -> str:
    """The reference of the payout's latest gateway round (what a transfer or a reversal is for)."""
    rounds = [ref for ref in payout_ledger_references(payout) if _reference_round(payout.number, ref) is not None]
    if not rounds:
        raise LedgerError(f"Payout {payout.number} was never posted to the ledger.")
    return rounds[-1]


# --- notifications -------------------------------------------------------------------------------


def _notify_ops_failed(payout, error: str):
    notify_ops(
        kind="payout.failed",
        title=_("A payout failed"),
        body=_(
            "Payout %(number)s of %(amount)s %(currency)s to %(vendor)s failed: %(error)s. The money is owed "
            "to the vendor again; retry the payout or pay it by bank transfer and mark it paid."
        )
        % {
            "number": payout.number,
            "amount": payout.amount,
            "currency": payout.currency,
            "vendor": payout.vendor.display_name,
            "error": error[:300],
        },
        data={"payout_id": str(payout.pk), "number": payout.number, "vendor_id": str(payout.vendor_id)},
    )


def _vendor_paid_message(payout) -> Message:
    return Message(
        user=payout.vendor.user,
        kind="payout.paid",
        title=_("Payout sent"),
        body=_("Payout %(number)s of %(amount)s %(currency)s is on its way to your account.")
        % {"number": payout.number, "amount": payout.amount, "currency": payout.currency},
        data={"payout_id": str(payout.pk), "number": payout.number, "amount": str(payout.amount)},
    )


def _notify_vendor_paid(payout):
    message = _vendor_paid_message(payout)
    notify(user=message.user, kind=message.kind, title=message.title, body=message.body, data=message.data)


def _notify_no_account(skipped):
    """One message per run to ops about vendors whose money waits for a payout account."""
    if not skipped:
        return
    total = sum((amount for _vendor, amount in skipped), ZERO)
    names = ", ".join(vendor.display_name for vendor, _amount in skipped[:10])
    logger.warning(
        "Payouts: %d vendor(s) without a payout account were skipped (%s %s): %s",
        len(skipped),
        total,
        settings.CURRENCY,
        ", ".join(str(vendor.pk) for vendor, _amount in skipped),
    )
    notify_ops(
        kind="payout.no_account",
        title=_("Vendors without a payout account"),
        body=_(
            "%(count)s vendor(s) have %(total)s %(currency)s ready to be paid out but no payout account: "
            "%(names)s%(more)s."
        )
        % {
            "count": len(skipped),
            "total": total,
            "currency": settings.CURRENCY,
            "names": names,
            "more": " …" if len(skipped) > 10 else "",
        },
        data={"vendor_ids": [str(vendor.pk) for vendor, _amount in skipped[:50]], "count": len(skipped)},
    )


# --- the run ---------------------------------------------------------------------------------------


def _chunks(items, size):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def payouts_run(*, now=None, vendor_ids=None) -> list[Payout]:
    """Pay every vendor (or only ``vendor_ids``) their payable money (see the module docstring).
    Returns the payouts created, with their status after the first transfer try."""
    now = now or timezone.now()
    balances = vendor_balances()
    if vendor_ids is not None:
        wanted = {str(vendor_id) for vendor_id in vendor_ids}
        balances = {vendor_id: amount for vendor_id, amount in balances.items() if vendor_id in wanted}
    held = _held(None if vendor_ids is None else list(balances), now)
    candidates = sorted(vendor_id for vendor_id, balance in balances.items() if balance - held.get(vendor_id, ZERO) > 0)
    created_ids, skipped = [], []
    for chunk in _chunks(candidates, RUN_CHUNK):
        created = _payouts_create(chunk, now=now, skipped=skipped)
        # committed: now the gateway, with no lock held
        _payouts_first_transfer(created, now=now)
        created_ids.extend(payout.pk for payout in created)
    _notify_no_account(skipped)
    return list(Payout.objects.filter(pk__in=created_ids).select_related("vendor").order_by("number"))


@transaction.atomic
def _payouts_create(vendor_ids, *, now, skipped) -> list[Payout]:
    """Create and post the payouts of these vendors, their rows locked. The balance and the held
    earnings are read again under the lock: a concurrent run that paid first leaves 0 here.

    In bulk: the payouts, the linking of their earnings, their ledger postings and audit entries
    are a handful of statements for the whole chunk. Should the ledger refuse one of them, the
    chunk is posted one vendor at a time instead, and only that vendor is skipped (its number
    left as a gap)."""
    vendors = lock_vendors(vendor_ids)
    balances = _balances_of(vendor_ids)
    held = _held(vendor_ids, now)
    waiting_for_ops = {
        str(vendor_id)
        for vendor_id in Payout.objects.filter(vendor_id__in=vendor_ids, status=PayoutStatus.FAILED).values_list(
            "vendor_id", flat=True
        )
    }
    due = []
    for vendor_id in vendor_ids:
        vendor = vendors.get(vendor_id)
        amount = balances.get(vendor_id, ZERO) - held.get(vendor_id, ZERO)
        if vendor is None or amount <= 0 or vendor_id in waiting_for_ops:
            continue
        if not vendor.payout_account_id:
            skipped.append((vendor, amount))
            continue
        due.append((vendor, amount))
    numbers = next_payout_numbers(now, len(due))
    try:
        with transaction.atomic():
            return _payouts_create_in_bulk(due, numbers, now=now, balances=balances)
    except LedgerError as error:
        logger.warning("Payout chunk refused by the ledger in bulk (%s); posting one vendor at a time", error)
    return _payouts_create_one_by_one(due, numbers, now=now)


def _payouts_create_in_bulk(due, numbers, *, now, balances) -> list[Payout]:
    payouts = Payout.objects.bulk_create(
        [
            Payout(
                number=number,
                vendor=vendor,
                amount=amount,
                currency=settings.CURRENCY,
                destination_account=vendor.payout_account_id,
                created_at=now,
                next_try_at=now,
            )
            for (vendor, amount), number in zip(due, numbers, strict=True)
        ]
    )
    if not payouts:
        return []
    # Every earning past its hold goes to its vendor's new payout: one UPDATE for the chunk.
    Earning.objects.filter(
        vendor_id__in=[payout.vendor_id for payout in payouts],
        payout__isnull=True,
        available_at__lte=now,
        currency=settings.CURRENCY,
    ).exclude(booking__status=BookingStatus.DISPUTED).update(  # held while disputed (see _held)
        payout=Subquery(Payout.objects.filter(vendor=OuterRef("vendor"), number__in=numbers).values("pk")[:1])
    )
    linked = dict(
        Earning.objects.filter(payout__in=payouts)
        .values("payout")
        .annotate(count=Count("id"))
        .values_list("payout", "count")
    )
    post_payouts(
        [(payout.vendor_id, payout.amount, payout.number) for payout in payouts],
        paid_from=GATEWAY_CLEARING,
        balances=balances,
    )
    audit_record_many(
        actor=None,
        action="payout.created",
        entries=[
            (
                payout,
                None,
                {
                    "number": payout.number,
                    "amount": payout.amount,
                    "currency": payout.currency,
                    "destination_account": payout.destination_account,
                    "earnings": linked.get(payout.pk, 0),
                },
            )
            for payout in payouts
        ],
    )
    return payouts


def _payouts_create_one_by_one(due, numbers, *, now) -> list[Payout]:
    created = []
    for (vendor, amount), number in zip(due, numbers, strict=True):
        try:
            with transaction.atomic():
                payout = Payout.objects.create(
                    number=number,
                    vendor=vendor,
                    amount=amount,
                    currency=settings.CURRENCY,
                    destination_account=vendor.payout_account_id,
                    created_at=now,
                    next_try_at=now,
                )
                linked = (
                    Earning.objects.filter(
                        vendor=vendor, payout__isnull=True, available_at__lte=now, currency=settings.CURRENCY
                    )
                    .exclude(booking__status=BookingStatus.DISPUTED)  # held while disputed (see _held)
                    .update(payout=payout)
                )
                post_payout(vendor.pk, amount, number, paid_from=GATEWAY_CLEARING)
                audit_record(
                    actor=None,
                    action="payout.created",
                    obj=payout,
                    new={
                        "number": number,
                        "amount": amount,
                        "currency": payout.currency,
                        "destination_account": payout.destination_account,
                        "earnings": linked,
                    },
                )
        except LedgerError:
            logger.exception("Payout %s for vendor %s refused by the ledger; skipped", number, vendor.pk)
            continue
        created.append(payout)
    return created


# --- transfers -------------------------------------------------------------------------------------


def _payouts_first_transfer(payouts, *, now) -> None:
    """The first transfer of the payouts a run just created (and committed): claimed together
    (SKIP LOCKED and one lease for the chunk, so a concurrent retry sweep leaves them alone),
    sent to the gateway ``TRANSFER_CONCURRENCY`` at a time with no lock held, and the successful
    ones recorded together
    (``_transfers_succeeded``). An outage or a refusal is recorded for that payout alone, as
    ``_payout_transfer`` does. A run that dies between the call and the record leaves its payouts
    pending under the lease; once it lapses the retry sweep sends them again with the same
    idempotency key, and the gateway answers with the transfer it made: paid once."""
    if not payouts:
        return
    with transaction.atomic():
        claimed = list(
            Payout.objects.select_for_update(skip_locked=True)
            .filter(pk__in=[payout.pk for payout in payouts], status=PayoutStatus.PENDING, next_try_at__lte=now)
            .order_by("number")
        )
        Payout.objects.filter(pk__in=[payout.pk for payout in claimed]).update(next_try_at=now + TRANSFER_LEASE)
    workers = min(TRANSFER_CONCURRENCY, len(claimed))
    # Threads only on PostgreSQL: on the embedded SQLite file each thread's writes (the fake
    # gateway keeps its side in our database) would queue for SQLite's single writer lock.
    db = transaction.get_connection()
    if workers > 1 and not db.in_atomic_block and db.vendor == "postgresql":
        outcomes = _send_transfers_concurrently(claimed, now=now, workers=workers)
    else:
        outcomes = [_send_transfer(payout, reference=payout.number, now=now) for payout in claimed]
    # A Payout: recorded on its own (an outage or a refusal); None: the thread failed before an
    # answer was recorded (the payout stays pending under its lease, for the retry sweep).
    paid = [
        (payout.pk, outcome)
        for payout, outcome in zip(claimed, outcomes, strict=True)
        if outcome is not None and not isinstance(outcome, Payout)
    ]
    if paid:
        _transfers_succeeded(paid, now=now)


def _send_transfers_concurrently(payouts, *, now, workers) -> list:
    """``_send_transfer`` for each payout, ``workers`` at a time; the outcomes in order."""
    outcomes = [None] * len(payouts)
    pending = queue.SimpleQueue()
    for index in range(len(payouts)):
        pending.put(index)

    def work():
        try:
            while True:
                try:
                    index = pending.get_nowait()
                except queue.Empty:
                    return
                payout = payouts[index]
                try:
                    outcomes[index] = _send_transfer(payout, reference=payout.number, now=now)
                except Exception:
                    logger.exception("Transfer of payout %s failed; the retry sweep sends it again", payout.number)
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=work, name=f"payout-transfers-{n}") for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def _send_transfer(payout, *, reference: str, now):
    """Call the gateway for one claimed payout (no lock held). Returns the Transfer when it was
    made; otherwise records the outage or the refusal and returns the payout as it is then."""
    try:
        transfer = get_gateway().create_transfer(
            amount=payout.amount,
            currency=payout.currency,
            destination_account=payout.destination_account,
            idempotency_key=f"payout-{reference}",
            metadata={"payout": payout.number, "reference": reference, "vendor": str(payout.vendor_id)},
        )
    except GatewayError as error:
        if error.retryable:
            return _transfer_unanswered(payout.pk, error=repr(error), now=now)
        return _transfer_refused(payout.pk, error=repr(error), now=now)
    except Exception as error:  # a fault of ours or of the network stack: retried like an outage
        logger.exception("Transfer of payout %s raised", payout.number)
        return _transfer_unanswered(payout.pk, error=repr(error), now=now)
    if transfer.status == "reversed":
        return _transfer_refused(payout.pk, error=f"transfer {transfer.id} is reversed", now=now)
    return transfer


def _locked(payout_id) -> Payout:
    return Payout.objects.select_for_update(of=("self",)).select_related("vendor", "vendor__user").get(pk=payout_id)


def _payout_transfer(payout_id, *, now, reference: str | None = None) -> Payout | None:
    """Send one due pending payout's transfer, if nobody else is sending it: claim the row (SKIP
    LOCKED, a lease in next_try_at), commit, call the gateway, record the answer. None when the
    payout was not claimed (not pending, not due, or taken by another worker)."""
    with transaction.atomic():
        payout = (
            Payout.objects.select_for_update(skip_locked=True)
            .filter(pk=payout_id, status=PayoutStatus.PENDING, next_try_at__lte=now)
            .first()
        )
        if payout is None:
            return None
        Payout.objects.filter(pk=payout.pk).update(next_try_at=now + TRANSFER_LEASE)
    reference = reference or _current_gateway_reference(payout)
    outcome = _send_transfer(payout, reference=reference, now=now)
    if isinstance(outcome, Payout):
        return outcome
    return _transfer_succeeded(payout.pk, transfer=outcome, now=now)


@transaction.atomic
def _transfer_succeeded(payout_id, *, transfer, now) -> Payout:
    payout = _locked(payout_id)
    if payout.status != PayoutStatus.PENDING:
        # a reversal webhook or ops got there first; the gateway's answer changes nothing now
        logger.warning("Transfer %s answered for payout %s, which is %s", transfer.id, payout.number, payout.status)
        return payout
    old = {"status": payout.status}
    _move(payout, PayoutStatus.PAID)
    payout.paid_at = now
    payout.gateway_transfer_id = transfer.id
    payout.tries += 1
    payout.last_error = ""
    payout.save(update_fields=["status", "paid_at", "gateway_transfer_id", "tries", "last_error"])
    audit_record(
        actor=None,
        action="payout.paid",
        obj=payout,
        old=old,
        new={"status": payout.status, "gateway_transfer_id": transfer.id, "paid_at": now.isoformat()},
    )
    _notify_vendor_paid(payout)
    return payout


@transaction.atomic
def _transfers_succeeded(paid, *, now) -> list[Payout]:
    """``_transfer_succeeded`` for many payouts at once: ``paid`` are (payout id, Transfer). One
    locking read, one UPDATE, one audit insert and the vendors' notifications in bulk."""
    transfers = dict(paid)
    payouts = list(
        Payout.objects.select_for_update(of=("self",))
        .select_related("vendor", "vendor__user")
        .filter(pk__in=list(transfers))
        .order_by("pk")
    )
    done = []
    for payout in payouts:
        transfer = transfers[payout.pk]
        if payout.status != PayoutStatus.PENDING:
            logger.warning("Transfer %s answered for payout %s, which is %s", transfer.id, payout.number, payout.status)
            continue
        _move(payout, PayoutStatus.PAID)
        payout.paid_at = now
        payout.gateway_transfer_id = transfer.id
        payout.tries += 1
        payout.last_error = ""
        done.append(payout)
    if not done:
        return []
    # What every row gets alike in one UPDATE; only the transfer id differs row by row.
    Payout.objects.filter(pk__in=[payout.pk for payout in done]).update(
        status=PayoutStatus.PAID,
        paid_at=now,
        tries=F("tries") + 1,
        last_error="",
        gateway_transfer_id=Case(
            *(When(pk=payout.pk, then=Value(payout.gateway_transfer_id)) for payout in done),
            output_field=CharField(),
        ),
    )
    audit_record_many(
        actor=None,
        action="payout.paid",
        entries=[
            (
                payout,
                {"status": PayoutStatus.PENDING},
                {
                    "status": payout.status,
                    "gateway_transfer_id": payout.gateway_transfer_id,
                    "paid_at": now.isoformat(),
                },
            )
            for payout in done
        ],
    )
    notify_bulk([_vendor_paid_message(payout) for payout in done])
    return done


@transaction.atomic
def _transfer_unanswered(payout_id, *, error: str, now) -> Payout:
    payout = _locked(payout_id)
    if payout.status != PayoutStatus.PENDING:
        return payout
    payout.tries += 1
    payout.last_error = error[:2000]
    if payout.tries >= MAX_TRANSFER_TRIES:
        return _payout_fail(
            payout,
            error=_("no answer from the gateway after %(tries)s tries") % {"tries": payout.tries} + f" ({error[:500]})",
            now=now,
        )
    payout.next_try_at = now + backoff(payout.tries)
    payout.save(update_fields=["tries", "last_error", "next_try_at"])
    audit_record(
        actor=None,
        action="payout.transfer_retry",
        obj=payout,
        new={"tries": payout.tries, "next_try_at": payout.next_try_at.isoformat(), "error": error[:500]},
    )
    return payout


@transaction.atomic
def _transfer_refused(payout_id, *, error: str, now) -> Payout:
    payout = _locked(payout_id)
    if payout.status != PayoutStatus.PENDING:
        return payout
    payout.tries += 1
    return _payout_fail(payout, error=error, now=now)


def _payout_fail(payout, *, error: str, now, actor=None) -> Payout:
    """Mark a pending or paid payout failed and reverse its latest gateway round in the ledger,
    so the money is owed to the vendor again; ops are told. Called with the payout row locked."""
    old = {"status": payout.status}
    reference = _current_gateway_reference(payout)
    post_payout_reversal(payout.vendor_id, payout.amount, reference, actor=actor)
    _move(payout, PayoutStatus.FAILED)
    payout.paid_at = None  # a reversed transfer is no longer paid; the audit log keeps the history
    payout.last_error = error[:2000]
    payout.save(update_fields=["status", "paid_at", "last_error", "tries"])
    audit_record(
        actor=actor,
        action="payout.failed",
        obj=payout,
        old=old,
        new={"status": payout.status, "error": error[:500], "reversed": reference},
    )
    _notify_ops_failed(payout, error)
    return payout


def payouts_retry_due(*, now=None, limit: int = 500) -> list[Payout]:
    """The sweep: send again every pending payout whose next try is due (an outage's backoff that
    passed, a run that died after committing its payouts, a lapsed lease), with the same
    idempotency key. Returns the payouts it sent, with their status after."""
    now = now or timezone.now()
    due = list(
        Payout.objects.filter(status=PayoutStatus.PENDING, next_try_at__lte=now)
        .order_by("next_try_at")
        .values_list("pk", flat=True)[:limit]
    )
    sent = []
    for payout_id in due:
        payout = _payout_transfer(payout_id, now=now)
        if payout is not None:
            sent.append(payout)
    return sent


# --- ops ---------------------------------------------------------------------------------------------


def _require_ops(actor):
    if not (getattr(actor, "is_authenticated", False) and actor.role in (Role.OPS_MANAGER, Role.SUPER_ADMIN)):
        raise Forbidden(_("Only operations staff can do this."))


def _post_or_conflict(payout, reference, *, paid_from, actor):
    try:
        post_payout(payout.vendor_id, payout.amount, reference, paid_from=paid_from, actor=actor)
    except LedgerError as error:
        raise Conflict(
            _("The vendor's balance is now %(balance)s %(currency)s, less than this payout (%(error)s).")
            % {"balance": vendor_balance(payout.vendor_id), "currency": payout.currency, "error": error}
        ) from error


def payout_retry(*, payout: Payout, actor, now=None) -> Payout:
    """Ops send a failed payout again (after the vendor fixed their account, or the gateway is
    back): a new round ``<number>-R<n>`` posted to the ledger and transferred to the vendor's
    current payout account with a new idempotency key. A payout already pending again is returned
    as it is (a repeated click); a paid one is a Conflict, as is a balance that no longer covers
    the payout (the ledger refuses it)."""
    _require_ops(actor)
    now = now or timezone.now()
    with transaction.atomic():
        lock_vendors([payout.vendor_id])
        payout = _locked(payout.pk)
        if payout.status == PayoutStatus.PENDING:
            return payout
        if payout.status != PayoutStatus.FAILED:
            raise Conflict(_("Only a failed payout can be retried."), extra={"status": payout.status})
        vendor = payout.vendor
        if not vendor.payout_account_id:
            raise Conflict(_("The vendor has no payout account; pay by bank transfer and mark the payout paid."))
        rounds = [_reference_round(payout.number, ref) for ref in payout_ledger_references(payout)]
        next_round = max(r for r in rounds if r is not None) + 1
        if next_round > MAX_RETRY_ROUNDS:
            raise Conflict(_("This payout was retried too often; pay it by bank transfer and mark it paid."))
        reference = f"{payout.number}-R{next_round}"
        _post_or_conflict(payout, reference, paid_from=GATEWAY_CLEARING, actor=actor)
        old = {"status": payout.status, "destination_account": payout.destination_account, "tries": payout.tries}
        _move(payout, PayoutStatus.PENDING)
        payout.destination_account = vendor.payout_account_id
        payout.tries = 0
        payout.next_try_at = now
        payout.last_error = ""
        payout.save(update_fields=["status", "destination_account", "tries", "next_try_at", "last_error"])
        audit_record(
            actor=actor,
            action="payout.retry",
            obj=payout,
            old=old,
            new={"status": payout.status, "destination_account": payout.destination_account, "reference": reference},
        )
    return _payout_transfer(payout.pk, now=now, reference=reference) or Payout.objects.get(pk=payout.pk)


def payout_mark_paid(*, payout: Payout, bank_reference: str, actor, now=None) -> Payout:
    """Ops paid a failed payout by bank transfer: post it from ``bank`` (``<number>-BANK``) and
    mark it paid with the bank's reference. Marking it again with the same reference is a no-op.
    A pending payout is refused (its transfer may still go through: see the module docstring)."""
    _require_ops(actor)
    reference = (bank_reference or "").strip()
    if not reference:
        raise InvalidInput(fields={"bank_reference": [_("Enter the bank transfer's reference.")]})
    if len(reference) > 100:
        raise InvalidInput(fields={"bank_reference": [_("At most 100 characters.")]})
    now = now or timezone.now()
    with transaction.atomic():
        lock_vendors([payout.vendor_id])
        payout = _locked(payout.pk)
        if payout.status == PayoutStatus.PAID:
            if payout.bank_reference == reference:
                return payout
            raise Conflict(_("This payout is already paid."), extra={"status": payout.status})
        if payout.status == PayoutStatus.PENDING:
            raise Conflict(
                _(
                    "The transfer of this payout is still being tried; paying it by bank now could pay the "
                    "vendor twice. Wait until it is paid or failed."
                ),
                extra={"status": payout.status},
            )
        _post_or_conflict(payout, f"{payout.number}-{BANK_SUFFIX}", paid_from=BANK, actor=actor)
        old = {"status": payout.status}
        _move(payout, PayoutStatus.PAID)
        payout.paid_at = now
        payout.bank_reference = reference
        payout.last_error = ""
        payout.save(update_fields=["status", "paid_at", "bank_reference", "last_error"])
        audit_record(
            actor=actor,
            action="payout.marked_paid",
            obj=payout,
            old=old,
            new={"status": payout.status, "bank_reference": reference, "paid_at": now.isoformat()},
        )
        _notify_vendor_paid(payout)
    return payout


# --- gateway events --------------------------------------------------------------------------------


def payout_transfer_reversed(
    *, transfer_id: str, metadata: dict | None = None, amount_reversed: Decimal, fully: bool, now=None
) -> tuple[Payout | None, str]:
    """The gateway pulled a payout's transfer back (``transfer.reversed``; ``fully`` when the
    whole transfer is reversed). A full reversal of the payout's current round marks it failed and
    reverses it in the ledger (money owed to the vendor again; ops told). Idempotent: a failed
    payout stays as it is. A partial reversal is flagged to ops and recorded in ``last_error``;
    the ledger correction is theirs. Returns (payout or None, what was done)."""
    now = now or timezone.now()
    metadata = metadata or {}
    payout = Payout.objects.filter(gateway_transfer_id=transfer_id).first() if transfer_id else None
    if payout is None and metadata.get("payout"):
        payout = Payout.objects.filter(number=str(metadata["payout"])).first()
    if payout is None:
        return None, "no payout for this transfer"
    with transaction.atomic():
        payout = _locked(payout.pk)
        if payout.status == PayoutStatus.FAILED:
            return payout, "already failed"
        if payout.gateway_transfer_id and payout.gateway_transfer_id != transfer_id:
            return payout, "a transfer of an earlier round"
        if (
            not payout.gateway_transfer_id
            and metadata.get("reference")
            and metadata["reference"] != _current_gateway_reference(payout)
        ):
            return payout, "a transfer of an earlier round"
        if payout.bank_reference or not (fully or amount_reversed >= payout.amount):
            what = (
                _("partly reversed (%(amount)s %(currency)s)")
                % {"amount": amount_reversed, "currency": payout.currency}
                if not payout.bank_reference
                else _("reversed, but it was paid by bank transfer")
            )
            payout.last_error = f"transfer {transfer_id} {what}"[:2000]
            payout.save(update_fields=["last_error"])
            audit_record(actor=None, action="payout.transfer_reversed", obj=payout, new={"detail": payout.last_error})
            notify_ops(
                kind="payout.reversed",
                title=_("A payout transfer was reversed"),
                body=_("The transfer of payout %(number)s was %(what)s. Check it and correct the ledger.")
                % {"number": payout.number, "what": what},
                data={"payout_id": str(payout.pk), "number": payout.number, "transfer_id": transfer_id},
            )
            return payout, "flagged for ops"
        _payout_fail(payout, error=f"transfer {transfer_id} reversed at the gateway", now=now)
    return payout, ""


# --- reads: earnings summary and payout lists -----------------------------------------------------------


def earnings_summary(*, vendor, now=None, period: str = "day", date_from=None, date_to=None) -> dict:
    """A vendor's earnings for ``GET /api/earnings/``.

    Totals: ``pending`` (on hold), ``payable`` (past the hold, in no payout yet), ``processing``
    (in a payout not paid yet: pending, or failed and waiting for ops), ``paid``; and ``balance``,
    the ledger's word on what the platform owes the vendor net of what they owe (cash commission,
    refunds after payout) — negative when the vendor owes. Rows: the earnings recorded per day,
    week (from Monday) or month in the platform time zone, newest first, between ``date_from``
    and ``date_to`` (local dates; default the last 30 days / 12 weeks / 12 months)."""
    if period not in PERIODS:
        raise InvalidInput(fields={"period": [_("Choose day, week or month.")]})
    now = now or timezone.now()
    zone = timezone.get_current_timezone()
    date_to = date_to or timezone.localdate(now)
    date_from = date_from or (date_to - DEFAULT_WINDOW[period])
    if date_from > date_to:
        raise InvalidInput(fields={"date_from": [_("date_from is after date_to.")]})
    if date_to - date_from > MAX_WINDOW:
        raise InvalidInput(fields={"date_from": [_("At most three years at a time.")]})
    earnings = Earning.objects.filter(vendor=vendor, currency=settings.CURRENCY)
    totals = earnings.aggregate(
        pending=Sum("amount", filter=Q(payout__isnull=True, available_at__gt=now), default=ZERO),
        payable=Sum("amount", filter=Q(payout__isnull=True, available_at__lte=now), default=ZERO),
        processing=Sum(
            "amount", filter=Q(payout__status__in=[PayoutStatus.PENDING, PayoutStatus.FAILED]), default=ZERO
        ),
        paid=Sum("amount", filter=Q(payout__status=PayoutStatus.PAID), default=ZERO),
    )
    start = datetime.combine(date_from, time.min, tzinfo=zone)
    end = datetime.combine(date_to + timedelta(days=1), time.min, tzinfo=zone)
    rows = (
        earnings.filter(created_at__gte=start, created_at__lt=end)
        .annotate(period_start=Trunc("created_at", period, output_field=DateField(), tzinfo=zone))
        .values("period_start")
        .annotate(amount=Sum("amount"), count=Count("id"))
        .order_by("-period_start")
    )
    return {
        "currency": settings.CURRENCY,
        "period": period,
        "date_from": date_from,
        "date_to": date_to,
        "hold_hours": SystemSettings.load().payout_hold_hours,
        "totals": {name: money(value) for name, value in totals.items()} | {"balance": vendor_balance(vendor)},
        "rows": [
            {"period_start": row["period_start"], "amount": money(row["amount"]), "count": row["count"]} for row in rows
        ],
    }


def payouts_visible_to(user):
    """Payouts the user may list: a vendor their own, ops staff all; nobody else any."""
    queryset = (
        Payout.objects.select_related("vendor")
        .annotate(earnings_count=Count("earnings"))
        .order_by("-created_at", "-number")
    )
    if user.role in (Role.OPS_MANAGER, Role.SUPER_ADMIN):
        return queryset
    if user.role == Role.VENDOR and hasattr(user, "vendor_profile"):
        return queryset.filter(vendor=user.vendor_profile)
    return queryset.none()
