"""WebSocket fan-out: vendors on ``ws/vendor/jobs/`` and customers on ``ws/bookings/<id>/``, spread
over the server's worker processes (uvicorn --workers, Redis channel layer), while this process
commits real transitions (each vendor accepts their offer). Each accept's transaction commits, its
pushes go through Redis to the worker holding the socket, and the client records when they
arrive: the latency is measured from just after the commit to receipt.

The accepts run in a process of their own (``--commit`` mode of this script), so the Django work
of committing does not hold the client's interpreter lock while messages arrive; both sides
stamp with the system-wide CLOCK_MONOTONIC, so their times compare.

    .venv/bin/python bench/ws_fanout.py [--clients 500,1000] [--workers 2] [--rate 50]

Half the clients of each round are vendors and half customers watching one booking each; an
accept reaches two of them (the vendor's job feed and the customer's booking page).
"""

import argparse
import asyncio
import json
import subprocess
import sys
import time
from datetime import datetime, timedelta

import common
import websockets


def seed(pairs):
    common.recreate_database()
    scale = max(0.001, pairs / 10_000)
    command = [common.PYTHON, "manage.py", "seed_bench", "--scale", str(scale)]
    subprocess.run(command, cwd=common.ROOT, env=common.bench_env(), check=True)


def make_offers(pairs, round_index):
    """One pending booking per bench vendor (up to ``pairs``), offered to that vendor, each of a
    different customer: (vendor user, vendor token, customer token, booking) tuples."""
    from fixtures import access_token, make_customers

    from bookings.availability import platform_zone
    from bookings.models import Service
    from bookings.services.creation import booking_create
    from core.models import VendorProfile

    vendors = list(
        VendorProfile.objects.filter(user__username__startswith="bench-vendor-").select_related("user")[:pairs]
    )
    customers = make_customers(len(vendors), prefix=f"ws-customer-{round_index}")
    service = Service.objects.get(slug="bathroom-cleaning")
    day = (datetime.now(platform_zone()) + timedelta(days=20 + round_index)).date()
    start = datetime(day.year, day.month, day.day, 10, tzinfo=platform_zone())
    made = []
    for vendor, customer in zip(vendors, customers, strict=False):
        booking = booking_create(
            customer=customer,
            lines=[{"service_id": service.pk, "quantity": 1}],
            scheduled_at=start,
            address={"line1": "5 Socket Street", "city": "Bengaluru", "pincode": vendor.pincodes.first().pincode},
            vendor_id=str(vendor.pk),
            payment_method="cash",
        )
        made.append((vendor.user, access_token(vendor.user), access_token(customer), booking))
    return made


def now() -> float:
    return time.clock_gettime(time.CLOCK_MONOTONIC)


def commit_worker(rate):
    """``--commit`` mode: read ``[booking id, vendor user id]`` pairs on stdin, wait for a line
    saying go, accept each booking as its vendor at ``rate`` per second and print
    ``{booking id: CLOCK_MONOTONIC at commit}`` as JSON."""
    common.setup_django()
    from django.db import transaction

    from bookings.models import Booking
    from bookings.services.transitions import booking_accept
    from core.models import User

    pairs = json.loads(sys.stdin.readline())
    bookings = {str(b.pk): b for b in Booking.objects.filter(pk__in=[booking for booking, _user in pairs])}
    users = {str(u.pk): u for u in User.objects.filter(pk__in=[user for _booking, user in pairs])}

    print("ready", flush=True)
    sys.stdin.readline()
    committed = {}
    for booking_id, user_id in pairs:
        began = now()
        with transaction.atomic():
            # runs first at the commit, before the pushes registered by the transition
            transaction.on_commit(lambda key=booking_id: committed.__setitem__(key, now()))
            booking_accept(booking=bookings[booking_id], user=users[user_id])
        time.sleep(max(0.0, 1 / rate - (now() - began)))
    print(json.dumps(committed), flush=True)


class Receiver:
    def __init__(self):
        self.arrivals = {}  # (booking id, kind) → perf_counter at receipt
        self.connected = 0
        self.failed = 0
        self.not_joined = 0
        self.join_wait = 0.0
        self.snapshots = 0  # customers' sockets send the booking's state once they have joined

    async def listen(self, url, kind, ready):
        try:
            async with websockets.connect(url, open_timeout=30, max_queue=None) as socket:
                self.connected += 1
                ready.release()
                async for raw in socket:
                    message = json.loads(raw)
                    if message.get("event") == "snapshot":
                        self.snapshots += 1
                    if message.get("event") == "accepted" or message.get("type") == "job.update":
                        self.arrivals.setdefault((message["booking_id"], kind), now())
        except (TimeoutError, OSError, websockets.WebSocketException):
            self.failed += 1
            ready.release()


async def joined(offers, *, since, timeout=120):
    """Wait until every socket of the round sits in its group. A socket is open (the handshake
    done) before the server has authenticated it and joined its groups, and with hundreds
    connecting at once that can lag by seconds: a push sent before the join reaches nobody. The
    Redis layer keeps each group as a sorted set scored by join time (channels_redis), so count
    the members who joined in this round."""
    import redis

    from core.realtime import booking_group, vendor_jobs_group

    groups = [vendor_jobs_group(booking.vendor_id) for *_rest, booking in offers]
    groups += [booking_group(booking.pk) for *_rest, booking in offers]
    client = redis.Redis.from_url(common.REDIS_URL)
    deadline = now() + timeout
    try:
        while True:
            with client.pipeline(transaction=False) as pipe:
                for group in groups:
                    pipe.zcount(f"asgi:group:{group}", since, "+inf")
                waiting = sum(1 for count in pipe.execute() if count < 1)
            if not waiting or now() > deadline:
                return waiting
            await asyncio.sleep(0.2)
    finally:
        client.close()


async def run_round(base, offers, rate):
    ws_base = base.replace("http://", "ws://")
    committer = subprocess.Popen(
        [common.PYTHON, __file__, "--commit", "--rate", str(rate)],
        cwd=common.ROOT,
        env=common.bench_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    pairs = [[str(booking.pk), str(vendor_user.pk)] for vendor_user, _vt, _ct, booking in offers]
    committer.stdin.write(json.dumps(pairs) + "\n")
    committer.stdin.flush()
    assert committer.stdout.readline().strip() == "ready"

    receiver = Receiver()
    ready = asyncio.Semaphore(0)
    round_started = time.time()
    tasks = []
    for _vendor_user, vendor_token, customer_token, booking in offers:
        tasks.append(
            asyncio.create_task(receiver.listen(f"{ws_base}/ws/vendor/jobs/?token={vendor_token}", "vendor", ready))
        )
        tasks.append(
            asyncio.create_task(
                receiver.listen(f"{ws_base}/ws/bookings/{booking.pk}/?token={customer_token}", "customer", ready)
            )
        )
    for _ in tasks:
        await ready.acquire()
    join_began = now()
    receiver.not_joined = await joined(offers, since=round_started)
    deadline = now() + 60
    while receiver.snapshots < len(offers) and now() < deadline:
        await asyncio.sleep(0.1)  # the server is done with the last socket's connect
    receiver.join_wait = now() - join_began
    await asyncio.sleep(1.0)

    committer.stdin.write("go\n")
    committer.stdin.flush()
    output = await asyncio.to_thread(committer.stdout.readline)
    committer.wait()
    committed = json.loads(output)
    deadline = now() + 10
    expected = 2 * len(offers)
    while len(receiver.arrivals) < expected and now() < deadline:
        await asyncio.sleep(0.05)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    latencies = [arrived - committed[booking_id] for (booking_id, _kind), arrived in receiver.arrivals.items()]
    return receiver, latencies, expected


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="500,1000", help="clients per round (half vendors, half customers)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rate", type=float, default=50.0, help="accepts per second")
    parser.add_argument("--commit", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.commit:
        commit_worker(args.rate)
        return
    rounds = [int(count) for count in args.clients.split(",")]
    seed(max(rounds) // 2)
    common.setup_django()
    offers_per_round = [make_offers(count // 2, index) for index, count in enumerate(rounds)]
    common.release_connections()

    rows, problems = [], []
    with common.server(workers=args.workers) as base:
        for count, offers in zip(rounds, offers_per_round, strict=True):
            receiver, latencies, expected = asyncio.run(run_round(base, offers, args.rate))
            figures = common.summary(latencies)
            rows.append(
                [
                    count,
                    receiver.connected,
                    receiver.failed,
                    f"{receiver.join_wait:.1f} s" + (f", {receiver.not_joined} never" if receiver.not_joined else ""),
                    f"{len(latencies)}/{expected}",
                    common.ms(figures["p50"]),
                    common.ms(figures["p99"]),
                    common.ms(figures["max"]),
                ]
            )
            if count == 500 and (figures["p99"] >= 0.250 or len(latencies) < expected):
                problems.append(
                    f"500 clients: p99 {common.ms(figures['p99'])} ms, {len(latencies)}/{expected} received"
                )
    common.print_table(
        f"WebSocket fan-out, commit → receipt, {args.workers} server processes, Redis layer, "
        f"{args.rate:g} accepts/s — {common.machine()}",
        ["clients", "connected", "failed", "joined after", "received", "p50 ms", "p99 ms", "max ms"],
        rows,
    )
    for problem in problems:
        print("TARGET MISSED:", problem)


if __name__ == "__main__":
    main()
