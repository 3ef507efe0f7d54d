"""Data for the benchmarks, made in the benchmark database (after ``common.setup_django``).

The catalog and staff come from ``seed_demo``; vendors are made through the same services as a
real application; customers are written in bulk with one precomputed password hash (hashing a
password per customer would dominate the set-up, not the measurement).
"""

from decimal import Decimal

from django.contrib.auth.hashers import make_password
from rest_framework_simplejwt.tokens import RefreshToken

from bookings.models import Service
from bookings.services.catalog import vendor_service_set
from core.demo_data import seed_demo
from core.geo import pincode_coordinates
from core.models import OnboardingStatus, Role, User
from core.services import user_mark_phone_verified, user_register, vendor_profile_update, vendor_set_onboarding_status

PINCODE = "560034"
SERVICE_SLUG = "bathroom-cleaning"
PASSWORD = "Bench&Mark2026"
ALL_WEEK = {str(day): [["06:00", "22:00"]] for day in range(7)}


def catalog():
    seed_demo()
    return Service.objects.get(slug=SERVICE_SLUG)


def make_vendor(index: int, service, *, price="599.00"):
    """An approved vendor working 06:00–22:00 every day in PINCODE, offering ``service``."""
    onboarder = User.objects.get(email="onboard@homeserve.test")
    user = user_register(
        email=f"bench-vendor-{index}@homeserve.test",
        password=PASSWORD,
        role=Role.VENDOR,
        first_name="Bench",
        last_name=f"Vendor {index}",
        phone=f"+9197{index:08d}",
        username=f"bench-vendor-{index}",
    )
    profile = user.vendor_profile
    lat, lng = pincode_coordinates(PINCODE)
    vendor_profile_update(
        vendor=profile,
        actor=user,
        pincodes=[PINCODE],
        display_name=f"Bench Vendor {index}",
        base_lat=lat,
        base_lng=lng,
        radius_km=Decimal("10.0"),
        working_hours=ALL_WEEK,
    )
    vendor_service_set(vendor=profile, service_id=service.pk, price=Decimal(price), actor=user)
    user_mark_phone_verified(user=user, actor=onboarder)
    vendor_set_onboarding_status(vendor=profile, status=OnboardingStatus.APPROVED, actor=onboarder, reason="Bench")
    return profile


def make_customers(count: int, *, prefix="bench-customer") -> list[User]:
    password = make_password(PASSWORD)
    users = [
        User(
            username=f"{prefix}-{index}",
            email=f"{prefix}-{index}@homeserve.test",
            first_name="Bench",
            last_name=f"Customer {index}",
            role=Role.CUSTOMER,
            password=password,
        )
        for index in range(count)
    ]
    User.objects.bulk_create(users, batch_size=2000)
    return list(User.objects.filter(username__startswith=f"{prefix}-").order_by("pk"))


def access_token(user) -> str:
    return str(RefreshToken.for_user(user).access_token)
