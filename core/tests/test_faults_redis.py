"""Fault: Redis stops (issue 10, "Faults"). The app runs as production runs it — uvicorn,
``marketplace.settings.production``, the test database — with a private ``redis-server`` as its
cache, channel layer and Celery broker, which the test SIGKILLs mid-test (the machine's shared
Redis is never touched).

While Redis is gone: a card booking is still created and paid and the vendor still accepts it;
every WebSocket push is skipped with a log line; the booking's API and page show the current
state on reload; the after-commit task messages that could not be queued leave their rows for
the periodic sweeps; ``/healthz`` says 503 at once, naming the cache and the channel layer. When
Redis is back the app uses it again by itself, and a booking socket opened then starts with the
current state.
"""

import json
import re
import time

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework_simplejwt.tokens import RefreshToken
from websockets.sync.client import connect as ws_connect

from bookings.models import Booking, BookingStatus
from bookings.tests.conftest import ADDRESS, local_time
from bookings.tests.factories import ServiceFactory, VendorServiceFactory
from core.models import NotificationDelivery
from core.tests.factories import CustomerFactory, VendorFactory
from core.tests.faults import (
    AppServer,
    RedisServer,
    close_other_sessions,
    production_env,
    this_runs_database_url,
    wait_for,
)
from payments.models import AttemptStatus, PaymentAttempt

TEST_CARD = {"card_number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}
# Each after-commit task message the broker refuses costs about a second (kombu's publish
# retries); a request that sends a few stays well under this.
SLOW = 30


@pytest.fixture
def redis_server():
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture
def app(redis_server, transactional_db, tmp_path):
    env = production_env(database_url=this_runs_database_url(), redis_url=redis_server.url(0), var_dir=tmp_path)
    server = AppServer(env=env, log_path=tmp_path / "server.log").start()
    yield server
    server.stop()
    close_other_sessions()


def token(user) -> str:
    return str(RefreshToken.for_user(user).access_token)


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


@pytest.mark.postgres  # the server subprocess shares the test database
@pytest.mark.redis
def test_with_redis_gone_bookings_are_still_made_paid_and_shown(app, redis_server):
    service = ServiceFactory(name="Deep cleaning", duration_minutes=60)
    vendor = VendorFactory()
    VendorServiceFactory(vendor=vendor, service=service)
    customer = CustomerFactory()
    assert app.call("GET", "/healthz").json()["channel_layer"] == "ok"

    # when: Redis dies (cache, channel layer and broker at once)
    redis_server.kill()

    # then: the customer books and pays by card as usual
    created = app.call(
        "POST",
        "/api/bookings/",
        {
            "service_id": service.pk,
            "scheduled_at": local_time(2, 10).isoformat(),
            "address": ADDRESS,
            "vendor_id": str(vendor.pk),
            "payment_method": "card",
        },
        token=token(customer),
        timeout=60,
    )
    assert created.status == 201, created.text
    assert created.elapsed < SLOW, created.elapsed
    booking = created.json()
    assert booking["status"] == "pending" and booking["payment"]["status"] == "requires_payment_method"

    paid = app.call("POST", f"/api/payments/{booking['payment']['id']}/confirm/", TEST_CARD, token=token(customer))
    assert paid.status == 200, paid.text
    assert paid.elapsed < SLOW, paid.elapsed
    assert paid.json()["status"] == "authorized"

    # the vendor finds the offer by reloading their list (no push reached them) and accepts it
    offered = app.call("GET", "/api/bookings/?status=pending", token=token(vendor.user)).json()
    assert [row["id"] for row in offered["results"]] == [booking["id"]]
    accepted = app.call("POST", f"/api/bookings/{booking['id']}/accept_booking/", token=token(vendor.user))
    assert accepted.status == 200, accepted.text
    assert accepted.json()["status"] == "confirmed"

    # the customer's reload shows the current state, in the API and on the booking's page
    detail = app.call("GET", f"/api/bookings/{booking['id']}/", token=token(customer)).json()
    assert (detail["status"], detail["payment"]["status"]) == ("confirmed", "authorized")
    page = app.call("GET", reverse("bookings:booking-detail", args=[booking["id"]]), cookie=session_cookie(customer))
    assert page.status == 200
    assert 'data-live-status="confirmed"' in page.text and booking["booking_number"] in page.text

    # exactly what happened, once, in the database
    stored = Booking.objects.get()
    assert (str(stored.pk), stored.status, stored.vendor_id) == (booking["id"], BookingStatus.CONFIRMED, vendor.pk)
    assert list(PaymentAttempt.objects.values_list("status", flat=True)) == [AttemptStatus.AUTHORIZED]

    # every push was skipped with a one-line warning, and no request failed
    log = app.log()
    skipped = set(re.findall(r"WARNING core\.realtime: Could not publish (\S+) to ([^\s:]+)", log))
    assert {
        ("booking.update", f"booking.{booking['id']}"),
        ("job.offer", f"vendor-jobs.{vendor.pk}"),
        ("job.update", f"vendor-jobs.{vendor.pk}"),
        ("notification", f"user.{vendor.user.pk}"),
    } <= skipped, log[-3000:]
    assert "Internal Server Error" not in log and "ERROR core.realtime" not in log
    assert "Redis cache unavailable" in log  # the throttles counted in memory instead

    # the SMS/e-mail copies whose task could not be queued wait for the sweep (never lost)
    deliveries = NotificationDelivery.objects.filter(notification__user__in=[customer, vendor.user])
    assert deliveries.exists()
    assert set(deliveries.values_list("status", flat=True)) == {"pending"}

    # /healthz tells the load balancer at once, naming what is missing
    health = app.call("GET", "/healthz", timeout=20)
    assert health.status == 503 and health.elapsed < SLOW
    assert health.json()["database"] == "ok"
    assert health.json()["cache"].startswith("error") and health.json()["channel_layer"].startswith("error")

    # when: Redis is back on its address, the app uses it again by itself
    redis_server.start()

    def healthy():
        return app.call("GET", "/healthz", timeout=20).status == 200

    wait_for(healthy, timeout=60, interval=0.5, what="/healthz to recover")
    # and a booking socket opened now starts with the current state
    ws_url = f"ws://127.0.0.1:{app.port}/ws/bookings/{booking['id']}/?token={token(customer)}"
    with ws_connect(ws_url, open_timeout=20) as socket:
        first = json.loads(socket.recv(timeout=20))
    assert (first["type"], first["status"]) == ("booking.update", "confirmed")


def test_the_redis_cache_fails_soft_to_process_memory_and_health_still_sees_the_outage(caplog):
    from core import cache as failsoft
    from core.cache import FailSoftRedisCache

    nobody = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    cache = FailSoftRedisCache(nobody, {"OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1}})
    try:
        started = time.monotonic()
        assert cache.get("throttle_x", []) == []  # a miss, not an error
        cache.set("throttle_x", [1, 2], 60)
        assert cache.get("throttle_x") == [1, 2]  # counted in this process meanwhile
        assert cache.add("once", 1, 60) is True and cache.add("once", 1, 60) is False
        for _ in range(50):  # the next calls do not try Redis again until RETRY_SECONDS passed
            cache.get("throttle_x")
        assert time.monotonic() - started < 10
        assert len([r for r in caplog.records if "Redis cache unavailable" in r.getMessage()]) == 1
        with pytest.raises(Exception, match=r"(?i)connect"):
            cache.ping()  # what /healthz asks: the real server
    finally:
        failsoft._down_until.pop(nobody, None)
