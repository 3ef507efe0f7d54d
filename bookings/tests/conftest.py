from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from bookings.availability import platform_zone
from bookings.tests.factories import ServiceFactory, VendorServiceFactory
from core.tests.factories import CustomerFactory, VendorFactory

ADDRESS = {"line1": "12 Lake View Road", "city": "Bengaluru", "pincode": "560034"}


def local_time(days_ahead: int, hour: int, minute: int = 0):
    """An aware datetime ``days_ahead`` days from today at hour:minute in the platform zone."""
    day = timezone.localdate() + timedelta(days=days_ahead)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=platform_zone())


@pytest.fixture
def service(db):
    return ServiceFactory(name="Deep cleaning", duration_minutes=120)


@pytest.fixture
def vendor(db, service):
    vendor = VendorFactory()
    VendorServiceFactory(vendor=vendor, service=service)
    return vendor


@pytest.fixture
def customer(db):
    return CustomerFactory()


# --- Service-level test helpers (test_pricing, test_promos, test_availability, test_offers,
# test_transitions). Those tests pass ``now=`` to every service, so they use a fixed clock
# rather than the wall clock. (Imported here so the section stays appended to this file.)

from zoneinfo import ZoneInfo  # noqa: E402

from bookings.services.creation import booking_create  # noqa: E402
from core.models import SystemSettings  # noqa: E402
from core.tests.factories import OpsFactory  # noqa: E402

IST = ZoneInfo("Asia/Kolkata")
# Monday 1 March 2027, 08:00 in the default platform zone.
NOW = datetime(2027, 3, 1, 8, 0, tzinfo=IST)


def ist(days_after_now: int, hour: int, minute: int = 0) -> datetime:
    """An aware datetime ``days_after_now`` days after NOW's date at hour:minute, Asia/Kolkata."""
    day = NOW.date() + timedelta(days=days_after_now)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=IST)


@pytest.fixture
def ops(db):
    return OpsFactory()


@pytest.fixture
def config(db):
    return SystemSettings.load()


@pytest.fixture
def make_booking(db, service):
    """``make_booking(customer=..., start=..., vendor=None, lines=None, now=NOW, **extra)``:
    a booking made through ``booking_create`` (a fresh customer when none is given). Paid in cash
    unless ``payment_method`` says otherwise, so it is offered at once (a card booking waits for
    its card: payments/tests)."""

    def make(*, start, customer=None, vendor=None, lines=None, now=NOW, **extra):
        extra.setdefault("payment_method", "cash")
        return booking_create(
            customer=customer or CustomerFactory(),
            lines=lines or [{"service_id": service.pk, "quantity": 1}],
            scheduled_at=start,
            address=extra.pop("address", ADDRESS),
            vendor_id=str(vendor.pk) if vendor is not None else None,
            now=now,
            **extra,
        )

    return make
