"""Demo data for the embedded run, made through the same services a user goes through.

Idempotent: users, catalog and vendors are looked up by e-mail or slug and created only when
missing; the demo bookings are made once (when the demo customer has none), relative to the
moment of seeding, so a later run neither duplicates nor breaks them.
"""

import io
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone
from PIL import Image, ImageDraw

from bookings.availability import platform_zone
from bookings.models import Booking
from bookings.services.catalog import catalog_service_upsert, vendor_service_set
from bookings.services.creation import booking_create
from bookings.services.photos import photo_upload
from bookings.services.promos import PromoCode
from bookings.services.transitions import (
    booking_accept,
    booking_cancel,
    booking_complete,
    booking_start,
    expire_stale_bookings,
)
from core.geo import pincode_coordinates
from core.models import OnboardingStatus, Role, User
from core.services import (
    user_mark_phone_verified,
    user_register,
    vendor_profile_update,
    vendor_set_onboarding_status,
)
from payments.checkout import active_attempt, payment_confirm
from payments.gateways.base import CardDetails

# Printed in the README. Demo only: never use these anywhere real.
DEMO_ACCOUNTS = [
    # (role, e-mail, password, first name, last name, phone)
    (Role.CUSTOMER, "customer@homeserve.test", "Tea&Toast2026", "Asha", "Rao", "+919800000001"),
    (Role.VENDOR, "vendor@homeserve.test", "Spanner&Bolt26", "Ravi", "Kumar", "+919800000002"),
    (Role.ONBOARD_MANAGER, "onboard@homeserve.test", "Clipboard#2026", "Meera", "Iyer", "+919800000003"),
    (Role.OPS_MANAGER, "ops@homeserve.test", "Dispatch#2026", "Vikram", "Shah", "+919800000004"),
    (Role.SUPER_ADMIN, "admin@homeserve.test", "Keys&Locks2026", "Nina", "Das", "+919800000005"),
]
VENDOR_PASSWORD = "Spanner&Bolt26"  # noqa: S105 - the published demo password

CATALOG = [
    # (category, category slug, service, slug, catalog price, minutes)
    ("Cleaning", "cleaning", "Home deep cleaning", "home-deep-cleaning", "2499.00", 240),
    ("Cleaning", "cleaning", "Bathroom cleaning", "bathroom-cleaning", "599.00", 60),
    ("Cleaning", "cleaning", "Sofa shampooing", "sofa-shampooing", "899.00", 90),
    ("AC repair", "ac-repair", "AC service", "ac-service", "699.00", 60),
    ("AC repair", "ac-repair", "AC gas refill", "ac-gas-refill", "2199.00", 90),
    ("Plumbing", "plumbing", "Tap and leak repair", "tap-leak-repair", "349.00", 30),
    ("Plumbing", "plumbing", "Water tank cleaning", "water-tank-cleaning", "1199.00", 120),
    ("Electrical", "electrical", "Fan installation", "fan-installation", "299.00", 30),
    ("Electrical", "electrical", "Wiring inspection", "wiring-inspection", "499.00", 60),
    ("Beauty at home", "beauty-at-home", "Haircut at home", "haircut-at-home", "449.00", 45),
    ("Beauty at home", "beauty-at-home", "Facial", "facial", "1299.00", 60),
]

# The fake gateway's test card that authorises (payments/gateways/fake.py).
DEMO_CARD = CardDetails(number="4242424242424242", exp_month=12, exp_year=2030, cvc="123")


@dataclass(frozen=True)
class DemoVendor:
    email: str
    first_name: str
    last_name: str
    business: str
    pincode: str
    extra_pincodes: tuple
    services: dict  # slug -> price
    hours: tuple = ("08:00", "20:00")
    off_day: int | None = 6  # Sunday off


DEMO_VENDORS = [
    DemoVendor(
        "vendor@homeserve.test",
        "Ravi",
        "Kumar",
        "Ravi's Sparkle Cleaning",
        "560034",
        ("560095", "560102"),
        {"home-deep-cleaning": "2299.00", "bathroom-cleaning": "549.00", "sofa-shampooing": "849.00"},
        off_day=None,
    ),
    DemoVendor(
        "coolair@homeserve.test",
        "Imran",
        "Sheikh",
        "CoolAir Services",
        "560034",
        ("560038",),
        {"ac-service": "649.00", "ac-gas-refill": "1999.00"},
        off_day=None,
    ),
    DemoVendor(
        "pipefix@homeserve.test",
        "Suresh",
        "Gowda",
        "PipeFix Plumbing",
        "560038",
        ("560008",),
        {"tap-leak-repair": "299.00", "water-tank-cleaning": "1099.00"},
    ),
    DemoVendor(
        "brightspark@homeserve.test",
        "Anil",
        "Verma",
        "BrightSpark Electricals",
        "560066",
        (),
        {"fan-installation": "279.00", "wiring-inspection": "549.00", "ac-service": "699.00"},
    ),
    DemoVendor(
        "glow@homeserve.test",
        "Priya",
        "Nair",
        "Glow Home Salon",
        "560095",
        ("560034",),
        {"haircut-at-home": "399.00", "facial": "1199.00"},
        hours=("10:00", "19:00"),
        off_day=None,
    ),
    DemoVendor(
        "sealine@homeserve.test",
        "Farhan",
        "Ali",
        "Sealine Home Care",
        "400050",
        ("400053",),
        {"home-deep-cleaning": "2599.00", "bathroom-cleaning": "649.00", "tap-leak-repair": "379.00"},
    ),
    DemoVendor(
        "powaiac@homeserve.test",
        "Rohit",
        "Patil",
        "Powai AC Experts",
        "400076",
        ("400053",),
        {"ac-service": "749.00", "ac-gas-refill": "2299.00", "wiring-inspection": "499.00"},
    ),
    DemoVendor(
        "capital@homeserve.test",
        "Neha",
        "Gupta",
        "Capital Cleaners",
        "110016",
        ("110024",),
        {"home-deep-cleaning": "2399.00", "sofa-shampooing": "949.00", "facial": "1249.00"},
    ),
    DemoVendor(
        "delhifix@homeserve.test",
        "Karan",
        "Singh",
        "DelhiFix Handyman",
        "110024",
        ("110016",),
        {"tap-leak-repair": "329.00", "fan-installation": "319.00", "haircut-at-home": "429.00"},
    ),
]

DEMO_ADDRESS = {
    "line1": "14, 5th Cross, 1st Block",
    "line2": "Near Forum Mall",
    "city": "Bengaluru",
    "pincode": "560034",
}


def _user(role, email, password, first, last, phone):
    user = User.objects.filter(email__iexact=email).first()
    if user is None:
        user = user_register(
            email=email,
            password=password,
            role=role,
            first_name=first,
            last_name=last,
            phone=phone,
            username=email.split("@")[0],
        )
        # Demo addresses are published and belong to nobody: count them as verified, so the demo
        # shows e-mailed receipts (in the console) as a verified customer gets them.
        User.objects.filter(pk=user.pk).update(email_verified=True)
        user.email_verified = True
    return user


def _hours(vendor: DemoVendor):
    return {str(day): [list(vendor.hours)] for day in range(7) if day != vendor.off_day}


def seed_demo(*, stdout=None) -> dict:
    say = stdout.write if stdout else (lambda _msg: None)
    counts = {}
    with transaction.atomic():
        accounts = {
            role: _user(role, email, pw, first, last, phone) for role, email, pw, first, last, phone in DEMO_ACCOUNTS
        }
        onboarder = accounts[Role.ONBOARD_MANAGER]
        services = {
            slug: catalog_service_upsert(
                category_name=cat,
                category_slug=cat_slug,
                name=name,
                slug=slug,
                base_price=Decimal(price),
                duration_minutes=minutes,
                actor=accounts[Role.SUPER_ADMIN],
            )
            for cat, cat_slug, name, slug, price, minutes in CATALOG
        }
        vendors = {}
        for index, demo in enumerate(DEMO_VENDORS):
            user = _user(
                Role.VENDOR, demo.email, VENDOR_PASSWORD, demo.first_name, demo.last_name, f"+9198100{index:05d}"
            )
            profile = user.vendor_profile
            if profile.onboarding_status != OnboardingStatus.APPROVED:
                lat, lng = pincode_coordinates(demo.pincode)
                vendor_profile_update(
                    vendor=profile,
                    actor=user,
                    pincodes=[demo.pincode, *demo.extra_pincodes],
                    display_name=demo.business,
                    bio=f"{demo.business}: verified professionals since {2015 + index}.",
                    experience_years=3 + index,
                    base_lat=lat,
                    base_lng=lng,
                    radius_km=Decimal("8.0"),
                    working_hours=_hours(demo),
                )
                for slug, price in demo.services.items():
                    vendor_service_set(vendor=profile, service_id=services[slug].pk, price=Decimal(price), actor=user)
                user_mark_phone_verified(user=user, actor=onboarder)
                vendor_set_onboarding_status(
                    vendor=profile, status=OnboardingStatus.APPROVED, actor=onboarder, reason="Demo vendor"
                )
            vendors[demo.email] = profile
        PromoCode.objects.get_or_create(
            code="WELCOME10",
            defaults={
                "kind": "percentage",
                "value": Decimal("10"),
                "max_discount": Decimal("300.00"),
                "description": "10% off your first booking, up to 300",
            },
        )
    counts["users"] = len(accounts) + len(vendors)
    counts["services"] = len(services)
    counts["vendors"] = len(vendors)
    customer = accounts[Role.CUSTOMER]
    if not Booking.objects.filter(customer=customer).exists():
        counts["bookings"] = _seed_bookings(customer=customer, vendors=vendors, services=services)
    else:
        counts["bookings"] = 0
    say(f"Demo data ready: {counts}")
    return counts


def _at(day_offset: int, hour: int, minute: int = 0, now=None):
    now = now or timezone.now()
    day = timezone.localdate(now) + timedelta(days=day_offset)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=platform_zone())


@transaction.atomic
def _seed_bookings(*, customer, vendors, services) -> int:
    now = timezone.now()
    ravi = vendors["vendor@homeserve.test"]
    glow = vendors["glow@homeserve.test"]
    coolair = vendors["coolair@homeserve.test"]
    ravi_user = ravi.user
    made = 0

    def book(when, slugs, vendor=None, booked_at=None, method="card", promo=None):
        """Book as the customer would; a card booking is paid with the fake gateway's test card
        straight away (through the same checkout as the API), which makes it ready to offer."""
        nonlocal made
        made += 1
        booking = booking_create(
            customer=customer,
            lines=[{"service_id": services[s].pk, "quantity": 1} for s in slugs],
            scheduled_at=when,
            address=dict(DEMO_ADDRESS),
            vendor_id=vendor.pk if vendor else None,
            payment_method=method,
            promo_code=promo,
            now=booked_at or now,
        )
        if method == "card":
            payment_confirm(attempt=active_attempt(booking), user=customer, card=DEMO_CARD, now=booked_at or now)
            booking.refresh_from_db()
        return booking

    # Completed last week: a two-service visit.
    past = _at(-6, 10, now=now)
    done = book(past, ["home-deep-cleaning", "bathroom-cleaning"], vendor=ravi, booked_at=past - timedelta(days=2))
    booking_accept(booking=done, user=ravi_user, now=past - timedelta(days=2, minutes=-5))
    done = booking_start(booking=done, user=ravi_user, now=past)
    for kind in ("before", "after"):
        photo_upload(booking=done, user=ravi_user, kind=kind, image_file=demo_photo(kind), now=past)
    booking_complete(booking=done, user=ravi_user, now=past + timedelta(hours=5))

    # In progress: the latest half-hour start inside Ravi's hours that has already begun.
    zone = platform_zone()
    running_start = now.astimezone(zone).replace(second=0, microsecond=0)
    running_start -= timedelta(minutes=running_start.minute % 30 + 30)
    while not (8 <= running_start.astimezone(zone).hour < 18):
        running_start -= timedelta(minutes=30)
    running = book(running_start, ["sofa-shampooing"], vendor=ravi, booked_at=running_start - timedelta(days=1))
    booking_accept(booking=running, user=ravi_user, now=running_start - timedelta(days=1) + timedelta(minutes=5))
    running = booking_start(booking=running, user=ravi_user, now=running_start)
    photo_upload(booking=running, user=ravi_user, kind="before", image_file=demo_photo("before"), now=running_start)

    # Confirmed for the day after tomorrow.
    confirmed = book(_at(2, 11, now=now), ["bathroom-cleaning"], vendor=ravi, promo="WELCOME10")
    booking_accept(booking=confirmed, user=ravi_user, now=now)

    # Pending: offered to Ravi, waiting for him to accept (the vendor demo login sees it).
    book(_at(3, 15, now=now), ["home-deep-cleaning"], vendor=ravi, method="cash")

    # Pending, platform-assigned: the best vendor for AC service in 560034 holds the offer.
    book(_at(4, 10, now=now), ["ac-service"])

    # Confirmed with another vendor, then cancelled by the customer well ahead (free).
    cancelled = book(_at(5, 12, now=now), ["facial"], vendor=glow)
    booking_accept(booking=cancelled, user=glow.user, now=now)
    booking_cancel(booking=cancelled, user=customer, reason="Plans changed", now=now + timedelta(minutes=30))

    # Expired: asked for a past morning and never accepted.
    stale_start = _at(-2, 9, now=now)
    book(stale_start, ["ac-service"], vendor=coolair, booked_at=stale_start - timedelta(days=1))
    expire_stale_bookings(now=now)
    return made


def demo_photo(kind: str) -> SimpleUploadedFile:
    """A drawn stand-in for a job photo: a tiled floor, stained before the job, clean after."""
    image = Image.new("RGB", (640, 480), (214, 208, 196))
    draw = ImageDraw.Draw(image)
    for x in range(0, 640, 80):
        draw.line([(x, 0), (x, 480)], fill=(170, 164, 150), width=3)
    for y in range(0, 480, 80):
        draw.line([(0, y), (640, y)], fill=(170, 164, 150), width=3)
    if kind == "before":
        for x, y, r in ((150, 120, 40), (400, 300, 60), (520, 90, 25), (260, 380, 35)):
            draw.ellipse([x - r, y - r, x + r, y + r], fill=(112, 92, 60))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=80)
    return SimpleUploadedFile(f"{kind}.jpg", buffer.getvalue(), content_type="image/jpeg")
