"""WebSocket fan-out: vendors on ``ws/vendor/jobs/`` and customers on ``ws/bookings/<id>/``, spread
over the server's worker processes (uvicorn --workers, Redis channel layer), while this process
commits real transitions (each vendor accepts their offer). Each accept's transaction commits, its
pushes go through Redis to the worker holding the socket, and the client records when they
arrive: the latency is measured from just after the commit to receipt.

    .venv/bin/python bench/ws_fanout.py [--clients 500,1000] [--workers 2] [--rate 50]

Half the clients of each round are vendors and half customers watching one booking each; an
accept reaches two of them (the vendor's job feed and the customer's booking page).
"""

import argparse
import asyncio
import json
import subprocess
import threading
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


class Receiver:
    def __init__(self):
        self.arrivals = {}  # (booking id, kind) → perf_counter at receipt
        self.connected = 0
        self.failed = 0

    async def listen(self, url, kind, ready):
        try:
            async with websockets.connect(url, open_timeout=30, max_queue=None) as socket:
                self.connected += 1
                ready.release()
                async for raw in socket:
                    message = json.loads(raw)
                    if message.get("event") == "accepted" or message.get("type") == "job.update":
                        self.arrivals.setdefault((message["booking_id"], kind), time.perf_counter())
        except (TimeoutError, OSError, websockets.WebSocketException):
            self.failed += 1
            ready.release()


async def run_round(base, offers, rate):
    from bookings.services.transitions import booking_accept

    ws_base = base.replace("http://", "ws://")
    receiver = Receiver()
    ready = asyncio.Semaphore(0)
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
    await asyncio.sleep(1.0)  # every socket has its snapshot and sits in its groups

    committed = {}

    def accept_all():
        from django.db import transaction

        for vendor_user, _vt, _ct, booking in offers:
            with transaction.atomic():
                # runs first at the commit, before the pushes registered by the transition
                transaction.on_commit(lambda key=str(booking.pk): committed.__setitem__(key, time.perf_counter()))
                booking_accept(booking=booking, user=vendor_user)
            time.sleep(1 / rate)

    worker = threading.Thread(target=accept_all)
    worker.start()
    while worker.is_alive():
        await asyncio.sleep(0.05)
    deadline = time.perf_counter() + 10
    expected = 2 * len(offers)
    while len(receiver.arrivals) < expected and time.perf_counter() < deadline:
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
    args = parser.parse_args()
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
        ["clients", "connected", "failed", "received", "p50 ms", "p99 ms", "max ms"],
        rows,
    )
    for problem in problems:
        print("TARGET MISSED:", problem)


if __name__ == "__main__":
    main()
