"""A customer and a vendor chatting live, each in their own browser context (issue 9): what one
sends appears on the other's open page without a reload, read receipts come back, and a phone
number sent before confirmation arrives masked."""

import pytest
from playwright.sync_api import expect

from bookings.models import Message
from bookings.services.transitions import booking_accept
from core.tests.browser import outside, session_cookie
from core.tests.pages import make_market

pytestmark = [pytest.mark.browser, pytest.mark.postgres]


def test_customer_and_vendor_chat_live(browser):
    market = make_market()
    booking = market.book()  # pending: the vendor holds it, contacts are masked
    customer_cookie, vendor_cookie = session_cookie(market.customer), session_cookie(market.vendor.user)

    vendor_page = browser.new_page(cookie=vendor_cookie, width=360, height=740, mobile=True)
    vendor_page.goto(f"/vendor/jobs/{booking.pk}/")
    expect(vendor_page.locator("[data-chat][data-chat-connected]")).to_have_count(1)
    page = browser.new_page(cookie=customer_cookie, width=360, height=740, mobile=True)
    page.goto(f"/bookings/{booking.pk}/")
    expect(page.locator("[data-chat][data-chat-connected]")).to_have_count(1)

    # the customer writes; it reaches the vendor's open page, contacts masked
    page.get_by_role("textbox", name="Message").fill("Gate code 4411, call me on 98765 43210")
    page.get_by_role("button", name="Send").click()
    expect(vendor_page.locator(".chat-message .chat-body")).to_have_text(["Gate code 4411, call me on [phone hidden]"])
    expect(page.locator(".chat-message.mine .chat-body")).to_have_text(["Gate code 4411, call me on [phone hidden]"])
    # the vendor's page is open and visible, so the message is read, and the customer sees it
    expect(page.locator(".chat-message.mine .chat-read")).to_have_count(1)

    # once confirmed, the vendor answers; it reaches the customer without a reload
    outside(booking_accept, booking=booking, user=market.vendor.user)
    vendor_page.get_by_role("textbox", name="Message").fill("Coming at 10, my number is 91234 56780")
    vendor_page.get_by_role("button", name="Send").click()
    expect(page.locator(".chat-message:not(.mine) .chat-body")).to_have_text(["Coming at 10, my number is 91234 56780"])
    browser.screenshot(page, "chat-customer-360")
    browser.screenshot(vendor_page, "chat-vendor-360")

    # an empty message is refused on the page, the socket stays up
    vendor_page.get_by_role("textbox", name="Message").fill("   ")
    vendor_page.get_by_role("button", name="Send").click()
    expect(vendor_page.locator("[data-chat-error]")).to_be_visible()
    assert outside(lambda: Message.objects.count()) == 2
