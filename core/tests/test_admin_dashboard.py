"""The operations dashboard on the admin index (core/admin_dashboard.py): its numbers checked
against known data, its charts drawn as inline SVG, and a query count that does not grow with the
data."""

from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
from django.db import connection, models
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from bookings.admin_filters import ATTENTION_LABELS
from bookings.availability import platform_zone
from bookings.models import Booking, BookingStatus
from bookings.services.creation import booking_create
from bookings.services.transitions import booking_accept, booking_cancel, booking_reject
from bookings.tests.conftest import ADDRESS
from bookings.tests.test_admin_bookings import signature_and_money_trouble
from core.admin_dashboard import dashboard_build
from core.contact import contact_message_submit, contact_message_update
from core.models import ContactMessage, ContactStatus, Role
from core.tests.test_admin import logged_in, make_user
from payments.checkout import active_attempt, attempt_prepare, payment_confirm
from payments.models import LedgerTransaction, Payout, PayoutStatus
from signatures.services import signature_request, signature_sign
from signatures.tests.conftest import CARD, make_world, slot

D = Decimal
pytestmark = pytest.mark.django_db


def wednesday_noon():
    """This week's Wednesday (or today, if it is one), 12:00 in the platform zone: a "now" with a
    Monday before it in the same week."""
    today = timezone.localdate()
    day = today + timedelta(days=(2 - today.weekday()) % 7)
    return datetime.combine(day, time(12), tzinfo=platform_zone())


def made_at(booking, when):
    """Move a booking's creation, and the ledger postings made for it, to ``when``."""
    Booking.objects.filter(pk=booking.pk).update(created_at=when)
    # past the ledger's append-only guard, as a data fix would: only the timestamps move
    models.QuerySet.update(LedgerTransaction.objects.filter(booking=booking), created_at=when)


class Data:
    """Known bookings around NOW (a Wednesday noon), all 1180.00 (1000 + 18 % tax; platform fee
    150.00, tax 180.00):

    today:        a confirmed card booking, a cancelled cash booking
    Monday:       a signed booking (rating 5), captured
    10 days ago:  a signed booking (rating 3), captured
    40 days ago:  a completed booking, a disputed one (rating 1), one waiting for manual assignment
    and a failed and a pending payout."""

    def __init__(self, commit):
        now = self.now = wednesday_noon()
        world = self.world = make_world()

        def signed(index, rating, comments=""):
            booking = world.complete(index=index, method="card")
            with commit():
                request, _created = signature_request(booking=booking, user=world.vendor.user)
                signature_sign(request=request, user=world.customer, rating=rating, comments=comments)
            return booking

        self.monday = signed(0, 5)
        made_at(self.monday, now - timedelta(days=2))
        self.last_week = signed(1, 3)
        made_at(self.last_week, now - timedelta(days=10))
        disputed = signed(2, 1, comments="Not done")
        made_at(disputed, now - timedelta(days=40))
        made_at(world.complete(index=3), now - timedelta(days=40))

        confirmed = booking_create(
            customer=world.customer,
            lines=[{"service_id": world.service.pk, "quantity": 1}],
            scheduled_at=slot(4),
            address=ADDRESS,
            vendor_id=str(world.vendor.pk),
            payment_method="card",
        )
        payment_confirm(attempt=attempt_prepare(attempt=active_attempt(confirmed)), user=world.customer, card=CARD)
        booking_accept(booking=confirmed, user=world.vendor.user)
        made_at(confirmed, now - timedelta(hours=1))
        cancelled = booking_create(
            customer=world.customer,
            lines=[{"service_id": world.service.pk, "quantity": 1}],
            scheduled_at=slot(5),
            address=ADDRESS,
            vendor_id=str(world.vendor.pk),
            payment_method="cash",
        )
        with commit():
            booking_cancel(booking=cancelled, user=world.customer, reason="Plans changed")
        made_at(cancelled, now - timedelta(hours=1))

        # no vendor chosen: offered to the only vendor, who declines — it waits for ops
        queued = booking_create(
            customer=world.customer,
            lines=[{"service_id": world.service.pk, "quantity": 1}],
            scheduled_at=slot(6),
            address=ADDRESS,
            payment_method="cash",
        )
        booking_reject(booking=queued, user=world.vendor.user, reason="Busy")
        assert Booking.objects.get(pk=queued.pk).needs_manual_assignment
        made_at(queued, now - timedelta(days=40))

        for number, status, amount in (("PO-T-1", PayoutStatus.FAILED, "300.00"), ("PO-T-2", "pending", "200.00")):
            Payout.objects.create(number=number, vendor=world.vendor, amount=D(amount), currency="INR", status=status)


@pytest.fixture
def data(django_capture_on_commit_callbacks):
    return Data(lambda: django_capture_on_commit_callbacks(execute=True))


def test_the_dashboard_numbers_match_the_known_data(data):
    board = dashboard_build(now=data.now)

    assert (board.bookings_today, board.bookings_week) == (2, 3)
    statuses = {row["status"]: (row["today"], row["week"]) for row in board.status_rows}
    assert statuses[BookingStatus.CONFIRMED] == (1, 1)
    assert statuses[BookingStatus.CANCELLED] == (1, 1)
    assert statuses[BookingStatus.SIGNED] == (0, 1)
    assert statuses[BookingStatus.DISPUTED] == (0, 0)
    # cancelled bookings are not booking value; the 40-day-old ones are outside the window
    assert (board.gbv_today, board.gbv_week, board.gbv_month) == (D("1180.00"), D("2360.00"), D("3540.00"))
    # what the platform kept: commission 150.00 per captured booking (no promo), tax 180.00
    assert (board.revenue_week, board.revenue_month) == (D("150.00"), D("300.00"))
    assert (board.tax_week, board.tax_month) == (D("180.00"), D("360.00"))
    assert (board.payouts_failed_count, board.payouts_failed_amount) == (1, D("300.00"))
    assert (board.payouts_pending_count, board.payouts_pending_amount) == (1, D("200.00"))
    assert (board.rating_average, board.rating_count) == (D("3.00"), 3)
    attention = {item["key"]: item["count"] for item in board.attention}
    assert attention["disputed"] == 1
    assert attention["manual_assignment"] == 1
    assert board.attention_total == 2
    (top,) = board.top_vendors
    assert (top["vendor_id"], top["jobs"], top["value"]) == (data.world.vendor.pk, 3, D("3540.00"))


def test_the_charts_are_server_drawn_svg_for_30_days(data):
    board = dashboard_build(now=data.now)

    assert len(board.bookings_chart.bars) == 30 == len(board.revenue_chart.bars)
    heights = {bar.title.split(":")[0]: bar.height for bar in board.bookings_chart.bars}
    monday = (data.now - timedelta(days=2)).strftime("%d %b")
    assert heights[monday] > 0
    assert len(board.vendors_chart.bars) == 1


def test_ops_see_the_dashboard_on_the_admin_index(data):
    client = logged_in(make_user(Role.OPS_MANAGER, "ops"))

    response = client.get(reverse("admin:index"))

    assert response.status_code == 200
    html = response.content.decode()
    dashboard = html.split('id="ops-dashboard"')[1].split("</section>")[0]
    assert dashboard.count("<svg") == 3 and "<rect" in dashboard
    # no chart library, nothing fetched from elsewhere
    assert "<script" not in dashboard
    assert "cdn" not in html.lower()
    assert "?attention=disputed" in dashboard
    assert 'id="kpi-gbv-month"><span class="ops-kpi-value">3540.00' in dashboard


def test_the_dashboard_counts_expired_signatures_and_failed_payments_and_payouts(django_capture_on_commit_callbacks):
    # given one booking waiting for each of these reasons (and one whose expired request was sent again)
    ops = make_user(Role.OPS_MANAGER, "ops")
    signature_and_money_trouble(make_world(), lambda: django_capture_on_commit_callbacks(execute=True), ops)

    # when ops open the admin index
    response = logged_in(ops).get(reverse("admin:index"))

    # then each reason counts its booking, and links to the filtered bookings
    assert response.status_code == 200
    board = response.context["dashboard"]
    assert {item["key"]: item["count"] for item in board.attention} == {
        key: 1 if key in ("signature_expired", "payment_failed", "payout_failed") else 0 for key in ATTENTION_LABELS
    }
    assert board.attention_total == 3
    html = response.content.decode()
    for key in ("signature_expired", "payment_failed", "payout_failed"):
        link = html.split(f'data-attention="{key}"')[1].split("</a>")[0]
        assert 'class="ops-attention-hot"' in link and link.endswith(": 1"), link
    assert "Needs attention (3)" in html


def index_queries(client):
    with CaptureQueriesContext(connection) as seen:
        response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    return len(seen)


def test_the_dashboard_costs_the_same_queries_whatever_the_data(django_capture_on_commit_callbacks):
    client = logged_in(make_user(Role.SUPER_ADMIN, "root"))
    empty = index_queries(client)

    Data(lambda: django_capture_on_commit_callbacks(execute=True))
    full = index_queries(client)

    assert full == empty
    assert full <= 20


def test_the_dashboard_counts_contact_messages_still_to_answer():
    ops = make_user(Role.OPS_MANAGER, "ops")
    for subject in ("Refund?", "Vendor late", "Thanks"):
        contact_message_submit(name="Asha", email="asha@example.com", subject=subject, message="Hello")
    contact_message_update(
        message=ContactMessage.objects.get(subject="Thanks"), actor=ops, status=ContactStatus.RESOLVED
    )
    contact_message_update(message=ContactMessage.objects.get(subject="Vendor late"), actor=ops, status="read")

    response = logged_in(ops).get(reverse("admin:index"))

    contact = response.context["dashboard"].contact
    assert (contact["new"], contact["open"]) == (1, 2)
    assert contact["url"] == reverse("admin:core_contactmessage_changelist")
    assert 'id="kpi-contact"' in response.content.decode()
