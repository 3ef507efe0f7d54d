"""Checkout and the earnings page with Django's test client (issue 7)."""

import json
import os
import re
import subprocess
import sys
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.tests.factories import CustomerFactory
from core.tests.pages import DECLINED_CARD, GOOD_CARD, THREE_D_SECURE_CARD, logged_in, make_market
from payments.models import AttemptStatus, Payout, PayoutStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def market(settings):
    settings.PAYMENT_GATEWAY = "fake"
    return make_market()


def card(number, **extra):
    return {"card_number": number, "exp_month": 12, "exp_year": 2030, "cvc": "123", **extra}


def test_pay_with_the_test_card(market):
    booking = market.book(method="card")
    client = logged_in(market.customer)
    page = client.get(f"/checkout/{booking.pk}/")
    assert page.status_code == 200 and b"1180.00" in page.content
    response = client.post(f"/checkout/{booking.pk}/", card("4242 4242 4242 4242"))
    assert response["Location"] == f"/bookings/{booking.pk}/"
    assert booking.payment_attempts.get(is_active=True).status == AttemptStatus.AUTHORIZED
    # Paid: the checkout now sends the customer to the booking.
    assert client.get(f"/checkout/{booking.pk}/")["Location"] == f"/bookings/{booking.pk}/"


def test_a_declined_card_is_shown_and_another_card_works(market):
    booking = market.book(method="card")
    client = logged_in(market.customer)
    declined = client.post(f"/checkout/{booking.pk}/", card(DECLINED_CARD))
    assert declined.status_code == 200
    assert "Your card was declined" in declined.context["payment_error"]
    assert DECLINED_CARD not in declined.content.decode()  # never echoed back
    assert client.post(f"/checkout/{booking.pk}/", card(GOOD_CARD)).status_code == 302
    statuses = sorted(booking.payment_attempts.values_list("status", flat=True))
    assert statuses == [AttemptStatus.AUTHORIZED, AttemptStatus.FAILED]


def test_three_d_secure_asks_the_bank_step(market):
    booking = market.book(method="card")
    client = logged_in(market.customer)
    assert client.post(f"/checkout/{booking.pk}/", card(THREE_D_SECURE_CARD))["Location"] == f"/checkout/{booking.pk}/"
    page = client.get(f"/checkout/{booking.pk}/")
    assert page.context["needs_authentication"]
    assert client.post(f"/checkout/{booking.pk}/", {"authentication": "pass"}).status_code == 302
    assert booking.payment_attempts.get(is_active=True).status == AttemptStatus.AUTHORIZED


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (card("1234"), "card_number"),
        (card(GOOD_CARD, exp_month=13), "exp_month"),
        (card(GOOD_CARD, exp_year=2001), "exp_month"),
        (card(GOOD_CARD, cvc="12"), "cvc"),
    ],
)
def test_card_form_errors_are_inline(market, data, field):
    booking = market.book(method="card")
    response = logged_in(market.customer).post(f"/checkout/{booking.pk}/", data)
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert booking.payment_attempts.get(is_active=True).status == AttemptStatus.REQUIRES_PAYMENT_METHOD


def stripe_content_security_policy() -> dict:
    """The CONTENT_SECURITY_POLICY the settings build with PAYMENT_GATEWAY=stripe (decided when
    the settings load, so read from a fresh interpreter)."""
    probe = (
        "import json, django; from django.conf import settings; django.setup(); "
        "print(json.dumps(settings.CONTENT_SECURITY_POLICY))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "marketplace.settings.base", "PAYMENT_GATEWAY": "stripe"}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=settings.BASE_DIR, capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_checkout_with_the_stripe_gateway_renders_stripe_elements(fake_stripe, settings):
    # given: the stripe gateway (the real SDK, against the local fake of Stripe's API) and the
    # Content-Security-Policy the settings give it
    settings.CONTENT_SECURITY_POLICY = stripe_content_security_policy()
    market = make_market()
    booking = market.book(method="card")

    # when
    page = logged_in(market.customer).get(f"/checkout/{booking.pk}/")

    # then: Stripe Elements' form with the publishable key and the intent's client secret; no
    # card fields of ours; Stripe.js and our script, both allowed by the policy
    assert page.status_code == 200
    html = page.content.decode()
    attempt = booking.payment_attempts.get(is_active=True)
    assert attempt.gateway == "stripe" and attempt.client_secret.startswith("pi_")
    assert 'data-stripe-key="pk_test_fake"' in html
    assert f'data-client-secret="{attempt.client_secret}"' in html
    assert '<script src="https://js.stripe.com/v3/">' in html
    assert re.search(r'<script src="/static/js/stripe-checkout(\.[0-9a-f]+)?\.js" defer>', html)
    assert 'name="card_number"' not in html
    policy = {}
    for directive in page["Content-Security-Policy"].split("; "):
        name, _sep, sources = directive.partition(" ")
        policy[name] = sources
    assert "https://js.stripe.com" in policy["script-src"].split()
    assert "https://js.stripe.com" in policy["frame-src"].split()
    assert "https://api.stripe.com" in policy["connect-src"].split()


def test_checkout_of_someone_elses_booking_is_404(market):
    booking = market.book(method="card")
    assert logged_in(CustomerFactory()).get(f"/checkout/{booking.pk}/").status_code == 404
    assert logged_in(CustomerFactory()).post(f"/checkout/{booking.pk}/", card(GOOD_CARD)).status_code == 404


def test_a_cash_booking_has_nothing_to_pay(market):
    booking = market.book(method="cash")
    assert logged_in(market.customer).get(f"/checkout/{booking.pk}/")["Location"] == f"/bookings/{booking.pk}/"


def test_earnings_page_lists_payouts_in_constant_queries(market):
    vendor = market.vendor
    client = logged_in(vendor.user)

    def add(start, count):
        Payout.objects.bulk_create(
            [
                Payout(
                    number=f"PO-20260101-{n:05d}",
                    vendor=vendor,
                    amount=Decimal("100.00"),
                    currency="INR",
                    status=PayoutStatus.PAID,
                    created_at=timezone.now(),
                )
                for n in range(start, start + count)
            ]
        )

    def count():
        client.get("/vendor/earnings/")
        with CaptureQueriesContext(connection) as captured:
            response = client.get("/vendor/earnings/?period=week")
        assert response.status_code == 200
        return len(captured), response

    add(0, 10)
    few, _response = count()
    add(10, 40)
    many, response = count()
    assert few == many
    assert len(response.context["payouts"]) == 50
    assert logged_in(market.customer).get("/vendor/earnings/").status_code == 403
