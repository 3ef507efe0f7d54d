from decimal import Decimal

import factory

from bookings.models import PromoCode, PromoKind, Service, ServiceCategory, VendorService
from core.tests.factories import VendorFactory


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ServiceCategory
        django_get_or_create = ["slug"]

    name = factory.Sequence(lambda n: f"Category {n}")
    slug = factory.Sequence(lambda n: f"category-{n}")


class ServiceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Service

    category = factory.SubFactory(CategoryFactory)
    name = factory.Sequence(lambda n: f"Service {n}")
    slug = factory.Sequence(lambda n: f"service-{n}")
    base_price = Decimal("500.00")
    duration_minutes = 60


class VendorServiceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = VendorService

    vendor = factory.SubFactory(VendorFactory)
    service = factory.SubFactory(ServiceFactory)
    price = Decimal("600.00")


class PromoCodeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PromoCode

    code = factory.Sequence(lambda n: f"PROMO{n}")
    kind = PromoKind.PERCENTAGE
    value = Decimal("10")
    per_user_limit = 1
