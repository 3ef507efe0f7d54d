"""The price snapshot of ARCHITECTURE §4."""

from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings

from core.money import ZERO, money, split_proportionally


@dataclass(frozen=True)
class PricedLine:
    service: object
    quantity: int
    unit_price: Decimal
    duration_minutes: int

    @property
    def line_total(self) -> Decimal:
        return money(self.unit_price * self.quantity)


@dataclass(frozen=True)
class PriceBreakdown:
    subtotal: Decimal
    discount: Decimal
    tax: Decimal
    total: Decimal
    commission: Decimal
    vendor_earning: Decimal
    platform_fee: Decimal
    tax_rate: Decimal
    commission_rate: Decimal
    currency: str

    def as_dict(self):
        return {
            "subtotal": self.subtotal,
            "discount": self.discount,
            "tax": self.tax,
            "total": self.total,
            "commission": self.commission,
            "vendor_earning": self.vendor_earning,
            "platform_fee": self.platform_fee,
            "currency": self.currency,
            "tax_rate": self.tax_rate,
            "commission_rate": self.commission_rate,
        }


def price_compute(*, lines, discount=ZERO, tax_rate: Decimal, commission_rate: Decimal) -> PriceBreakdown:
    """subtotal, discount, tax, total, commission, vendor_earning and platform_fee such that
    ``total == vendor_earning + platform_fee + tax`` holds exactly."""
    subtotal = money(sum((line.line_total for line in lines), ZERO))
    discount = min(max(money(discount), ZERO), subtotal)
    tax = money((subtotal - discount) * tax_rate)
    total = subtotal - discount + tax
    commission = money(subtotal * commission_rate)
    vendor_earning = subtotal - commission
    platform_fee = commission - discount
    return PriceBreakdown(
        subtotal=subtotal,
        discount=discount,
        tax=tax,
        total=total,
        commission=commission,
        vendor_earning=vendor_earning,
        platform_fee=platform_fee,
        tax_rate=tax_rate,
        commission_rate=commission_rate,
        currency=settings.CURRENCY,
    )


def split_kept_amount(*, booking, amount: Decimal) -> dict[str, Decimal]:
    """Split a kept or refunded part of a booking's total over vendor_earning, platform_fee and
    tax in proportion to its snapshot; the rounding remainder goes to the platform."""
    return split_proportionally(
        amount,
        {
            "vendor_earning": booking.vendor_earning,
            "platform_fee": booking.platform_fee,
            "tax": booking.tax,
        },
        remainder_to="platform_fee",
    )
