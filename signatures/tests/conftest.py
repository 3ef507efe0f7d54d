"""Helpers for the signature tests: a vendor working all day, completed bookings made through the
booking services (cash, or card authorised through the fake gateway), with before/after photo
rows carrying a SHA-256 (bookings/tests/photos.py)."""

import base64
import io
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import models
from PIL import Image

from bookings.models import Booking, BookingStatus
from bookings.services.creation import booking_create
from bookings.services.transitions import booking_accept, booking_complete, booking_start
from bookings.tests.conftest import ADDRESS, local_time
from bookings.tests.factories import ServiceFactory, VendorServiceFactory
from bookings.tests.photos import add_photo
from core.models import Notification
from core.tests.factories import CustomerFactory, OpsFactory, VendorFactory
from payments.checkout import active_attempt, attempt_prepare, payment_confirm
from payments.gateways.base import CardDetails
from payments.models import AttemptStatus

D = Decimal
ALL_DAY = {str(day): [["00:00", "24:00"]] for day in range(7)}
PRICE = D("1000.00")
TOTAL = D("1180.00")  # 1000 + 18 % tax
VENDOR_EARNING = D("850.00")  # 1000 − 15 % commission
CARD = CardDetails(number="4242424242424242", exp_month=12, exp_year=2030, cvc="123")


def png_bytes(size=(120, 40), color=(20, 20, 160, 255)) -> bytes:
    image = Image.new("RGBA", size, (255, 255, 255, 0))
    for x in range(10, size[0] - 10):
        image.putpixel((x, size[1] // 2), color)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def data_url(raw: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(raw).decode()


def slot(index: int):
    """Distinct two-hour slots from the day after tomorrow on (a 60-minute visit + buffer)."""
    return local_time(2 + index // 10, 1 + (index % 10) * 2)


@dataclass
class World:
    service: object
    vendor: object
    customer: object
    ops: object

    def complete(self, *, index=0, method="cash", customer=None, vendor=None, photos=("before", "after")) -> Booking:
        """A booking of ``customer`` with ``vendor``, accepted, started, photographed and completed."""
        vendor = vendor or self.vendor
        customer = customer or self.customer
        start = slot(index)
        booking = booking_create(
            customer=customer,
            lines=[{"service_id": self.service.pk, "quantity": 1}],
            scheduled_at=start,
            address=ADDRESS,
            vendor_id=str(vendor.pk),
            payment_method=method,
        )
        if method == "card":
            attempt = attempt_prepare(attempt=active_attempt(booking))
            attempt = payment_confirm(attempt=attempt, user=customer, card=CARD)
            assert attempt.status == AttemptStatus.AUTHORIZED
        booking_accept(booking=booking, user=vendor.user)
        booking_start(booking=booking, user=vendor.user, now=start)
        for kind in photos:
            add_photo(booking, kind=kind)
        booking_complete(booking=booking, user=vendor.user, now=start + timedelta(hours=1))
        booking.refresh_from_db()
        assert booking.status == BookingStatus.COMPLETED
        return booking


def sign_token(booking) -> str:
    """The token of the booking's latest signing link, as the customer received it."""
    note = Notification.objects.filter(
        user=booking.customer, kind__in=["signature.requested", "signature.reminder"], data__booking_id=str(booking.pk)
    ).latest("created_at", "id")
    return note.data["sign_path"].rsplit("/", 1)[1]


def raw_update(instance, **values):
    """Change a row as a direct database edit would, past the model's append-only guards."""
    return models.QuerySet.update(type(instance).objects.filter(pk=instance.pk), **values)


def raw_delete(instance):
    return models.QuerySet.delete(type(instance).objects.filter(pk=instance.pk))


def make_world() -> World:
    service = ServiceFactory(name="Deep cleaning", duration_minutes=60)
    vendor = VendorFactory(working_hours=ALL_DAY, payout_account_id="acct_test_1")
    VendorServiceFactory(vendor=vendor, service=service, price=PRICE)
    return World(service=service, vendor=vendor, customer=CustomerFactory(), ops=OpsFactory())


@pytest.fixture
def world(db, settings):
    settings.PAYMENT_GATEWAY = "fake"
    return make_world()


@pytest.fixture
def second_vendor(world):
    vendor = VendorFactory(working_hours=ALL_DAY, payout_account_id="acct_test_2")
    VendorServiceFactory(vendor=vendor, service=world.service, price=PRICE)
    return vendor
