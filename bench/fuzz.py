"""API fuzzing: schemathesis against the production-style server, ≥ 100 requests per operation.

The same run as core/tests/test_api_fuzz.py (the shared code is core/tests/fuzzing.py), with more
examples and over HTTP: the ASGI app under uvicorn workers with production settings, PostgreSQL
and Redis. Fresh users for every role are made for each run (the database is recreated), so a run
never depends on, or locks out, the accounts of an earlier one. Prints a table per operation —
requests, 5xx, schema failures, invalid input accepted, the statuses seen — and exits non-zero
when any operation answered 5xx or against its schema.

    .venv/bin/python bench/fuzz.py [--examples 100] [--workers 2] [--seed N] [--only SUBSTRING]

Its own database (``homeserve_bench_fuzz``) and Redis database (9), so it can run beside the
other benchmarks; ``BENCH_DATABASE_URL`` / ``BENCH_REDIS_URL`` point elsewhere.
"""

import argparse
import os
import random
import sys
import time
from collections import Counter

os.environ.setdefault("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/homeserve_bench_fuzz")
os.environ.setdefault("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")

import common

# Every API throttle out of the way, or most answers would be 429s (the rates are asserted by the
# tests). The ones counted in the database stay: chat messages, one-time codes per number.
THROTTLE_SCOPES = (
    "THROTTLE_ANON",
    "THROTTLE_AUTH",
    "THROTTLE_PAYMENT_CONFIRM",
    "THROTTLE_PASSWORD_RESET",
    "THROTTLE_EMAIL_VERIFY_RESEND",
    "THROTTLE_CONTACT",
)
THROTTLES = dict.fromkeys(THROTTLE_SCOPES, "1000000/min") | {"THROTTLE_BOOKING_CREATE": "1000000/hour"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=100, help="requests per operation (at least)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--only", default="", help="fuzz only operations whose label contains this")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(2**32)

    import redis

    redis.Redis.from_url(common.REDIS_URL).flushdb()  # this run's throttle counters and queues only
    common.recreate_database()
    common.setup_django(**THROTTLES)
    sys.path.insert(0, str(common.ROOT))
    import requests
    import schemathesis

    from core.tests import fuzzing

    began = time.perf_counter()
    world = fuzzing.build_world()
    setup = time.perf_counter() - began
    common.release_connections()

    with common.server(workers=args.workers, **THROTTLES) as base:
        schema = schemathesis.openapi.from_url(f"{base}/api/schema/")
        if args.only:
            schema = schema.include(func=lambda ctx: args.only in ctx.operation.label)
        session = requests.Session()

        def progress(result):
            flag = "  <-- FAIL" if result.failed else ""
            print(f"  {result.label}: {result.examples} requests, {result.seconds:.1f} s{flag}", flush=True)

        print(f"fuzzing {base} with ≥ {args.examples} requests per operation, seed {seed}", flush=True)
        began = time.perf_counter()
        results = fuzzing.fuzz_schema(
            schema,
            world,
            max_examples=args.examples,
            base_url=base,
            session=session,
            seed=seed,
            on_result=progress,
        )
        wall = time.perf_counter() - began

    headers, rows = fuzzing.table(results)
    common.print_table(
        f"API fuzzing: schemathesis, ≥ {args.examples} requests per operation as 6 roles, {args.workers} uvicorn "
        f"workers, production settings — {common.machine()}",
        headers,
        rows,
    )
    requests_sent = sum(r.examples for r in results)
    totals = Counter()
    for r in results:
        totals.update(r.statuses)
    print(
        f"\n{len(results)} operations, {requests_sent} requests in {wall:.0f} s ({requests_sent / wall:.0f}/s; "
        f"set-up {setup:.1f} s); 5xx {sum(r.server_errors for r in results)}, schema failures "
        f"{sum(r.schema_failures for r in results)}, invalid input accepted {sum(r.accepted_invalid for r in results)}"
    )
    print("statuses: " + ", ".join(f"{code}×{n}" for code, n in sorted(totals.items())))
    thin = [r.label for r in results if r.examples < args.examples]
    if thin:
        print(f"fewer requests (nothing more to vary): {', '.join(thin)}")
    failed = [r for r in results if r.failed]
    if failed:
        print(f"\nFAIL (seed {seed}):\n" + fuzzing.report(failed))
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
