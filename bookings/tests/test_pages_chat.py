"""The chat panel on the customer's booking page and the vendor's job page (issue 9, item 5): the
thread as rendered, the form that works without JavaScript, and who may do what."""

import pytest
from django.test import Client

from bookings.models import Message
from bookings.services.chat import message_post
from bookings.services.transitions import booking_accept, booking_cancel
from core.tests.factories import CustomerFactory, OpsFactory
from core.tests.pages import logged_in, make_market

pytestmark = pytest.mark.django_db


@pytest.fixture
def market():
    return make_market()


@pytest.fixture
def booking(market):
    booking = market.book()
    booking_accept(booking=booking, user=market.vendor.user)
    return booking


def chat_url(booking):
    return f"/bookings/{booking.pk}/chat/"


def test_both_pages_show_the_thread_and_its_form(market, booking):
    message_post(booking=booking, user=market.customer, body="Ring twice <b>please</b>")

    customer_page = logged_in(market.customer).get(f"/bookings/{booking.pk}/")
    vendor_page = logged_in(market.vendor.user).get(f"/vendor/jobs/{booking.pk}/")

    for page in (customer_page, vendor_page):
        html = page.content.decode()
        assert page.status_code == 200
        assert 'id="chat"' in html and 'name="body"' in html
        assert "Ring twice &lt;b&gt;please&lt;/b&gt;" in html  # escaped, never HTML
        assert "js/chat.js" in html


def test_the_form_posts_without_javascript(market, booking):
    client = logged_in(market.vendor.user)

    response = client.post(chat_url(booking), {"body": "On my way"})

    assert response.status_code == 302
    assert response["Location"] == f"/vendor/jobs/{booking.pk}/#chat"
    assert Message.objects.get().body == "On my way"
    customer = logged_in(market.customer).post(chat_url(booking), {"body": "Thanks"})
    assert customer["Location"] == f"/bookings/{booking.pk}/#chat"


def test_an_empty_message_is_a_message_not_a_500(market, booking):
    response = logged_in(market.customer).post(chat_url(booking), {"body": "   "}, follow=True)
    assert response.status_code == 200
    assert "Write a message." in response.content.decode()
    assert not Message.objects.exists()


def test_contacts_are_masked_before_confirmation(market):
    pending = market.book()
    logged_in(market.customer).post(chat_url(pending), {"body": "call 98765 43210"})
    assert Message.objects.get().body == "call [phone hidden]"
    page = logged_in(market.customer).get(f"/bookings/{pending.pk}/").content.decode()
    assert "hidden until the booking is confirmed" in page


def test_strangers_ops_and_anonymous(market, booking):
    assert logged_in(CustomerFactory()).post(chat_url(booking), {"body": "hi"}).status_code == 404
    assert logged_in(OpsFactory()).post(chat_url(booking), {"body": "hi"}).status_code == 403
    anonymous = Client().post(chat_url(booking), {"body": "hi"})
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]
    assert not Message.objects.exists()


def test_csrf_is_enforced(market, booking):
    client = logged_in(market.customer, enforce_csrf_checks=True)
    assert client.post(chat_url(booking), {"body": "hi"}).status_code == 403
    assert not Message.objects.exists()


def test_a_cancelled_booking_shows_the_thread_read_only(market, booking):
    message_post(booking=booking, user=market.customer, body="See you")
    booking_cancel(booking=booking, user=market.customer, reason="Plans changed")

    html = logged_in(market.customer).get(f"/bookings/{booking.pk}/").content.decode()

    assert "See you" in html and 'name="body"' not in html
    assert "can be read but not added to" in html


def test_the_page_costs_the_same_queries_for_5_and_50_messages(market, booking):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = logged_in(market.customer)
    counts = []
    for total in (5, 50):
        Message.objects.all().delete()
        Message.objects.bulk_create(
            [Message(booking=booking, sender=market.customer, body=f"m{index}") for index in range(total)]
        )
        with CaptureQueriesContext(connection) as queries:
            assert client.get(f"/bookings/{booking.pk}/").status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_ops_read_the_thread_on_the_booking_in_the_admin(market, booking):
    from core.models import Role
    from core.tests.test_admin import admin_url, make_user

    message_post(booking=booking, user=market.customer, body="The tap still drips <script>")
    message_post(booking=booking, user=market.vendor.user, body="I will come back tomorrow")
    ops = make_user(Role.OPS_MANAGER, "opsreader")

    page = logged_in(ops).get(admin_url("bookings.booking", "change", booking.pk))

    html = page.content.decode()
    assert page.status_code == 200
    assert html.count('class="ops-message"') == 2
    assert "The tap still drips &lt;script&gt;" in html and "I will come back tomorrow" in html
    # read only: the admin offers no way to write in the thread
    assert 'name="body"' not in html
