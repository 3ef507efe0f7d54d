"""The other main pages load in a real browser without JavaScript errors, and each leaves a
screenshot in test-artifacts/ (core/tests/browser.py)."""

import pytest
from playwright.sync_api import expect

from core.tests.browser import session_cookie
from core.tests.pages import make_market

pytestmark = [pytest.mark.browser, pytest.mark.postgres]


def test_main_pages_render(browser):
    market = make_market()
    booking = market.book()
    market.customer.addresses.create(line1="2 Hill Road", city="Bengaluru", pincode="560034", is_default=True)

    anonymous = browser.new_page()
    for url, name, heading in [("/login/", "login", "Log in"), ("/signup/", "signup", "Create your account")]:
        anonymous.goto(url)
        expect(anonymous.get_by_role("heading", level=1)).to_have_text(heading)
        browser.screenshot(anonymous, name)

    customer = browser.new_page(cookie=session_cookie(market.customer))
    for url, name in [
        ("/bookings/", "my-bookings"),
        (f"/bookings/{booking.pk}/", "booking"),
        (f"/vendors/{market.vendor.pk}/", "vendor-profile"),
        ("/notifications/", "notifications"),
        ("/account/", "account"),
    ]:
        customer.goto(url)
        expect(customer.locator("main h1")).to_be_visible()
        browser.screenshot(customer, name)

    vendor = browser.new_page(cookie=session_cookie(market.vendor.user))
    for url, name in [
        ("/vendor/", "vendor-dashboard"),
        ("/vendor/apply/", "vendor-apply"),
        ("/vendor/schedule/", "vendor-schedule"),
        ("/vendor/earnings/", "vendor-earnings"),
    ]:
        vendor.goto(url)
        expect(vendor.locator("main h1")).to_be_visible()
        browser.screenshot(vendor, name)
