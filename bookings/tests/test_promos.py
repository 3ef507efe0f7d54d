"""Promo codes (ARCHITECTURE §4: the discount is platform-funded)."""

from datetime import timedelta
from decimal import Decimal

import pytest

from bookings.models import Booking, BookingStatus, PromoKind, PromoRedemption
from bookings.services.promos import promo_discount, promo_get
from bookings.services.transitions import booking_cancel, booking_expire
from bookings.tests.conftest import NOW, ist
from bookings.tests.factories import PromoCodeFactory
from core.errors import InvalidInput
from core.tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def refused(promo, amount, *, user=None, now=NOW):
    with pytest.raises(InvalidInput) as caught:
        promo_discount(promo=promo, amount=Decimal(amount), user=user, now=now)
    assert "promo_code" in caught.value.fields
    return caught.value.fields["promo_code"][0]


def discount(promo, amount, *, user=None, now=NOW):
    return promo_discount(promo=promo, amount=Decimal(amount), user=user, now=now)


# --- the discount ------------------------------------------------------------------------------


def test_percentage_discount():
    promo = PromoCodeFactory(kind=PromoKind.PERCENTAGE, value=Decimal("10"))

    assert discount(promo, "1000.00") == Decimal("100.00")


def test_percentage_discount_rounds_half_up():
    # 12.5 % of 999.99 = 124.99875 → 125.00; 10 % of 0.05 = 0.005 → 0.01
    promo = PromoCodeFactory(kind=PromoKind.PERCENTAGE, value=Decimal("12.5"))
    small = PromoCodeFactory(kind=PromoKind.PERCENTAGE, value=Decimal("10"))

    assert discount(promo, "999.99") == Decimal("125.00")
    assert discount(small, "0.05") == Decimal("0.01")


def test_fixed_discount():
    promo = PromoCodeFactory(kind=PromoKind.FIXED, value=Decimal("150.00"))

    assert discount(promo, "1000.00") == Decimal("150.00")


def test_fixed_discount_never_exceeds_the_order():
    promo = PromoCodeFactory(kind=PromoKind.FIXED, value=Decimal("150.00"))

    assert discount(promo, "99.50") == Decimal("99.50")


def test_max_discount_caps_a_percentage():
    promo = PromoCodeFactory(kind=PromoKind.PERCENTAGE, value=Decimal("50"), max_discount=Decimal("200.00"))

    assert discount(promo, "1000.00") == Decimal("200.00")
    assert discount(promo, "300.00") == Decimal("150.00")  # under the cap: the percentage


def test_minimum_order():
    promo = PromoCodeFactory(kind=PromoKind.FIXED, value=Decimal("50.00"), min_order=Decimal("500.00"))

    assert "at least" in refused(promo, "499.99")
    assert discount(promo, "500.00") == Decimal("50.00")


def test_not_valid_yet():
    promo = PromoCodeFactory(valid_from=NOW + timedelta(minutes=1))

    assert "not valid yet" in refused(promo, "1000.00")
    assert discount(promo, "1000.00", now=NOW + timedelta(minutes=1)) == Decimal("100.00")


def test_expired():
    promo = PromoCodeFactory(valid_until=NOW + timedelta(minutes=1))

    assert discount(promo, "1000.00", now=NOW) == Decimal("100.00")
    assert "expired" in refused(promo, "1000.00", now=NOW + timedelta(minutes=1))


def test_inactive():
    promo = PromoCodeFactory(is_active=False)

    assert "not active" in refused(promo, "1000.00")


def test_code_lookup_is_case_insensitive_and_trims():
    promo = PromoCodeFactory(code="SAVE10")

    assert promo_get("save10") == promo
    assert promo_get("  Save10 ") == promo
    with pytest.raises(InvalidInput) as caught:
        promo_get("SAVE11")
    assert "promo_code" in caught.value.fields


# --- through booking_create ---------------------------------------------------------------------


def test_booking_with_a_promo_snapshots_the_discount(make_booking, vendor, customer):
    # given: the vendor's price is 600.00; 10 % off
    promo = PromoCodeFactory(code="WELCOME10", kind=PromoKind.PERCENTAGE, value=Decimal("10"))
    # when
    booking = make_booking(customer=customer, vendor=vendor, start=ist(3, 10), promo_code="welcome10")
    # then
    assert booking.promo_code == promo
    assert booking.subtotal == Decimal("600.00")
    assert booking.discount == Decimal("60.00")
    assert booking.tax == Decimal("97.20")  # 540.00 × 0.18
    assert booking.total == Decimal("637.20")
    assert booking.commission == Decimal("90.00")
    assert booking.vendor_earning == Decimal("510.00")
    assert booking.platform_fee == Decimal("30.00")
    redemption = PromoRedemption.objects.get(booking=booking)
    assert redemption.promo == promo
    assert redemption.user == customer
    assert redemption.discount == Decimal("60.00")
    assert redemption.released is False


def test_platform_assigned_booking_discounts_the_catalog_price(make_booking, vendor, customer):
    # given: catalog price 500.00, a fixed 75.00 promo
    PromoCodeFactory(code="FLAT75", kind=PromoKind.FIXED, value=Decimal("75.00"))
    # when
    booking = make_booking(customer=customer, start=ist(3, 10), promo_code="FLAT75")
    # then
    assert booking.vendor == vendor
    assert booking.subtotal == Decimal("500.00")
    assert booking.discount == Decimal("75.00")
    assert booking.total == Decimal("501.50")  # 425.00 + 76.50
    assert booking.platform_fee == Decimal("0.00")  # commission 75.00 − discount 75.00


def test_booking_with_a_refused_promo_creates_nothing(make_booking, vendor, customer):
    # given
    PromoCodeFactory(code="OLD", valid_until=NOW - timedelta(days=1))
    # when
    with pytest.raises(InvalidInput) as caught:
        make_booking(customer=customer, vendor=vendor, start=ist(3, 10), promo_code="OLD")
    # then
    assert "promo_code" in caught.value.fields
    assert Booking.objects.count() == 0
    assert PromoRedemption.objects.count() == 0


def test_booking_with_an_unknown_promo_is_refused(make_booking, vendor, customer):
    with pytest.raises(InvalidInput) as caught:
        make_booking(customer=customer, vendor=vendor, start=ist(3, 10), promo_code="NOPE")

    assert "promo_code" in caught.value.fields
    assert Booking.objects.count() == 0


def test_per_user_limit_counts_live_redemptions(make_booking, vendor, customer):
    # given: one use per user, used once
    promo = PromoCodeFactory(code="ONCE", per_user_limit=1)
    first = make_booking(customer=customer, vendor=vendor, start=ist(3, 10), promo_code="ONCE")
    # when / then: the same customer is refused, another customer is not
    assert "already used" in refused(promo, "1000.00", user=customer)
    assert discount(promo, "1000.00", user=CustomerFactory()) == Decimal("100.00")
    with pytest.raises(InvalidInput):
        make_booking(customer=customer, vendor=vendor, start=ist(4, 10), promo_code="ONCE")
    # when: the first booking is cancelled, its use comes back
    booking_cancel(booking=first, user=customer, reason="plans changed", now=NOW + timedelta(minutes=1))
    # then
    assert PromoRedemption.objects.get(booking=first).released is True
    second = make_booking(customer=customer, vendor=vendor, start=ist(4, 10), promo_code="ONCE")
    assert second.discount == Decimal("60.00")


def test_per_user_limit_above_one(make_booking, vendor, customer):
    promo = PromoCodeFactory(code="TWICE", per_user_limit=2)
    make_booking(customer=customer, vendor=vendor, start=ist(3, 10), promo_code="TWICE")

    assert discount(promo, "1000.00", user=customer) == Decimal("100.00")
    make_booking(customer=customer, vendor=vendor, start=ist(4, 10), promo_code="TWICE")
    assert "already used" in refused(promo, "1000.00", user=customer)


def test_no_per_user_limit(make_booking, vendor, customer):
    promo = PromoCodeFactory(code="ALWAYS", per_user_limit=None)
    for day in (3, 4, 5):
        make_booking(customer=customer, vendor=vendor, start=ist(day, 10), promo_code="ALWAYS")

    assert discount(promo, "1000.00", user=customer) == Decimal("100.00")


def test_global_limit_counts_live_redemptions(make_booking, vendor):
    # given: two uses in total, both taken by different customers
    promo = PromoCodeFactory(code="FIRST2", global_limit=2, per_user_limit=None)
    first = make_booking(vendor=vendor, start=ist(3, 10), promo_code="FIRST2")
    make_booking(vendor=vendor, start=ist(4, 10), promo_code="FIRST2")
    third_customer = CustomerFactory()
    # when / then
    assert "fully used" in refused(promo, "1000.00", user=third_customer)
    with pytest.raises(InvalidInput):
        make_booking(customer=third_customer, vendor=vendor, start=ist(5, 10), promo_code="FIRST2")
    # when: one of the bookings is cancelled by its customer
    booking_cancel(booking=first, user=first.customer, now=NOW + timedelta(minutes=1))
    # then: the use is free again
    third = make_booking(customer=third_customer, vendor=vendor, start=ist(5, 10), promo_code="FIRST2")
    assert third.discount == Decimal("60.00")
    assert PromoRedemption.objects.filter(promo=promo, released=False).count() == 2


def test_expired_booking_releases_its_promo_use(make_booking, vendor, customer):
    # given
    promo = PromoCodeFactory(code="ONCE", per_user_limit=1)
    booking = make_booking(customer=customer, vendor=vendor, start=ist(3, 10), promo_code="ONCE")
    # when
    booking_expire(booking=booking, now=ist(3, 10))
    # then
    booking.refresh_from_db()
    assert booking.status == BookingStatus.EXPIRED
    assert discount(promo, "1000.00", user=customer) == Decimal("100.00")
