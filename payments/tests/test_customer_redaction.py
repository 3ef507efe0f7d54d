"""Forgetting a deleted customer at the card gateway (issue 6; payments/customers.py,
``PaymentGateway.redact_customer``): the gateway's customer object keeps its id but loses the
name, e-mail and phone — on both adapters (the stripe one through the real SDK against the local
fake of Stripe's API) — after the deletion commits, retried while the gateway is down and flagged
for ops when it cannot be done."""

import secrets
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from core.models import AuditLog, Notification
from core.tests.factories import CustomerFactory, OpsFactory
from payments.checkout import _gateway_customer
from payments.customers import MAX_TRIES, gateway_customer_redact, gateway_customers_redact_due
from payments.customers import gateway_customers_redact_request as redact_request
from payments.gateways import get_gateway
from payments.gateways.fake import FakeGateway
from payments.models import FakeGatewayObject, GatewayCustomer, RedactionState
from payments.tests.test_gateways import Backend

pytestmark = pytest.mark.django_db


@pytest.fixture(params=["fake", "stripe"])
def backend(request, db, settings):
    if request.param == "fake":
        settings.PAYMENT_GATEWAY = "fake"
        return Backend("fake", get_gateway())
    fake_stripe = request.getfixturevalue("fake_stripe")
    return Backend("stripe", get_gateway(), fake_stripe)


def create(gateway, create_key):
    return gateway.create_customer(
        email="asha@example.com", name="Asha Rao", idempotency_key=create_key, metadata={"user_id": "u-1"}
    )


# --- the adapters ----------------------------------------------------------------------------------


def test_redacting_blanks_the_name_email_and_phone_and_keeps_the_customer(backend):
    gateway = backend.gateway
    create_key = f"customer-{secrets.token_hex(6)}"
    customer = create(gateway, create_key)
    assert backend.stored(customer.id)["email"] == "asha@example.com"

    redacted = gateway.redact_customer(customer.id, idempotency_key="redact-1")

    assert (redacted.id, redacted.name, redacted.email) == (customer.id, "", "")
    stored = backend.stored(customer.id)
    assert (stored["name"], stored["email"], stored.get("phone"), stored.get("description")) == (None,) * 4
    assert stored["metadata"] == {"user_id": "u-1"}  # our pseudonymous id: refunds still find it
    # the replay of the create call does not hand the name and e-mail back either
    replayed = create(gateway, create_key)
    assert (replayed.id, replayed.name, replayed.email) == (customer.id, "", "")
    # a retried redaction with its key answers the same
    assert gateway.redact_customer(customer.id, idempotency_key="redact-1") == redacted


def test_the_stripe_adapter_posts_the_empty_fields_to_the_customer(fake_stripe):
    gateway = get_gateway()
    customer = create(gateway, "customer-x")

    gateway.redact_customer(customer.id, idempotency_key="redact-x")

    (update,) = fake_stripe.posts(f"/v1/customers/{customer.id}")
    assert update.params == {"name": "", "email": "", "phone": "", "description": ""}
    assert update.headers["Idempotency-Key"] == "redact-x"


def test_a_customer_the_gateway_no_longer_has_counts_as_redacted(backend):
    gone = backend.gateway.redact_customer("cus_missing_1", idempotency_key="redact-gone")

    assert (gone.id, gone.name, gone.email) == ("cus_missing_1", "", "")


# --- after the deletion commits ----------------------------------------------------------------------


def test_the_redaction_runs_after_commit_and_is_audited(backend, django_capture_on_commit_callbacks):
    user = CustomerFactory(email="asha@example.com", first_name="Asha", last_name="Rao")
    customer_id = _gateway_customer(backend.gateway, user)
    assert backend.stored(customer_id)["name"] == "Asha Rao"

    with django_capture_on_commit_callbacks(execute=False) as callbacks, transaction.atomic():
        assert redact_request(user=user) == 1
    row = GatewayCustomer.objects.get(user=user)
    assert row.redaction_state == RedactionState.PENDING
    assert backend.stored(customer_id)["name"] == "Asha Rao"  # nothing sent before the commit
    for callback in callbacks:
        callback()

    row.refresh_from_db()
    assert (row.redaction_state, row.redaction_tries, row.customer_id) == (RedactionState.DONE, 1, customer_id)
    assert row.redacted_at is not None
    assert (backend.stored(customer_id)["name"], backend.stored(customer_id)["email"]) == (None, None)
    assert AuditLog.objects.filter(action="gateway_customer.redacted", object_id=str(row.pk)).exists()
    # a repeated request for a customer already redacted does nothing
    assert redact_request(user=user) == 0


def test_a_gateway_outage_is_retried_by_the_sweep(fake_stripe, settings, django_capture_on_commit_callbacks):
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    user = CustomerFactory(email="asha@example.com")
    customer_id = _gateway_customer(get_gateway(), user)
    fake_stripe.fail_next(503)
    now = timezone.now()

    with django_capture_on_commit_callbacks(execute=True):
        redact_request(user=user, now=now)

    row = GatewayCustomer.objects.get(user=user)
    assert (row.redaction_state, row.redaction_tries) == (RedactionState.PENDING, 1)
    assert "GatewayUnavailable" in row.redaction_error
    assert fake_stripe.store.get(customer_id)["email"] == "asha@example.com"
    # not yet due: the sweep leaves it
    assert gateway_customers_redact_due(now=now + timedelta(seconds=30)) == 0

    assert gateway_customers_redact_due(now=row.redaction_next_try_at) == 1

    row.refresh_from_db()
    assert (row.redaction_state, row.redaction_tries, row.redaction_error) == (RedactionState.DONE, 2, "")
    assert fake_stripe.store.get(customer_id)["email"] is None
    assert [r.status for r in fake_stripe.posts(f"/v1/customers/{customer_id}")] == [503, 200]


def test_when_the_retries_run_out_ops_are_told(fake_stripe, settings, django_capture_on_commit_callbacks):
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    ops = OpsFactory()
    user = CustomerFactory()
    _gateway_customer(get_gateway(), user)
    fake_stripe.fail_next(503, times=MAX_TRIES)
    with django_capture_on_commit_callbacks(execute=True):
        redact_request(user=user)
    row = GatewayCustomer.objects.get(user=user)

    for _ in range(MAX_TRIES - 1):
        assert gateway_customer_redact(row.pk, now=GatewayCustomer.objects.get(pk=row.pk).redaction_next_try_at)

    row.refresh_from_db()
    assert (row.redaction_state, row.redaction_tries) == (RedactionState.FAILED, MAX_TRIES)
    assert Notification.objects.filter(user=ops, kind="payment.customer_redaction_failed").exists()
    assert AuditLog.objects.filter(action="gateway_customer.redaction_failed", object_id=str(row.pk)).exists()
    assert gateway_customers_redact_due(now=timezone.now() + timedelta(days=1)) == 0


def test_a_customer_made_by_the_fake_gateway_is_redacted_even_after_switching_to_stripe(
    fake_stripe, django_capture_on_commit_callbacks
):
    user = CustomerFactory(email="asha@example.com")
    customer_id = _gateway_customer(FakeGateway(), user)
    assert GatewayCustomer.objects.get(user=user).gateway == "fake"

    with django_capture_on_commit_callbacks(execute=True):
        redact_request(user=user)

    assert GatewayCustomer.objects.get(user=user).redaction_state == RedactionState.DONE
    assert FakeGatewayObject.objects.get(pk=customer_id).data["email"] is None
    assert fake_stripe.posts("/v1/customers/") == []


def test_a_gateway_that_is_not_configured_is_flagged_for_ops(settings, django_capture_on_commit_callbacks):
    settings.PAYMENT_GATEWAY = "fake"
    ops = OpsFactory()
    user = CustomerFactory()
    GatewayCustomer.objects.create(user=user, gateway="stripe", customer_id="cus_elsewhere")

    with django_capture_on_commit_callbacks(execute=True):
        redact_request(user=user)

    row = GatewayCustomer.objects.get(user=user)
    assert row.redaction_state == RedactionState.FAILED and "not configured" in row.redaction_error
    assert Notification.objects.filter(user=ops, kind="payment.customer_redaction_failed").exists()


def test_deleting_an_account_redacts_the_stripe_customer(fake_stripe, client_for, django_capture_on_commit_callbacks):
    from core.tests.factories import PASSWORD

    user = CustomerFactory(email="asha@example.com", first_name="Asha", last_name="Rao")
    customer_id = _gateway_customer(get_gateway(), user)

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(user).delete("/api/users/me/", {"password": PASSWORD}, format="json")

    assert response.status_code == 204, response.content
    stored = fake_stripe.store.get(customer_id)
    assert (stored["name"], stored["email"]) == (None, None)
    assert GatewayCustomer.objects.get(user=user).redaction_state == RedactionState.DONE
