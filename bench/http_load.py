"""HTTP load: the production-style server (uvicorn workers, PostgreSQL, Redis) on the seed_bench
volume, driven open-loop at fixed arrival rates with a mix of authenticated requests, then each
endpoint alone closed-loop for its ceiling, compared with the bare ``/api/ping/`` (and, for
reference, the cheapest authenticated request, ``/api/users/me/``).

    .venv/bin/python bench/http_load.py --scale 1.0            # seeds 1M bookings first (~8 min)
    .venv/bin/python bench/http_load.py --reuse                # the database seeded last time
    .venv/bin/python bench/http_load.py --scale 0.05 --duration 10 --rates 25,50   # a quick look

The arrival schedule is fixed in advance (request i leaves at i / rate whatever happened to the
ones before), so a slow server shows up as latency rather than as fewer requests. The load
generator runs on the same machine and takes CPU from the server; the figures are for this
whole machine.
"""

import argparse
import asyncio
import random
import subprocess
import time
from collections import defaultdict
from datetime import datetime, timedelta

import aiohttp
import common

MIX = [  # (endpoint, share)
    ("list my bookings", 0.30),
    ("vendor search", 0.25),
    ("availability", 0.20),
    ("booking detail", 0.20),
    ("create booking", 0.05),
]
# Measured for their ceilings only, beside the mix: the cheapest authenticated request (read the
# token's user, write a few of its fields), the floor under every endpoint of the mix.
REFERENCES = ["who am I (/api/users/me/)"]
# Answers that are the business saying no, not the server failing: a slot someone else took.
EXPECTED_REFUSALS = {"create booking": {409}}


class Workload:
    """Who asks what: customers with their tokens and bookings, the catalog, the vendors."""

    def __init__(self, customers: int, seed: int):
        from fixtures import access_token

        from bookings.availability import platform_zone
        from bookings.models import Booking, Service, VendorService
        from core.models import User

        self.random = random.Random(seed)
        self.zone = platform_zone()
        people = list(
            User.objects.filter(username__startswith="bench-customer-", bookings__isnull=False)
            .distinct()
            .order_by("username")[:customers]
        )
        bookings = defaultdict(list)
        for customer_id, booking_id in Booking.objects.filter(customer__in=people).values_list("customer_id", "id"):
            bookings[customer_id].append(str(booking_id))
        self.customers = [(access_token(user), bookings[user.pk]) for user in people]
        offers = list(
            VendorService.objects.filter(vendor__user__username__startswith="bench-vendor-").values_list(
                "vendor_id", "service_id", "vendor__pincodes__pincode"
            )[:20000]
        )
        self.offers = [(str(vendor), str(service), pincode) for vendor, service, pincode in offers]
        self.services = [str(pk) for pk in Service.objects.filter(is_active=True).values_list("pk", flat=True)]

    def request(self, endpoint):
        token, bookings = self.random.choice(self.customers)
        vendor, service, pincode = self.random.choice(self.offers)
        auth = {"Authorization": f"Bearer {token}"}
        if endpoint == "list my bookings":
            return "GET", "/api/bookings/", auth, None
        if endpoint == "vendor search":
            return "GET", f"/api/vendors/?service={service}&pincode={pincode}", auth, None
        if endpoint == "availability":
            day = (datetime.now(self.zone) + timedelta(days=self.random.randint(1, 14))).date()
            return "GET", f"/api/vendors/{vendor}/availability/?service={service}&date={day}", auth, None
        if endpoint == "booking detail":
            return "GET", f"/api/bookings/{self.random.choice(bookings)}/", auth, None
        if endpoint == "create booking":
            day = (datetime.now(self.zone) + timedelta(days=self.random.randint(8, 29))).date()
            start = datetime(day.year, day.month, day.day, self.random.randint(8, 19), 0, tzinfo=self.zone)
            body = {
                "lines": [{"service_id": service, "quantity": 1}],
                "scheduled_at": start.isoformat(),
                "vendor_id": vendor,
                "payment_method": "cash",
                "address": {"line1": "9 Load Lane", "city": "Bengaluru", "pincode": pincode},
            }
            return "POST", "/api/bookings/", auth, body
        if endpoint == "bare /api/ping/":
            return "GET", "/api/ping/", {}, None
        if endpoint == "who am I (/api/users/me/)":
            return "GET", "/api/users/me/", auth, None
        raise ValueError(endpoint)

    def pick(self):
        roll = self.random.random()
        for endpoint, share in MIX:
            roll -= share
            if roll <= 0:
                return endpoint
        return MIX[-1][0]


async def send(session, workload, endpoint, results):
    method, path, headers, body = workload.request(endpoint)
    began = time.perf_counter()
    try:
        async with session.request(method, path, headers=headers, json=body) as response:
            await response.read()
            status = response.status
    except (aiohttp.ClientError, TimeoutError) as error:
        status = type(error).__name__
    results[endpoint].append((status, time.perf_counter() - began))


async def open_loop(base, workload, rate, duration):
    """Requests leave at a fixed rate whatever the answers do; returns {endpoint: [(status, s)]}."""
    results = defaultdict(list)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(
        base_url=base, connector=connector, timeout=aiohttp.ClientTimeout(total=30)
    ) as session:
        tasks = []
        began = time.perf_counter()
        for index in range(int(rate * duration)):
            delay = began + index / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(send(session, workload, workload.pick(), results)))
        await asyncio.gather(*tasks)
    return results


async def closed_loop(base, workload, endpoint, concurrency, duration):
    """``concurrency`` clients asking back to back: the endpoint's maximum throughput."""
    results = defaultdict(list)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(
        base_url=base, connector=connector, timeout=aiohttp.ClientTimeout(total=30)
    ) as session:
        deadline = time.perf_counter() + duration

        async def client():
            while time.perf_counter() < deadline:
                await send(session, workload, endpoint, results)

        began = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        wall = time.perf_counter() - began
    answers = results[endpoint]
    ok = [seconds for status, seconds in answers if isinstance(status, int) and status < 400]
    return len(ok) / wall, len(answers) - len(ok)


def is_error(endpoint, status) -> bool:
    if not isinstance(status, int):
        return True
    return status >= 500 or (status >= 400 and status not in EXPECTED_REFUSALS.get(endpoint, ()))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--reuse", action="store_true", help="keep the database seeded by an earlier run")
    parser.add_argument("--rates", default="25,50,100")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per rate")
    parser.add_argument("--ceiling-duration", type=float, default=10.0, help="seconds per endpoint, closed loop")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seed", type=int, help="the workload's random seed (default: a new one, printed)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--customers", type=int, default=500)
    args = parser.parse_args()

    if not args.reuse:
        common.recreate_database()
        began = time.monotonic()
        subprocess.run(
            [common.PYTHON, "manage.py", "seed_bench", "--scale", str(args.scale)],
            cwd=common.ROOT,
            env=common.bench_env(),
            check=True,
        )
        print(f"seeded at scale {args.scale} in {time.monotonic() - began:.0f} s")
    common.setup_django()
    from bookings.models import Booking

    # A fresh seed each run unless one is given: a run repeating the last one's choices on a reused
    # database would find all its booking slots taken, and time the quick 409s instead of bookings.
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 30)
    workload = Workload(args.customers, seed=seed)
    volume = Booking.objects.count()
    common.release_connections()

    rows, ceiling_rows, problems = [], [], []
    with common.server(workers=args.workers) as base:
        asyncio.run(closed_loop(base, workload, "bare /api/ping/", 4, 2))  # warm up every worker
        for rate in [float(r) for r in args.rates.split(",")]:
            results = asyncio.run(open_loop(base, workload, rate, args.duration))
            every = [seconds for answers in results.values() for _status, seconds in answers]
            errors_total = sum(is_error(e, status) for e, answers in results.items() for status, _ in answers)
            for endpoint in [name for name, _share in MIX] + ["all"]:
                if endpoint == "all":
                    seconds, errors = every, errors_total
                else:
                    seconds = [s for _status, s in results[endpoint]]
                    errors = sum(is_error(endpoint, status) for status, _ in results[endpoint])
                refused = sum(
                    status in EXPECTED_REFUSALS.get(e, ())
                    for e, answers in results.items()
                    if endpoint in ("all", e)
                    for status, _ in answers
                )
                figures = common.summary(seconds)
                rows.append(
                    [
                        f"{rate:g}",
                        endpoint,
                        figures["n"],
                        f"{figures['n'] / args.duration:.1f}",
                        common.ms(figures["p50"]),
                        common.ms(figures["p95"]),
                        common.ms(figures["p99"]),
                        f"{errors / max(1, figures['n']):.2%}",
                        refused,
                    ]
                )
            overall = common.summary(every)
            if rate == 50 and (overall["p99"] >= 0.250 or errors_total):
                problems.append(f"at 50 req/s: p99 {common.ms(overall['p99'])} ms, {errors_total} errors")
        bare, _ = asyncio.run(closed_loop(base, workload, "bare /api/ping/", args.concurrency, args.ceiling_duration))
        ceiling_rows.append(["bare /api/ping/", f"{bare:.0f}", "1.00", 0])
        for endpoint in REFERENCES + [name for name, _share in MIX]:
            throughput, failed = asyncio.run(
                closed_loop(base, workload, endpoint, args.concurrency, args.ceiling_duration)
            )
            ceiling_rows.append([endpoint, f"{throughput:.0f}", f"{throughput / bare:.2f}", failed])
            if endpoint == "list my bookings" and throughput < 0.5 * bare:
                problems.append(f"GET /api/bookings/ reaches {throughput / bare:.2f}× the bare endpoint (target 0.5×)")

    title = (
        f"HTTP load, open loop, {args.duration:g} s per rate — {volume} bookings, "
        f"{args.workers} uvicorn workers, seed {seed} — {common.machine()}"
    )
    headers = ["req/s", "endpoint", "n", "done/s", "p50 ms", "p95 ms", "p99 ms", "errors", "409 slot taken"]
    common.print_table(title, headers, rows)
    common.print_table(
        f"Maximum throughput, closed loop, {args.concurrency} clients, {args.ceiling_duration:g} s each",
        ["endpoint", "req/s", "× bare", "non-2xx"],
        ceiling_rows,
    )
    for problem in problems:
        print("TARGET MISSED:", problem)


if __name__ == "__main__":
    main()
