"""Background jobs at volume: the signature-request expiry sweep over 100,000 overdue requests
(its bulk SQL, the bookkeeping written in the same transaction, and the notifications and pushes
queued after commit, each timed and counted on its own).

    .venv/bin/python bench/jobs.py [--requests 100000] [--scale 0.2] [--reuse]

The overdue requests are made in SQL on bench bookings (seed_bench) switched to
``awaiting_signature``: the sweep reads only the requests and their bookings, so what the
bookings went through before does not change what is measured.
"""

import argparse
import subprocess
import time

import common


def seed(scale):
    common.recreate_database()
    subprocess.run(
        [common.PYTHON, "manage.py", "seed_bench", "--scale", str(scale)],
        cwd=common.ROOT,
        env=common.bench_env(),
        check=True,
    )


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
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE signatures_signaturerequest")
        cursor.execute("ANALYZE bookings_booking")
    return made


def bench_expiry(count):
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from signatures.services import signature_requests_expire

    with CaptureQueriesContext(connection) as queries:
        began = time.perf_counter()
        with transaction.atomic():
            expired = signature_requests_expire(limit=count)
            inside = time.perf_counter() - began
            marker = len(queries.captured_queries)
        total = time.perf_counter() - began
    captured = queries.captured_queries
    in_transaction = [q for q in captured[:marker] if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]
    claim = next(q for q in in_transaction if "FOR UPDATE" in q["sql"])
    update = next(q for q in in_transaction if q["sql"].startswith('UPDATE "signatures_signaturerequest"'))
    claim_and_update = [claim, update]
    bookkeeping = [q for q in in_transaction if q is not claim and q is not update]
    after_commit = captured[marker:]
    rows = [
        ["claim (SELECT … FOR UPDATE SKIP LOCKED)", 1, common.ms(float(claim_and_update[0]["time"]))],
        ["one UPDATE of every request", 1, common.ms(float(claim_and_update[1]["time"]))],
        ["the bulk SQL, together", 2, common.ms(sum(float(q["time"]) for q in claim_and_update))],
        [
            "bookkeeping in the transaction (events, audit, notifications, deliveries)",
            len(bookkeeping),
            common.ms(inside - sum(float(q["time"]) for q in claim_and_update)),
        ],
        ["commit, then pushes and deliveries queued", len(after_commit), common.ms(total - inside)],
        ["whole sweep", len(captured), common.ms(total)],
    ]
    return expired, total, rows, sum(float(q["time"]) for q in claim_and_update)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--scale", type=float, default=0.2)
    parser.add_argument("--reuse", action="store_true")
    args = parser.parse_args()
    if not args.reuse:
        seed(args.scale)
    common.setup_django()
    made = make_overdue_requests(args.requests)
    expired, _total, rows, bulk_sql = bench_expiry(args.requests)
    common.print_table(
        f"Signature-request expiry: {expired} of {made} overdue requests — {common.machine()}",
        ["step", "queries", "ms"],
        rows,
    )
    if bulk_sql >= 5.0:
        print(f"TARGET MISSED: the expiry's bulk SQL took {bulk_sql:.1f} s (target < 5 s)")


if __name__ == "__main__":
    main()
