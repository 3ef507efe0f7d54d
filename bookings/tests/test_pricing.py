"""The price snapshot and the split of kept/refunded amounts (ARCHITECTURE §4)."""

from decimal import ROUND_HALF_UP, Decimal
from itertools import product

import pytest

from bookings.models import Booking
from bookings.services.pricing import PricedLine, price_compute, split_kept_amount

TAX = Decimal("0.18")
COMMISSION = Decimal("0.15")
CENT = Decimal("0.01")


def line(unit_price, quantity=1, minutes=60):
    return PricedLine(service=None, quantity=quantity, unit_price=Decimal(unit_price), duration_minutes=minutes)


def price(*lines, discount="0.00", tax_rate=TAX, commission_rate=COMMISSION):
    return price_compute(
        lines=list(lines), discount=Decimal(discount), tax_rate=tax_rate, commission_rate=commission_rate
    )


def half_up(value):
    """The reference rounding, written out independently of core.money."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def snapshot(breakdown):
    """An unsaved booking carrying a price snapshot, as split_kept_amount reads it."""
    return Booking(**breakdown.as_dict())


# --- price_compute -------------------------------------------------------------------------------


def test_price_follows_the_formulas(settings):
    result = price(line("1000.00"), discount="100.00")

    assert result.subtotal == Decimal("1000.00")
    assert result.discount == Decimal("100.00")
    assert result.tax == Decimal("162.00")  # (1000 − 100) × 0.18
    assert result.total == Decimal("1062.00")
    assert result.commission == Decimal("150.00")  # 1000 × 0.15, on the subtotal, not after discount
    assert result.vendor_earning == Decimal("850.00")
    assert result.platform_fee == Decimal("50.00")  # commission − discount
    assert result.tax_rate == TAX
    assert result.commission_rate == COMMISSION
    assert result.currency == settings.CURRENCY


def test_tax_rounds_half_up_on_a_half_cent():
    # 100.25 × 0.18 = 18.045 → 18.05 (banker's rounding would give 18.04)
    result = price(line("100.25"))

    assert result.tax == Decimal("18.05")
    assert result.total == Decimal("118.30")


def test_commission_rounds_half_up_on_a_half_cent():
    # 100.30 × 0.15 = 15.045 → 15.05 (banker's rounding would give 15.04)
    result = price(line("100.30"))

    assert result.commission == Decimal("15.05")
    assert result.vendor_earning == Decimal("85.25")
    assert result.tax == Decimal("18.05")  # 100.30 × 0.18 = 18.054


def test_tax_and_commission_both_on_half_cents_with_a_discount():
    # given: subtotal 100.30 (commission 15.045), discount 0.05 → taxable 100.25 (tax 18.045)
    # when
    result = price(line("100.30"), discount="0.05")
    # then
    assert result.commission == Decimal("15.05")
    assert result.tax == Decimal("18.05")
    assert result.total == Decimal("118.30")
    assert result.vendor_earning == Decimal("85.25")
    assert result.platform_fee == Decimal("15.00")
    assert result.vendor_earning + result.platform_fee + result.tax == result.total


def test_promo_larger_than_the_commission_makes_a_negative_platform_fee():
    # given: commission on 200.00 is 30.00, the promo gives 50.00
    # when
    result = price(line("200.00"), discount="50.00")
    # then: the platform subsidises 20.00; the vendor still earns on the full subtotal
    assert result.commission == Decimal("30.00")
    assert result.platform_fee == Decimal("-20.00")
    assert result.vendor_earning == Decimal("170.00")
    assert result.tax == Decimal("27.00")  # tax on what the customer pays for: 150.00
    assert result.total == Decimal("177.00")
    assert result.vendor_earning + result.platform_fee + result.tax == result.total


def test_discount_is_capped_at_the_subtotal():
    result = price(line("200.00"), discount="350.00")

    assert result.discount == Decimal("200.00")
    assert result.tax == Decimal("0.00")
    assert result.total == Decimal("0.00")
    assert result.vendor_earning == Decimal("170.00")
    assert result.platform_fee == Decimal("-170.00")


def test_negative_discount_is_treated_as_none():
    result = price(line("200.00"), discount="-10.00")

    assert result.discount == Decimal("0.00")
    assert result.total == Decimal("236.00")


def test_multi_line_visit_multiplies_unit_price_by_quantity():
    # given: 3 × 499.99 + 1 × 250.50 + 2 × 0.01
    # when
    result = price(line("499.99", quantity=3), line("250.50"), line("0.01", quantity=2), discount="100.00")
    # then
    assert result.subtotal == Decimal("1750.49")
    assert result.tax == Decimal("297.09")  # 1650.49 × 0.18 = 297.0882
    assert result.total == Decimal("1947.58")
    assert result.commission == Decimal("262.57")  # 1750.49 × 0.15 = 262.5735
    assert result.vendor_earning == Decimal("1487.92")
    assert result.platform_fee == Decimal("162.57")


def test_line_total_is_unit_price_times_quantity():
    assert line("333.33", quantity=3).line_total == Decimal("999.99")


def test_zero_total_visit():
    result = price(line("0.00", quantity=2))

    assert result.subtotal == Decimal("0.00")
    assert result.discount == Decimal("0.00")
    assert result.tax == Decimal("0.00")
    assert result.total == Decimal("0.00")
    assert result.commission == Decimal("0.00")
    assert result.vendor_earning == Decimal("0.00")
    assert result.platform_fee == Decimal("0.00")


def test_the_rates_in_the_snapshot_are_the_ones_priced_with():
    result = price(line("1000.00"), tax_rate=Decimal("0.05"), commission_rate=Decimal("0.2"))

    assert result.tax == Decimal("50.00")
    assert result.commission == Decimal("200.00")
    assert result.tax_rate == Decimal("0.05")
    assert result.commission_rate == Decimal("0.2")


UNIT_PRICES = ["0.01", "0.05", "1.00", "9.99", "99.95", "100.25", "100.30", "333.33", "499.99", "1234.57"]
QUANTITIES = [1, 2, 3, 7]
DISCOUNTS = ["0.00", "0.01", "0.05", "10.00", "33.33", "150.00", "5000.00"]
TAX_RATES = ["0", "0.05", "0.12", "0.18", "0.28", "0.1850"]
COMMISSION_RATES = ["0", "0.1", "0.15", "0.175", "0.3333"]


def test_total_always_equals_vendor_earning_plus_platform_fee_plus_tax():
    cases = 0
    for unit, quantity, discount, tax_rate, commission_rate in product(
        UNIT_PRICES, QUANTITIES, DISCOUNTS, TAX_RATES, COMMISSION_RATES
    ):
        result = price(
            line(unit, quantity),
            line("49.95"),
            discount=discount,
            tax_rate=Decimal(tax_rate),
            commission_rate=Decimal(commission_rate),
        )
        subtotal = Decimal(unit) * quantity + Decimal("49.95")
        applied = min(Decimal(discount), subtotal)
        expected_tax = half_up((subtotal - applied) * Decimal(tax_rate))
        expected_commission = half_up(subtotal * Decimal(commission_rate))
        label = (unit, quantity, discount, tax_rate, commission_rate)

        assert result.subtotal == subtotal, label
        assert result.discount == applied, label
        assert result.tax == expected_tax, label
        assert result.total == subtotal - applied + expected_tax, label
        assert result.commission == expected_commission, label
        assert result.vendor_earning == subtotal - expected_commission, label
        assert result.platform_fee == expected_commission - applied, label
        assert result.total == result.vendor_earning + result.platform_fee + result.tax, label
        for amount in (result.subtotal, result.tax, result.total, result.commission, result.platform_fee):
            assert amount == amount.quantize(CENT), label
        cases += 1
    assert cases == len(UNIT_PRICES) * len(QUANTITIES) * len(DISCOUNTS) * len(TAX_RATES) * len(COMMISSION_RATES)


# --- split_kept_amount ---------------------------------------------------------------------------


def test_split_of_half_the_total_is_proportional():
    # given: vendor_earning 850.00, platform_fee 50.00, tax 162.00 (total 1062.00)
    booking = snapshot(price(line("1000.00"), discount="100.00"))
    # when
    shares = split_kept_amount(booking=booking, amount=Decimal("531.00"))
    # then
    assert shares == {
        "vendor_earning": Decimal("425.00"),
        "platform_fee": Decimal("25.00"),
        "tax": Decimal("81.00"),
    }


def test_split_rounding_remainder_goes_to_the_platform():
    # given: equal thirds — 100.00, 100.00, 100.00 — cannot split 1.00 into rounded equal shares
    booking = Booking(vendor_earning=Decimal("100.00"), platform_fee=Decimal("100.00"), tax=Decimal("100.00"))
    # when
    shares = split_kept_amount(booking=booking, amount=Decimal("1.00"))
    # then: 0.33 each, the missing cent lands on platform_fee
    assert shares == {
        "vendor_earning": Decimal("0.33"),
        "platform_fee": Decimal("0.34"),
        "tax": Decimal("0.33"),
    }


def test_split_remainder_can_be_taken_from_the_platform():
    # given: equal thirds of 0.02 are 0.0067 each, which all round up to 0.01
    booking = Booking(vendor_earning=Decimal("100.00"), platform_fee=Decimal("100.00"), tax=Decimal("100.00"))
    # when
    shares = split_kept_amount(booking=booking, amount=Decimal("0.02"))
    # then: the platform's share gives the excess cent back
    assert shares == {
        "vendor_earning": Decimal("0.01"),
        "platform_fee": Decimal("0.00"),
        "tax": Decimal("0.01"),
    }


def test_split_with_a_negative_platform_fee_of_the_whole_total_gives_back_the_snapshot():
    booking = snapshot(price(line("200.00"), discount="50.00"))  # 170.00 / −20.00 / 27.00

    shares = split_kept_amount(booking=booking, amount=booking.total)

    assert shares == {
        "vendor_earning": Decimal("170.00"),
        "platform_fee": Decimal("-20.00"),
        "tax": Decimal("27.00"),
    }


def test_split_of_a_zero_total_booking_is_all_zero():
    booking = snapshot(price(line("0.00")))

    assert split_kept_amount(booking=booking, amount=Decimal("0.00")) == {
        "vendor_earning": Decimal("0.00"),
        "platform_fee": Decimal("0.00"),
        "tax": Decimal("0.00"),
    }


@pytest.mark.parametrize("percent", ["0", "1", "33", "50", "66.67", "99", "100"])
def test_split_shares_always_sum_exactly_to_the_amount(percent):
    for unit, discount in product(UNIT_PRICES, DISCOUNTS):
        breakdown = price(line(unit, 3), line("49.95"), discount=discount)
        booking = snapshot(breakdown)
        amount = half_up(breakdown.total * Decimal(percent) / 100)

        shares = split_kept_amount(booking=booking, amount=amount)

        label = (unit, discount, percent)
        assert set(shares) == {"vendor_earning", "platform_fee", "tax"}, label
        assert shares["vendor_earning"] + shares["platform_fee"] + shares["tax"] == amount, label
        if breakdown.total:
            # the non-platform shares are each the rounded proportional share
            assert shares["vendor_earning"] == half_up(amount * breakdown.vendor_earning / breakdown.total), label
            assert shares["tax"] == half_up(amount * breakdown.tax / breakdown.total), label
        for share in shares.values():
            assert share == share.quantize(CENT), label
