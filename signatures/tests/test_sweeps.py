"""The signature sweeps (issue 5 items 2 and 5; ARCHITECTURE §7, §9): expiry in bulk (10,000 open
requests in a bounded number of queries, with the notifications queued), the ops queue, a new
request after expiry, the automatic request 2 h after completion, the reminder 24 h before expiry."""

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bookings.models import Booking, BookingEvent, BookingStatus
from bookings.services.common import BookingConflict
from bookings.services.transitions import booking_capture_by_ops
from core.errors import Gone
from core.models import AuditLog, Notification, NotificationDelivery, SystemSettings
from core.tests.factories import VendorFactory
from signatures import tasks
from signatures.models import SignatureRequest
from signatures.selectors import signature_attention_queue
from signatures.services import (
    signature_reminders_send,
    signature_request,
    signature_requests_auto,
    signature_requests_expire,
    signature_sign,
)
from signatures.tests.conftest import sign_token
from signatures.tokens import token_issue

pytestmark = pytest.mark.django_db
HOUR = timedelta(hours=1)


def requested(world, index=0, *, now=None):
    booking = world.complete(index=index)
    request, created = signature_request(booking=booking, user=world.vendor.user, now=now)
    assert created
    return booking, request


def test_expiry_flags_the_booking_for_ops_and_a_new_request_can_follow(world):
    booking, request = requested(world)
    later = request.expires_at + timedelta(minutes=1)

    # not yet due: nothing happens
    assert signature_requests_expire(now=request.expires_at - timedelta(seconds=1)) == 0

    assert signature_requests_expire(now=later) == 1

    request.refresh_from_db()
    assert (request.status, request.closed_at) == ("expired", later)
    booking.refresh_from_db()
    assert booking.status == BookingStatus.AWAITING_SIGNATURE
    assert list(signature_attention_queue()) == [booking]
    assert BookingEvent.objects.filter(booking=booking, event="signature_expired").count() == 1
    assert Notification.objects.filter(user=world.vendor.user, kind="signature.expired").count() == 1
    assert Notification.objects.filter(user=world.ops, kind="signature.expired").count() == 1
    assert AuditLog.objects.filter(action="signature_request.expired", object_id=str(request.pk)).exists()
    # running again changes nothing
    assert signature_requests_expire(now=later) == 0
    # signing the expired request answers 410
    with pytest.raises(Gone):
        signature_sign(request=request, user=world.customer, rating=5)

    # the vendor sends a new request: a new token, the booking leaves the ops queue
    new, created = signature_request(booking=booking, user=world.vendor.user, now=later)
    assert created and new.pk != request.pk
    assert list(signature_attention_queue()) == []
    assert sign_token(booking) != ""
    signature_sign(request=new, token=sign_token(booking), rating=4, now=later + HOUR)
    booking.refresh_from_db()
    assert booking.status == BookingStatus.SIGNED


def test_an_open_request_of_a_booking_ops_captured_is_cancelled_quietly(world):
    booking, request = requested(world)
    booking_capture_by_ops(booking=booking, user=world.ops, reason="Customer signed on paper")

    assert signature_requests_expire(now=request.expires_at + HOUR) == 0

    request.refresh_from_db()
    assert request.status == "cancelled"
    assert not Notification.objects.filter(kind="signature.expired").exists()
    assert list(signature_attention_queue()) == []


def test_the_sign_endpoint_after_ops_captured_is_a_conflict(world):
    booking, request = requested(world)
    booking_capture_by_ops(booking=booking, user=world.ops, reason="Customer signed on paper")

    with pytest.raises(BookingConflict):
        signature_sign(request=request, user=world.customer, rating=5)


@pytest.mark.postgres
def test_expiring_10000_requests_takes_a_bounded_number_of_queries(world, django_capture_on_commit_callbacks):
    # given 10,000 open requests past their deadline, over 10 vendors (bulk inserts keeping the
    # invariants the services keep: one open request per awaiting_signature booking)
    count = 10_000
    template = world.complete()
    vendors = [VendorFactory() for _ in range(10)]
    now = timezone.now()
    fields = {
        f.attname: getattr(template, f.attname)
        for f in Booking._meta.concrete_fields
        if f.attname not in ("id", "booking_number", "vendor_id", "status")
    }
    bookings = Booking.objects.bulk_create(
        [
            Booking(
                **fields,
                id=uuid.uuid4(),
                booking_number=f"BK-TEST-{index:06d}",
                vendor_id=vendors[index % 10].pk,
                status=BookingStatus.AWAITING_SIGNATURE,
            )
            for index in range(count)
        ],
        batch_size=2000,
    )
    requests = []
    for booking in bookings:
        request = SignatureRequest(
            booking=booking, created_at=now - timedelta(hours=49), expires_at=now - timedelta(hours=1)
        )
        _token, request.token_nonce, request.token_hash = token_issue(request.pk)
        requests.append(request)
    SignatureRequest.objects.bulk_create(requests, batch_size=2000)

    # when the sweep runs
    with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks() as callbacks:
        expired = signature_requests_expire(now=now)

    # then every request expired, in a bounded number of queries, with one UPDATE
    assert expired == count
    # claim 1 + UPDATE 1 + the vendors' users 1 + bulk inserts of 5,000 rows: timeline events 2,
    # audit entries 2, notifications 2, SMS/e-mail copies 4 + the one message to ops (a few)
    assert len(queries) <= 25, len(queries)
    sql = [query["sql"] for query in queries.captured_queries]
    # (on PostgreSQL the claim and the update are one statement: WITH due AS (…) UPDATE …)
    assert len([q for q in sql if 'UPDATE "signatures_signaturerequest"' in q]) == 1
    assert SignatureRequest.objects.filter(status="expired").count() == count
    # the vendors' notifications are stored and their SMS/e-mail copies queued (sent after commit)
    assert Notification.objects.filter(kind="signature.expired", user__role="vendor").count() == count
    to_vendors = NotificationDelivery.objects.filter(kind="signature.expired", notification__user__role="vendor")
    assert to_vendors.filter(status="pending", channel="sms").count() == count
    assert to_vendors.filter(status="pending", channel="email").count() == count
    assert len(callbacks) <= 5  # the deliveries are handed to the send task in one after-commit step
    # and every booking is in the ops queue, with its timeline event
    assert signature_attention_queue().count() == count
    assert BookingEvent.objects.filter(event="signature_expired").count() == count
    assert Notification.objects.filter(user=world.ops, kind="signature.expired").count() == 1


def test_expired_deliveries_are_sent_after_commit(world, django_capture_on_commit_callbacks, mailoutbox):
    _booking, request = requested(world)

    with django_capture_on_commit_callbacks(execute=True):
        signature_requests_expire(now=request.expires_at + HOUR)

    deliveries = NotificationDelivery.objects.filter(kind="signature.expired", notification__user=world.vendor.user)
    assert sorted(deliveries.values_list("channel", "status")) == [("email", "sent"), ("sms", "sent")]
    assert any("expired" in message.subject for message in mailoutbox)


def test_the_automatic_request_two_hours_after_completion(world):
    booking = world.complete()
    completed_at = booking.completed_at

    assert signature_requests_auto(now=completed_at + HOUR) == 0
    assert signature_requests_auto(now=completed_at + 2 * HOUR) == 1
    assert signature_requests_auto(now=completed_at + 3 * HOUR) == 0

    booking.refresh_from_db()
    assert booking.status == BookingStatus.AWAITING_SIGNATURE
    request = SignatureRequest.objects.get(booking=booking)
    assert request.created_by is None and request.status == "open"
    assert request.expires_at == completed_at + 2 * HOUR + timedelta(hours=48)
    assert Notification.objects.filter(user=world.customer, kind="signature.requested").count() == 1


def test_no_automatic_request_when_the_vendor_asked(world):
    booking, _request = requested(world)

    assert signature_requests_auto(now=booking.completed_at + 3 * HOUR) == 0
    assert SignatureRequest.objects.filter(booking=booking).count() == 1


def test_the_reminder_goes_out_24_hours_before_expiry_once(world):
    booking, request = requested(world)
    first_link = sign_token(booking)

    assert signature_reminders_send(now=request.expires_at - 25 * HOUR) == 0
    assert signature_reminders_send(now=request.expires_at - 23 * HOUR) == 1
    assert signature_reminders_send(now=request.expires_at - 22 * HOUR) == 0

    reminder = Notification.objects.get(user=world.customer, kind="signature.reminder")
    # the same link as the first message: the token is derived again, never stored
    assert reminder.data["sign_path"].endswith(first_link)
    assert set(reminder.deliveries.values_list("channel", flat=True)) == {"sms", "email"}
    request.refresh_from_db()
    assert request.reminder_sent_at is not None


def test_the_reminder_link_works_after_a_secret_key_rotation(world, settings):
    booking, request = requested(world)
    old_link = sign_token(booking)
    settings.SECRET_KEY = "rotated-" + settings.SECRET_KEY

    assert signature_reminders_send(now=request.expires_at - 23 * HOUR) == 1

    new_link = sign_token(booking)
    assert new_link != old_link
    signature = signature_sign(request=request, token=new_link, rating=5, now=request.expires_at - 22 * HOUR)
    assert signature.signed_via == "token"


def test_no_reminder_for_a_request_with_less_than_a_day_to_run(world, config_short_expiry):
    _booking, request = requested(world)

    assert signature_reminders_send(now=request.created_at + HOUR) == 0


@pytest.fixture
def config_short_expiry(db):
    config = SystemSettings.load()
    config.signature_expiry_hours = 12
    config.save()
    return config


def test_the_tasks_run_the_sweeps(world, settings):
    booking = world.complete()
    booking.refresh_from_db()
    Booking.objects.filter(pk=booking.pk).update(completed_at=timezone.now() - 3 * HOUR)

    assert tasks.request_due_signatures() == {"requested": 1, "reminded": 0}
    assert tasks.expire_signature_requests() == 0
    assert "signatures.tasks.expire_signature_requests" in {
        entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()
    }
    assert "signatures.tasks.request_due_signatures" in {
        entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()
    }
