"""The payment gateway adapters (ARCHITECTURE §6; payments/gateways/).

One contract, run against both adapters: the fake gateway (in-process, FakeGatewayObject rows)
and the stripe gateway — the real stripe SDK talking HTTP to a local fake of Stripe's API
(payments/tests/fake_stripe.py). Then what only one of them does: card numbers and the §6 test
cards on the fake; retries, timeouts, rate limits and credentials on the stripe adapter.
"""

import json
import os
import secrets
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest
import stripe
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from payments.gateways import (
    AuthenticationRequired,
    CardDetails,
    GatewayUnavailable,
    IntentStatus,
    InvalidPaymentRequest,
    PaymentDeclined,
    SetupIntentStatus,
    WebhookSignatureInvalid,
    get_gateway,
)
from payments.gateways.base import from_gateway_amount, to_gateway_amount
from payments.gateways.fake import FakeGateway
from payments.gateways.stripe import StripeGateway
from payments.models import FakeGatewayObject

TOTAL = Decimal("1456.42")
NEXT_YEAR = date.today().year + 1


def key(label: str = "k") -> str:
    return f"{label}-{secrets.token_hex(8)}"


@dataclass
class Backend:
    """A gateway plus what the outside world does around it in a test: the customer on the 3-D
    Secure page, and a look at what the gateway stored on its side."""

    name: str
    gateway: object
    fake_stripe: object = None

    def authenticate(self, intent_id: str, outcome: str = "pass"):
        if self.fake_stripe is not None:  # Stripe.js shows the bank's page; the server never sees it
            self.fake_stripe.complete_authentication(intent_id, outcome)
            return
        confirm = (
            self.gateway.confirm_setup_intent if intent_id.startswith("seti_") else self.gateway.confirm_payment_intent
        )
        try:
            confirm(intent_id, authentication=outcome)
        except PaymentDeclined:
            assert outcome == "fail"

    def stored(self, object_id: str) -> dict:
        if self.fake_stripe is not None:
            return self.fake_stripe.store.get(object_id)
        return FakeGatewayObject.objects.get(pk=object_id).data

    def count(self, kind: str) -> int:
        if self.fake_stripe is not None:
            return len(self.fake_stripe.objects(kind))
        return FakeGatewayObject.objects.filter(kind=kind).count()


@pytest.fixture(params=["fake", "stripe"])
def backend(request, db, settings):
    if request.param == "fake":
        settings.PAYMENT_GATEWAY = "fake"
        settings.STRIPE_WEBHOOK_SECRET = "whsec_" + secrets.token_hex(16)
        return Backend("fake", get_gateway())
    fake_stripe = request.getfixturevalue("fake_stripe")
    return Backend("stripe", get_gateway(), fake_stripe)


@pytest.fixture
def gateway(backend):
    return backend.gateway


@pytest.fixture
def customer(gateway):
    return gateway.create_customer(email="asha@example.com", name="Asha Rao", idempotency_key=key("cus"))


def new_intent(gateway, customer=None, amount=TOTAL, **extra):
    return gateway.create_payment_intent(
        amount=amount,
        currency="INR",
        customer_id=customer.id if customer else None,
        metadata={"booking": "BK-20261125-000001", **extra},
        idempotency_key=key("pi"),
    )


def authorised(gateway, customer=None, amount=TOTAL):
    intent = new_intent(gateway, customer, amount)
    return gateway.confirm_payment_intent(intent.id, payment_method_id="pm_card_visa")


def saved_card(gateway, customer, payment_method="pm_card_visa"):
    setup = gateway.create_setup_intent(customer_id=customer.id, idempotency_key=key("seti"))
    return gateway.confirm_setup_intent(setup.id, payment_method_id=payment_method)


# --- money at the boundary ------------------------------------------------------------------------


def test_amounts_cross_in_minor_units_and_come_back_exactly(backend, gateway, customer):
    intent = new_intent(gateway, customer)

    assert intent.amount == Decimal("1456.42")
    assert intent.currency == "INR"
    assert intent.status == IntentStatus.REQUIRES_PAYMENT_METHOD
    stored = backend.stored(intent.id)
    assert stored["amount"] == 145642 and stored["currency"] == "inr"
    assert stored["capture_method"] == "manual"
    assert stored["setup_future_usage"] == "off_session"
    assert stored["customer"] == customer.id
    assert stored["metadata"] == {"booking": "BK-20261125-000001"}
    assert intent.client_secret.startswith(f"{intent.id}_secret_")


@pytest.mark.parametrize(
    ("amount", "minor"),
    [(Decimal("1456.42"), 145642), (Decimal("0.01"), 1), (Decimal("10"), 1000), (Decimal("99999999.99"), 9999999999)],
)
def test_minor_unit_conversion_is_exact_both_ways(amount, minor):
    assert to_gateway_amount(amount, "INR") == minor
    back = from_gateway_amount(minor, "INR")
    assert back == amount and str(back) == f"{amount:.2f}"


def test_minor_units_refuse_floats_sub_paisa_and_non_positive_amounts():
    with pytest.raises(TypeError):
        to_gateway_amount(1456.42, "INR")
    with pytest.raises(ValueError):
        to_gateway_amount(Decimal("10.005"), "INR")
    with pytest.raises(ValueError):
        to_gateway_amount(Decimal("0"), "INR")
    assert to_gateway_amount(Decimal("500"), "JPY") == 500


# --- confirm and authorise ------------------------------------------------------------------------


def test_a_good_card_authorises_the_whole_amount(gateway, customer):
    intent = new_intent(gateway, customer)

    authorised_intent = gateway.confirm_payment_intent(intent.id, payment_method_id="pm_card_visa")

    assert authorised_intent.status == IntentStatus.REQUIRES_CAPTURE
    assert authorised_intent.amount_capturable == TOTAL
    assert authorised_intent.amount_received == Decimal("0.00")
    assert (
        authorised_intent.payment_method_id.startswith("pm_") and authorised_intent.payment_method_id != "pm_card_visa"
    )
    assert gateway.retrieve_payment_intent(intent.id) == authorised_intent


@pytest.mark.parametrize(
    ("payment_method", "decline_code", "says"),
    [
        ("pm_card_chargeDeclined", "generic_decline", "declined"),
        ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds", "insufficient funds"),
        ("pm_card_chargeDeclinedExpiredCard", "expired_card", "expired"),
    ],
)
def test_a_declined_card_tells_the_customer_why_and_may_be_retried_with_another(
    gateway, customer, payment_method, decline_code, says
):
    intent = new_intent(gateway, customer)

    with pytest.raises(PaymentDeclined) as declined:
        gateway.confirm_payment_intent(intent.id, payment_method_id=payment_method)

    assert not isinstance(declined.value, AuthenticationRequired)
    assert declined.value.decline_code == decline_code
    assert declined.value.intent_id == intent.id
    assert declined.value.http_status == 402
    assert says in str(declined.value.user_message).lower()
    after = gateway.retrieve_payment_intent(intent.id)
    assert after.status == IntentStatus.REQUIRES_PAYMENT_METHOD
    assert after.last_error_decline_code == decline_code
    assert after.amount_capturable == Decimal("0.00")
    # the customer tries another card on the same intent
    retried = gateway.confirm_payment_intent(intent.id, payment_method_id="pm_card_visa")
    assert retried.status == IntentStatus.REQUIRES_CAPTURE
    assert retried.last_error_code is None


def test_3d_secure_passed_authorises(backend, gateway, customer):
    intent = new_intent(gateway, customer)

    challenged = gateway.confirm_payment_intent(intent.id, payment_method_id="pm_card_authenticationRequired")
    assert challenged.status == IntentStatus.REQUIRES_ACTION
    assert challenged.next_action_type == "use_stripe_sdk"
    assert challenged.amount_capturable == Decimal("0.00")

    backend.authenticate(intent.id, "pass")

    after = gateway.retrieve_payment_intent(intent.id)
    assert after.status == IntentStatus.REQUIRES_CAPTURE
    assert after.amount_capturable == TOTAL
    assert after.next_action_type is None


def test_3d_secure_failed_asks_for_another_card(backend, gateway, customer):
    intent = new_intent(gateway, customer)
    gateway.confirm_payment_intent(intent.id, payment_method_id="pm_card_authenticationRequired")

    backend.authenticate(intent.id, "fail")

    after = gateway.retrieve_payment_intent(intent.id)
    assert after.status == IntentStatus.REQUIRES_PAYMENT_METHOD
    assert after.last_error_code == "payment_intent_authentication_failure"
    assert after.payment_method_id is None


def test_an_unknown_intent_is_an_invalid_request(gateway):
    with pytest.raises(InvalidPaymentRequest) as error:
        gateway.retrieve_payment_intent("pi_does_not_exist")
    assert error.value.code == "resource_missing"
    assert not error.value.retryable


# --- capture --------------------------------------------------------------------------------------


def test_capture_takes_the_whole_authorisation(gateway, customer):
    intent = authorised(gateway, customer)

    captured = gateway.capture_payment_intent(intent.id, idempotency_key=key("capture"))

    assert captured.status == IntentStatus.SUCCEEDED
    assert captured.amount_received == TOTAL
    assert captured.amount_capturable == Decimal("0.00")


def test_partial_capture_takes_exactly_the_amount_and_releases_the_rest(backend, gateway, customer):
    intent = authorised(gateway, customer)

    captured = gateway.capture_payment_intent(intent.id, amount=Decimal("728.21"), idempotency_key=key("capture"))

    assert captured.status == IntentStatus.SUCCEEDED
    assert captured.amount_received == Decimal("728.21")
    assert captured.amount_capturable == Decimal("0.00")
    assert backend.stored(intent.id)["amount_received"] == 72821
    with pytest.raises(InvalidPaymentRequest):  # the released part is gone for good
        gateway.refund(intent.id, amount=Decimal("728.22"), idempotency_key=key("refund"))


def test_capturing_twice_returns_the_captured_intent(gateway, customer):
    intent = authorised(gateway, customer)
    first = gateway.capture_payment_intent(intent.id, amount=Decimal("1000.00"), idempotency_key=key("capture"))

    # a second capture under another key (a retried task that lost the first answer, a race)
    again = gateway.capture_payment_intent(intent.id, idempotency_key=key("capture"))

    assert again.status == IntentStatus.SUCCEEDED
    assert again.amount_received == Decimal("1000.00") == first.amount_received


def test_capture_with_the_same_key_replays_the_first_answer(backend, gateway, customer):
    intent = authorised(gateway, customer)
    capture_key = key("capture")

    first = gateway.capture_payment_intent(intent.id, amount=Decimal("500.00"), idempotency_key=capture_key)
    again = gateway.capture_payment_intent(intent.id, amount=Decimal("500.00"), idempotency_key=capture_key)

    assert first == again
    assert again.amount_received == Decimal("500.00")


def test_capturing_more_than_authorised_is_refused(gateway, customer):
    intent = authorised(gateway, customer)

    with pytest.raises(InvalidPaymentRequest) as error:
        gateway.capture_payment_intent(intent.id, amount=Decimal("1456.43"), idempotency_key=key("capture"))

    assert error.value.code == "amount_too_large"
    assert gateway.retrieve_payment_intent(intent.id).status == IntentStatus.REQUIRES_CAPTURE


def test_an_intent_not_yet_authorised_cannot_be_captured(gateway, customer):
    intent = new_intent(gateway, customer)

    with pytest.raises(InvalidPaymentRequest) as error:
        gateway.capture_payment_intent(intent.id, idempotency_key=key("capture"))

    assert error.value.code == "payment_intent_unexpected_state"


# --- cancel ---------------------------------------------------------------------------------------


def test_cancel_releases_the_authorisation_and_a_second_cancel_is_no_error(gateway, customer):
    intent = authorised(gateway, customer)

    cancelled = gateway.cancel_payment_intent(intent.id, idempotency_key=key("cancel"))

    assert cancelled.status == IntentStatus.CANCELED
    assert cancelled.amount_capturable == Decimal("0.00")
    assert cancelled.amount_received == Decimal("0.00")
    assert gateway.cancel_payment_intent(intent.id, idempotency_key=key("cancel")).status == IntentStatus.CANCELED
    with pytest.raises(InvalidPaymentRequest):
        gateway.capture_payment_intent(intent.id, idempotency_key=key("capture"))


def test_a_captured_intent_cannot_be_cancelled(gateway, customer):
    intent = authorised(gateway, customer)
    gateway.capture_payment_intent(intent.id, idempotency_key=key("capture"))

    with pytest.raises(InvalidPaymentRequest) as error:
        gateway.cancel_payment_intent(intent.id)

    assert error.value.code == "payment_intent_unexpected_state"


# --- refunds --------------------------------------------------------------------------------------


def test_full_refund_then_nothing_is_left_to_refund(gateway, customer):
    intent = authorised(gateway, customer)
    gateway.capture_payment_intent(intent.id, idempotency_key=key("capture"))

    refund = gateway.refund(intent.id, idempotency_key=key("refund"), metadata={"note": "vendor no-show"})

    assert refund.amount == TOTAL and refund.currency == "INR"
    assert refund.intent_id == intent.id
    assert refund.status == "succeeded"
    assert refund.reason == "requested_by_customer"
    with pytest.raises(InvalidPaymentRequest) as error:
        gateway.refund(intent.id, amount=Decimal("0.01"), idempotency_key=key("refund"))
    assert error.value.code == "charge_already_refunded"


def test_partial_refunds_add_up_to_at_most_what_was_received(gateway, customer):
    intent = authorised(gateway, customer)
    gateway.capture_payment_intent(intent.id, idempotency_key=key("capture"))

    first = gateway.refund(intent.id, amount=Decimal("728.21"), idempotency_key=key("refund"))
    with pytest.raises(InvalidPaymentRequest) as error:
        gateway.refund(intent.id, amount=Decimal("728.22"), idempotency_key=key("refund"))
    rest = gateway.refund(intent.id, idempotency_key=key("refund"))

    assert error.value.code == "amount_too_large"
    assert first.amount == Decimal("728.21")
    assert rest.amount == Decimal("728.21")
    assert first.amount + rest.amount == TOTAL


def test_a_refund_retried_with_its_key_refunds_once(backend, gateway, customer):
    intent = authorised(gateway, customer)
    gateway.capture_payment_intent(intent.id, idempotency_key=key("capture"))
    refund_key = key("refund")

    first = gateway.refund(intent.id, amount=Decimal("100.00"), idempotency_key=refund_key)
    again = gateway.refund(intent.id, amount=Decimal("100.00"), idempotency_key=refund_key)

    assert again.id == first.id
    assert backend.count("refund") == 1
    # so all but 100.00 is still refundable
    assert gateway.refund(intent.id, idempotency_key=key("refund")).amount == Decimal("1356.42")


def test_an_uncaptured_intent_cannot_be_refunded(gateway, customer):
    intent = authorised(gateway, customer)

    with pytest.raises(InvalidPaymentRequest):
        gateway.refund(intent.id, idempotency_key=key("refund"))


def test_refund_reasons_are_stripes_own(gateway):
    with pytest.raises(ValueError):
        gateway.refund("pi_x", idempotency_key=key("refund"), reason="vendor did not show up")


# --- saved cards, off-session charges -------------------------------------------------------------


def test_a_saved_card_is_charged_off_session_authorised_or_captured(gateway, customer):
    setup = gateway.create_setup_intent(customer_id=customer.id, idempotency_key=key("seti"))
    assert setup.status == SetupIntentStatus.REQUIRES_PAYMENT_METHOD
    assert setup.client_secret.startswith(f"{setup.id}_secret_")

    saved = gateway.confirm_setup_intent(setup.id, payment_method_id="pm_card_visa")
    assert saved.status == SetupIntentStatus.SUCCEEDED
    assert saved.customer_id == customer.id and saved.payment_method_id
    assert gateway.retrieve_setup_intent(setup.id) == saved

    hold = gateway.charge_off_session(
        customer_id=customer.id,
        payment_method_id=saved.payment_method_id,
        amount=TOTAL,
        currency="INR",
        capture=False,
        idempotency_key=key("auth"),
    )
    charge = gateway.charge_off_session(
        customer_id=customer.id,
        payment_method_id=saved.payment_method_id,
        amount=Decimal("250.50"),
        currency="INR",
        capture=True,
        idempotency_key=key("charge"),
    )

    assert hold.status == IntentStatus.REQUIRES_CAPTURE and hold.amount_capturable == TOTAL
    assert charge.status == IntentStatus.SUCCEEDED and charge.amount_received == Decimal("250.50")
    assert gateway.capture_payment_intent(hold.id, idempotency_key=key("capture")).amount_received == TOTAL


def test_the_card_of_an_authorised_intent_is_saved_for_off_session_use(gateway, customer):
    intent = authorised(gateway, customer)  # setup_future_usage=off_session with a customer

    later = gateway.charge_off_session(
        customer_id=customer.id,
        payment_method_id=intent.payment_method_id,
        amount=Decimal("300.00"),
        currency="INR",
        capture=False,
        idempotency_key=key("auth"),
    )

    assert later.status == IntentStatus.REQUIRES_CAPTURE


def test_a_card_that_authenticated_when_saved_is_charged_off_session_without_the_customer(backend, gateway, customer):
    setup = gateway.create_setup_intent(customer_id=customer.id, idempotency_key=key("seti"))
    challenged = gateway.confirm_setup_intent(setup.id, payment_method_id="pm_card_authenticationRequiredOnSetup")
    assert challenged.status == SetupIntentStatus.REQUIRES_ACTION

    backend.authenticate(setup.id, "pass")
    saved = gateway.retrieve_setup_intent(setup.id)

    assert saved.status == SetupIntentStatus.SUCCEEDED
    hold = gateway.charge_off_session(
        customer_id=customer.id,
        payment_method_id=saved.payment_method_id,
        amount=TOTAL,
        currency="INR",
        capture=False,
        idempotency_key=key("auth"),
    )
    assert hold.status == IntentStatus.REQUIRES_CAPTURE


def test_off_session_charge_that_needs_the_customer_raises_authentication_required(backend, gateway, customer):
    setup = gateway.create_setup_intent(customer_id=customer.id, idempotency_key=key("seti"))
    gateway.confirm_setup_intent(setup.id, payment_method_id="pm_card_authenticationRequired")
    backend.authenticate(setup.id, "pass")
    saved = gateway.retrieve_setup_intent(setup.id)

    with pytest.raises(AuthenticationRequired) as error:
        gateway.charge_off_session(
            customer_id=customer.id,
            payment_method_id=saved.payment_method_id,
            amount=TOTAL,
            currency="INR",
            capture=False,
            idempotency_key=key("auth"),
        )

    assert error.value.code == "authentication_required"
    assert "confirm this payment" in str(error.value.user_message)
    failed = gateway.retrieve_payment_intent(error.value.intent_id)
    assert failed.status == IntentStatus.REQUIRES_PAYMENT_METHOD
    assert failed.payment_method_id == saved.payment_method_id  # the customer confirms it on-session


def test_a_card_that_declines_cannot_be_saved(gateway, customer):
    setup = gateway.create_setup_intent(customer_id=customer.id, idempotency_key=key("seti"))

    with pytest.raises(PaymentDeclined) as declined:
        gateway.confirm_setup_intent(setup.id, payment_method_id="pm_card_chargeDeclinedInsufficientFunds")

    assert declined.value.decline_code == "insufficient_funds"
    assert declined.value.intent_id == setup.id
    assert gateway.retrieve_setup_intent(setup.id).status == SetupIntentStatus.REQUIRES_PAYMENT_METHOD


def test_a_saved_card_can_still_decline_off_session(gateway, customer):
    saved = saved_card(gateway, customer, "pm_card_chargeCustomerFail")
    assert saved.status == SetupIntentStatus.SUCCEEDED

    with pytest.raises(PaymentDeclined) as declined:
        gateway.charge_off_session(
            customer_id=customer.id,
            payment_method_id=saved.payment_method_id,
            amount=TOTAL,
            currency="INR",
            capture=True,
            idempotency_key=key("charge"),
        )

    assert declined.value.code == "card_declined"
    assert gateway.retrieve_payment_intent(declined.value.intent_id).status == IntentStatus.REQUIRES_PAYMENT_METHOD


def test_another_customers_card_cannot_be_charged_off_session(gateway, customer):
    saved = saved_card(gateway, customer)
    stranger = gateway.create_customer(email="ravi@example.com", name="Ravi", idempotency_key=key("cus"))

    with pytest.raises(InvalidPaymentRequest):
        gateway.charge_off_session(
            customer_id=stranger.id,
            payment_method_id=saved.payment_method_id,
            amount=TOTAL,
            currency="INR",
            capture=True,
            idempotency_key=key("charge"),
        )


# --- Connect transfers ----------------------------------------------------------------------------


def test_transfer_to_a_connected_account(backend, gateway):
    payout_key = key("payout")

    transfer = gateway.create_transfer(
        amount=Decimal("1237.96"),
        currency="INR",
        destination_account="acct_1VendorAsha",
        idempotency_key=payout_key,
        metadata={"payout": "PO-20261125-00001"},
    )
    again = gateway.create_transfer(
        amount=Decimal("1237.96"),
        currency="INR",
        destination_account="acct_1VendorAsha",
        idempotency_key=payout_key,
        metadata={"payout": "PO-20261125-00001"},
    )

    assert transfer.id.startswith("tr_") and again.id == transfer.id
    assert transfer.amount == Decimal("1237.96") and transfer.currency == "INR"
    assert transfer.destination == "acct_1VendorAsha"
    assert transfer.status == "paid"
    assert transfer.metadata == {"payout": "PO-20261125-00001"}
    assert backend.stored(transfer.id)["amount"] == 123796
    assert backend.count("transfer") == 1


def test_transfer_to_something_that_is_not_an_account_is_refused(gateway):
    with pytest.raises(InvalidPaymentRequest) as error:
        gateway.create_transfer(
            amount=Decimal("10.00"), currency="INR", destination_account="vendor-7", idempotency_key=key("payout")
        )
    assert error.value.code == "resource_missing"


# --- idempotency keys -----------------------------------------------------------------------------


def test_the_same_key_returns_the_same_object(backend, gateway, customer):
    create_key = key("pi")
    kwargs = {"amount": TOTAL, "currency": "INR", "customer_id": customer.id, "metadata": {"booking": "BK-1"}}

    first = gateway.create_payment_intent(idempotency_key=create_key, **kwargs)
    again = gateway.create_payment_intent(idempotency_key=create_key, **kwargs)
    other = gateway.create_payment_intent(idempotency_key=key("pi"), **kwargs)

    assert again.id == first.id and again.client_secret == first.client_secret
    assert other.id != first.id
    assert backend.count("payment_intent") == 2
    same_customer = gateway.create_customer(email="x@example.com", name="X", idempotency_key="cus-fixed-1")
    assert gateway.create_customer(email="x@example.com", name="X", idempotency_key="cus-fixed-1") == same_customer


def test_a_key_reused_with_other_arguments_is_refused(gateway, customer):
    create_key = key("pi")
    gateway.create_payment_intent(
        amount=TOTAL, currency="INR", customer_id=customer.id, metadata={}, idempotency_key=create_key
    )

    with pytest.raises(InvalidPaymentRequest):
        gateway.create_payment_intent(
            amount=Decimal("1.00"), currency="INR", customer_id=customer.id, metadata={}, idempotency_key=create_key
        )


def test_a_declined_confirmation_is_replayed_for_its_key(gateway, customer):
    intent = new_intent(gateway, customer)
    confirm_key = key("confirm")
    with pytest.raises(PaymentDeclined):
        gateway.confirm_payment_intent(
            intent.id, payment_method_id="pm_card_chargeDeclined", idempotency_key=confirm_key
        )

    with pytest.raises(PaymentDeclined) as replayed:
        gateway.confirm_payment_intent(
            intent.id, payment_method_id="pm_card_chargeDeclined", idempotency_key=confirm_key
        )

    assert replayed.value.decline_code == "generic_decline"


# --- webhooks -------------------------------------------------------------------------------------


def _event(**extra) -> bytes:
    event = {
        "id": "evt_" + secrets.token_hex(12),
        "object": "event",
        "type": "payment_intent.amount_capturable_updated",
        "created": int(time.time()),
        "data": {"object": {"id": "pi_123", "object": "payment_intent", "amount_capturable": 145642}},
        **extra,
    }
    return json.dumps(event).encode()


def test_a_signed_webhook_is_verified_and_parsed(gateway, settings):
    payload = _event()
    header = stripe.WebhookSignature.generate_signature_header(payload.decode(), settings.STRIPE_WEBHOOK_SECRET)

    event = gateway.verify_webhook(payload, header)

    assert isinstance(event, dict)
    assert event["type"] == "payment_intent.amount_capturable_updated"
    assert event["data"]["object"]["amount_capturable"] == 145642


def test_a_webhook_signed_with_another_secret_is_refused(gateway):
    payload = _event()
    header = stripe.WebhookSignature.generate_signature_header(payload.decode(), "whsec_someone_else")

    with pytest.raises(WebhookSignatureInvalid):
        gateway.verify_webhook(payload, header)


def test_a_webhook_body_changed_after_signing_is_refused(gateway, settings):
    payload = _event()
    header = stripe.WebhookSignature.generate_signature_header(payload.decode(), settings.STRIPE_WEBHOOK_SECRET)

    with pytest.raises(WebhookSignatureInvalid):
        gateway.verify_webhook(payload.replace(b"145642", b"999999"), header)


@pytest.mark.parametrize(("age", "accepted"), [(290, True), (310, False), (3600, False)])
def test_a_webhook_older_than_300_seconds_is_refused(gateway, settings, age, accepted):
    payload = _event()
    header = stripe.WebhookSignature.generate_signature_header(
        payload.decode(), settings.STRIPE_WEBHOOK_SECRET, timestamp=int(time.time()) - age
    )

    if accepted:
        assert gateway.verify_webhook(payload, header)["object"] == "event"
    else:
        with pytest.raises(WebhookSignatureInvalid):
            gateway.verify_webhook(payload, header)


@pytest.mark.parametrize("header", ["", "garbage", "t=123"])
def test_a_webhook_without_a_usable_signature_is_refused(gateway, header):
    with pytest.raises(WebhookSignatureInvalid):
        gateway.verify_webhook(_event(), header)


# --- the fake gateway only: card numbers and the §6 test cards -----------------------------------


def card(number, exp_month=12, exp_year=NEXT_YEAR, cvc="123"):
    return CardDetails(number=number, exp_month=exp_month, exp_year=exp_year, cvc=cvc)


@pytest.fixture
def fake_gateway(db, settings):
    settings.PAYMENT_GATEWAY = "fake"
    return get_gateway()


def test_the_embedded_default_is_the_fake_gateway(fake_gateway):
    assert isinstance(fake_gateway, FakeGateway)
    assert get_gateway() is fake_gateway


def test_fake_4242_authorises(fake_gateway):
    intent = new_intent(fake_gateway)

    result = fake_gateway.confirm_payment_intent(intent.id, card=card("4242424242424242"))

    assert result.status == IntentStatus.REQUIRES_CAPTURE
    assert result.amount_capturable == TOTAL
    assert intent.id.startswith("pi_fake_")
    row = FakeGatewayObject.objects.get(pk=intent.id)
    assert row.kind == "payment_intent" and row.data["status"] == "requires_capture"


@pytest.mark.parametrize(
    ("number", "decline_code", "message"),
    [
        ("4000000000000002", "generic_decline", "Your card was declined. Try another card, or contact your bank."),
        ("4000000000009995", "insufficient_funds", "Your card has insufficient funds. Try another card."),
    ],
)
def test_fake_declining_test_cards(fake_gateway, number, decline_code, message):
    intent = new_intent(fake_gateway)

    with pytest.raises(PaymentDeclined) as declined:
        fake_gateway.confirm_payment_intent(intent.id, card=card(number))

    assert declined.value.code == "card_declined"
    assert declined.value.decline_code == decline_code
    assert str(declined.value.user_message) == message
    assert fake_gateway.retrieve_payment_intent(intent.id).status == IntentStatus.REQUIRES_PAYMENT_METHOD


def test_fake_3155_requires_action_then_authentication_pass_authorises(fake_gateway):
    intent = new_intent(fake_gateway)

    challenged = fake_gateway.confirm_payment_intent(intent.id, card=card("4000002500003155"))
    assert challenged.status == IntentStatus.REQUIRES_ACTION

    passed = fake_gateway.confirm_payment_intent(intent.id, authentication="pass")
    assert passed.status == IntentStatus.REQUIRES_CAPTURE
    assert passed.amount_capturable == TOTAL


def test_fake_3155_authentication_fail_is_a_decline_the_customer_is_told(fake_gateway):
    intent = new_intent(fake_gateway)
    fake_gateway.confirm_payment_intent(intent.id, card=card("4000002500003155"))

    with pytest.raises(PaymentDeclined) as declined:
        fake_gateway.confirm_payment_intent(intent.id, authentication="fail")

    assert declined.value.code == "payment_intent_authentication_failure"
    assert "verify your card" in str(declined.value.user_message)
    assert fake_gateway.retrieve_payment_intent(intent.id).status == IntentStatus.REQUIRES_PAYMENT_METHOD


def test_fake_authentication_without_a_challenge_is_refused(fake_gateway):
    intent = new_intent(fake_gateway)

    with pytest.raises(InvalidPaymentRequest):
        fake_gateway.confirm_payment_intent(intent.id, authentication="pass")


@pytest.mark.parametrize(
    ("details", "code"),
    [
        (card("4242424242424241"), "incorrect_number"),
        (card("4242424242424242", exp_year=2020), "invalid_expiry_year"),
        (card("4242424242424242", exp_month=13), "invalid_expiry_month"),
        (card("4242424242424242", cvc="12"), "invalid_cvc"),
        (card("4000000000000069"), "expired_card"),
        (card("4000000000000127"), "incorrect_cvc"),
    ],
)
def test_fake_refuses_bad_card_details_like_stripe(fake_gateway, details, code):
    intent = new_intent(fake_gateway)

    with pytest.raises(PaymentDeclined) as declined:
        fake_gateway.confirm_payment_intent(intent.id, card=details)

    assert declined.value.code == code
    assert declined.value.user_message


def test_fake_declines_a_real_card_number_and_keeps_nothing_of_it_but_the_last_four(fake_gateway):
    real_looking = "4111111111111111"
    intent = new_intent(fake_gateway)

    with pytest.raises(PaymentDeclined) as declined:
        fake_gateway.confirm_payment_intent(intent.id, card=card(real_looking))

    assert declined.value.decline_code == "test_mode_live_card"
    stored = json.dumps(list(FakeGatewayObject.objects.values_list("data", flat=True)))
    assert real_looking not in stored and "1111" in stored
    assert real_looking not in repr(card(real_looking))


def test_fake_saves_a_card_number_for_off_session_use(fake_gateway):
    customer = fake_gateway.create_customer(email="a@example.com", name="A", idempotency_key=key("cus"))
    setup = fake_gateway.create_setup_intent(customer_id=customer.id, idempotency_key=key("seti"))

    assert fake_gateway.confirm_setup_intent(setup.id, card=card("4000002500003155")).status == "requires_action"
    saved = fake_gateway.confirm_setup_intent(setup.id, authentication="pass")

    charge = fake_gateway.charge_off_session(
        customer_id=customer.id,
        payment_method_id=saved.payment_method_id,
        amount=Decimal("99.99"),
        currency="INR",
        capture=True,
        idempotency_key=key("charge"),
    )
    assert charge.amount_received == Decimal("99.99")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_fake_concurrent_calls_with_one_key_act_once(settings):
    settings.PAYMENT_GATEWAY = "fake"
    gateway = get_gateway()
    create_key = key("pi")
    barrier = threading.Barrier(6)
    results, errors = [], []

    def create():
        try:
            barrier.wait()
            results.append(
                gateway.create_payment_intent(
                    amount=TOTAL, currency="INR", customer_id=None, metadata={}, idempotency_key=create_key
                ).id
            )
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=create) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(set(results)) == 1
    assert FakeGatewayObject.objects.filter(kind="payment_intent").count() == 1


# --- the stripe adapter only: the real SDK over HTTP ----------------------------------------------


@pytest.fixture
def stripe_gateway(fake_stripe):
    return get_gateway()


def test_stripe_gateway_sends_our_idempotency_key_and_stripes_form_encoding(fake_stripe, stripe_gateway):
    assert isinstance(stripe_gateway, StripeGateway)
    customer = stripe_gateway.create_customer(email="a@example.com", name="A", idempotency_key="customer-7")

    stripe_gateway.create_payment_intent(
        amount=TOTAL, currency="INR", customer_id=customer.id, metadata={"booking": "BK-7"}, idempotency_key="attempt-7"
    )

    sent = fake_stripe.posts("/v1/payment_intents")[-1]
    assert sent.headers["Idempotency-Key"] == "attempt-7"
    assert sent.headers["Authorization"] == f"Bearer {fake_stripe.api_key}"
    assert sent.params["amount"] == "145642"
    assert sent.params["metadata"] == {"booking": "BK-7"}
    assert sent.params["payment_method_types"] == ["card"]
    assert sent.params["capture_method"] == "manual"
    assert sent.params["setup_future_usage"] == "off_session"


def test_stripe_card_declined_is_a_payment_declined_with_the_decline_code(fake_stripe, stripe_gateway):
    intent = new_intent(stripe_gateway)

    with pytest.raises(PaymentDeclined) as declined:
        stripe_gateway.confirm_payment_intent(intent.id, payment_method_id="pm_card_chargeDeclinedInsufficientFunds")

    assert declined.value.http_status == 402
    assert declined.value.code == "card_declined"
    assert declined.value.decline_code == "insufficient_funds"
    assert declined.value.request_id.startswith("req_")
    assert not declined.value.retryable


def test_stripe_a_single_500_is_retried_by_the_sdk_with_the_same_key(fake_stripe, stripe_gateway):
    fake_stripe.fail_next(500)

    intent = new_intent(stripe_gateway)

    attempts = fake_stripe.posts("/v1/payment_intents")
    assert [request.status for request in attempts] == [500, 200]
    assert attempts[0].headers["Idempotency-Key"] == attempts[1].headers["Idempotency-Key"]
    assert len(fake_stripe.objects("payment_intent")) == 1
    assert stripe_gateway.retrieve_payment_intent(intent.id).amount == TOTAL


@pytest.mark.parametrize("status", [500, 503, 429])
def test_stripe_outage_and_rate_limit_are_gateway_unavailable(fake_stripe, settings, status):
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    gateway = get_gateway()
    fake_stripe.fail_next(status)

    with pytest.raises(GatewayUnavailable) as error:
        new_intent(gateway)

    assert error.value.retryable
    assert error.value.http_status == status
    assert fake_stripe.objects("payment_intent") == []


def test_stripe_timeout_is_gateway_unavailable_and_the_retry_with_the_same_key_finds_the_first(fake_stripe, settings):
    settings.STRIPE_TIMEOUT_SECONDS = 0.5
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    gateway = get_gateway()
    customer = gateway.create_customer(email="a@example.com", name="A", idempotency_key=key("cus"))
    create_key = key("pi")
    kwargs = {"amount": TOTAL, "currency": "INR", "customer_id": customer.id, "metadata": {}}
    fake_stripe.delay_next(1.5)

    with pytest.raises(GatewayUnavailable) as error:
        gateway.create_payment_intent(idempotency_key=create_key, **kwargs)

    assert error.value.http_status is None
    # Stripe carried the request out; only the answer was lost. Our retry with the key finds it.
    fake_stripe.wait_idle()
    intent = gateway.create_payment_intent(idempotency_key=create_key, **kwargs)
    assert [pi["id"] for pi in fake_stripe.objects("payment_intent")] == [intent.id]


def test_stripe_unreachable_is_gateway_unavailable(settings, fake_stripe):
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    fake_stripe.stop()

    with pytest.raises(GatewayUnavailable):
        get_gateway().retrieve_payment_intent("pi_123")


def test_stripe_a_wrong_api_key_is_a_fault_for_ops_not_a_customer_error(settings, fake_stripe):
    settings.STRIPE_SECRET_KEY = "sk_test_revoked"

    with pytest.raises(GatewayUnavailable) as error:
        get_gateway().retrieve_payment_intent("pi_123")

    assert error.value.http_status == 401


def test_stripe_gateway_never_takes_card_numbers_or_3d_secure_results(stripe_gateway):
    intent = new_intent(stripe_gateway)

    with pytest.raises(InvalidPaymentRequest):
        stripe_gateway.confirm_payment_intent(intent.id, card=card("4242424242424242"))
    with pytest.raises(InvalidPaymentRequest):
        stripe_gateway.confirm_payment_intent(intent.id, authentication="pass")


def test_stripe_gateway_needs_a_secret_key(settings):
    settings.PAYMENT_GATEWAY = "stripe"
    settings.STRIPE_SECRET_KEY = ""

    with pytest.raises(ImproperlyConfigured):
        get_gateway()


# --- production settings --------------------------------------------------------------------------


def _production(code: str, **extra):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "marketplace.settings.production",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "homeserve.example",
        "DATABASE_URL": "postgres://homeserve@db.internal:5432/homeserve",
        "REDIS_URL": "redis://cache.internal:6379/0",
        **extra,
    }
    for name in ("STRIPE_SECRET_KEY", "STRIPE_PUBLISHABLE_KEY", "STRIPE_WEBHOOK_SECRET", "PAYMENT_GATEWAY"):
        if name not in extra:
            env.pop(name, None)
    script = f"import django; django.setup(); from django.conf import settings as s; print({code})"
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=django_settings.BASE_DIR,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_production_with_stripe_needs_its_keys_and_always_talks_to_stripe():
    missing = _production("s.PAYMENT_GATEWAY", PAYMENT_GATEWAY="stripe")
    assert missing.returncode != 0
    assert "STRIPE_SECRET_KEY" in missing.stderr

    configured = _production(
        "s.STRIPE_API_BASE, s.STRIPE_WEBHOOK_SECRET",
        PAYMENT_GATEWAY="stripe",
        STRIPE_SECRET_KEY="sk_live_x",
        STRIPE_PUBLISHABLE_KEY="pk_live_x",
        STRIPE_WEBHOOK_SECRET="whsec_live",
        STRIPE_API_BASE="http://127.0.0.1:9",
    )
    assert configured.returncode == 0, configured.stderr
    assert configured.stdout.strip() == "https://api.stripe.com whsec_live"


def test_production_without_stripe_never_uses_the_embedded_webhook_secret():
    result = _production("repr(s.STRIPE_WEBHOOK_SECRET), s.PAYMENT_GATEWAY", PAYMENT_GATEWAY="fake")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "'' fake"


def test_production_refuses_to_start_without_an_explicit_gateway():
    result = _production("s.PAYMENT_GATEWAY")
    assert result.returncode != 0
    assert "PAYMENT_GATEWAY" in result.stderr
