"""Money arithmetic: Decimal only, 2 places, ROUND_HALF_UP (ARCHITECTURE §4)."""

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def money(value) -> Decimal:
    """Round to 2 places, half up. Refuses floats, which cannot hold money exactly."""
    if isinstance(value, float):
        raise TypeError("Money must not be a float")
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def to_minor_units(amount: Decimal, places: int = 2) -> int:
    return int((money(amount) * (Decimal(10) ** places)).to_integral_value(rounding=ROUND_HALF_UP))


def split_proportionally(amount: Decimal, parts: dict[str, Decimal], *, remainder_to: str) -> dict:
    """Split ``amount`` over ``parts`` in proportion to their sizes, each share rounded; the
    rounding remainder goes to ``remainder_to`` so the shares always add up to ``amount``."""
    amount = money(amount)
    whole = sum(parts.values(), ZERO)
    if whole == 0:
        shares = dict.fromkeys(parts, ZERO)
    else:
        shares = {name: money(amount * value / whole) for name, value in parts.items()}
    shares[remainder_to] += amount - sum(shares.values(), ZERO)
    return shares
