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
