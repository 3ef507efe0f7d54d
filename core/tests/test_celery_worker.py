"""Celery as production runs it: the at-least-once settings, and a real worker consuming from the
real Redis broker and running a task end to end against the test database."""

import json
import logging
import threading
from datetime import timedelta
from urllib.parse import urlparse, urlunparse
from uuid import uuid4

import pytest
import redis
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from django.conf import settings
from django.utils import timezone

from bookings.models import BookingEvent, BookingOffer, OfferOutcome
from bookings.services.creation import booking_create
from bookings.tests.factories import ServiceFactory, VendorServiceFactory
from bookings.tests.test_tasks import HSR_LAYOUT, KORAMANGALA, bookable_start
from core.tests.factories import CustomerFactory, VendorFactory
from marketplace.celery import app, create_app

# A Redis database of its own, apart from the channel-layer tests' (TEST_REDIS_URL).
BROKER_URL = urlunparse(urlparse(settings.TEST_REDIS_URL)._replace(path="/14"))


def test_the_celery_app_is_set_up_for_at_least_once_delivery():
    conf = app.conf
    # acknowledged after the task ran, handed back when the worker process dies mid-task
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    # JSON only: a pickled message from the broker is never unpickled
    assert conf.task_serializer == "json"
    assert list(conf.accept_content) == ["json"]
    # no result backend; state lives in the database
    assert conf.result_backend is None
    assert conf.task_ignore_result is True
    # a task is stopped before Redis would hand its message to another worker
    assert 0 < conf.task_soft_time_limit < conf.task_time_limit < conf.broker_transport_options["visibility_timeout"]


@pytest.fixture
def redis_worker(transactional_db):
    """A real worker thread consuming a queue of its own on the real Redis broker, with the
    project's Celery settings (late acks, JSON, limits) and the tasks a production worker loads.
    Built as a separate app so the process-wide one stays eager for every other test."""
    queue = f"homeserve-test-{uuid4().hex}"
    worker_app = create_app(
        "homeserve-test-worker",
        broker_url=BROKER_URL,
        task_always_eager=False,
        task_default_queue=queue,
        worker_hijack_root_logger=False,
    )
    try:
        with start_worker(worker_app, pool="solo", perform_ping_check=False, loglevel="WARNING", shutdown_timeout=30):
            yield worker_app, queue
    finally:
        # start_worker made the worker's app the process default: give it back.
        app.set_current()
        app.set_default()
        worker_app.close()
        logging.captureWarnings(False)
        _forget_queue(queue)


def _forget_queue(queue):
    client = redis.Redis.from_url(BROKER_URL)
    for key in client.scan_iter(f"*{queue}*"):  # the queue and its exchange's bindings
        client.delete(key)
    for key in client.scan_iter("_kombu.binding.*"):
        for member in client.smembers(key):
            if queue.encode() in member:
                client.srem(key, member)


def _unacked_for(queue):
    client = redis.Redis.from_url(BROKER_URL)
    return [raw for raw in client.hvals("unacked") if json.loads(raw)[2] == queue]


@pytest.mark.redis
def test_a_worker_on_redis_runs_the_offer_timeout_end_to_end(redis_worker):
    # given: a booking offered to the nearest vendor 20 minutes ago and never answered
    worker_app, queue = redis_worker
    service = ServiceFactory(duration_minutes=120)
    near = VendorFactory(display_name="Near", pincodes=[], **KORAMANGALA)
    middle = VendorFactory(display_name="Middle", pincodes=[], **HSR_LAYOUT)
    for vendor in (near, middle):
        VendorServiceFactory(vendor=vendor, service=service)
    now = timezone.now()
    booking = booking_create(
        customer=CustomerFactory(),
        lines=[{"service_id": service.pk, "quantity": 1}],
        scheduled_at=bookable_start(now + timedelta(hours=3)),
        address={"line1": "12 Lake View Road", "city": "Bengaluru", "pincode": "560034"},
        payment_method="cash",
        now=now - timedelta(minutes=20),
    )
    assert booking.vendor == near
    finished = threading.Event()

    def on_postrun(task_id=None, **kwargs):
        if task_id == sent.id:
            finished.set()

    task_postrun.connect(on_postrun, weak=False)
    try:
        # when: the beat entry's task goes through the broker, not in-process
        sent = worker_app.tasks["bookings.tasks.expire_booking_offers"].apply_async()
        assert finished.wait(timeout=60), "the worker did not run the task"
    finally:
        task_postrun.disconnect(on_postrun)
    # then: the offer expired and the next vendor has the booking
    booking.refresh_from_db()
    assert booking.vendor == middle
    assert BookingOffer.objects.get(booking=booking, vendor=near).outcome == OfferOutcome.EXPIRED
    assert BookingEvent.objects.filter(booking=booking, event="offer_expired").count() == 1
    # and the message was acknowledged after the run, so Redis will not deliver it again (the
    # ack follows task_postrun; on a busy 2-core machine it can take seconds to arrive)
    for _ in range(300):
        if not _unacked_for(queue):
            break
        threading.Event().wait(0.1)
    assert _unacked_for(queue) == []
