"""``manage.py seed_bench`` at a tiny scale: the volume it promises, every status, money copied
from real templates so the ledger balances, and a refusal to seed twice."""

import pytest
from django.core.management import CommandError, call_command

from bookings.models import Booking, BookingStatus
from core.models import Role, User, VendorProfile
from payments.models import PaymentAttempt

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def test_seed_bench_writes_a_consistent_volume():
    call_command("seed_bench", scale=0.002)

    bench = Booking.objects.filter(booking_number__startswith="BB-")
    assert bench.count() == 2000
    assert User.objects.filter(username__startswith="bench-customer-", role=Role.CUSTOMER).count() == 400
    assert VendorProfile.objects.filter(user__username__startswith="bench-vendor-").count() == 20
    assert set(bench.values_list("status", flat=True)) >= {
        BookingStatus.SIGNED,
        BookingStatus.CONFIRMED,
        BookingStatus.PENDING,
        BookingStatus.CANCELLED,
    }
    # one active attempt per live booking, captured exactly for the signed ones
    assert (
        PaymentAttempt.objects.filter(booking__in=bench, is_active=True).count()
        == bench.exclude(status__in=[BookingStatus.CANCELLED, BookingStatus.EXPIRED]).count()
    )
    signed = bench.filter(status=BookingStatus.SIGNED)
    assert PaymentAttempt.objects.filter(booking__in=signed, status="captured").count() == signed.count()
    call_command("ledger_check")

    with pytest.raises(CommandError):
        call_command("seed_bench", scale=0.002)
