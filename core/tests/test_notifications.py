"""notify(): the in-app row, the WebSocket push, SMS and e-mail copies through Celery tasks with
retries, per-user channel preferences, and the notifications API."""

import asyncio
import threading
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from celery.exceptions import Retry
from channels.layers import get_channel_layer
from django.core import mail
from django.db import connection, transaction
from django.utils import timezone

from core.models import DeliveryChannel, DeliveryStatus, Notification, NotificationDelivery
from core.notifications import MAX_DELIVERY_ATTEMPTS, notify
from core.realtime import user_group
from core.sms import SMSProviderFault
from core.tasks import SEND_MAX_RETRIES, requeue_stuck_deliveries, send_delivery
from core.tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer():
    return CustomerFactory(phone="+919812345678", email="asha@example.com", email_verified=True)


def tell(user, **overrides):
    arguments = {"kind": "booking.accepted", "title": "Booking confirmed", "body": "Ravi accepted BK-1."}
    arguments.update(overrides)
    return notify(user=user, **arguments)


class GroupListener:
    """A channel in the user's group on the configured (in-memory) channel layer."""

    def __init__(self, group):
        self.layer = get_channel_layer()
        self.channel = async_to_sync(self.layer.new_channel)()
        async_to_sync(self.layer.group_add)(group, self.channel)

    def receive(self, timeout=1.0):
        async def wait():
            try:
                return await asyncio.wait_for(self.layer.receive(self.channel), timeout)
            except TimeoutError:
                return None

        return async_to_sync(wait)()


# --- in-app and push -------------------------------------------------------------------------------


def test_notify_stores_the_notification_and_pushes_it_after_commit(customer, django_capture_on_commit_callbacks):
    listener = GroupListener(user_group(customer.pk))

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        notification = tell(customer, data={"booking_id": "b-1"})
        assert listener.receive(timeout=0.1) is None  # nothing leaves before the commit
    for callback in callbacks:
        callback()

    stored = Notification.objects.get(user=customer)
    assert stored.pk == notification.pk and stored.title == "Booking confirmed" and stored.read_at is None
    event = listener.receive()
    assert event["type"] == "push"
    message = event["message"]
    assert message == {
        "type": "notification",
        "id": notification.pk,
        "title": "Booking confirmed",
        "body": "Ravi accepted BK-1.",
        "data": {"booking_id": "b-1"},
        "at": notification.created_at.isoformat(),
    }


def test_a_rolled_back_transaction_stores_pushes_and_sends_nothing(
    customer, fake_twilio, django_capture_on_commit_callbacks
):
    listener = GroupListener(user_group(customer.pk))

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        tell(customer)
        raise RuntimeError("the booking change failed")

    assert not Notification.objects.exists()
    assert not NotificationDelivery.objects.exists()
    assert fake_twilio.requests == []
    assert mail.outbox == []
    assert listener.receive(timeout=0.2) is None


# --- SMS and e-mail copies -------------------------------------------------------------------------


def test_notify_sends_an_sms_and_an_email_copy_after_commit(customer, fake_twilio, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        notification = tell(customer)

    assert len(fake_twilio.messages) == 1
    sms = fake_twilio.messages[0]
    assert sms["to"] == "+919812345678"
    assert sms["body"] == "Booking confirmed: Ravi accepted BK-1."
    assert fake_twilio.requests[0].auth == (fake_twilio.account_sid, fake_twilio.auth_token)
    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.to == ["asha@example.com"]
    assert email.subject == "Booking confirmed"
    assert email.body.startswith("Ravi accepted BK-1.")
    deliveries = {d.channel: d for d in notification.deliveries.all()}
    assert set(deliveries) == {DeliveryChannel.SMS, DeliveryChannel.EMAIL}
    assert deliveries["sms"].status == DeliveryStatus.SENT and deliveries["sms"].provider_id == sms["sid"]
    assert deliveries["sms"].attempts == 1 and deliveries["sms"].sent_at is not None
    assert deliveries["email"].status == DeliveryStatus.SENT
    assert deliveries["email"].provider_id == email.extra_headers["Message-ID"]


def test_nothing_is_sent_before_the_commit(customer, fake_twilio, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        tell(customer)

    assert fake_twilio.requests == [] and mail.outbox == []
    assert NotificationDelivery.objects.filter(status=DeliveryStatus.PENDING).count() == 2
    assert len(callbacks) == 3  # the push and one task per copy


@pytest.mark.parametrize(
    ("prefs", "arguments", "channels"),
    [
        pytest.param({}, {}, {"sms", "email"}, id="default-both"),
        pytest.param({"notify_sms": False}, {}, {"email"}, id="sms-off"),
        pytest.param({"notify_email": False}, {}, {"sms"}, id="email-off"),
        pytest.param({"notify_sms": False, "notify_email": False}, {}, set(), id="both-off"),
        pytest.param({}, {"sms": False}, {"email"}, id="caller-in-app-and-email"),
        pytest.param({}, {"sms": False, "email": False}, set(), id="caller-in-app-only"),
        pytest.param({"phone": ""}, {}, {"email"}, id="no-phone"),
        pytest.param({"email": ""}, {}, {"sms"}, id="no-email"),
        pytest.param({"is_active": False}, {}, set(), id="inactive-account"),
    ],
)
def test_copies_follow_the_users_preferences_and_the_callers_choice(
    fake_twilio, django_capture_on_commit_callbacks, prefs, arguments, channels
):
    user = CustomerFactory(**{"email_verified": True, **prefs})

    with django_capture_on_commit_callbacks(execute=True):
        tell(user, **arguments)

    assert Notification.objects.filter(user=user).count() == 1  # the in-app copy always
    assert set(NotificationDelivery.objects.values_list("channel", flat=True)) == channels
    assert len(fake_twilio.messages) == (1 if "sms" in channels else 0)
    assert len(mail.outbox) == (1 if "email" in channels else 0)


def test_preferences_are_edited_through_users_me(client_for, customer):
    client = client_for(customer)

    response = client.patch("/api/users/me/", {"notify_sms": False}, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["notify_sms"] is False and response.json()["notify_email"] is True
    customer.refresh_from_db()
    assert customer.notify_sms is False and customer.notify_email is True
    assert client.get("/api/users/me/").json()["notify_sms"] is False


def test_a_rejected_number_fails_the_delivery_without_retrying(
    customer, fake_twilio, django_capture_on_commit_callbacks
):
    fake_twilio.reject_number(customer.phone, code=21211)

    with django_capture_on_commit_callbacks(execute=True):
        tell(customer, email=False)

    delivery = NotificationDelivery.objects.get(channel="sms")
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.error_code == "21211"
    assert "not a valid phone number" in delivery.last_error
    assert delivery.attempts == 1
    assert len(fake_twilio.requests) == 1  # asked once, never again


def test_a_provider_error_is_retried_and_then_sent(customer, fake_twilio, django_capture_on_commit_callbacks):
    fake_twilio.fail_next(status=500, times=2)

    with django_capture_on_commit_callbacks(execute=True):
        tell(customer, email=False)

    delivery = NotificationDelivery.objects.get(channel="sms")
    assert [r.status for r in fake_twilio.requests] == [500, 500, 201]
    assert delivery.status == DeliveryStatus.SENT
    assert delivery.attempts == 3
    assert len(fake_twilio.messages) == 1


def test_a_provider_that_keeps_failing_is_given_up_after_the_retries(
    customer, fake_twilio, django_capture_on_commit_callbacks
):
    fake_twilio.fail_next(status=503, times=SEND_MAX_RETRIES + 5)

    with django_capture_on_commit_callbacks(execute=True):  # the error is logged, not raised to the caller
        tell(customer, email=False)

    delivery = NotificationDelivery.objects.get(channel="sms")
    assert len(fake_twilio.requests) == SEND_MAX_RETRIES + 1
    assert delivery.attempts == SEND_MAX_RETRIES + 1
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.error_code == "20500"
    assert fake_twilio.messages == []


def test_the_task_retries_provider_faults_with_exponential_backoff(customer, fake_twilio):
    with transaction.atomic():
        tell(customer, email=False)  # the on-commit dispatch is dropped: the task is run by hand
    delivery = NotificationDelivery.objects.get(channel="sms")
    fake_twilio.fail_next(status=500, times=3)

    delays = []
    for retries in (0, 4):
        send_delivery.push_request(
            id=f"t{retries}", retries=retries, is_eager=True, called_directly=False, args=[delivery.pk], kwargs={}
        )
        try:
            with pytest.raises(Retry) as raised:
                send_delivery.run(delivery.pk)
        finally:
            send_delivery.pop_request()
        assert isinstance(raised.value.exc, SMSProviderFault)
        delays.append(raised.value.when)
    assert 0 <= delays[0] <= 1  # full jitter: up to 2**retries seconds
    assert 0 <= delays[1] <= 16

    # After the last retry the fault itself is raised: no further Retry.
    send_delivery.push_request(
        id="last", retries=SEND_MAX_RETRIES, is_eager=True, called_directly=False, args=[delivery.pk], kwargs={}
    )
    try:
        with pytest.raises(SMSProviderFault):
            send_delivery.run(delivery.pk)
    finally:
        send_delivery.pop_request()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING  # released for the retry, not stuck in "sending"


def test_running_the_delivery_task_twice_sends_one_sms(customer, fake_twilio):
    with transaction.atomic():
        tell(customer, email=False)
    delivery = NotificationDelivery.objects.get(channel="sms")

    first = send_delivery(delivery.pk)
    second = send_delivery(delivery.pk)

    assert (first, second) == ("sent", "skipped")
    assert len(fake_twilio.messages) == 1
    delivery.refresh_from_db()
    assert delivery.attempts == 1


def test_a_delivery_held_by_another_worker_is_left_alone_until_its_lease_lapses(customer, fake_twilio):
    with transaction.atomic():
        tell(customer, email=False)
    delivery = NotificationDelivery.objects.get(channel="sms")
    NotificationDelivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.SENDING, claimed_at=timezone.now() - timedelta(minutes=1), attempts=1
    )

    assert send_delivery(delivery.pk) == "skipped"
    assert fake_twilio.requests == []

    # That worker died: after the lease the row may be taken again.
    NotificationDelivery.objects.filter(pk=delivery.pk).update(claimed_at=timezone.now() - timedelta(minutes=11))
    assert send_delivery(delivery.pk) == "sent"
    assert len(fake_twilio.messages) == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_running_the_same_delivery_at_once_send_one_sms(fake_twilio):
    user = CustomerFactory()
    # Made directly: here a committed notify() would already have run its task in-process.
    notification = Notification.objects.create(user=user, kind="k", title="Booking confirmed", body="BK-1")
    delivery = NotificationDelivery.objects.create(notification=notification, channel="sms", kind="k", to=user.phone)
    fake_twilio.delay = 0.5  # the first send is still in flight when the second worker looks
    start = threading.Barrier(2)
    outcomes = []

    def worker():
        try:
            start.wait()
            outcomes.append(send_delivery(delivery.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(outcomes) == ["sent", "skipped"]
    assert len(fake_twilio.requests) == 1
    assert len(fake_twilio.messages) == 1


def test_the_sweep_sends_a_delivery_whose_task_was_lost(customer, fake_twilio, django_capture_on_commit_callbacks):
    with transaction.atomic():
        tell(customer, email=False)  # as if the broker was down: the task never ran
    stale = timezone.now() - timedelta(minutes=20)
    NotificationDelivery.objects.update(updated_at=stale)
    exhausted = NotificationDelivery.objects.create(
        channel="sms", kind="x", to="+919800000002", attempts=MAX_DELIVERY_ATTEMPTS
    )
    code_sms = NotificationDelivery.objects.create(channel="sms", kind="otp", to="+919800000003")
    NotificationDelivery.objects.filter(pk__in=[exhausted.pk, code_sms.pk]).update(updated_at=stale)
    fresh = CustomerFactory()
    with transaction.atomic():
        tell(fresh, email=False)  # pending but recent: its task may still be on its way

    with django_capture_on_commit_callbacks(execute=True):
        outcome = requeue_stuck_deliveries()

    assert outcome == {"requeued": 1, "failed": 2}
    assert [m["to"] for m in fake_twilio.messages] == [customer.phone]
    assert NotificationDelivery.objects.get(to=customer.phone).status == DeliveryStatus.SENT
    assert NotificationDelivery.objects.get(pk=code_sms.pk).status == DeliveryStatus.FAILED
    assert NotificationDelivery.objects.get(pk=exhausted.pk).status == DeliveryStatus.FAILED
    assert NotificationDelivery.objects.get(to=fresh.phone).status == DeliveryStatus.PENDING


def test_an_unreachable_mail_server_is_retried_then_flagged(customer, settings, django_capture_on_commit_callbacks):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 2
    settings.EMAIL_USE_TLS = False

    with django_capture_on_commit_callbacks(execute=True):
        tell(customer, sms=False)

    delivery = NotificationDelivery.objects.get(channel="email")
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.attempts == SEND_MAX_RETRIES + 1
    assert "ConnectionRefused" in delivery.last_error


# --- the API -------------------------------------------------------------------------------------


def make_notifications(user, count, *, read=0):
    now = timezone.now()
    rows = [
        Notification(
            user=user,
            kind="booking.accepted",
            title=f"Title {i}",
            body=f"Body {i}",
            created_at=now - timedelta(minutes=count - i),
            read_at=now if i < read else None,
        )
        for i in range(count)
    ]
    return Notification.objects.bulk_create(rows)


def test_the_list_shows_only_my_notifications_newest_first_with_the_unread_count(client_for, customer):
    make_notifications(customer, 25, read=5)
    make_notifications(CustomerFactory(), 3)
    client = client_for(customer)

    response = client.get("/api/notifications/")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 25 and body["unread_count"] == 20
    assert len(body["results"]) == 20 and body["next"]
    assert [n["title"] for n in body["results"][:3]] == ["Title 24", "Title 23", "Title 22"]
    assert set(body["results"][0]) == {"id", "kind", "title", "body", "data", "created_at", "read_at", "is_read"}
    second = client.get(body["next"]).json()
    assert [n["title"] for n in second["results"]] == [f"Title {i}" for i in range(4, -1, -1)]


def test_the_list_filters_unread_and_read(client_for, customer):
    make_notifications(customer, 6, read=2)
    client = client_for(customer)

    unread = client.get("/api/notifications/?unread=true").json()
    read = client.get("/api/notifications/?unread=false").json()

    assert unread["count"] == 4 and all(n["read_at"] is None for n in unread["results"])
    assert read["count"] == 2 and all(n["is_read"] for n in read["results"])
    assert client.get("/api/notifications/?unread=maybe").status_code == 400


def test_the_list_keeps_a_query_budget(client_for, customer, django_assert_max_num_queries):
    make_notifications(customer, 40, read=10)
    client = client_for(customer)

    with django_assert_max_num_queries(5):  # user, count, page, unread count
        response = client.get("/api/notifications/?page_size=40")

    assert len(response.json()["results"]) == 40


def test_marking_read_sets_read_at_once_and_lowers_the_count(client_for, customer):
    first, second = make_notifications(customer, 2)
    client = client_for(customer)

    response = client.post(f"/api/notifications/{first.pk}/read/")
    again = client.post(f"/api/notifications/{first.pk}/read/")

    assert response.status_code == 200 and response.json()["is_read"] is True
    assert again.status_code == 200 and again.json()["read_at"] == response.json()["read_at"]
    assert client.get("/api/notifications/unread-count/").json() == {"unread": 1}
    second.refresh_from_db()
    assert second.read_at is None


def test_someone_elses_notification_is_404_and_stays_unread(client_for, customer):
    (theirs,) = make_notifications(CustomerFactory(), 1)

    response = client_for(customer).post(f"/api/notifications/{theirs.pk}/read/")

    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None
    assert client_for(customer).post("/api/notifications/999999/read/").status_code == 404


def test_read_all_marks_only_mine(client_for, customer):
    make_notifications(customer, 4, read=1)
    (theirs,) = make_notifications(CustomerFactory(), 1)
    client = client_for(customer)

    response = client.post("/api/notifications/read-all/")

    assert response.status_code == 200 and response.json() == {"marked": 3, "unread": 0}
    assert client.get("/api/notifications/unread-count/").json() == {"unread": 0}
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_the_notification_endpoints_need_a_signed_in_user(api_client):
    assert api_client.get("/api/notifications/").status_code == 401
    assert api_client.get("/api/notifications/unread-count/").status_code == 401
    assert api_client.post("/api/notifications/1/read/").status_code == 401
