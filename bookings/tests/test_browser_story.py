"""The whole story in a real browser (issue 7): a customer and a vendor, each in their own browser
context, with their pages live over WebSockets. See core/tests/browser.py for the set-up."""

import io
import re

import pytest
from PIL import Image
from playwright.sync_api import expect

from bookings.models import Booking, BookingStatus
from core.models import SystemSettings
from core.tests.browser import session_cookie
from core.tests.pages import GOOD_CARD, make_market
from payments.models import AttemptStatus

pytestmark = [pytest.mark.browser, pytest.mark.postgres]


def jpeg(color) -> dict:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(buffer, format="JPEG")
    return {"name": "photo.jpg", "mimeType": "image/jpeg", "buffer": buffer.getvalue()}


def draw_signature(page):
    """Mouse strokes across the signature pad: a zigzag, as a hand would draw."""
    pad = page.locator("canvas[data-signature-pad]")
    pad.scroll_into_view_if_needed()
    box = pad.bounding_box()
    page.mouse.move(box["x"] + 20, box["y"] + box["height"] * 0.7)
    page.mouse.down()
    for step in range(1, 12):
        page.mouse.move(box["x"] + 20 + step * 25, box["y"] + box["height"] * (0.7 - 0.4 * (step % 2)), steps=3)
    page.mouse.up()


def test_book_pay_accept_work_and_sign(browser):
    # given: a vendor in 560034 and a customer, both signed in; the vendor may start any time
    # (the booked slot is at least 2 h away: the notice the platform asks for)
    market = make_market()
    config = SystemSettings.load()
    config.start_early_minutes = 3 * 24 * 60
    config.save()
    customer_cookie, vendor_cookie = session_cookie(market.customer), session_cookie(market.vendor.user)

    vendor_page = browser.new_page(cookie=vendor_cookie)
    vendor_page.goto("/vendor/")
    expect(vendor_page.locator("[data-no-offers]")).to_be_visible()
    expect(vendor_page.locator("#live[data-live-connected]")).to_have_count(1)

    # when: the customer searches, picks the first free slot and pays with the test card
    page = browser.new_page(cookie=customer_cookie)
    page.goto("/")
    browser.screenshot(page, "home")
    page.get_by_label("Service").select_option(label="Deep cleaning")
    page.get_by_label("Pincode").fill("560034")
    page.get_by_role("button", name="Find vendors").click()
    expect(page.locator(".vendor-card")).to_have_count(1)
    browser.screenshot(page, "search-results")
    page.locator(".vendor-card a.button").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Deep cleaning")
    page.locator("[data-slot-list] label").first.click()
    page.get_by_label("House, street").fill("14, 5th Cross")
    page.get_by_label("City").fill("Bengaluru")
    page.locator("#id_pincode").fill("560034")
    page.get_by_label("Notes for the vendor").fill("Ring twice")
    browser.screenshot(page, "book")
    page.get_by_role("button", name="Book now").click()
    expect(page).to_have_url(re.compile(r"/checkout/"))
    browser.screenshot(page, "checkout")
    page.get_by_label("Card number").fill(GOOD_CARD)
    page.get_by_label("Expiry month").fill("12")
    page.get_by_label("Expiry year").fill("2030")
    page.get_by_label("CVC").fill("123")
    page.get_by_role("button", name=re.compile("^Pay")).click()
    expect(page).to_have_url(re.compile(r"/bookings/[0-9a-f-]+/$"))
    expect(page.locator("[data-status]")).to_have_text("Pending")
    expect(page.locator("#live[data-live-connected]")).to_have_count(1)

    # then: the vendor's open dashboard shows the offer without a reload, with a countdown
    offer = vendor_page.locator("[data-offer]")
    expect(offer).to_have_count(1)
    expect(offer.locator(".countdown")).to_have_text(re.compile(r"^1[45]:\d\d$"))
    browser.screenshot(vendor_page, "vendor-dashboard-offer")
    offer.get_by_role("button", name="Accept").click()
    expect(vendor_page.locator("[data-status]")).to_have_text("Confirmed")

    # and the customer's open booking page turns confirmed by itself, with the vendor's phone
    expect(page.locator("[data-status]")).to_have_text("Confirmed")
    expect(page.locator("[data-vendor-phone]")).to_have_text(market.vendor.user.phone)

    # when: the vendor starts, adds before and after photos, completes and asks for a signature
    vendor_page.get_by_role("button", name="Start the job").click()
    expect(vendor_page.locator("[data-status]")).to_have_text("In progress")
    expect(vendor_page.locator("[data-address]")).to_contain_text("14, 5th Cross")
    vendor_page.get_by_label("Before the work").check()
    vendor_page.locator("input[type=file][name=image]").set_input_files(jpeg((200, 40, 40)))
    vendor_page.get_by_role("button", name="Add photo").click()
    expect(vendor_page.get_by_text("The photo is added.")).to_be_visible()
    vendor_page.get_by_label("After the work").check()
    vendor_page.locator("input[type=file][name=image]").set_input_files(jpeg((40, 200, 40)))
    vendor_page.get_by_role("button", name="Add photo").click()
    expect(vendor_page.locator(".photos img")).to_have_count(2)
    browser.screenshot(vendor_page, "vendor-job")
    vendor_page.get_by_role("button", name="Complete the job").click()
    expect(vendor_page.locator("[data-status]")).to_have_text("Completed")
    vendor_page.get_by_role("button", name="Ask the customer to sign").click()
    expect(vendor_page.locator("[data-status]")).to_have_text("Awaiting signature")

    # then: the customer's page offers the signature; they rate 4 stars and draw a signature
    expect(page.locator("[data-status]")).to_have_text("Awaiting signature")
    expect(page.locator(".photos img")).to_have_count(2)
    browser.screenshot(page, "booking-awaiting-signature")
    page.get_by_role("link", name="Sign the job").click()
    page.locator("label[for=rating-4]").click()
    page.get_by_label("Comments").fill("Spotless, thank you")
    draw_signature(page)
    browser.screenshot(page, "sign")
    page.get_by_role("button", name="Sign", exact=True).click()

    # then: the booking is signed and the payment captured, shown on the booking page
    expect(page.locator("[data-status]")).to_have_text("Signed")
    expect(page.locator("[data-payment-status]")).to_have_text("Captured")
    browser.screenshot(page, "booking-signed")
    expect(vendor_page.locator("[data-status]")).to_have_text("Signed")

    booking = Booking.objects.get()
    assert booking.status == BookingStatus.SIGNED
    assert booking.payment_attempts.get(is_active=True).status == AttemptStatus.CAPTURED
    assert booking.signature.signature_image_sha256
    assert booking.review.rating == 4
