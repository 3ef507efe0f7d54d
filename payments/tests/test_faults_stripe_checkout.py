"""Fault: Stripe (the local fake Stripe server) answering 500 or too slowly at checkout — what the
customer sees (issue 10, "Faults").

Already covered elsewhere, not repeated here: the adapter maps 500/503/429 and timeouts to
``GatewayUnavailable`` and the SDK retries a single 500 with the same idempotency key
(test_gateways.py); captures, refunds and payout transfers that meet an outage are retried with
backoff and the same key, made once, and flagged for ops after the last try
(test_money_flows.py, test_capture_concurrency.py, test_payouts.py); reconciliation skips a
payment Stripe cannot read (test_reconciliation.py).

Here, at checkout: a booking made while Stripe is down stands and its payment is prepared on the
next confirm or checkout page view; a confirmation during an outage or a timeout answers 503 with
a message for the customer (API: ``{"detail"}`` and ``Retry-After``; page: the message above the
form), leaves the payment, the booking and the ledger exactly as they were, keeps nothing under
the request's Idempotency-Key, and the customer's retry — the same call, safe because it only
re-reads the intent — authorises the card. A single 500 is retried by the SDK unseen.
"""

import pytest

from bookings.models import Booking
from bookings.tests.conftest import ADDRESS
from core.tests.pages import logged_in, make_market
from payments.gateways import get_gateway
from payments.models import AttemptStatus, IdempotencyRecord, LedgerTransaction, PaymentAttempt

pytestmark = pytest.mark.django_db

NOT_ANSWERING = "The payment service is not answering. Please try again in a minute."


@pytest.fixture
def market(fake_stripe, settings):
    settings.STRIPE_MAX_NETWORK_RETRIES = 0  # each scripted failure is one try (unless a test says)
    return make_market()


def book(market, client_for, status=201):
    response = client_for(market.customer).post(
        "/api/bookings/",
        {
            "service_id": market.service.pk,
            "scheduled_at": market.slot().isoformat(),
            "address": ADDRESS,
            "vendor_id": str(market.vendor.pk),
            "payment_method": "card",
        },
        format="json",
    )
    assert response.status_code == status, response.content
    return response.json()


def stripe_js_confirms(payment, payment_method="pm_card_visa"):
    """What Stripe.js does in the customer's browser: confirm the intent named by the client
    secret at Stripe (here, the fake server)."""
    intent_id = payment["client_secret"].split("_secret_")[0]
    get_gateway().confirm_payment_intent(intent_id, payment_method_id=payment_method)


def unchanged(booking_id, payment_id):
    """Nothing moved on our side: one attempt, still waiting for its card, the booking not offered,
    no money in the ledger."""
    attempt = PaymentAttempt.objects.get(booking_id=booking_id)
    assert (str(attempt.pk), attempt.status, attempt.is_active) == (
        payment_id,
        AttemptStatus.REQUIRES_PAYMENT_METHOD,
        True,
    )
    booking = Booking.objects.get(pk=booking_id)
    assert booking.status == "pending" and booking.ready_at is None
    assert not LedgerTransaction.objects.exists()
    return True


def test_a_booking_made_while_stripe_is_down_stands_and_the_confirm_prepares_its_payment(
    market, client_for, fake_stripe
):
    fake_stripe.fail_next(500)  # the first call, creating the Stripe customer

    created = book(market, client_for)

    payment = created["payment"]
    assert (payment["status"], payment["client_secret"]) == ("requires_payment_method", None)
    assert fake_stripe.objects("payment_intent") == []
    assert unchanged(created["id"], payment["id"])
    # Stripe is back: the app's confirm call (empty body, as with Stripe.js) prepares the intent
    customer = client_for(market.customer)
    prepared = customer.post(f"/api/payments/{payment['id']}/confirm/", {}, format="json")
    assert prepared.status_code == 200, prepared.content
    assert prepared.json()["status"] == "requires_payment_method" and prepared.json()["client_secret"]
    stripe_js_confirms(prepared.json())
    paid = customer.post(f"/api/payments/{payment['id']}/confirm/", {}, format="json")
    assert paid.status_code == 200 and paid.json()["status"] == "authorized"
    assert len(fake_stripe.objects("payment_intent")) == 1


@pytest.mark.parametrize("fault", ["500", "timeout"])
def test_a_confirm_during_an_outage_is_a_clear_503_that_changes_nothing_and_the_retry_works(
    market, client_for, fake_stripe, settings, fault
):
    created = book(market, client_for)
    payment = created["payment"]
    stripe_js_confirms(payment)  # the bank said yes in the browser; our server must now read it
    if fault == "500":
        fake_stripe.fail_next(500)
    else:
        settings.STRIPE_TIMEOUT_SECONDS = 1
        fake_stripe.delay_next(2.5)
    customer = client_for(market.customer)
    url = f"/api/payments/{payment['id']}/confirm/"

    answer = customer.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="confirm-1")

    assert answer.status_code == 503
    assert answer.json() == {"detail": NOT_ANSWERING}
    assert answer["Retry-After"] == "60"
    assert unchanged(created["id"], payment["id"])
    assert not IdempotencyRecord.objects.filter(key="confirm-1").exists()  # a 5xx is never kept
    fake_stripe.wait_idle()

    # the customer's retry, same call and key: it runs again (a read of the intent), not a replay
    retried = customer.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="confirm-1")

    assert retried.status_code == 200, retried.content
    assert retried.json()["status"] == "authorized" and "Idempotent-Replayed" not in retried
    assert Booking.objects.get(pk=created["id"]).ready_at is not None
    assert PaymentAttempt.objects.filter(booking_id=created["id"]).count() == 1


def test_a_single_500_is_retried_by_the_sdk_and_never_reaches_the_customer(market, client_for, fake_stripe, settings):
    settings.STRIPE_MAX_NETWORK_RETRIES = 2
    created = book(market, client_for)
    stripe_js_confirms(created["payment"])
    fake_stripe.fail_next(500)

    answer = client_for(market.customer).post(f"/api/payments/{created['payment']['id']}/confirm/", {}, format="json")

    assert answer.status_code == 200 and answer.json()["status"] == "authorized"
    reads = [r.status for r in fake_stripe.requests if r.method == "GET" and "/v1/payment_intents/" in r.path]
    assert reads == [500, 200]


def test_the_checkout_page_says_the_payment_service_is_not_answering_and_the_retry_pays(
    market, client_for, fake_stripe
):
    created = book(market, client_for)
    stripe_js_confirms(created["payment"])
    page = logged_in(market.customer)
    fake_stripe.fail_next(500)

    # Stripe.js confirmed, then posted the form: our server cannot read the intent
    shown = page.post(f"/checkout/{created['id']}/", {})

    assert shown.status_code == 200
    assert NOT_ANSWERING in shown.content.decode()
    assert unchanged(created["id"], created["payment"]["id"])

    # the customer presses Pay again once Stripe answers
    paid = page.post(f"/checkout/{created['id']}/", {})

    assert paid.status_code == 302 and paid["Location"] == f"/bookings/{created['id']}/"
    assert PaymentAttempt.objects.get(booking_id=created["id"]).status == AttemptStatus.AUTHORIZED


def test_the_checkout_page_of_a_booking_made_during_an_outage_prepares_it_once_stripe_answers(
    market, client_for, fake_stripe
):
    fake_stripe.fail_next(500)
    created = book(market, client_for)
    page = logged_in(market.customer)

    fake_stripe.fail_next(500)  # still down when the page opens: it says so, with no client secret
    still_down = page.get(f"/checkout/{created['id']}/").content.decode()
    assert NOT_ANSWERING in still_down and 'data-client-secret=""' in still_down

    # Stripe is back: the page prepares the payment and hands Stripe.js its client secret
    back = page.get(f"/checkout/{created['id']}/").content.decode()

    attempt = PaymentAttempt.objects.get(booking_id=created["id"])
    assert attempt.client_secret and f'data-client-secret="{attempt.client_secret}"' in back
    assert NOT_ANSWERING not in back
    assert len(fake_stripe.objects("payment_intent")) == 1
