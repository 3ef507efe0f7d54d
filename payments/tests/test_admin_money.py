"""Money in the admin for ops (issue 8): refunding a payment, running the payout batch now, and the
CSV exports of payments and payouts (current filters, streamed, formula cells defused). Every
action goes through the admin client; payments, payouts, the ledger and the audit log are checked
afterwards."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command
from django.db import connections
from django.test import AsyncClient
from django.urls import reverse
from django.utils import timezone

from core.admin_export import csv_cell
from core.models import AuditLog, Notification, Role
from core.tests.test_admin import admin_url, choose_action, confirm_action, logged_in, make_user, messages_of
from payments.admin import PaymentAttemptAdmin
from payments.models import AttemptStatus, LedgerKind, LedgerTransaction, PaymentAttempt, Payout, PayoutStatus
from payments.operations import active_attempt
from payments.tests.test_payouts import captured, vendor_with_account
from signatures.services import signature_request, signature_sign
from signatures.tests.conftest import TOTAL, make_world

D = Decimal
pytestmark = pytest.mark.django_db
PAYMENTS, PAYOUTS = "payments.paymentattempt", "payments.payout"


@pytest.fixture
def ops():
    return make_user(Role.OPS_MANAGER, "opsdesk")


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


def ledger_ok():
    call_command("ledger_check", verbosity=0)
    return True


@pytest.fixture
def captured_card(settings, commit):
    """A card job signed with rating 5: 1180.00 captured through the fake gateway."""
    settings.PAYMENT_GATEWAY = "fake"
    world = make_world()
    booking = world.complete(method="card")
    with commit():
        request, _created = signature_request(booking=booking, user=world.vendor.user)
        signature_sign(request=request, user=world.customer, rating=5)
    attempt = active_attempt(booking)
    assert (attempt.status, attempt.amount_captured) == (AttemptStatus.CAPTURED, TOTAL)
    return attempt


# --- refunds -------------------------------------------------------------------------------------


def test_ops_refund_part_of_a_captured_payment(ops, captured_card, commit):
    client = logged_in(ops)
    page = choose_action(client, PAYMENTS, "refund_payment", [captured_card.pk])
    assert page.status_code == 200
    assert "1180.00" in page.content.decode()  # what can still be refunded

    with commit():
        done = confirm_action(
            client, PAYMENTS, "refund_payment", [captured_card.pk], amount="200.00", reason="Late arrival"
        )

    assert done.status_code == 302
    assert messages_of(done)[-1][0] == "success"
    captured_card.refresh_from_db()
    assert (captured_card.status, captured_card.amount_refunded) == (AttemptStatus.PARTIALLY_REFUNDED, D("200.00"))
    refund = LedgerTransaction.objects.get(attempt=captured_card, kind=LedgerKind.REFUND)
    assert sum(line.amount for line in refund.lines.all()) == 0
    assert ledger_ok()
    assert AuditLog.objects.filter(action="admin.action", actor=ops, new_values__action="refund_payment").exists()


def test_an_empty_amount_refunds_everything_left(ops, captured_card, commit):
    with commit():
        confirm_action(logged_in(ops), PAYMENTS, "refund_payment", [captured_card.pk], amount="", reason="Goodwill")

    captured_card.refresh_from_db()
    assert (captured_card.status, captured_card.amount_refunded) == (AttemptStatus.REFUNDED, TOTAL)
    assert ledger_ok()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"amount": "1180.01", "reason": "x"}, "amount"),  # more than was captured: the service says so
        ({"amount": "0", "reason": "x"}, "amount"),
        ({"amount": "ten", "reason": "x"}, "amount"),
        ({"amount": "10.00", "reason": ""}, "reason"),
    ],
)
def test_bad_refund_input_is_a_form_error(ops, captured_card, fields, field):
    response = confirm_action(logged_in(ops), PAYMENTS, "refund_payment", [captured_card.pk], **fields)

    assert response.status_code == 200
    assert field in response.context["form"].errors
    captured_card.refresh_from_db()
    assert captured_card.amount_refunded == 0


def test_refunding_a_payment_that_was_not_captured_is_a_message(ops, settings):
    settings.PAYMENT_GATEWAY = "fake"
    world = make_world()
    attempt = active_attempt(world.complete(method="card"))  # authorised, not captured

    done = confirm_action(logged_in(ops), PAYMENTS, "refund_payment", [attempt.pk], amount="", reason="x")

    assert done.status_code == 302
    assert messages_of(done)[-1][0] == "error"
    assert PaymentAttempt.objects.get(pk=attempt.pk).status == AttemptStatus.AUTHORIZED


def test_the_refund_needs_the_change_permission(captured_card):
    client = logged_in(make_user(Role.ONBOARD_MANAGER, "onboarder"))

    response = confirm_action(client, PAYMENTS, "refund_payment", [captured_card.pk], amount="", reason="x")

    assert response.status_code == 403
    assert PaymentAttempt.objects.get(pk=captured_card.pk).amount_refunded == 0


# --- running the payout batch --------------------------------------------------------------------


def test_ops_run_the_payout_batch_now(ops):
    earned_before_hold = timezone.now() - timedelta(days=2)
    paid_vendor = vendor_with_account("acct_admin_run")
    failing_vendor = vendor_with_account("bank-account-99")  # not a connected account: the transfer fails
    captured(paid_vendor, at=earned_before_hold)
    captured(failing_vendor, at=earned_before_hold)
    client = logged_in(ops)

    confirm_page = client.get(reverse("admin:payments_payout_run"))
    assert confirm_page.status_code == 200
    assert "24" in confirm_page.content.decode()  # the hold, in hours
    assert not Payout.objects.exists()  # a GET runs nothing
    assert reverse("admin:payments_payout_run") in client.get(admin_url(PAYOUTS)).content.decode()

    done = client.post(reverse("admin:payments_payout_run"))

    assert done.status_code == 302
    assert done["Location"] == admin_url(PAYOUTS)
    statuses = dict(Payout.objects.values_list("vendor_id", "status"))
    assert statuses == {paid_vendor.pk: PayoutStatus.PAID, failing_vendor.pk: PayoutStatus.FAILED}
    assert "1 paid, 0 pending, 1 failed" in messages_of(done)[-1][1]
    entry = AuditLog.objects.get(action="admin.payouts_run", actor=ops)
    assert sorted(entry.new_values["payouts"]) == sorted(Payout.objects.values_list("number", flat=True))
    assert Notification.objects.filter(user=paid_vendor.user, kind__startswith="payout").exists()
    assert ledger_ok()

    # again: nothing left to pay (the failed one waits for ops)
    again = client.post(reverse("admin:payments_payout_run"))
    assert "Nothing to pay out" in messages_of(again)[-1][1]
    assert Payout.objects.count() == 2


def test_only_ops_run_the_payout_batch():
    captured(vendor_with_account("acct_admin_x"), at=timezone.now() - timedelta(days=2))

    for role in (Role.ONBOARD_MANAGER,):
        client = logged_in(make_user(role, "staffer"))
        assert client.post(reverse("admin:payments_payout_run")).status_code == 403
        assert reverse("admin:payments_payout_run") not in client.get(admin_url(PAYOUTS)).content.decode()
    assert not Payout.objects.exists()


# --- CSV exports ---------------------------------------------------------------------------------


def csv_rows(response):
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith("attachment;")
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+91 98", "'+91 98"),
        ("-cmd|' /C calc'!A0", "'-cmd|' /C calc'!A0"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("Plain text", "Plain text"),
        (D("-12.50"), D("-12.50")),  # a number stays a number
        (3, 3),
        (None, ""),
        (True, "yes"),
    ],
)
def test_csv_cells_starting_like_a_formula_are_defused(value, cell):
    assert csv_cell(value) == cell


def test_the_payments_export_follows_the_changelist_filters(ops, captured_card, settings):
    world = make_world()
    other = active_attempt(world.complete(method="card"))  # authorised only
    client = logged_in(ops)

    header, *rows = csv_rows(client.get(reverse("admin:payments_paymentattempt_export"), {"status__exact": "captured"}))

    assert [row[header.index("payment")] for row in rows] == [str(captured_card.pk)]
    assert rows[0][header.index("captured")] == "1180.00"
    header, *rows = csv_rows(client.get(reverse("admin:payments_paymentattempt_export")))
    assert {row[header.index("payment")] for row in rows} == {str(captured_card.pk), str(other.pk)}
    assert AuditLog.objects.filter(action="admin.export", object_type="payments.paymentattempt").count() == 2


def test_the_payouts_export_defuses_a_vendor_name_that_is_a_formula(ops):
    vendor = vendor_with_account("acct_admin_csv", display_name="=cmd|'/C calc'!A0")
    captured(vendor, at=timezone.now() - timedelta(days=2))
    logged_in(ops).post(reverse("admin:payments_payout_run"))

    header, *rows = csv_rows(logged_in(ops).get(reverse("admin:payments_payout_export")))

    (row,) = rows
    assert row[header.index("vendor")] == "'=cmd|'/C calc'!A0"
    assert row[header.index("amount")] == "850.00"
    assert row[header.index("status")] == "paid"


def test_bad_export_filters_are_a_message_not_a_500(ops):
    response = logged_in(ops).get(reverse("admin:payments_payout_export"), {"no_such_field": "1"})

    assert response.status_code == 302
    assert messages_of(response)[-1][0] == "error"


@pytest.mark.django_db(transaction=True)
async def test_the_export_streams_under_asgi_in_chunks(settings, monkeypatch):
    """Under ASGI (the server the project runs) the CSV is an async stream, each chunk read in
    the ORM's thread."""
    settings.PAYMENT_GATEWAY = "fake"
    # a super admin: the staff groups are rows from a data migration, which a transactional test
    # that ran before this one may have flushed away
    ops = await sync_to_async(make_user)(Role.SUPER_ADMIN, "asyncroot")
    vendors = [await sync_to_async(vendor_with_account)(f"acct_async_{n}") for n in range(3)]
    for vendor in vendors:
        await sync_to_async(captured)(vendor, at=timezone.now())
    client = AsyncClient()
    await sync_to_async(client.force_login)(ops)

    monkeypatch.setattr(PaymentAttemptAdmin, "csv_chunk_size", 2)

    try:
        response = await client.get(reverse("admin:payments_paymentattempt_export"))
        assert response.status_code == 200
        assert response.is_async
        chunks = [chunk async for chunk in response.streaming_content]
        count = await PaymentAttempt.objects.acount()
    finally:
        # the ORM's thread keeps a connection of its own; the test database is dropped after
        await sync_to_async(connections.close_all)()

    rows = list(csv.reader(io.StringIO(b"".join(chunks).decode())))
    assert count == 6  # each booking's cash attempt and the card attempt that was captured
    assert len(rows) == 1 + count
    assert len(chunks) == 1 + 3  # the header, then chunks of two rows
