"""The price a booking gets (ARCHITECTURE §4): its priced lines, the promo code's discount on
their subtotal, tax and the split. One function for the booking itself (``booking_create``, inside
its transaction with the promo row locked) and for the live breakdown on the booking page (no
lock, nothing written), so the page never shows a price the booking would not get."""

from dataclasses import dataclass

from bookings.models import PromoCode
from bookings.services.common import platform_settings
from bookings.services.pricing import PriceBreakdown, PricedLine, price_compute
from bookings.services.promos import promo_discount, promo_get
from core.money import ZERO


@dataclass(frozen=True)
class BookingQuote:
    price: PriceBreakdown
    promo: PromoCode | None


def booking_quote(
    *,
    lines: list[PricedLine],
    promo_code: str | None = None,
    customer=None,
    config=None,
    now=None,
    lock_promo: bool = False,
) -> BookingQuote:
    """The price snapshot of a booking of ``lines`` for ``customer`` with ``promo_code`` (the
    platform's current rates unless ``config`` is given). Raises InvalidInput on ``promo_code``
    when the code is unknown or does not apply. Read-only; with ``lock_promo`` the promo row is
    locked (call it inside a transaction) so that ``promo_redeem`` can follow safely."""
    config = config or platform_settings()
    rates = {"tax_rate": config.tax_rate, "commission_rate": config.commission_rate}
    promo, discount = None, ZERO
    if promo_code:
        promo = promo_get(promo_code, for_update=lock_promo)
        subtotal = price_compute(lines=lines, **rates).subtotal
        discount = promo_discount(promo=promo, amount=subtotal, user=customer, now=now)
    return BookingQuote(price=price_compute(lines=lines, discount=discount, **rates), promo=promo)
