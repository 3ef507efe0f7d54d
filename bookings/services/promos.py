"""Promo codes: percentage or fixed, minimum order, maximum discount, per-user and global
limits, validity window. The discount is platform-funded (§4)."""

from decimal import Decimal

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from bookings.models import PromoCode, PromoKind, PromoRedemption
from core.errors import InvalidInput
from core.money import ZERO, money


def _promo_error(message):
    return InvalidInput(fields={"promo_code": [message]})


def promo_discount(*, promo: PromoCode, amount: Decimal, user=None, now=None) -> Decimal:
    """The discount ``promo`` gives on an order of ``amount`` for ``user``; raises InvalidInput
    (on the ``promo_code`` field) when it does not apply. Read-only: to use a code, call
    ``promo_redeem`` with the promo row locked."""
    now = now or timezone.now()
    if not promo.is_active:
        raise _promo_error(_("This promo code is not active."))
    if promo.valid_from and now < promo.valid_from:
        raise _promo_error(_("This promo code is not valid yet."))
    if promo.valid_until and now >= promo.valid_until:
        raise _promo_error(_("This promo code has expired."))
    if amount < promo.min_order:
        raise _promo_error(_("This promo code needs an order of at least %(min)s.") % {"min": promo.min_order})
    live = PromoRedemption.objects.filter(promo=promo, released=False)
    if promo.global_limit is not None and live.count() >= promo.global_limit:
        raise _promo_error(_("This promo code has been fully used."))
    if user is not None and promo.per_user_limit is not None and live.filter(user=user).count() >= promo.per_user_limit:
        raise _promo_error(_("You have already used this promo code."))
    is_percentage = promo.kind == PromoKind.PERCENTAGE
    discount = money(amount * promo.value / Decimal(100)) if is_percentage else money(promo.value)
    if promo.max_discount is not None:
        discount = min(discount, promo.max_discount)
    return max(min(discount, money(amount)), ZERO)


def promo_get(code: str, *, for_update=False) -> PromoCode:
    queryset = PromoCode.objects.all()
    if for_update:
        queryset = queryset.select_for_update()
    promo = queryset.filter(Q(code__iexact=(code or "").strip())).first()
    if promo is None:
        raise _promo_error(_("Unknown promo code."))
    return promo


def promo_redeem(*, promo: PromoCode, user, booking, discount: Decimal) -> PromoRedemption:
    """Record a use. Called inside the booking's transaction with the promo row locked
    (``promo_get(..., for_update=True)``), so two bookings cannot both take the last use."""
    return PromoRedemption.objects.create(promo=promo, user=user, booking=booking, discount=discount)


def promo_release(*, booking):
    """Give the use back when a booking is cancelled or expires."""
    PromoRedemption.objects.filter(booking=booking, released=False).update(released=True)
