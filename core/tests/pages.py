"""Shared set-up for the page tests (test client and browser): a vendor working every hour of
every day in 560034 with one priced service, a customer, and bookings made through the services."""

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.test import Client

from bookings.availability import free_slots
from bookings.services.creation import booking_create
from bookings.tests.conftest import ADDRESS
from bookings.tests.factories import ServiceFactory, VendorServiceFactory
from core.tests.factories import PASSWORD, CustomerFactory, VendorFactory

ALL_DAY = {str(day): [["00:00", "24:00"]] for day in range(7)}
PRICE = Decimal("1000.00")
GOOD_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"
THREE_D_SECURE_CARD = "4000002500003155"


@dataclass
class Market:
    service: object
    vendor: object
    customer: object

    def slot(self, index=0, day_offset=1):
        """The ``index``-th free start of the vendor ``day_offset`` days from today."""
        from django.utils import timezone

        day = timezone.localdate() + timedelta(days=day_offset)
        return free_slots(self.vendor, day, timedelta(minutes=self.service.duration_minutes))[index].start

    def book(self, *, customer=None, start=None, method="cash", **extra):
        return booking_create(
            customer=customer or self.customer,
            lines=[{"service_id": self.service.pk, "quantity": 1}],
            scheduled_at=start or self.slot(),
            address=extra.pop("address", ADDRESS),
            vendor_id=str(self.vendor.pk),
            payment_method=method,
            **extra,
        )


def make_market(**vendor_kwargs) -> Market:
    service = ServiceFactory(name="Deep cleaning", duration_minutes=60)
    vendor = VendorFactory(working_hours=ALL_DAY, **vendor_kwargs)
    VendorServiceFactory(vendor=vendor, service=service, price=PRICE)
    return Market(service=service, vendor=vendor, customer=CustomerFactory())


def logged_in(user, **client_kwargs) -> Client:
    client = Client(**client_kwargs)
    client.force_login(user)
    return client


__all__ = ["PASSWORD", "Market", "logged_in", "make_market"]
