"""Background jobs at volume, each on rows prepared for it in bulk on the seed_bench data:

- **expiry**: the signature-request expiry sweep over 100,000 overdue requests;
- **reminders**: the reminder sweep (24 h / 1 h before the start) for 50,000 confirmed bookings
  that are due at once (a backlog: the worst case a beat tick can meet);
- **payouts**: the payout run for 10,000 vendors with card earnings past their hold (fake gateway,
  as the bench environment configures).

For each: wall time and query count, split into the job's bulk SQL, its bookkeeping, and the
work queued after commit (pushes and SMS/e-mail deliveries handed to the broker), each timed and
counted on its own; the targets are printed beside the figures.

    .venv/bin/python bench/jobs.py                      # scale 1.0: 100,000 / 50,000 / 10,000 (~25 min)
    .venv/bin/python bench/jobs.py --scale 0.05         # a quick look: 5,000 / 2,500 / 500
    .venv/bin/python bench/jobs.py --jobs payouts --payouts 2000 --scale 0.2
    .venv/bin/python bench/jobs.py --reuse ...          # the database seed_bench made last (not benched yet)

The counts default to the scale times the full counts (10,000 vendors at scale 1.0, so the full
payout count needs scale 1.0). How the rows are made, and what is simplified:

- expiry: bench bookings past their start switched to ``awaiting_signature``, each with an open
  request whose 48 h ran out an hour ago. The sweep reads only the requests and their bookings,
  so what the bookings went through before does not change what is measured.
- reminders: copies of each vendor's confirmed bench bookings (money, line and cash attempt
  copied; every timestamp shifted with the start, so each was confirmed two days ahead and is owed
  its 24 h reminder) moved into the next 24 h on the 30-minute grid, inside the vendor's working
  hours and clear of their other bookings (the exclusion constraint is live).
- payouts: per vendor, ``--earnings-per-vendor`` card bookings signed 3+ days ago (copies of the
  vendor's done bench bookings at 19:30, after their last job), with a captured card attempt,
  the capture's ledger transaction and the earning — made by ``post_capture`` and
  ``earning_record`` for one booking per service and copied for the others; the cash commission
  the vendor owed from the seed's cash bookings settled by a ledger adjustment (ops received it by
  bank transfer), so what is paid out is the card earnings; and a connected account
  (``acct_bench_…``). The fake gateway keeps its transfers in the database, so its queries are
  part of the run (counted on their own).

No Celery worker runs here: the deliveries the jobs queue are dropped from the bench's broker at
the end. ``--slowest N`` lists each job's N costliest statements.
"""

import argparse
import random
import subprocess
import threading
import time
import uuid
from collections import defaultdict
from contextlib import contextmanager
from datetime import datetime, timedelta
from datetime import time as dt_time

import common

FULL = {"expiry": 100_000, "reminders": 50_000, "payouts": 10_000}
TARGETS = {"expiry": ("bulk SQL", 5.0), "payouts": ("whole run", 60.0)}
JOBS = ("expiry", "reminders", "payouts")


def seed(scale):
    common.recreate_database()
    subprocess.run(
        [common.PYTHON, "manage.py", "seed_bench", "--scale", str(scale)],
        cwd=common.ROOT,
        env=common.bench_env(),
        check=True,
    )


# --- measuring -------------------------------------------------------------------------------------


class Profile:
    """Every query the job sends, with its time and the step it belongs to; and the work done in
    after-commit callbacks (``transaction.on_commit``), timed apart from the job itself.

    A query belongs to the innermost step entered with ``step(name)`` (or wrapped with
    ``wrap``); queries in after-commit callbacks to ``AFTER_COMMIT``."""

    AFTER_COMMIT = "after commit"

    def __init__(self):
        self.queries = []  # (step, sql, seconds)
        self.steps = ["job"]
        # step -> seconds spent in it, not counting the steps entered inside it (so the steps'
        # times add up to the whole: the after-commit work run at a commit inside a step is
        # counted as after-commit work, not as the step's)
        self.wall = defaultdict(float)
        self.callbacks = 0
        self._resumed = time.perf_counter()
        self._thread = threading.local()

    def _switch(self):
        now = time.perf_counter()
        self.wall[self.steps[-1]] += now - self._resumed
        self._resumed = now

    def __call__(self, execute, sql, params, many, context):
        began = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            step = getattr(self._thread, "step", None) or self.steps[-1]
            self.queries.append((step, sql, time.perf_counter() - began))

    @contextmanager
    def in_thread(self, name):
        """For work the job runs in threads of its own (their own connections): their queries
        count as step ``name``; their time is the time the main thread waits for them."""
        from django.db import connection

        self._thread.step = name
        try:
            with connection.execute_wrapper(self):
                yield
        finally:
            self._thread.step = None

    @contextmanager
    def step(self, name):
        self._switch()
        self.steps.append(name)
        try:
            yield
        finally:
            self._switch()
            self.steps.pop()

    def wrap(self, module, attribute, name):
        """Replace ``module.attribute`` (a function the job calls by that name) by one timed as
        step ``name``. Measuring only: arguments and results pass through unchanged."""
        original = getattr(module, attribute)

        def timed(*args, **kwargs):
            with self.step(name):
                return original(*args, **kwargs)

        self.patch(module, attribute, timed)

    def patch(self, module, attribute, value):
        """Set ``module.attribute`` to ``value`` until the recording ends."""
        self._restore.append((module, attribute, getattr(module, attribute)))
        setattr(module, attribute, value)

    @contextmanager
    def recording(self):
        from django.db import connection, transaction

        self._restore = []
        original_on_commit = transaction.on_commit

        def on_commit(func, using=None, robust=False):
            def timed():
                self.callbacks += 1
                with self.step(self.AFTER_COMMIT):
                    func()

            return original_on_commit(timed, using=using, robust=robust)

        transaction.on_commit = on_commit
        began = self._resumed = time.perf_counter()
        try:
            with connection.execute_wrapper(self):
                yield self
        finally:
            self._switch()
            self.total = time.perf_counter() - began
            transaction.on_commit = original_on_commit
            for module, attribute, original in reversed(self._restore):
                setattr(module, attribute, original)

    def select(self, test):
        return [(sql, seconds) for step, sql, seconds in self.queries if test(step, sql)]

    def row(self, label, test, wall=None):
        """[label, queries, Σ query ms, wall ms] for the queries ``test(step, sql)`` picks."""
        picked = self.select(test)
        seconds = sum(s for _sql, s in picked)
        return [label, len(picked), common.ms(seconds), common.ms(wall) if wall is not None else "—"]

    def after_commit_row(self, label="after commit: pushes and deliveries queued"):
        after = self.select(lambda step, sql: step == self.AFTER_COMMIT)
        return [
            f"{label} ({self.callbacks} callbacks)",
            len(after),
            common.ms(sum(s for _sql, s in after)),
            common.ms(self.wall[self.AFTER_COMMIT]),
        ]

    def slowest(self, count):
        """The ``count`` statement shapes (first 150 characters) that took longest in all."""
        shapes = defaultdict(lambda: [0, 0.0])
        for step, sql, seconds in self.queries:
            shape = shapes[(step, " ".join(sql.split())[:150])]
            shape[0] += 1
            shape[1] += seconds
        ranked = sorted(shapes.items(), key=lambda item: -item[1][1])[:count]
        return [[step, calls, common.ms(seconds), shape] for (step, shape), (calls, seconds) in ranked]

    def whole_row(self, label):
        return [label, len(self.queries), common.ms(sum(s for *_rest, s in self.queries)), common.ms(self.total)]


HEADERS = ["step", "queries", "Σ query ms", "wall ms"]


def _is(table):
    return lambda sql: f'"{table}"' in sql.split(" WHERE ", 1)[0][:200]


def _writes(sql):
    return sql.lstrip().startswith(("INSERT", "UPDATE", "DELETE"))


def _transaction_control(sql):
    return sql.startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT"))


# --- expiry --------------------------------------------------------------------------------------


def make_overdue_requests(count) -> int:
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            WITH chosen AS (
                SELECT id FROM bookings_booking
                WHERE booking_number LIKE 'BB-%%' AND scheduled_at < now() - interval '3 days'
                ORDER BY booking_number LIMIT %s
            )
            UPDATE bookings_booking b SET status = 'awaiting_signature'
            FROM chosen WHERE b.id = chosen.id
            """,
            [count],
        )
        cursor.execute(
            """
            INSERT INTO signatures_signaturerequest
                (id, booking_id, token_hash, token_nonce, status, created_at, expires_at)
            SELECT gen_random_uuid(), id, md5(random()::text) || md5(random()::text), md5(id::text), 'open',
                   now() - interval '49 hours', now() - interval '1 hour'
            FROM bookings_booking
            WHERE status = 'awaiting_signature' AND booking_number LIKE 'BB-%%'
            ORDER BY booking_number LIMIT %s
            """,
            [count],
        )
        made = cursor.rowcount
    _analyze("signatures_signaturerequest", "bookings_booking")
    return made


def bench_expiry(count):
    """The sweep in a transaction of its own, so that what runs after its commit is timed apart."""
    from django.db import transaction

    from signatures.services import signature_requests_expire

    profile = Profile()
    with profile.recording(), transaction.atomic(), profile.step("sweep"):
        expired = signature_requests_expire(limit=count)
    commit = profile.wall["job"]  # outside the sweep and its after-commit work: the COMMIT

    def bulk(step, sql):
        # On PostgreSQL the claim and the update are one statement (signatures.services).
        sql = sql.lstrip()
        return step == "sweep" and ("FOR UPDATE" in sql or sql.startswith('UPDATE "signatures_signaturerequest"'))

    bulk_sql = sum(seconds for _sql, seconds in profile.select(bulk))
    rows = [
        profile.row("claim + UPDATE of every overdue request (the bulk SQL)", bulk, bulk_sql),
        profile.row(
            "bookkeeping in the transaction (events, audit, notifications, deliveries)",
            lambda step, sql: step == "sweep" and not bulk(step, sql),
            profile.wall["sweep"] - bulk_sql,
        ),
        ["commit", "—", "—", common.ms(commit)],
        profile.after_commit_row(),
        profile.whole_row("whole sweep"),
    ]
    return expired, profile, rows, bulk_sql


def print_slowest(profile, count):
    if count:
        headers = ["step", "calls", "Σ ms", "statement"]
        common.print_table(f"The {count} slowest statements", headers, profile.slowest(count))


def run_expiry(count, slowest=0):
    made = make_overdue_requests(count)
    expired, profile, rows, bulk_sql = bench_expiry(count)
    common.print_table(
        f"Signature-request expiry: {expired} of {made} overdue requests — {common.machine()}", HEADERS, rows
    )
    print_slowest(profile, slowest)
    return {
        "job": "expiry",
        "items": f"{expired} requests",
        "wall": profile.total,
        "queries": len(profile.queries),
        "measured": bulk_sql,
    }


# --- reminders -----------------------------------------------------------------------------------


def _copy(instance, **changes):
    """A new unsaved row with ``instance``'s column values and ``changes``."""
    values = {field.attname: getattr(instance, field.attname) for field in instance._meta.concrete_fields}
    values.update(changes)
    return type(instance)(**values)


def _shifted(instance, delta, **changes):
    """A copy of ``instance`` with every timestamp moved by ``delta`` (its lifecycle keeps its shape)."""
    from django.db import models

    moved = {
        field.attname: getattr(instance, field.attname) + delta
        for field in instance._meta.concrete_fields
        if isinstance(field, models.DateTimeField) and getattr(instance, field.attname) is not None
    }
    return _copy(instance, **{**moved, **changes})


def _analyze(*tables):
    from django.db import connection

    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f'ANALYZE "{table}"')


def _bench_customers():
    from core.models import User

    return list(User.objects.filter(username__startswith="bench-customer-").values_list("pk", flat=True))


def _first_per_vendor(bookings, count) -> dict:
    """{vendor id: its first ``count`` of ``bookings`` by number, with their lines}."""
    from django.db.models import F, Window
    from django.db.models.functions import RowNumber

    ranked = bookings.annotate(
        rank=Window(RowNumber(), partition_by=[F("vendor_id")], order_by=F("booking_number").asc())
    ).filter(rank__lte=count)
    templates = defaultdict(list)
    for booking in ranked.order_by("vendor_id", "booking_number").prefetch_related("lines"):
        templates[booking.vendor_id].append(booking)
    return templates


def _write_copies(bookings, lines, attempts):
    from django.db import transaction

    from bookings.models import Booking, BookingLine
    from payments.models import PaymentAttempt

    with transaction.atomic():
        Booking.objects.bulk_create(bookings, batch_size=5000)
        BookingLine.objects.bulk_create(lines, batch_size=5000)
        PaymentAttempt.objects.bulk_create(attempts, batch_size=5000)


def make_due_reminders(count, now) -> int:
    """``count`` confirmed bookings starting in (now, now + 24 h], spread over the bench vendors
    (round robin) on the 30-minute grid inside their working hours (07:00–21:00, seed_bench) and
    clear of their other slot-holding bookings. Each is a copy of one of the vendor's confirmed
    bench bookings with every timestamp shifted by the same amount. Returns how many were made."""
    from django.utils import timezone

    from bookings.availability import platform_zone
    from bookings.models import SLOT_HOLDING_STATUSES, Booking, BookingStatus
    from payments.models import PaymentAttempt

    zone = platform_zone()
    end = now + timedelta(hours=24)
    templates = _first_per_vendor(
        Booking.objects.filter(booking_number__startswith="BB-", status=BookingStatus.CONFIRMED), 3
    )
    busy = defaultdict(list)
    for vendor_id, start, until in Booking.objects.filter(
        vendor_id__in=list(templates),
        status__in=SLOT_HOLDING_STATUSES,
        scheduled_at__lt=end + timedelta(hours=3),
        blocked_until__gt=now - timedelta(hours=3),
    ).values_list("vendor_id", "scheduled_at", "blocked_until"):
        busy[vendor_id].append((start, until))
    first = (now + timedelta(minutes=5)).astimezone(zone)
    first = first.replace(second=0, microsecond=0) + timedelta(minutes=(30 - first.minute % 30) % 30)
    grid = []
    at = first
    while at <= end:
        grid.append(at)
        at += timedelta(minutes=30)
    chosen = {}
    for vendor_id, own in templates.items():
        taken, picks = list(busy[vendor_id]), []
        for start in grid:
            template = own[len(picks) % len(own)]
            visit = template.ends_at - template.scheduled_at
            until = start + (template.blocked_until - template.scheduled_at)
            opens = datetime.combine(start.date(), dt_time(7), tzinfo=zone)
            closes = datetime.combine(start.date(), dt_time(21), tzinfo=zone)
            if start < opens or start + visit > closes:
                continue
            if any(start < other_until and other_start < until for other_start, other_until in taken):
                continue
            taken.append((start, until))
            picks.append((template, start))
        chosen[vendor_id] = picks
    order = []  # round robin over the vendors, so the load is spread as a real day's would be
    for index in range(max((len(picks) for picks in chosen.values()), default=0)):
        order.extend(picks[index] for picks in chosen.values() if index < len(picks))
    order = order[:count]
    attempts_of = {
        attempt.booking_id: attempt
        for attempt in PaymentAttempt.objects.filter(
            booking_id__in={template.pk for template, _start in order}, is_active=True
        )
    }
    customers = _bench_customers()
    chooser = random.Random(50_000)
    stamp = timezone.now()
    bookings, lines, attempts = [], [], []
    for number, (template, start) in enumerate(order):
        delta = start - template.scheduled_at
        booking_id = uuid.uuid4()
        bookings.append(
            _shifted(
                template,
                delta,
                id=booking_id,
                booking_number=f"BR-{number:012d}",
                customer_id=chooser.choice(customers),
                updated_at=stamp,
            )
        )
        lines.extend(_copy(line, id=None, booking_id=booking_id) for line in template.lines.all())
        attempts.append(
            _shifted(attempts_of[template.pk], delta, id=uuid.uuid4(), booking_id=booking_id, updated_at=stamp)
        )
    _write_copies(bookings, lines, attempts)
    _analyze("bookings_booking", "bookings_bookingline", "payments_paymentattempt", "bookings_bookingreminder")
    return len(bookings)


def bench_reminders(now):
    """The sweep as beat runs it, run after run, until nothing is due (a backlog of due bookings
    is worked through in ``send_due_reminders``' batches)."""
    from bookings.services import reminders

    profile = Profile()
    runs = sent = 0
    with profile.recording():
        while True:
            with profile.step("run"):
                done = reminders.send_due_reminders(now=now)
            runs += 1
            sent += done
            if not done:
                break
    claim = ("FOR UPDATE",)

    def in_job(step, sql):
        return step != Profile.AFTER_COMMIT

    rows = [
        profile.row(
            "claim the due bookings (SELECT … FOR UPDATE SKIP LOCKED)", lambda s, q: in_job(s, q) and "FOR UPDATE" in q
        ),
        profile.row(
            "sent-markers (INSERT booking reminders)",
            lambda s, q: in_job(s, q) and _writes(q) and _is("bookings_bookingreminder")(q),
        ),
        profile.row(
            "notifications and their deliveries (INSERT)",
            lambda s, q: (
                in_job(s, q) and _writes(q) and (_is("core_notification")(q) or _is("core_notificationdelivery")(q))
            ),
        ),
        profile.row("savepoints", lambda s, q: in_job(s, q) and _transaction_control(q)),
        profile.row(
            "other reads",
            lambda s, q: (
                in_job(s, q) and not any(word in q for word in claim) and not _writes(q) and not _transaction_control(q)
            ),
        ),
        profile.row("the runs' transactions, together (SQL and Python)", in_job, profile.wall["run"]),
        profile.after_commit_row(),
        profile.whole_row(f"whole sweep ({runs} runs)"),
    ]
    return sent, runs, profile, rows


def run_reminders(count, slowest=0):
    from django.utils import timezone

    from bookings.models import BookingReminder

    now = timezone.now()
    made = make_due_reminders(count, now)
    sent, runs, profile, rows = bench_reminders(now)
    markers = BookingReminder.objects.filter(booking__booking_number__startswith="BR-").count()
    common.print_table(
        f"Reminder sweep: {sent} reminders (markers {markers}) for {made} confirmed bookings due at once, "
        f"{runs} runs of send_due_reminders — {common.machine()}",
        HEADERS,
        rows,
    )
    print_slowest(profile, slowest)
    return {"job": "reminders", "items": f"{made} bookings", "wall": profile.total, "queries": len(profile.queries)}


# --- payouts -------------------------------------------------------------------------------------


def make_payable_vendors(count, per_vendor, now) -> tuple[int, int]:
    """``count`` bench vendors with ``per_vendor`` card earnings past their hold each, their cash
    debt settled, and a connected account (see the module docstring). Returns (vendors, earnings)."""
    from django.conf import settings
    from django.db import transaction
    from django.db.models import Sum
    from django.utils import timezone

    from bookings.availability import platform_zone
    from bookings.models import Booking, BookingStatus
    from core.models import SystemSettings, User, VendorProfile
    from payments.ledger import BANK, post_capture, vendor_account
    from payments.models import (
        AttemptStatus,
        Earning,
        LedgerKind,
        LedgerLine,
        LedgerTransaction,
        PaymentAttempt,
    )
    from payments.payouts import earning_record

    zone = platform_zone()
    vendors = list(
        VendorProfile.objects.filter(user__username__startswith="bench-vendor-")
        .order_by("pk")
        .values_list("pk", flat=True)[:count]
    )
    # Done jobs of the vendor (the expiry bench may have turned some signed ones into waiting
    # for a signature): the copies are made signed.
    done = [BookingStatus.SIGNED, BookingStatus.AWAITING_SIGNATURE, BookingStatus.COMPLETED]
    templates = _first_per_vendor(
        Booking.objects.filter(booking_number__startswith="BB-", status__in=done, vendor_id__in=vendors), per_vendor
    )
    today = now.astimezone(zone).date()
    hold = timedelta(hours=SystemSettings.load().payout_hold_hours)
    customers = _bench_customers()
    chooser = random.Random(10_000)
    stamp = timezone.now()
    bookings, lines, attempts = [], [], []
    number = 0
    for vendor_id in vendors:
        for day, template in enumerate(templates[vendor_id]):
            # 19:30, after the vendor's last bench job of that day, 3+ days ago: past the hold
            start = datetime.combine(today - timedelta(days=3 + day), dt_time(19, 30), tzinfo=zone)
            delta = start - template.scheduled_at
            booking_id = uuid.uuid4()
            booking = _shifted(
                template,
                delta,
                id=booking_id,
                booking_number=f"BP-{number:012d}",
                customer_id=chooser.choice(customers),
                status=BookingStatus.SIGNED,
                payment_method="card",
                updated_at=stamp,
            )
            bookings.append(booking)
            lines.extend(_copy(line, id=None, booking_id=booking_id) for line in template.lines.all())
            attempts.append(
                PaymentAttempt(
                    id=uuid.uuid4(),
                    booking_id=booking_id,
                    method="card",
                    status=AttemptStatus.CAPTURED,
                    is_active=True,
                    amount=booking.total,
                    currency=booking.currency,
                    amount_captured=booking.total,
                    gateway="fake",
                    authorized_at=booking.created_at + timedelta(minutes=1),
                    captured_at=booking.completed_at + timedelta(hours=1),
                    created_at=booking.created_at,
                    updated_at=stamp,
                )
            )
            number += 1
    _write_copies(bookings, lines, attempts)

    # What the vendors owe now (the commission and tax of the seed's cash bookings), read before
    # the card captures below credit them; settled further down.
    owed = list(
        LedgerLine.objects.filter(account__in=[vendor_account(vendor_id) for vendor_id in vendors])
        .values("account")
        .annotate(total=Sum("amount"))
        .order_by()
    )
    # The capture and its earning: through the ledger's own functions for one booking per price,
    # copied (vendor, booking, attempt and times substituted) for the others.
    posted = {}
    for booking, attempt in zip(bookings, attempts, strict=True):
        if booking.total in posted:
            continue
        with transaction.atomic():
            txn = post_capture(booking, attempt)
            earning = earning_record(booking=booking, ledger_transaction=txn, now=attempt.captured_at)
        posted[booking.total] = (txn, list(txn.lines.all()), earning, booking, attempt)
    txns, txn_lines, earnings = [], [], []
    for booking, attempt in zip(bookings, attempts, strict=True):
        txn, template_lines, earning, template_booking, template_attempt = posted[booking.total]
        if booking.pk == template_booking.pk:
            continue
        txn_id = uuid.uuid4()
        txns.append(
            _copy(
                txn,
                id=txn_id,
                idempotency_key=txn.idempotency_key.replace(str(template_attempt.pk), str(attempt.pk)),
                booking_id=booking.pk,
                attempt_id=attempt.pk,
                created_at=attempt.captured_at,
            )
        )
        txn_lines.extend(
            _copy(
                line,
                id=None,
                transaction_id=txn_id,
                account=line.account.replace(
                    vendor_account(template_booking.vendor_id), vendor_account(booking.vendor_id)
                ),
            )
            for line in template_lines
        )
        earnings.append(
            _copy(
                earning,
                id=uuid.uuid4(),
                vendor_id=booking.vendor_id,
                booking_id=booking.pk,
                ledger_transaction_id=txn_id,
                available_at=attempt.captured_at + hold,
                created_at=attempt.captured_at,
            )
        )
    # The debts settled: ops received them by bank transfer (an adjustment, as ops would post it).
    ops = User.objects.get(email="ops@homeserve.test")
    currency = settings.CURRENCY
    for row in owed:
        if row["total"] <= 0:
            continue
        reference = f"bench-settlement-{row['account'].split(':', 1)[1]}"
        txn_id = uuid.uuid4()
        txns.append(
            LedgerTransaction(
                id=txn_id,
                kind=LedgerKind.ADJUSTMENT,
                idempotency_key=f"adjustment:{reference}",
                reference=reference,
                memo="Cash commission and tax the vendor owed, received by bank transfer",
                created_at=now - timedelta(days=2),
                created_by=ops,
            )
        )
        txn_lines.extend(
            [
                LedgerLine(transaction_id=txn_id, account=row["account"], amount=-row["total"], currency=currency),
                LedgerLine(transaction_id=txn_id, account=BANK, amount=row["total"], currency=currency),
            ]
        )
    with transaction.atomic():
        LedgerTransaction.objects.bulk_create(txns, batch_size=5000)
        LedgerLine.objects.bulk_create(txn_lines, batch_size=5000)
        Earning.objects.bulk_create(earnings, batch_size=5000)
        _set_accounts(vendors)
    _analyze("payments_ledgerline", "payments_ledgertransaction", "payments_earning", "core_vendorprofile")
    return len(vendors), len(bookings)


def _set_accounts(vendors):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE core_vendorprofile SET payout_account_id = 'acct_bench_' || replace(id::text, '-', '') "
            "WHERE id = ANY(%s)",
            [list(vendors)],
        )


def bench_payouts(now):
    from payments import payouts
    from payments.gateways import get_gateway

    profile = Profile()

    class TimedGateway:
        def __init__(self, gateway):
            self._gateway = gateway

        def __getattr__(self, name):
            attribute = getattr(self._gateway, name)
            if not callable(attribute):
                return attribute

            def timed(*args, **kwargs):
                if threading.current_thread() is not threading.main_thread():
                    return attribute(*args, **kwargs)  # timed by the thread's step
                with profile.step("gateway"):
                    return attribute(*args, **kwargs)

            return timed

    with profile.recording():
        profile.patch(payouts, "get_gateway", lambda: TimedGateway(get_gateway()))
        for name, step in _payout_steps(payouts):
            profile.wrap(payouts, name, step)
        if hasattr(payouts, "_send_transfers_concurrently"):
            # the transfers sent from threads: their queries are the gateway's, their time the
            # time the run waits for the threads
            send = payouts._send_transfer

            def send_in_thread(*args, **kwargs):
                if threading.current_thread() is threading.main_thread():
                    return send(*args, **kwargs)
                with profile.in_thread("gateway"):
                    return send(*args, **kwargs)

            profile.patch(payouts, "_send_transfer", send_in_thread)
            profile.wrap(payouts, "_send_transfers_concurrently", "gateway")
        made = payouts.payouts_run(now=now)
    rows = [
        profile.row(
            "create: lock vendors, payouts, link earnings, ledger, audit",
            lambda s, q: s == "create",
            profile.wall["create"],
        ),
        profile.row("transfers: claim (lease), call, collect", lambda s, q: s == "claim", profile.wall["claim"]),
        profile.row(
            f"gateway (fake, in the database; {getattr(payouts, 'TRANSFER_CONCURRENCY', 1)} calls at a time)",
            lambda s, q: s == "gateway",
            profile.wall["gateway"],
        ),
        profile.row("record the answers: paid, audit, notify", lambda s, q: s == "record", profile.wall["record"]),
        profile.row("run: balances, held earnings, result", lambda s, q: s == "job", profile.wall["job"]),
        profile.after_commit_row(),
        profile.whole_row("whole run"),
    ]
    return made, profile, rows


def _payout_steps(payouts):
    """The payout run's functions to time as steps, by name (those this version has)."""
    steps = [
        ("_payouts_create", "create"),
        ("_payouts_first_transfer", "claim"),
        ("_payout_transfer", "claim"),
        ("_transfer_succeeded", "record"),
        ("_transfers_succeeded", "record"),
        ("_transfer_unanswered", "record"),
        ("_transfer_refused", "record"),
    ]
    return [(name, step) for name, step in steps if hasattr(payouts, name)]


def run_payouts(count, per_vendor, slowest=0):
    from django.utils import timezone

    from payments.models import PayoutStatus

    now = timezone.now()
    vendors, earnings = make_payable_vendors(count, per_vendor, now)
    made, profile, rows = bench_payouts(now)
    paid = sum(1 for payout in made if payout.status == PayoutStatus.PAID)
    common.print_table(
        f"Payout run: {len(made)} payouts ({paid} paid) for {vendors} vendors with {earnings} card earnings "
        f"— {common.machine()}",
        HEADERS,
        rows,
    )
    print_slowest(profile, slowest)
    return {
        "job": "payouts",
        "items": f"{vendors} vendors",
        "wall": profile.total,
        "queries": len(profile.queries),
        "measured": profile.total,
    }


# --- main ----------------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="seed_bench scale (1.0: 10,000 vendors)")
    parser.add_argument("--jobs", default=",".join(JOBS), help="comma-separated: " + ", ".join(JOBS))
    parser.add_argument("--requests", type=int, help="overdue signature requests (default 100,000 × scale)")
    parser.add_argument("--reminders", type=int, help="bookings due a reminder (default 50,000 × scale)")
    parser.add_argument("--payouts", type=int, help="vendors to pay (default 10,000 × scale)")
    parser.add_argument("--earnings-per-vendor", type=int, default=3)
    parser.add_argument("--reuse", action="store_true", help="skip seeding: use the database as it is")
    parser.add_argument("--slowest", type=int, default=0, help="also list the N slowest statements of each job")
    args = parser.parse_args()
    jobs = [job.strip() for job in args.jobs.split(",") if job.strip()]
    unknown = set(jobs) - set(JOBS)
    if unknown:
        parser.error(f"unknown jobs: {', '.join(sorted(unknown))}")
    counts = {
        "expiry": args.requests,
        "reminders": args.reminders,
        "payouts": args.payouts,
    }
    counts = {
        job: count if count is not None else max(1, round(FULL[job] * args.scale)) for job, count in counts.items()
    }
    if not args.reuse:
        seed(args.scale)
    common.setup_django()
    results = []
    if "expiry" in jobs:
        results.append(run_expiry(counts["expiry"], args.slowest))
    if "reminders" in jobs:
        results.append(run_reminders(counts["reminders"], args.slowest))
    if "payouts" in jobs:
        results.append(run_payouts(counts["payouts"], args.earnings_per_vendor, args.slowest))
    missed = []
    rows = []
    for result in results:
        target = TARGETS.get(result["job"])
        if target:
            what, limit = target
            met = result["measured"] < limit
            if not met:
                missed.append(f"{result['job']}: {what} {result['measured']:.1f} s (target < {limit:.0f} s)")
            verdict = f"{what} < {limit:.0f} s: {'met' if met else 'MISSED'} ({result['measured']:.2f} s)"
        else:
            verdict = "—"
        rows.append([result["job"], result["items"], f"{result['wall']:.2f}", result["queries"], verdict])
    common.print_table(
        f"Jobs (scale {args.scale}) — {common.machine()}", ["job", "rows", "wall s", "queries", "target"], rows
    )
    for line in missed:
        print("TARGET MISSED:", line)
    drop_queued_tasks()


def drop_queued_tasks():
    """The jobs queued their SMS/e-mail deliveries for a Celery worker, and this bench runs none:
    drop them from the bench's own broker (``BENCH_REDIS_URL``), so that a worker started later
    does not send them against whatever the bench database holds by then."""
    from marketplace.celery import app

    dropped = app.control.purge()
    if dropped:
        print(f"\n({dropped} queued tasks dropped from the bench broker)")


if __name__ == "__main__":
    main()
