"""Contention: N customers try to book the same vendor's same slot at the same instant.

Exactly one must get 201; every other attempt must fail fast with 409 (not time out, not 5xx),
and the database must never see more connections than the server's pools allow
(workers × DB_POOL_MAX). Prints a table and exits non-zero when an expectation fails.

    .venv/bin/python bench/contention.py [--attempts 200] [--workers 2] [--pool-max 10]
"""

import argparse
import asyncio
import threading
import time
from collections import Counter
from datetime import datetime, timedelta

import aiohttp
import common


def slot_start():
    """10:00 in the platform's zone, three days from now: inside the bench vendor's hours."""
    from bookings.availability import platform_zone

    day = (datetime.now(platform_zone()) + timedelta(days=3)).date()
    return datetime(day.year, day.month, day.day, 10, 0, tzinfo=platform_zone())


def sample_connections(stop: threading.Event, peak: list):
    import psycopg

    name = common.DATABASE_URL.rsplit("/", 1)[1]
    with psycopg.connect(common.DATABASE_URL, autocommit=True) as connection:
        while not stop.is_set():
            (count,) = connection.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [name]
            ).fetchone()
            peak[0] = max(peak[0], count)
            time.sleep(0.01)


async def attempt_all(base, tokens, body):
    start = asyncio.Event()
    connector = aiohttp.TCPConnector(limit=len(tokens), force_close=True)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(base_url=base, connector=connector, timeout=timeout) as session:

        async def one(token):
            await start.wait()
            began = time.perf_counter()
            try:
                async with session.post(
                    "/api/bookings/", json=body, headers={"Authorization": f"Bearer {token}"}
                ) as response:
                    await response.read()
                    return response.status, time.perf_counter() - began
            except (aiohttp.ClientError, TimeoutError) as error:
                return type(error).__name__, time.perf_counter() - began

        tasks = [asyncio.create_task(one(token)) for token in tokens]
        await asyncio.sleep(0.5)  # every task is waiting at the line
        start.set()
        return await asyncio.gather(*tasks)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attempts", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pool-max", type=int, default=10)
    args = parser.parse_args()

    common.recreate_database()
    common.setup_django()
    from fixtures import access_token, catalog, make_customers, make_vendor

    service = catalog()
    vendor = make_vendor(1, service)
    customers = make_customers(args.attempts)
    tokens = [access_token(customer) for customer in customers]
    body = {
        "lines": [{"service_id": str(service.pk), "quantity": 1}],
        "scheduled_at": slot_start().isoformat(),
        "vendor_id": str(vendor.pk),
        "payment_method": "cash",
        "address": {"line1": "1 Bench Street", "city": "Bengaluru", "pincode": "560034"},
    }

    common.release_connections()
    peak = [0]
    stop = threading.Event()
    with common.server(workers=args.workers, DB_POOL_MAX=args.pool_max) as base:
        sampler = threading.Thread(target=sample_connections, args=(stop, peak), daemon=True)
        sampler.start()
        began = time.perf_counter()
        results = asyncio.run(attempt_all(base, tokens, body))
        wall = time.perf_counter() - began
        stop.set()
        sampler.join()

    codes = Counter(code for code, _ in results)
    winners = [seconds for code, seconds in results if code == 201]
    losers = [seconds for code, seconds in results if code == 409]
    bound = args.workers * args.pool_max
    common.print_table(
        f"Contention: {args.attempts} simultaneous bookings of one slot "
        f"({args.workers} uvicorn workers, DB pool ≤ {args.pool_max} each) — {common.machine()}",
        ["outcome", "count", "p50 ms", "p95 ms", "p99 ms", "max ms"],
        [
            [
                f"{code}",
                count,
                *(
                    common.ms(common.summary([s for c, s in results if c == code])[k])
                    for k in ("p50", "p95", "p99", "max")
                ),
            ]
            for code, count in sorted(codes.items(), key=lambda item: str(item[0]))
        ],
    )
    print(f"\nwall time {wall:.2f} s; peak database connections {peak[0]} (bound {bound})")

    problems = []
    if len(winners) != 1:
        problems.append(f"expected exactly one 201, got {len(winners)}")
    if len(losers) != args.attempts - 1:
        problems.append(f"expected {args.attempts - 1} × 409, got {dict(codes)}")
    if peak[0] > bound:
        problems.append(f"{peak[0]} database connections exceed the pools' bound {bound}")
    for problem in problems:
        print("FAIL:", problem)
    raise SystemExit(1 if problems else 0)


if __name__ == "__main__":
    main()
