"""A vendor's services and prices."""

from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.utils.translation import gettext as _

from bookings.models import Service, VendorService
from core.audit import audit_record
from core.errors import InvalidInput
from core.models import MONEY_DIGITS, MONEY_PLACES

PRICE_LIMIT = Decimal(10) ** (MONEY_DIGITS - MONEY_PLACES)
CENT = Decimal(1).scaleb(-MONEY_PLACES)


def check_price(price) -> Decimal:
    """``price`` as money a vendor may charge: a finite Decimal ≥ 0 with at most 2 decimal places
    that fits the database column. Raises InvalidInput on ``price`` otherwise — the forms check
    this too, but NaN or an infinity reaching a comparison would be a 500, not a refusal."""
    try:
        value = Decimal(str(price))
    except (InvalidOperation, ValueError, TypeError):
        value = None
    if value is None or not value.is_finite() or not (0 <= value < PRICE_LIMIT) or value != value.quantize(CENT):
        raise InvalidInput(fields={"price": [_("Enter a price like 499 or 499.50.")]})
    return value.quantize(CENT)


@transaction.atomic
def vendor_service_set(*, vendor, service_id: int, price, is_active: bool = True, actor) -> VendorService:
    """Offer (or stop offering) a catalog service at the vendor's own price. Existing bookings
    keep the price they were made with."""
    price = check_price(price)
    service = Service.objects.filter(pk=service_id, is_active=True).first()
    if service is None:
        raise InvalidInput(fields={"service_id": [_("Unknown service.")]})
    offer, created = VendorService.objects.select_for_update().get_or_create(
        vendor=vendor, service=service, defaults={"price": price, "is_active": is_active}
    )
    old = {} if created else {"price": offer.price, "is_active": offer.is_active}
    if not created and (offer.price, offer.is_active) != (price, is_active):
        offer.price, offer.is_active = price, is_active
        offer.save(update_fields=["price", "is_active"])
    if created or old != {"price": price, "is_active": is_active}:
        audit_record(
            actor=actor, action="vendor.service_set", obj=offer, old=old, new={"price": price, "is_active": is_active}
        )
    return offer


@transaction.atomic
def catalog_service_upsert(
    *,
    category_name: str,
    category_slug: str,
    name: str,
    slug: str,
    base_price,
    duration_minutes: int,
    description: str = "",
    actor=None,
) -> Service:
    """Create or update a catalog service (and its category) by slug."""
    from bookings.models import ServiceCategory

    category, _created = ServiceCategory.objects.get_or_create(slug=category_slug, defaults={"name": category_name})
    service, created = Service.objects.select_for_update().get_or_create(
        slug=slug,
        defaults={
            "category": category,
            "name": name,
            "base_price": base_price,
            "duration_minutes": duration_minutes,
            "description": description,
        },
    )
    if created:
        audit_record(
            actor=actor, action="catalog.service_create", obj=service, new={"name": name, "base_price": base_price}
        )
    return service
