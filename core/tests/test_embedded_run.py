"""The embedded default end to end: the real ASGI server in one process, SQLite, the in-memory
channel layer and the in-process scheduler — nothing else installed (ARCHITECTURE §2).

A vendor's socket receives a new offer the moment a customer books, the customer's booking
socket receives the accept, and an offer that times out is passed on by the running app's own
scheduler."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from websockets.sync.client import connect as ws_connect

ROOT = Path(settings.BASE_DIR)


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, tmp_path):
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "TEST_DB"}}
        env.update(DJANGO_SETTINGS_MODULE="marketplace.settings.base", VAR_DIR=str(tmp_path), DEBUG="1")
        self.env = env
        self.manage("migrate", "--noinput", "-v0")
        self.manage("seed_demo")
        # Offers lapse at once, so the scheduler has something to pass on within its first sweeps.
        self.manage(
            "shell",
            "-c",
            "from core.models import SystemSettings as S; "
            "S.objects.update_or_create(id=1, defaults={'offer_timeout_minutes': 0})",
        )
        self.log = open(tmp_path / "server.log", "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "marketplace.asgi:application",
                "--port",
                str(self.port),
                "--workers",
                "1",
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.base}/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError("the embedded server did not start")

    def manage(self, *args):
        subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, check=True, capture_output=True, timeout=120
        )

    def call(self, method, path, body=None, token=None):
        request = urllib.request.Request(f"{self.base}{path}", method=method)
        request.add_header("content-type", "application/json")
        if token:
            request.add_header("authorization", f"Bearer {token}")
        data = json.dumps(body).encode() if body is not None else None
        try:
            with urllib.request.urlopen(request, data=data, timeout=10) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def login(self, email, password):
        status, body = self.call("POST", "/auth/login/", {"username": email, "password": password})
        assert status == 200, body
        return body["access"]

    def socket(self, path, token):
        return ws_connect(f"ws://127.0.0.1:{self.port}{path}?token={token}", open_timeout=5)

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


@pytest.fixture
def server(tmp_path):
    running = Server(tmp_path)
    yield running
    running.stop()


def receive(ws, wanted_type, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        message = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
        if message["type"] == wanted_type:
            return message


def test_offers_accepts_and_timeouts_flow_live_in_the_one_process_default(server):
    from core.demo_data import DEMO_ACCOUNTS

    passwords = {email: password for _role, email, password, *_ in DEMO_ACCOUNTS}
    customer = server.login("customer@homeserve.test", passwords["customer@homeserve.test"])
    vendor = server.login("vendor@homeserve.test", passwords["vendor@homeserve.test"])
    # find Ravi (the demo vendor) and a free slot a week out
    status, vendors = server.call("GET", "/api/vendors/?pincode=560034")
    ravi = next(v for v in vendors["results"] if v["display_name"] == "Ravi's Sparkle Cleaning")
    service_id = ravi["services"][0]["service_id"]
    from django.utils import timezone

    day = (timezone.localdate() + timedelta(days=7)).isoformat()
    status, availability = server.call(
        "GET", f"/api/vendors/{ravi['id']}/availability/?date={day}&service={service_id}"
    )
    assert status == 200 and availability["slots"], availability
    slot = availability["slots"][0]["start"]

    with server.socket("/ws/vendor/jobs/", vendor) as jobs:
        # when the customer books Ravi
        status, booking = server.call(
            "POST",
            "/api/bookings/",
            {
                "service_id": service_id,
                "scheduled_at": slot,
                "vendor_id": ravi["id"],
                "payment_method": "cash",
                "address": {"line1": "1 MG Road", "city": "Bengaluru", "pincode": "560034"},
            },
            token=customer,
        )
        assert status == 201, booking
        # then the offer reaches Ravi's socket at once
        offer = receive(jobs, "job.offer")
        assert offer["booking_id"] == booking["id"]
        assert offer["vendor_earning"] == booking["price"]["vendor_earning"]
        # and the offer (timeout 0 here) is withdrawn by the app's own scheduler, with no beat running
        withdrawn = receive(jobs, "job.withdrawn", timeout=90)
        assert withdrawn["booking_id"] == booking["id"]

    # the accept reaches the customer's booking socket: book again, and Ravi accepts at once
    server.manage(
        "shell",
        "-c",
        "from core.models import SystemSettings as S; S.objects.filter(id=1).update(offer_timeout_minutes=15)",
    )
    slot = availability["slots"][-1]["start"]
    status, booking = server.call(
        "POST",
        "/api/bookings/",
        {
            "service_id": service_id,
            "scheduled_at": slot,
            "vendor_id": ravi["id"],
            "payment_method": "cash",
            "address": {"line1": "1 MG Road", "city": "Bengaluru", "pincode": "560034"},
        },
        token=customer,
    )
    assert status == 201, booking
    with server.socket(f"/ws/bookings/{booking['id']}/", customer) as watcher:
        assert receive(watcher, "booking.update")["event"] == "snapshot"
        status, accepted = server.call("POST", f"/api/bookings/{booking['id']}/accept_booking/", token=vendor)
        assert status == 200, accepted
        update = receive(watcher, "booking.update")
        assert (update["event"], update["status"]) == ("accepted", "confirmed")
