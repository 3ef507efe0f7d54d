"""Booking chat (issue 9; ARCHITECTURE §8): who may read and write, the time window, masking of
contacts before confirmation, the throttle, the cursor, read receipts, and the unread rule."""

from datetime import timedelta

import pytest
from django.utils import timezone

from bookings.models import BookingStatus, Message
from bookings.services.chat import (
    RATE_LIMIT,
    chat_unread_notify,
    mask_contacts,
    message_post,
    messages_mark_read,
)
from bookings.services.transitions import booking_accept, booking_cancel, booking_reject
from bookings.tests.conftest import ist
from bookings.tests.factories import VendorServiceFactory
from core.errors import Conflict, Forbidden, NotFound
from core.models import Notification, NotificationDelivery
from core.tests.factories import CustomerFactory, OpsFactory, VendorFactory

pytestmark = pytest.mark.django_db

START = ist(3, 10)


@pytest.fixture
def booking(make_booking, customer, vendor):
    """Pending, offered to the vendor the customer chose: the vendor holds it."""
    return make_booking(customer=customer, vendor=vendor, start=START)


@pytest.fixture
def confirmed(booking, vendor):
    booking_accept(booking=booking, user=vendor.user)
    booking.refresh_from_db()
    return booking


def url(booking, suffix=""):
    return f"/api/bookings/{booking.pk}/messages/{suffix}"


def post(client, booking, body, status=201):
    response = client.post(url(booking), {"body": body}, format="json")
    assert response.status_code == status, response.content
    return response.json()


# --- who ---------------------------------------------------------------------------------------


def test_customer_and_vendor_talk_and_ops_read(client_for, confirmed, customer, vendor):
    post(client_for(customer), confirmed, "Is 10 still fine?")
    post(client_for(vendor.user), confirmed, "Yes, see you then.")

    for reader in (customer, vendor.user, OpsFactory()):
        page = client_for(reader).get(url(confirmed)).json()
        assert [(m["sender_role"], m["body"]) for m in page["results"]] == [
            ("customer", "Is 10 still fine?"),
            ("vendor", "Yes, see you then."),
        ]
        assert page["next"] is None


def test_ops_may_not_write(client_for, confirmed):
    response = client_for(OpsFactory()).post(url(confirmed), {"body": "hello"}, format="json")
    assert response.status_code == 403
    assert not Message.objects.exists()


def test_anyone_else_gets_404(client_for, confirmed, service):
    other_vendor = VendorFactory()
    VendorServiceFactory(vendor=other_vendor, service=service)
    for stranger in (CustomerFactory(), other_vendor.user):
        api = client_for(stranger)
        assert api.get(url(confirmed)).status_code == 404
        assert api.post(url(confirmed), {"body": "hi"}, format="json").status_code == 404
        assert api.post(url(confirmed, "read/")).status_code == 404
    assert (
        client_for(CustomerFactory()).get("/api/bookings/00000000-0000-0000-0000-000000000000/messages/").status_code
        == 404
    )
    assert not Message.objects.exists()


def test_a_vendor_who_declined_the_offer_is_out_of_the_thread(client_for, booking, vendor, customer):
    post(client_for(customer), booking, "Please bring a ladder")
    booking_reject(booking=booking, user=vendor.user, reason="busy")

    assert client_for(vendor.user).get(url(booking)).status_code == 404


def test_anonymous_is_401(api_client, confirmed):
    assert api_client.get(url(confirmed)).status_code == 401


# --- when --------------------------------------------------------------------------------------


def test_no_chat_before_a_vendor_holds_the_booking(booking, vendor, customer, client_for):
    # the vendor declines and nobody else serves the slot: the booking waits for ops, unheld
    booking_reject(booking=booking, user=vendor.user, reason="busy")
    unassigned = type(booking).objects.get(pk=booking.pk)
    assert unassigned.vendor_id is None
    response = client_for(customer).post(url(unassigned), {"body": "anyone?"}, format="json")
    assert response.status_code == 409
    assert "when a vendor takes the booking" in response.json()["detail"]


def test_the_thread_closes_7_days_after_the_job(confirmed, customer):
    message_post(booking=confirmed, user=customer, body="Thanks!", now=confirmed.ends_at + timedelta(days=7))
    with pytest.raises(Conflict):
        message_post(
            booking=confirmed, user=customer, body="Late", now=confirmed.ends_at + timedelta(days=7, seconds=1)
        )
    assert Message.objects.count() == 1


def test_a_cancelled_booking_is_read_only(client_for, confirmed, customer):
    post(client_for(customer), confirmed, "See you")
    booking_cancel(booking=confirmed, user=customer, reason="Plans changed")

    refused = client_for(customer).post(url(confirmed), {"body": "one more"}, format="json")

    assert refused.status_code == 409
    assert refused.json()["status"] == BookingStatus.CANCELLED
    assert len(client_for(customer).get(url(confirmed)).json()["results"]) == 1


@pytest.mark.parametrize("body", ["", "   ", "x" * 2001])
def test_empty_or_long_messages_are_400(client_for, confirmed, customer, body):
    assert client_for(customer).post(url(confirmed), {"body": body}, format="json").status_code == 400
    assert not Message.objects.exists()


# --- masking -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("call me on 98765 43210", "call me on [phone hidden]"),
        ("+91-98765-43210 after 6", "[phone hidden] after 6"),
        ("(080) 2345 6789", "([phone hidden]"),
        ("mail asha.rao+home@example.co.in", "mail [e-mail hidden]"),
        ("flat 3A, 2nd floor, 560034", "flat 3A, 2nd floor, 560034"),
        ("at 10:30 on 12/03", "at 10:30 on 12/03"),
    ],
)
def test_contacts_are_masked(text, masked):
    assert mask_contacts(text) == masked


def test_contacts_are_masked_until_the_booking_is_confirmed(booking, customer, vendor):
    before = message_post(booking=booking, user=customer, body="I am on 9876543210, asha@example.com")
    booking_accept(booking=booking, user=vendor.user)
    after = message_post(booking=booking, user=vendor.user, body="Mine is 9123456780")

    assert Message.objects.get(pk=before.pk).body == "I am on [phone hidden], [e-mail hidden]"
    assert Message.objects.get(pk=after.pk).body == "Mine is 9123456780"


# --- throttle and pages ------------------------------------------------------------------------


def test_twenty_messages_a_minute(client_for, confirmed, customer):
    api = client_for(customer)
    for index in range(RATE_LIMIT):
        post(api, confirmed, f"message {index}")

    refused = api.post(url(confirmed), {"body": "one too many"}, format="json")
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60  # until the first of the twenty is a minute old
    assert Message.objects.count() == RATE_LIMIT
    later = timezone.now() + timedelta(minutes=1, seconds=1)
    assert message_post(booking=confirmed, user=customer, body="calmer now", now=later)


def test_pages_run_oldest_first_with_an_after_cursor(
    client_for, confirmed, customer, vendor, django_assert_max_num_queries
):
    start = timezone.now() - timedelta(hours=3)
    for index in range(55):
        sender = customer if index % 2 == 0 else vendor.user
        message_post(booking=confirmed, user=sender, body=f"m{index}", now=start + timedelta(minutes=index * 2))
    api = client_for(customer)

    first = api.get(url(confirmed)).json()
    assert [m["body"] for m in first["results"]] == [f"m{i}" for i in range(50)]
    assert first["next"].endswith(f"?after={first['results'][-1]['id']}")
    rest = api.get(first["next"]).json()
    assert [m["body"] for m in rest["results"]] == [f"m{i}" for i in range(50, 55)]
    assert rest["next"] is None
    assert api.get(url(confirmed) + "?after=abc").status_code == 400
    with django_assert_max_num_queries(8):
        api.get(url(confirmed))


# --- read receipts and the unread rule ---------------------------------------------------------


def test_reading_marks_only_the_other_sides_messages(client_for, confirmed, customer, vendor):
    mine = message_post(booking=confirmed, user=customer, body="hello")
    theirs = message_post(booking=confirmed, user=vendor.user, body="hi")

    answer = client_for(customer).post(url(confirmed, "read/"))

    assert answer.json() == {"marked": 1}
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.read_at is None and theirs.read_at is not None
    assert client_for(customer).post(url(confirmed, "read/")).json() == {"marked": 0}
    with pytest.raises(Forbidden):
        messages_mark_read(booking=confirmed, user=OpsFactory())


def test_an_unread_message_is_notified_once_an_hour_per_conversation(confirmed, customer, vendor):
    t0 = timezone.now()
    message_post(booking=confirmed, user=customer, body="Gate code is 4411", now=t0)
    message_post(booking=confirmed, user=customer, body="Ring twice", now=t0 + timedelta(minutes=1))

    # under 5 minutes: nothing
    assert chat_unread_notify(now=t0 + timedelta(minutes=4)) == 0
    # 5 minutes: the vendor is told, in-app and by SMS (never e-mail)
    assert chat_unread_notify(now=t0 + timedelta(minutes=5)) == 1
    (note,) = Notification.objects.filter(kind="chat.unread")
    assert note.user == vendor.user and note.data["booking_id"] == str(confirmed.pk)
    assert list(NotificationDelivery.objects.filter(notification=note).values_list("channel", flat=True)) == ["sms"]
    # the second message is old enough now, but the conversation was told less than an hour ago
    assert chat_unread_notify(now=t0 + timedelta(minutes=7)) == 0
    assert chat_unread_notify(now=t0 + timedelta(minutes=64)) == 0
    # an hour on, still unread: told once more, then never again for those messages
    assert chat_unread_notify(now=t0 + timedelta(minutes=66)) == 1
    assert chat_unread_notify(now=t0 + timedelta(hours=5)) == 0
    assert Notification.objects.filter(kind="chat.unread").count() == 2


def test_a_read_message_is_not_notified_and_sms_follows_the_opt_in(confirmed, customer, vendor):
    t0 = timezone.now()
    message_post(booking=confirmed, user=customer, body="Parking is at the back", now=t0)
    messages_mark_read(booking=confirmed, user=vendor.user, now=t0 + timedelta(minutes=2))
    assert chat_unread_notify(now=t0 + timedelta(minutes=10)) == 0

    customer.notify_sms = False
    customer.save(update_fields=["notify_sms"])
    message_post(booking=confirmed, user=vendor.user, body="On my way", now=t0 + timedelta(minutes=20))
    assert chat_unread_notify(now=t0 + timedelta(minutes=26)) == 1
    note = Notification.objects.get(kind="chat.unread", user=customer)
    assert not NotificationDelivery.objects.filter(notification=note).exists()  # in-app only


def test_both_sides_are_told_separately(confirmed, customer, vendor):
    t0 = timezone.now()
    message_post(booking=confirmed, user=customer, body="Hello", now=t0)
    message_post(booking=confirmed, user=vendor.user, body="Hi", now=t0)

    assert chat_unread_notify(now=t0 + timedelta(minutes=6)) == 2
    assert set(Notification.objects.filter(kind="chat.unread").values_list("user", flat=True)) == {
        customer.pk,
        vendor.user.pk,
    }


def test_no_notice_for_a_closed_thread(confirmed, customer):
    t0 = timezone.now()
    message_post(booking=confirmed, user=customer, body="Hello", now=t0)
    booking_cancel(booking=confirmed, user=customer, reason="changed my mind")
    assert chat_unread_notify(now=t0 + timedelta(minutes=6)) == 0


def test_posting_to_a_stale_copy_sees_the_status_now(confirmed, customer):
    stale = type(confirmed).objects.get(pk=confirmed.pk)
    booking_cancel(booking=confirmed, user=customer, reason="changed my mind")
    with pytest.raises(Conflict):
        message_post(booking=stale, user=customer, body="still there?")


def test_an_unknown_booking_is_not_found(customer):
    from bookings.services.chat import chat_booking

    with pytest.raises(NotFound):
        chat_booking(user=customer, booking_id="00000000-0000-0000-0000-000000000000")
