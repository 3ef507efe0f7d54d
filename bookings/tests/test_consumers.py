"""WebSocket consumers (ARCHITECTURE §8), on the in-memory layer and on the real Redis layer."""

import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.layers import channel_layers
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from django.db import transaction
from django.test import Client
from rest_framework_simplejwt.tokens import RefreshToken

from bookings.services.creation import booking_create
from bookings.services.transitions import booking_accept, booking_start
from bookings.tests.conftest import ADDRESS, local_time
from bookings.tests.factories import ServiceFactory, VendorServiceFactory
from core.layers import BLOCKING_POP_SECONDS, redis_channel_layer
from core.notifications import notify
from core.tests.factories import CustomerFactory, OpsFactory, VendorFactory
from core.ws_auth import WebSocketAuthStack, origin_checked
from marketplace.routing import websocket_urlpatterns

pytestmark = pytest.mark.django_db(transaction=True)

APPLICATION = origin_checked(WebSocketAuthStack(URLRouter(websocket_urlpatterns)))


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def layer(request, settings):
    """Run each test on the in-memory layer and on the real Redis layer."""
    if request.param == "redis":
        settings.CHANNEL_LAYERS = {"default": redis_channel_layer(django_settings.TEST_REDIS_URL)}
    channel_layers.backends.clear()
    yield request.param
    channel_layers.backends.clear()


@database_sync_to_async
def token_for(user):
    return str(RefreshToken.for_user(user).access_token)


async def connect(path, user=None, *, headers=None):
    if user is not None:
        path = f"{path}?token={await token_for(user)}"
    communicator = WebsocketCommunicator(APPLICATION, path, headers=headers or [])
    connected, _ = await communicator.connect()
    return communicator, connected


async def expect_close(communicator, code):
    message = await communicator.receive_output(timeout=3)
    assert message == {"type": "websocket.close", "code": code}


@database_sync_to_async
def make_world():
    service = ServiceFactory(duration_minutes=60)
    vendor = VendorFactory()
    VendorServiceFactory(vendor=vendor, service=service)
    customer = CustomerFactory()
    return service, vendor, customer


@database_sync_to_async
def book(customer, service, vendor=None, days=3):
    return booking_create(
        customer=customer,
        lines=[{"service_id": service.pk, "quantity": 1}],
        scheduled_at=local_time(days, 10),
        address=ADDRESS,
        vendor_id=str(vendor.pk) if vendor else None,
        payment_method="cash",
    )


@database_sync_to_async
def accept(booking, vendor):
    return booking_accept(booking=booking, user=vendor.user)


async def test_booking_socket_sends_the_current_state_first_to_a_token_holder(layer):
    service, vendor, customer = await make_world()
    booking = await book(customer, service, vendor)
    communicator, connected = await connect(f"/ws/bookings/{booking.pk}/", customer)
    assert connected
    snapshot = await communicator.receive_json_from(timeout=3)
    assert snapshot["type"] == "booking.update"
    assert snapshot["event"] == "snapshot"
    assert snapshot["booking_id"] == str(booking.pk)
    assert snapshot["status"] == "pending"
    assert snapshot["data"]["booking_number"] == booking.booking_number
    await communicator.disconnect()


async def test_booking_socket_authenticates_by_session_cookie(layer):
    service, vendor, customer = await make_world()
    booking = await book(customer, service, vendor)
    browser = Client()
    await database_sync_to_async(browser.force_login)(customer)
    cookie = f"{django_settings.SESSION_COOKIE_NAME}={browser.cookies[django_settings.SESSION_COOKIE_NAME].value}"
    communicator, connected = await connect(
        f"/ws/bookings/{booking.pk}/", headers=[(b"cookie", cookie.encode()), (b"origin", b"http://testserver")]
    )
    assert connected
    assert (await communicator.receive_json_from(timeout=3))["status"] == "pending"
    await communicator.disconnect()


@pytest.mark.parametrize(
    "path", ["/ws/bookings/00000000-0000-0000-0000-000000000000/", "/ws/notifications/", "/ws/vendor/jobs/"]
)
async def test_no_credentials_close_with_4401(layer, path):
    communicator, connected = await connect(path)
    assert connected  # accepted first, so the browser sees the close code, not a bare 403
    await expect_close(communicator, 4401)


async def test_a_bad_token_closes_with_4401(layer):
    communicator, connected = await connect("/ws/notifications/?token=not-a-jwt")
    assert connected
    await expect_close(communicator, 4401)


async def test_another_customers_booking_closes_with_4403(layer):
    service, vendor, customer = await make_world()
    booking = await book(customer, service, vendor)
    stranger = await database_sync_to_async(CustomerFactory)()
    communicator, connected = await connect(f"/ws/bookings/{booking.pk}/", stranger)
    assert connected
    await expect_close(communicator, 4403)


async def test_malformed_booking_id_closes_with_4403(layer):
    _, _, customer = await make_world()
    communicator, _ = await connect("/ws/bookings/not-a-uuid/", customer)
    await expect_close(communicator, 4403)


async def test_only_vendors_may_follow_the_job_feed(layer):
    _, _, customer = await make_world()
    communicator, _ = await connect("/ws/vendor/jobs/", customer)
    await expect_close(communicator, 4403)


async def test_a_cross_site_browser_socket_is_refused(layer):
    _, _, customer = await make_world()
    communicator = WebsocketCommunicator(
        APPLICATION,
        f"/ws/notifications/?token={await token_for(customer)}",
        headers=[(b"origin", b"https://evil.example")],
    )
    connected, _ = await communicator.connect()
    assert not connected


async def test_a_new_offer_reaches_the_vendor_and_the_accept_reaches_the_customer(layer):
    # given: the vendor follows their job feed
    service, vendor, customer = await make_world()
    jobs, connected = await connect("/ws/vendor/jobs/", vendor.user)
    assert connected
    # when: the customer books
    booking = await book(customer, service, vendor)
    # then: the offer arrives with start, expiry and earning
    offer = await jobs.receive_json_from(timeout=3)
    assert offer["type"] == "job.offer"
    assert offer["booking_id"] == str(booking.pk)
    assert offer["starts_at"] and offer["expires_at"]
    assert offer["vendor_earning"] == str(booking.vendor_earning)
    # and when the customer watches the booking and the vendor accepts
    watcher, _ = await connect(f"/ws/bookings/{booking.pk}/", customer)
    assert (await watcher.receive_json_from(timeout=3))["event"] == "snapshot"
    await accept(booking, vendor)
    update = await watcher.receive_json_from(timeout=3)
    assert update["type"] == "booking.update"
    assert update["event"] == "accepted" and update["status"] == "confirmed"
    job_update = await jobs.receive_json_from(timeout=3)
    assert job_update["type"] == "job.update" and job_update["status"] == "confirmed"
    await watcher.disconnect()
    await jobs.disconnect()


async def test_ops_can_watch_any_booking_and_the_vendor_gets_updates_too(layer):
    service, vendor, customer = await make_world()
    ops = await database_sync_to_async(OpsFactory)()
    booking = await book(customer, service, vendor)
    ops_socket, _ = await connect(f"/ws/bookings/{booking.pk}/", ops)
    vendor_socket, _ = await connect(f"/ws/bookings/{booking.pk}/", vendor.user)
    assert (await ops_socket.receive_json_from(timeout=3))["event"] == "snapshot"
    assert (await vendor_socket.receive_json_from(timeout=3))["event"] == "snapshot"
    await accept(booking, vendor)
    assert (await ops_socket.receive_json_from(timeout=3))["status"] == "confirmed"
    assert (await vendor_socket.receive_json_from(timeout=3))["status"] == "confirmed"
    await ops_socket.disconnect()
    await vendor_socket.disconnect()


async def test_customer_b_never_hears_about_customer_as_booking(layer):
    service, vendor, customer_a = await make_world()
    customer_b = await database_sync_to_async(CustomerFactory)()
    booking_a = await book(customer_a, service, vendor, days=3)
    booking_b = await book(customer_b, service, vendor, days=4)
    socket_b, _ = await connect(f"/ws/bookings/{booking_b.pk}/", customer_b)
    notifications_b, _ = await connect("/ws/notifications/", customer_b)
    assert (await socket_b.receive_json_from(timeout=3))["booking_id"] == str(booking_b.pk)
    await accept(booking_a, vendor)
    assert await socket_b.receive_nothing(timeout=0.5)
    assert await notifications_b.receive_nothing(timeout=0.5)
    await socket_b.disconnect()
    await notifications_b.disconnect()


async def test_a_rolled_back_transition_publishes_nothing(layer):
    service, vendor, customer = await make_world()
    booking = await book(customer, service, vendor)
    watcher, _ = await connect(f"/ws/bookings/{booking.pk}/", customer)
    jobs, _ = await connect("/ws/vendor/jobs/", vendor.user)
    await watcher.receive_json_from(timeout=3)

    @database_sync_to_async
    def accept_then_fail():
        with pytest.raises(RuntimeError), transaction.atomic():
            booking_accept(booking=booking, user=vendor.user)
            raise RuntimeError("something later in the request failed")

    await accept_then_fail()
    assert await watcher.receive_nothing(timeout=0.5)
    assert await jobs.receive_nothing(timeout=0.5)
    await watcher.disconnect()
    await jobs.disconnect()


async def test_notifications_reach_only_their_user(layer):
    _, _, customer = await make_world()
    other = await database_sync_to_async(CustomerFactory)()
    mine, _ = await connect("/ws/notifications/", customer)
    theirs, _ = await connect("/ws/notifications/", other)
    note = await database_sync_to_async(notify)(
        user=customer, kind="test", title="Hello", body="Your vendor is on the way", sms=False, email=False
    )
    message = await mine.receive_json_from(timeout=3)
    assert message == {
        "type": "notification",
        "id": note.pk,
        "title": "Hello",
        "body": "Your vendor is on the way",
        "data": {},
        "at": note.created_at.isoformat(),
    }
    assert await theirs.receive_nothing(timeout=0.5)
    await mine.disconnect()
    await theirs.disconnect()


@pytest.mark.redis
async def test_an_idle_socket_outlives_the_layers_blocking_pop(settings):
    """redis-py 8 reads with a 5 s timeout by default, as long as channels_redis's blocking pop:
    with the bare URL as the host, an idle socket's receive loop died with TimeoutError after
    about 5 s. With the production configuration it keeps waiting and still gets its push."""
    settings.CHANNEL_LAYERS = {"default": redis_channel_layer(django_settings.TEST_REDIS_URL)}
    channel_layers.backends.clear()
    try:
        _, _, customer = await make_world()
        idle, _ = await connect("/ws/notifications/", customer)
        assert await idle.receive_nothing(timeout=2 * BLOCKING_POP_SECONDS + 1)
        await database_sync_to_async(notify)(
            user=customer, kind="test", title="Still here", body="After a quiet spell", sms=False, email=False
        )
        message = await idle.receive_json_from(timeout=3)
        assert message["title"] == "Still here"
        await idle.disconnect()
    finally:
        channel_layers.backends.clear()


async def test_a_started_job_is_pushed_to_the_customer(layer, settings):
    service, vendor, customer = await make_world()
    booking = await book(customer, service, vendor)
    await accept(booking, vendor)
    watcher, _ = await connect(f"/ws/bookings/{booking.pk}/", customer)
    await watcher.receive_json_from(timeout=3)

    @database_sync_to_async
    def start():
        from core.models import SystemSettings

        SystemSettings.objects.filter(pk=1).update(start_early_minutes=10_000)
        return booking_start(booking=booking, user=vendor.user)

    await start()
    message = await watcher.receive_json_from(timeout=3)
    assert (message["event"], message["status"]) == ("started", "in_progress")
    await watcher.disconnect()


async def test_a_socket_that_sends_gets_an_error_and_stays_open(layer):
    _, _, customer = await make_world()
    socket, _ = await connect("/ws/notifications/", customer)
    await socket.send_json_to({"type": "hello"})
    assert (await socket.receive_json_from(timeout=3))["type"] == "error"
    await socket.disconnect()


# --- chat (issue 9) ----------------------------------------------------------------------------


async def test_chat_between_customer_and_vendor_over_their_sockets(layer):
    # given a confirmed booking watched by its customer and its vendor
    service, vendor, customer = await make_world()
    booking = await book(customer, service, vendor)
    await accept(booking, vendor)
    customer_socket, _ = await connect(f"/ws/bookings/{booking.pk}/", customer)
    vendor_socket, _ = await connect(f"/ws/bookings/{booking.pk}/", vendor.user)
    await customer_socket.receive_json_from(timeout=3)
    await vendor_socket.receive_json_from(timeout=3)

    # when the customer sends on the socket
    await customer_socket.send_json_to({"type": "chat.send", "body": "The gate code is 4411"})

    # then both sides receive it
    for socket in (customer_socket, vendor_socket):
        message = await socket.receive_json_from(timeout=3)
        assert message["type"] == "chat.message"
        assert (message["body"], message["sender"], message["sender_role"]) == (
            "The gate code is 4411",
            str(customer.pk),
            "customer",
        )

    # and when the vendor reads, the customer hears of it
    await vendor_socket.send_json_to({"type": "chat.read"})
    for socket in (customer_socket, vendor_socket):
        receipt = await socket.receive_json_from(timeout=3)
        assert receipt["type"] == "chat.read" and receipt["reader"] == str(vendor.user.pk)
        assert receipt["up_to"] == message["id"]

    # a refusal is answered on the socket, which stays open
    await vendor_socket.send_json_to({"type": "chat.send", "body": "   "})
    error = await vendor_socket.receive_json_from(timeout=3)
    assert (error["type"], error["status"], error["request"]) == ("error", 400, "chat.send")
    await vendor_socket.send_json_to({"type": "chat.send", "body": "On my way"})
    assert (await customer_socket.receive_json_from(timeout=3))["body"] == "On my way"
    await customer_socket.disconnect()
    await vendor_socket.disconnect()


async def test_ops_watch_the_chat_but_cannot_send(layer):
    service, vendor, customer = await make_world()
    ops = await database_sync_to_async(OpsFactory)()
    booking = await book(customer, service, vendor)
    ops_socket, _ = await connect(f"/ws/bookings/{booking.pk}/", ops)
    customer_socket, _ = await connect(f"/ws/bookings/{booking.pk}/", customer)
    await ops_socket.receive_json_from(timeout=3)
    await customer_socket.receive_json_from(timeout=3)

    await ops_socket.send_json_to({"type": "chat.send", "body": "ops here"})
    assert (await ops_socket.receive_json_from(timeout=3))["status"] == 403
    await customer_socket.send_json_to({"type": "chat.send", "body": "Call me on 98765 43210"})
    seen = await ops_socket.receive_json_from(timeout=3)
    assert seen["body"] == "Call me on [phone hidden]"  # still pending: contacts masked
    await ops_socket.disconnect()
    await customer_socket.disconnect()


async def test_a_third_party_cannot_join_the_chat(layer):
    service, vendor, customer = await make_world()
    booking = await book(customer, service, vendor)
    stranger = await database_sync_to_async(CustomerFactory)()
    socket, connected = await connect(f"/ws/bookings/{booking.pk}/", stranger)
    assert connected
    await expect_close(socket, 4403)


async def test_a_vendor_who_declines_stops_hearing_the_chat(layer):
    # given: the chosen vendor follows the booking, then declines it
    service, vendor, customer = await make_world()
    booking = await book(customer, service, vendor)
    vendor_socket, _ = await connect(f"/ws/bookings/{booking.pk}/", vendor.user)
    customer_socket, _ = await connect(f"/ws/bookings/{booking.pk}/", customer)
    await vendor_socket.receive_json_from(timeout=3)
    await customer_socket.receive_json_from(timeout=3)

    @database_sync_to_async
    def decline():
        from bookings.services.transitions import booking_reject

        booking_reject(booking=booking, user=vendor.user, reason="busy")

    await decline()
    assert (await vendor_socket.receive_json_from(timeout=3))["type"] == "booking.update"

    # when the customer writes (the booking is with ops or the next vendor by now)
    await customer_socket.send_json_to({"type": "chat.send", "body": "Anyone coming?"})

    # then the customer's socket answers, and the vendor who declined hears no chat
    heard = []
    while not await customer_socket.receive_nothing(timeout=0.3):
        heard.append(await customer_socket.receive_json_from())
    assert {"chat.message", "error"} & {message["type"] for message in heard}
    while not await vendor_socket.receive_nothing(timeout=0.3):
        assert (await vendor_socket.receive_json_from())["type"] == "booking.update"
    await vendor_socket.disconnect()
    await customer_socket.disconnect()


async def test_a_token_from_before_a_password_change_opens_no_socket(layer):
    _, _, customer = await make_world()
    token = await token_for(customer)

    @database_sync_to_async
    def change_password():
        customer.set_password("An0ther&Secret-2026")
        customer.save(update_fields=["password"])

    await change_password()
    communicator = WebsocketCommunicator(APPLICATION, f"/ws/notifications/?token={token}")
    connected, _ = await communicator.connect()
    assert connected
    await expect_close(communicator, 4401)


async def test_a_refused_socket_stops_when_the_client_leaves(layer):
    """A socket refused at once leaves while its consumer's Redis connection may still be opening;
    the consumer must end then (core/channel_layer.py), not wait for messages for ever."""
    _, _, customer = await make_world()
    communicator, _ = await connect("/ws/vendor/jobs/", customer)
    await expect_close(communicator, 4403)
    await communicator.send_input({"type": "websocket.disconnect", "code": 1000})
    # It stops at its next Redis command: at once, or after the blocking pop (5 s) it was in.
    # Before the fix it never did.
    done, _ = await asyncio.wait({communicator.future}, timeout=BLOCKING_POP_SECONDS + 3)
    assert communicator.future in done
