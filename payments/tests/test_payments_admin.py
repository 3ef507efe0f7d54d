"""The payments admin (payments/admin.py): who sees and does what (ARCHITECTURE §3), object pages
that never save, ops actions that call the payment services and show refusals as messages or
form errors, and changelists whose query count does not grow with their rows."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.apps import apps
from django.contrib.admin import helpers
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from bookings.services.transitions import booking_cancel
from core.models import AuditLog, Role
from core.tests.test_admin import (
    LOGIN_URL,
    admin_url,
    choose_action,
    confirm_action,
    logged_in,
    make_plain_superuser,
    make_user,
    messages_of,
)
from payments.ledger import BANK, GATEWAY_CLEARING, vendor_account, vendor_balance
from payments.models import (
    AttemptStatus,
    GatewayCustomer,
    LedgerKind,
    LedgerTransaction,
    OperationState,
    PaymentAttempt,
    PaymentOperation,
    Payout,
    PayoutStatus,
    ReconciliationIssue,
    WebhookEvent,
)
from payments.operations import booking_capture_payment, operation_run
from payments.payouts import payouts_run
from payments.reconciliation import payments_reconcile
from payments.tests.test_ledger import make_booking
from payments.tests.test_payouts import captured, vendor_with_account
from payments.tests.test_reconciliation import authorised, bank_releases_the_hold

D = Decimal
pytestmark = pytest.mark.django_db

MODELS = (
    "payments.paymentattempt",
    "payments.paymentoperation",
    "payments.payout",
    "payments.earning",
    "payments.ledgertransaction",
    "payments.webhookevent",
    "payments.reconciliationissue",
    "payments.gatewaycustomer",
)
STAFF = (Role.ONBOARD_MANAGER, Role.OPS_MANAGER, Role.SUPER_ADMIN)
OPS_CHANGES = {"paymentattempt", "paymentoperation", "payout", "reconciliationissue"}
NOT_FOR_OPS = {"idempotencyrecord", "fakegatewayobject"}
LEDGER = {"ledgertransaction", "ledgerline"}


@pytest.fixture
def ops():
    return make_user(Role.OPS_MANAGER, "ops")


@pytest.fixture
def t0():
    return timezone.now()


def one_of_each(t0, n, ops, start=0):
    """``n`` rows of every payments model shown in the admin: captured card payments with their
    ledger entries and earnings, capture operations, webhook events, gateway customers,
    reconciliation issues, and the payouts of a run after the hold."""
    for index in range(start, start + n):
        vendor = vendor_with_account(f"acct_admin_{index}")
        booking, attempt, _earning = captured(vendor, at=t0)
        booking_capture_payment(booking=booking, actor=ops)
        WebhookEvent.objects.create(gateway="fake", event_id=f"evt_admin_{index}", type="charge.refunded", payload={})
        GatewayCustomer.objects.create(user=booking.customer, gateway="fake", customer_id=f"cus_admin_{index}")
        ReconciliationIssue.objects.create(
            attempt=attempt, local_state="captured, captured 1180.00 INR", gateway_state="requires_capture"
        )
    payouts_run(now=t0 + timedelta(days=2))


# --- staff groups --------------------------------------------------------------------------------


def group_permissions(name):
    return set(
        Group.objects.get(name=name)
        .permissions.filter(content_type__app_label="payments")
        .values_list("codename", flat=True)
    )


def test_the_staff_groups_cover_the_payments_models():
    models = {model._meta.model_name for model in apps.get_app_config("payments").get_models()}

    assert group_permissions("onboard_manager") == set()
    assert group_permissions("ops_manager") == {f"view_{m}" for m in models - NOT_FOR_OPS} | {
        f"change_{m}" for m in OPS_CHANGES
    }
    assert group_permissions("super_admin") == {
        f"{action}_{m}" for m in models for action in ("add", "change", "delete", "view") if m not in LEDGER
    } | {f"view_{m}" for m in LEDGER}


# --- who opens what ------------------------------------------------------------------------------


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("role", STAFF)
def test_payments_changelists_follow_the_role(role, model):
    client = logged_in(make_user(role, "staffer"))

    response = client.get(admin_url(model))

    assert response.status_code == (403 if role == Role.ONBOARD_MANAGER else 200)


@pytest.mark.parametrize("role", [Role.CUSTOMER, Role.VENDOR])
def test_customers_and_vendors_cannot_enter_the_payments_admin(role):
    client = logged_in(make_user(role, "outsider"))

    for model in MODELS:
        response = client.get(admin_url(model))
        assert response.status_code == 302
        assert response["Location"].startswith(f"{LOGIN_URL}?next=")


def test_the_admin_index_shows_ops_the_payments_models():
    response = logged_in(make_user(Role.OPS_MANAGER, "ops")).get(reverse("admin:app_list", args=["payments"]))

    listed = {
        f"payments.{model['object_name'].lower()}" for app in response.context["app_list"] for model in app["models"]
    }
    assert listed == set(MODELS)


@pytest.mark.parametrize("who", ["ops", "super_admin", "plain_superuser"])
def test_nobody_adds_changes_or_deletes_payments_rows(who, t0):
    ops_user = make_user(Role.OPS_MANAGER, "opsdata")
    one_of_each(t0, 1, ops_user)
    user = {
        "ops": lambda: ops_user,
        "super_admin": lambda: make_user(Role.SUPER_ADMIN, "root"),
        "plain_superuser": make_plain_superuser,
    }[who]()
    client = logged_in(user)
    rows = {
        "payments.paymentattempt": PaymentAttempt.objects.first(),
        "payments.paymentoperation": PaymentOperation.objects.first(),
        "payments.payout": Payout.objects.first(),
        "payments.earning": apps.get_model("payments", "Earning").objects.first(),
        "payments.ledgertransaction": LedgerTransaction.objects.first(),
        "payments.webhookevent": WebhookEvent.objects.first(),
        "payments.reconciliationissue": ReconciliationIssue.objects.first(),
        "payments.gatewaycustomer": GatewayCustomer.objects.first(),
    }
    before = {model: type(obj).objects.count() for model, obj in rows.items()}

    for model, obj in rows.items():
        assert client.get(admin_url(model, "add")).status_code == 403, model
        assert client.post(admin_url(model, "add"), {}).status_code == 403, model
        page = client.get(admin_url(model, "change", obj.pk))
        assert page.status_code == 200, model
        assert 'name="_save"' not in page.content.decode(), model
        assert client.post(admin_url(model, "change", obj.pk), {}).status_code == 403, model
        assert client.post(admin_url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403, model
        changelist = client.get(admin_url(model))
        assert "delete_selected" not in changelist.content.decode(), model
        client.post(
            admin_url(model), {"action": "delete_selected", helpers.ACTION_CHECKBOX_NAME: [obj.pk], "post": "yes"}
        )

    assert {model: type(obj).objects.count() for model, obj in rows.items()} == before


def test_a_ledger_transaction_shows_its_lines_and_offers_nothing(t0):
    one_of_each(t0, 1, make_user(Role.OPS_MANAGER, "opsdata"))
    posted = LedgerTransaction.objects.get(kind=LedgerKind.CAPTURE)
    client = logged_in(make_plain_superuser())

    page = client.get(admin_url("payments.ledgertransaction", "change", posted.pk))

    (inline,) = page.context["inline_admin_formsets"]
    assert len(inline.formset.forms) == posted.lines.count() == 4
    assert not (inline.has_add_permission or inline.has_change_permission or inline.has_delete_permission)
    assert "1180.00" in page.content.decode()
    assert page.context["has_add_permission"] is False
    assert page.context["has_delete_permission"] is False


# --- query budgets -------------------------------------------------------------------------------


@pytest.mark.parametrize("model", MODELS)
def test_changelists_cost_the_same_queries_for_2_and_4_rows_of_each(model, t0):
    data_ops = make_user(Role.OPS_MANAGER, "opsdata")
    client = logged_in(make_user(Role.OPS_MANAGER, "viewer"))

    def queries():
        with CaptureQueriesContext(connection) as seen:
            response = client.get(admin_url(model))
        assert response.status_code == 200
        return len(response.context["cl"].result_list), len(seen)

    one_of_each(t0, 2, data_ops)
    rows_before, queries_before = queries()
    one_of_each(t0, 2, data_ops, start=2)
    rows_after, queries_after = queries()

    assert rows_after > rows_before >= 2
    assert queries_after == queries_before


# --- manual payments -----------------------------------------------------------------------------


@pytest.fixture
def fee_owed(ops, django_capture_on_commit_callbacks):
    """A cash booking of 1180.00 cancelled by ops keeping a 590.00 fee; its cash attempt."""
    booking = make_booking("1000.00", payment_method="cash")
    with django_capture_on_commit_callbacks(execute=True):
        booking_cancel(booking=booking, user=ops, reason="Customer not at home", refund_amount=D("590.00"))
    attempt = PaymentAttempt.objects.get(booking=booking)
    assert attempt.status == AttemptStatus.CANCELLED
    return attempt


def manual_url(attempt):
    return reverse("admin:payments_paymentattempt_manual_payment", args=[attempt.pk])


@pytest.mark.parametrize(
    ("role", "expected"), [(Role.OPS_MANAGER, 200), (Role.SUPER_ADMIN, 200), (Role.ONBOARD_MANAGER, 403)]
)
def test_the_manual_payment_page_is_for_ops(role, expected, fee_owed):
    client = logged_in(make_user(role, "staffer"))

    assert client.get(manual_url(fee_owed)).status_code == expected
    if expected == 200:
        page = client.get(admin_url("payments.paymentattempt", "change", fee_owed.pk))
        assert manual_url(fee_owed) in page.content.decode()


def test_ops_record_a_manual_payment_from_the_attempt(ops, fee_owed):
    client = logged_in(ops)
    page = client.get(manual_url(fee_owed))
    assert page.context["owed"] == D("590.00")
    assert page.context["form"].initial["amount"] == D("590.00")

    response = client.post(manual_url(fee_owed), {"amount": "590.00", "method": "upi", "reference": "UPI-881"})

    assert response.status_code == 302
    assert response["Location"] == admin_url("payments.paymentattempt", "change", fee_owed.pk)
    posted = LedgerTransaction.objects.get(kind=LedgerKind.MANUAL_PAYMENT)
    assert (posted.reference, posted.created_by, posted.booking_id) == ("UPI-881", ops, fee_owed.booking_id)
    assert posted.lines.get(account=BANK).amount == D("590.00")
    assert messages_of(response)[-1][0] == "success"
    assert AuditLog.objects.filter(action="payment.manual_recorded", actor=ops).count() == 1


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"amount": "590.00", "method": "upi", "reference": ""}, "reference"),
        ({"amount": "", "method": "upi", "reference": "U-1"}, "amount"),
        ({"amount": "590.00", "method": "paypal", "reference": "U-1"}, "method"),
        ({"amount": "590.01", "method": "upi", "reference": "U-1"}, "amount"),  # more than is owed
        ({"amount": "-1", "method": "upi", "reference": "U-1"}, "amount"),
    ],
)
def test_the_manual_payment_form_shows_errors_not_a_500(ops, fee_owed, data, field):
    response = logged_in(ops).post(manual_url(fee_owed), data)

    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert not LedgerTransaction.objects.filter(kind=LedgerKind.MANUAL_PAYMENT).exists()


def test_a_refused_manual_payment_is_a_form_error(ops):
    # the vendor is still to collect this booking's cash: recording it now would collect it twice
    attempt = PaymentAttempt.objects.get(booking=make_booking("1000.00", payment_method="cash"))

    response = logged_in(ops).post(manual_url(attempt), {"amount": "100.00", "method": "cash", "reference": "R-1"})

    assert response.status_code == 200
    assert "twice" in str(response.context["form"].non_field_errors())
    assert not LedgerTransaction.objects.filter(kind=LedgerKind.MANUAL_PAYMENT).exists()


# --- payment operations --------------------------------------------------------------------------


@pytest.fixture
def failed_operation(ops):
    """A capture of a card booking that was never paid: refused at once and flagged for ops."""
    booking = make_booking("1000.00", payment_method="card", days=2)
    op = booking_capture_payment(booking=booking, actor=ops, reason="signed on paper")
    assert operation_run(op.pk) == OperationState.FAILED
    return op


def test_ops_retry_failed_operations(ops, failed_operation):
    other = make_booking("500.00", payment_method="card", days=2)
    pending = booking_capture_payment(booking=other, actor=ops)
    client = logged_in(ops)

    response = choose_action(
        client, "payments.paymentoperation", "retry_failed_operations", [failed_operation.pk, pending.pk]
    )

    assert response.status_code == 302
    failed_operation.refresh_from_db()
    assert (failed_operation.state, failed_operation.tries) == (OperationState.PENDING, 0)
    assert AuditLog.objects.filter(
        action="payment_operation.retry", actor=ops, object_id=str(failed_operation.pk)
    ).exists()
    texts = [text for _level, text in messages_of(response)]
    assert any("sent again: now pending" in text for text in texts)
    assert any("1 operation(s) skipped" in text for text in texts)


def test_the_retry_needs_the_change_permission(failed_operation):
    ops_group = Group.objects.get(name="ops_manager")
    ops_group.permissions.remove(Permission.objects.get(codename="change_paymentoperation"))
    client = logged_in(make_user(Role.OPS_MANAGER, "viewer"))

    changelist = client.get(admin_url("payments.paymentoperation"))
    assert changelist.status_code == 200
    assert "retry_failed_operations" not in changelist.content.decode()
    choose_action(client, "payments.paymentoperation", "retry_failed_operations", [failed_operation.pk])

    failed_operation.refresh_from_db()
    assert failed_operation.state == OperationState.FAILED


def test_onboard_managers_cannot_run_payments_actions(failed_operation):
    client = logged_in(make_user(Role.ONBOARD_MANAGER, "onboarder"))

    response = choose_action(client, "payments.paymentoperation", "retry_failed_operations", [failed_operation.pk])

    assert response.status_code == 403
    failed_operation.refresh_from_db()
    assert failed_operation.state == OperationState.FAILED


# --- payouts -------------------------------------------------------------------------------------


@pytest.fixture
def failed_payout(t0):
    """A payout the gateway refused (the vendor's account is not a connected account)."""
    vendor = vendor_with_account("bank-account-42")
    captured(vendor, at=t0)
    (payout,) = payouts_run(now=t0 + timedelta(days=1))
    assert payout.status == PayoutStatus.FAILED
    return payout


def payout_postings(payout):
    """The ledger postings of ``payout``'s rounds (its number, -R1 …, -BANK) as sorted (reference,
    kind, lines), after ``ledger_check`` passed on the whole ledger."""
    call_command("ledger_check", verbosity=0)
    return sorted(
        (entry.reference, entry.kind, sorted((line.account, line.amount) for line in entry.lines.all()))
        for entry in LedgerTransaction.objects.filter(reference__startswith=payout.number).prefetch_related("lines")
    )


def test_ops_mark_a_failed_payout_paid_by_bank_transfer(ops, failed_payout):
    client = logged_in(ops)
    action = "mark_paid_by_bank_transfer"

    page = choose_action(client, "payments.payout", action, [failed_payout.pk])
    assert page.status_code == 200
    assert "bank_reference" in page.context["form"].fields
    assert failed_payout.number in page.content.decode()

    empty = confirm_action(client, "payments.payout", action, [failed_payout.pk], bank_reference="   ")
    assert empty.status_code == 200
    assert "bank_reference" in empty.context["form"].errors
    failed_payout.refresh_from_db()
    assert failed_payout.status == PayoutStatus.FAILED

    done = confirm_action(client, "payments.payout", action, [failed_payout.pk], bank_reference="UTR-2024-77")

    assert done.status_code == 302
    failed_payout.refresh_from_db()
    assert (failed_payout.status, failed_payout.bank_reference) == (PayoutStatus.PAID, "UTR-2024-77")
    assert AuditLog.objects.filter(action="payout.marked_paid", actor=ops).exists()
    admin_entry = AuditLog.objects.get(action="admin.action", actor=ops, object_id=str(failed_payout.pk))
    assert (admin_entry.new_values["action"], admin_entry.new_values["bank_reference"]) == (action, "UTR-2024-77")
    assert messages_of(done)[-1][0] == "success"
    # the ledger: the transfer posted and reversed when it failed, then paid from the bank
    vendor, amount, number = failed_payout.vendor, D("850.00"), failed_payout.number
    assert failed_payout.amount == amount
    owed = vendor_account(vendor)
    assert payout_postings(failed_payout) == [
        (number, LedgerKind.PAYOUT, sorted([(owed, amount), (GATEWAY_CLEARING, -amount)])),
        (number, LedgerKind.PAYOUT_REVERSAL, sorted([(owed, -amount), (GATEWAY_CLEARING, amount)])),
        (f"{number}-BANK", LedgerKind.PAYOUT, sorted([(owed, amount), (BANK, -amount)])),
    ]
    assert vendor_balance(vendor) == D("0.00")

    # a paid payout with another reference: refused, as a message
    again = confirm_action(client, "payments.payout", action, [failed_payout.pk], bank_reference="UTR-OTHER")
    assert again.status_code == 302
    assert messages_of(again)[-1][0] == "error"
    failed_payout.refresh_from_db()
    assert failed_payout.bank_reference == "UTR-2024-77"


def test_marking_paid_takes_one_payout_at_a_time(ops, failed_payout, t0):
    other = vendor_with_account("another-bad-account")
    captured(other, at=t0)
    (second,) = payouts_run(now=t0 + timedelta(days=1))

    response = choose_action(
        logged_in(ops), "payments.payout", "mark_paid_by_bank_transfer", [failed_payout.pk, second.pk]
    )

    assert response.status_code == 302
    assert messages_of(response)[-1][0] == "error"
    assert set(Payout.objects.values_list("status", flat=True)) == {PayoutStatus.FAILED}


def test_ops_retry_a_failed_payout_once_the_vendor_fixed_the_account(ops, failed_payout):
    vendor = failed_payout.vendor
    vendor.payout_account_id = "acct_fixed"
    vendor.save()

    response = choose_action(logged_in(ops), "payments.payout", "retry_failed_payouts", [failed_payout.pk])

    assert response.status_code == 302
    failed_payout.refresh_from_db()
    assert failed_payout.status == PayoutStatus.PAID
    assert failed_payout.destination_account == "acct_fixed"
    assert any("now paid" in text for _level, text in messages_of(response))
    # audited: the action, and the payout's new round
    admin_entry = AuditLog.objects.get(action="admin.action", actor=ops, object_id=str(failed_payout.pk))
    assert admin_entry.new_values["action"] == "retry_failed_payouts"
    number, amount, owed = failed_payout.number, D("850.00"), vendor_account(vendor)
    retry = AuditLog.objects.get(action="payout.retry", actor=ops, object_id=str(failed_payout.pk))
    assert (retry.old_values["status"], retry.new_values["reference"]) == (PayoutStatus.FAILED, f"{number}-R1")
    # the ledger: the first transfer posted and reversed, the new round posted once and not reversed
    assert payout_postings(failed_payout) == [
        (number, LedgerKind.PAYOUT, sorted([(owed, amount), (GATEWAY_CLEARING, -amount)])),
        (number, LedgerKind.PAYOUT_REVERSAL, sorted([(owed, -amount), (GATEWAY_CLEARING, amount)])),
        (f"{number}-R1", LedgerKind.PAYOUT, sorted([(owed, amount), (GATEWAY_CLEARING, -amount)])),
    ]
    assert vendor_balance(vendor) == D("0.00")


# --- reconciliation issues -----------------------------------------------------------------------


@pytest.fixture
def open_issue():
    attempt = authorised()
    bank_releases_the_hold(attempt)
    (issue,) = payments_reconcile()
    return issue


def test_ops_resolve_issues_with_a_note(ops, open_issue):
    client = logged_in(ops)
    model, action = "payments.reconciliationissue", "resolve_issues"
    assert client.get(admin_url(model), {"status": "open"}).context["cl"].result_count == 1

    page = choose_action(client, model, action, [open_issue.pk])
    assert page.status_code == 200 and "note" in page.context["form"].fields
    empty = confirm_action(client, model, action, [open_issue.pk], note="")
    assert empty.status_code == 200 and "note" in empty.context["form"].errors

    done = confirm_action(client, model, action, [open_issue.pk], note="Customer will pay in cash.")

    assert done.status_code == 302
    open_issue.refresh_from_db()
    assert (open_issue.resolved_by, open_issue.note) == (ops, "Customer will pay in cash.")
    assert client.get(admin_url(model), {"status": "open"}).context["cl"].result_count == 0
    assert client.get(admin_url(model), {"status": "resolved"}).context["cl"].result_count == 1
    # resolving again: a message, not an error page
    again = confirm_action(client, model, action, [open_issue.pk], note="twice")
    assert again.status_code == 302 and messages_of(again)[-1][0] == "warning"


def test_ops_apply_the_gateways_state_from_the_admin(ops, open_issue):
    response = choose_action(logged_in(ops), "payments.reconciliationissue", "apply_gateway_state", [open_issue.pk])

    assert response.status_code == 302
    open_issue.refresh_from_db()
    assert open_issue.resolved_by == ops
    assert PaymentAttempt.objects.get(pk=open_issue.attempt_id).status == AttemptStatus.CANCELLED
    assert messages_of(response)[-1][0] == "success"
