from decimal import Decimal

import factory
from django.contrib.auth.hashers import make_password

from core.models import OnboardingStatus, Role, User, VendorPincode, VendorProfile

PASSWORD = "Str0ng!pass"
ALL_WEEK_8_TO_20 = {str(day): [["08:00", "20:00"]] for day in range(7)}


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    phone = factory.Sequence(lambda n: f"+9190000{n:05d}")
    role = Role.CUSTOMER
    password = factory.LazyFunction(lambda: make_password(PASSWORD))


class CustomerFactory(UserFactory):
    role = Role.CUSTOMER


class OpsFactory(UserFactory):
    role = Role.OPS_MANAGER
    is_staff = True


class VendorUserFactory(UserFactory):
    role = Role.VENDOR
    phone_verified = True


class VendorFactory(factory.django.DjangoModelFactory):
    """An approved vendor working 08:00–20:00 every day, based in Koramangala (560034)."""

    class Meta:
        model = VendorProfile
        skip_postgeneration_save = True

    user = factory.SubFactory(VendorUserFactory)
    display_name = factory.LazyAttribute(lambda o: f"{o.user.first_name} Services")
    onboarding_status = OnboardingStatus.APPROVED
    is_available = True
    working_hours = factory.LazyFunction(lambda: dict(ALL_WEEK_8_TO_20))
    base_lat = Decimal("12.935200")
    base_lng = Decimal("77.624500")
    radius_km = Decimal("10.0")

    @factory.post_generation
    def pincodes(self, create, extracted, **kwargs):
        if create:
            for pincode in extracted if extracted is not None else ["560034"]:
                VendorPincode.objects.create(vendor=self, pincode=pincode)
