"""New people in a real browser (issue 7, "a new user can do the whole journey"): a vendor signs up,
applies (profile and area, services and prices, a document), verifies the phone with the code
sent by SMS, is approved by an onboarding manager in the admin, sets working hours and sees the
dashboard; a customer signs up and books that vendor, whose open dashboard shows the offer.

SMS go through the twilio backend to the local fake of Twilio's API (core/tests/fake_twilio.py),
which is where the test reads the code, as a phone would. See core/tests/browser.py for the rest
of the set-up."""

import io
import re
import time

import pytest
from PIL import Image
from playwright.sync_api import expect

from bookings.models import Booking, BookingStatus
from bookings.tests.factories import ServiceFactory
from core.models import OnboardingStatus, Role, VendorProfile
from core.tests.factories import PASSWORD
from core.tests.fake_twilio import FakeTwilio
from core.tests.test_admin import make_user
from core.tests.test_admin_browser import staff_groups_as_migrated

pytestmark = [pytest.mark.browser, pytest.mark.postgres]

VENDOR_PHONE = "+919845012345"
NEW_PASSWORD = "Fresh&Start2026"


@pytest.fixture
def twilio(settings):
    fake = FakeTwilio().start()
    settings.SMS_BACKEND = "twilio"
    settings.TWILIO_ACCOUNT_SID = fake.account_sid
    settings.TWILIO_AUTH_TOKEN = fake.auth_token
    settings.TWILIO_FROM_NUMBER = "+15005550006"
    settings.TWILIO_MESSAGING_SERVICE_SID = ""
    settings.TWILIO_API_BASE_URL = fake.base_url
    settings.TWILIO_TIMEOUT_SECONDS = 5
    yield fake
    fake.stop()


def sms_code(twilio, phone) -> str:
    """The code in the latest verification SMS to ``phone`` (sent after the request commits)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for message in reversed(list(twilio.messages)):
            found = re.match(r"(\d{6}) is your HomeServe verification code", message["body"])
            if message["to"] == phone and found:
                return found.group(1)
        time.sleep(0.05)
    raise AssertionError(f"no verification SMS to {phone}: {twilio.messages}")


def png_scan() -> dict:
    buffer = io.BytesIO()
    Image.new("RGB", (200, 120), (240, 240, 230)).save(buffer, format="PNG")
    return {"name": "aadhaar.png", "mimeType": "image/png", "buffer": buffer.getvalue()}


def sign_up(page, *, role_label, first, last, email, phone=""):
    page.goto("/signup/")
    page.get_by_label(role_label).check()
    page.get_by_label("First name").fill(first)
    page.get_by_label("Last name").fill(last)
    page.get_by_label("E-mail").fill(email)
    if phone:
        page.get_by_label("Mobile phone").fill(phone)
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Sign up").click()


def test_a_new_vendor_and_a_new_customer_get_going(browser, twilio, settings):
    # given: the catalog, and an onboarding manager (made before any page opens)
    settings.PAYMENT_GATEWAY = "fake"
    staff_groups_as_migrated()
    ServiceFactory(name="AC servicing", duration_minutes=60)
    onboarder = make_user(Role.ONBOARD_MANAGER, "onboarder")

    # --- the vendor signs up and applies ---
    vendor_page = browser.new_page()
    sign_up(
        vendor_page,
        role_label="Offer my services as a vendor",
        first="Kavya",
        last="Rao",
        email="kavya@example.com",
        phone="+91 98450 12345",
    )
    expect(vendor_page).to_have_url(re.compile(r"/vendor/apply/$"))
    expect(vendor_page.locator("#status-heading")).to_contain_text("Pending review")

    vendor_page.get_by_label("Business name").fill("Kavya Cool Air")
    vendor_page.get_by_label("Years of experience").fill("7")
    vendor_page.get_by_label("Base pincode").fill("560034")
    vendor_page.get_by_label("Radius (km)").fill("8")
    vendor_page.get_by_label("Pincodes you serve").fill("560034, 560038")
    vendor_page.get_by_role("button", name="Save profile").click()
    expect(vendor_page.get_by_text("Your profile is saved.")).to_be_visible()

    vendor_page.get_by_label("AC servicing").fill("649")
    vendor_page.get_by_role("button", name="Save services").click()
    expect(vendor_page.get_by_text("Your services and prices are saved.")).to_be_visible()

    vendor_page.locator("#id_kind").select_option("id_proof")
    vendor_page.locator("#id_file").set_input_files(png_scan())
    vendor_page.get_by_role("button", name="Upload").click()
    expect(vendor_page.get_by_text("The document is uploaded; our team will review it.")).to_be_visible()

    # the phone: a code by SMS, typed in
    vendor_page.get_by_role("button", name=f"Send a code to {VENDOR_PHONE}").click()
    expect(vendor_page.get_by_text(f"We sent a code to {VENDOR_PHONE}.")).to_be_visible()
    vendor_page.locator("#id_otp").fill(sms_code(twilio, VENDOR_PHONE))
    vendor_page.get_by_role("button", name="Verify").click()
    expect(vendor_page.get_by_text("Your phone number is verified.")).to_be_visible()
    browser.screenshot(vendor_page, "onboarding-vendor-applied")

    # --- an onboarding manager approves the application in the admin ---
    admin = browser.new_page()
    admin.goto("/admin/")
    admin.get_by_label("Username").fill(onboarder.username)
    admin.get_by_label("Password").fill(PASSWORD)
    admin.get_by_role("button", name="Log in").click()
    admin.goto("/admin/core/vendorprofile/?application=ready")
    row = admin.locator("#result_list tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Kavya Cool Air")
    expect(row).to_contain_text("1 (1 to review)")
    row.locator("input.action-select").check()
    admin.locator('select[name="action"]').select_option("approve_vendors")
    admin.locator('button[name="index"]').first.click()
    admin.get_by_label("Reason").fill("Identity checked, phone verified")
    admin.get_by_role("button", name="Approve").click()
    expect(admin.locator(".messagelist .success")).to_contain_text("1 vendor(s) approved.")
    browser.screenshot(admin, "onboarding-admin-approved")

    # --- the vendor sets working hours and opens the dashboard ---
    vendor_page.reload()
    expect(vendor_page.locator("#status-heading")).to_contain_text("Approved")
    vendor_page.get_by_role("link", name="Set your working hours").click()
    for day in ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"):
        vendor_page.get_by_label(day, exact=True).fill("00:00-24:00")
    vendor_page.get_by_role("button", name="Save hours").click()
    expect(vendor_page.get_by_text("Your working hours are saved.")).to_be_visible()
    vendor_page.goto("/vendor/")
    expect(vendor_page.get_by_role("heading", level=1)).to_have_text("Hello, Kavya Cool Air")
    expect(vendor_page.locator("[data-no-offers]")).to_be_visible()
    expect(vendor_page.locator("#live[data-live-connected]")).to_have_count(1)
    browser.screenshot(vendor_page, "onboarding-vendor-dashboard")

    # --- a new customer signs up, finds the new vendor and books with cash ---
    page = browser.new_page()
    sign_up(page, role_label="Book services", first="Arjun", last="Mehta", email="arjun@example.com")
    expect(page).to_have_url(re.compile(r"/bookings/$"))
    page.goto("/")
    page.get_by_label("Service").select_option(label="AC servicing")
    page.get_by_label("Pincode").fill("560038")
    page.get_by_role("button", name="Find vendors").click()
    card = page.locator(".vendor-card")
    expect(card).to_have_count(1)
    expect(card).to_contain_text("Kavya Cool Air")
    card.locator("a.button").click()
    page.locator("[data-slot-list] label").first.click()
    page.get_by_label("House, street").fill("3, 80 Feet Road")
    page.get_by_label("City").fill("Bengaluru")
    page.locator("#id_pincode").fill("560038")
    page.get_by_label("Cash to the vendor after the job").check()
    expect(page.locator("[data-price-total]")).to_have_text("765.82")  # 649 + 18 % tax
    page.get_by_role("button", name="Book now").click()
    expect(page).to_have_url(re.compile(r"/bookings/[0-9a-f-]+/$"))
    expect(page.locator("[data-status]")).to_have_text("Pending")

    # then: the vendor's open dashboard shows the offer without a reload, and they accept it
    offer = vendor_page.locator("[data-offer]")
    expect(offer).to_have_count(1)
    offer.get_by_role("button", name="Accept").click()
    expect(vendor_page.locator("[data-status]")).to_have_text("Confirmed")
    expect(page.locator("[data-status]")).to_have_text("Confirmed")

    booking = Booking.objects.select_related("vendor__user", "customer").get()
    assert booking.status == BookingStatus.CONFIRMED
    assert (booking.vendor.display_name, booking.customer.email) == ("Kavya Cool Air", "arjun@example.com")
    vendor = VendorProfile.objects.select_related("user").get(pk=booking.vendor_id)
    assert vendor.onboarding_status == OnboardingStatus.APPROVED and vendor.user.phone_verified
    assert vendor.documents.get().kind == "id_proof"
