"""Ops settle signatures and disputes from the admin (issue 5: dispute resolution, manual capture,
a new signature request, hiding a review, erasing comments): each action calls its service, a
service's refusal is a message or a form error, and only staff with the change permission get
the actions."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command

from bookings.models import BookingStatus
from core.models import AuditLog, Notification, Role
from core.tests.test_admin import admin_url, choose_action, confirm_action, logged_in, make_user, messages_of
from payments.models import AttemptStatus, LedgerKind, LedgerTransaction
from payments.operations import active_attempt
from signatures.models import Review, Signature, SignatureRequest, SignatureRequestStatus
from signatures.services import signature_request, signature_requests_expire, signature_sign

D = Decimal
pytestmark = pytest.mark.django_db
BOOKINGS = "bookings.booking"
REVIEWS = "signatures.review"


@pytest.fixture
def ops():
    return make_user(Role.OPS_MANAGER, "opsdesk")


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


def booking_ledger(booking):
    """The booking's ledger postings as {kind: [(account, amount), …]} (lines sorted), after
    ``ledger_check`` passed on the whole ledger (every transaction balanced, every captured
    attempt posted for what it captured)."""
    call_command("ledger_check", verbosity=0)
    postings = {}
    for entry in LedgerTransaction.objects.filter(booking=booking).prefetch_related("lines"):
        lines = sorted((line.account, line.amount) for line in entry.lines.all())
        assert sum(amount for _account, amount in lines) == 0, entry.kind
        postings.setdefault(entry.kind, []).extend(lines)
    return postings


def capture_lines(booking, *, total, vendor, commission, tax):
    return {
        LedgerKind.CAPTURE: sorted(
            [
                ("gateway_clearing", total),
                (f"vendor_payable:{booking.vendor_id}", -vendor),
                ("platform_revenue", -commission),
                ("tax_payable", -tax),
            ]
        )
    }


def admin_action_audited(ops, booking, action, **posted):
    entry = AuditLog.objects.get(action="admin.action", actor=ops, object_id=str(booking.pk))
    assert entry.new_values["action"] == action
    for name, value in posted.items():
        assert entry.new_values[name] == value, name
    return entry


@pytest.fixture
def disputed(world, commit):
    """A card booking whose customer signed with a rating of 1: disputed, the card only held."""
    booking = world.complete(method="card")
    with commit():
        request, _created = signature_request(booking=booking, user=world.vendor.user)
        signature_sign(request=request, user=world.customer, rating=1, comments="Water everywhere.")
    booking.refresh_from_db()
    assert booking.status == BookingStatus.DISPUTED
    return booking


def test_resolving_a_dispute_asks_for_the_decision_then_settles_it(world, ops, disputed, commit):
    client = logged_in(ops)

    # choosing the action opens its form
    page = choose_action(client, BOOKINGS, "resolve_dispute", [disputed.pk])
    assert page.status_code == 200
    assert b'name="outcome"' in page.content and disputed.booking_number.encode() in page.content

    # a part capture without a valid amount comes back with the error, nothing done
    for amount in ("", "0", str(disputed.total), "abc"):
        again = confirm_action(
            client, BOOKINGS, "resolve_dispute", [disputed.pk], outcome="capture_partial", amount=amount, reason="x"
        )
        assert again.status_code == 200 and b"errorlist" in again.content, amount
    disputed.refresh_from_db()
    assert disputed.status == BookingStatus.DISPUTED

    # a valid decision settles it: the customer pays 700.00 of 1180.00
    with commit():
        done = confirm_action(
            client,
            BOOKINGS,
            "resolve_dispute",
            [disputed.pk],
            outcome="capture_partial",
            amount="700.00",
            reason="Leak fixed on a second visit",
        )
    assert done.status_code == 302
    assert any("now signed" in text for _level, text in messages_of(done))
    disputed.refresh_from_db()
    assert disputed.status == BookingStatus.SIGNED
    attempt = active_attempt(disputed)
    assert (attempt.status, attempt.amount_captured) == (AttemptStatus.CAPTURED, D("700.00"))
    # 700.00 split over earning, commission and tax as 850 : 150 : 180 of 1180 (the rest released)
    assert booking_ledger(disputed) == capture_lines(
        disputed, total=D("700.00"), vendor=D("504.24"), commission=D("88.98"), tax=D("106.78")
    )
    assert AuditLog.objects.filter(action="dispute.resolved", actor=ops, object_id=str(disputed.pk)).exists()
    admin_action_audited(ops, disputed, "resolve_dispute", outcome="capture_partial", amount="700.00")
    assert Notification.objects.filter(user=world.customer, kind="dispute.resolved").exists()
    assert Notification.objects.filter(user=world.vendor.user, kind="dispute.resolved").exists()


def test_resolving_a_dispute_with_a_full_capture(world, ops, disputed, commit):
    with commit():
        done = confirm_action(
            logged_in(ops),
            BOOKINGS,
            "resolve_dispute",
            [disputed.pk],
            outcome="capture_full",
            reason="Photos show the job was done",
        )

    assert done.status_code == 302
    assert messages_of(done)[-1][0] == "success"
    disputed.refresh_from_db()
    assert disputed.status == BookingStatus.SIGNED
    attempt = active_attempt(disputed)
    assert (attempt.status, attempt.amount_captured) == (AttemptStatus.CAPTURED, disputed.total)
    assert booking_ledger(disputed) == capture_lines(
        disputed, total=D("1180.00"), vendor=D("850.00"), commission=D("150.00"), tax=D("180.00")
    )
    assert AuditLog.objects.filter(action="dispute.resolved", actor=ops, object_id=str(disputed.pk)).exists()
    admin_action_audited(ops, disputed, "resolve_dispute", outcome="capture_full")


def test_cancelling_a_dispute_with_a_full_refund(world, ops, disputed, commit):
    with commit():
        done = confirm_action(
            logged_in(ops), BOOKINGS, "resolve_dispute", [disputed.pk], outcome="cancel_refund", reason="No-show"
        )

    assert done.status_code == 302
    disputed.refresh_from_db()
    assert disputed.status == BookingStatus.CANCELLED
    assert disputed.refund_amount == disputed.total
    assert disputed.payment_attempts.get().status == AttemptStatus.CANCELLED  # the hold released
    # nothing was taken, so nothing is posted (and the ledger as a whole still balances)
    assert booking_ledger(disputed) == {}
    admin_action_audited(ops, disputed, "resolve_dispute", outcome="cancel_refund", reason="No-show")


def test_resolving_a_booking_that_is_not_disputed_is_a_message(world, ops):
    booking = world.complete()

    done = confirm_action(
        logged_in(ops), BOOKINGS, "resolve_dispute", [booking.pk], outcome="capture_full", reason="Fine"
    )

    assert done.status_code == 302
    assert [level for level, _text in messages_of(done)] == ["error"]
    booking.refresh_from_db()
    assert booking.status == BookingStatus.COMPLETED


def test_one_booking_at_a_time(world, ops, disputed):
    other = world.complete(index=1)

    response = choose_action(logged_in(ops), BOOKINGS, "resolve_dispute", [disputed.pk, other.pk])

    assert response.status_code == 302
    assert any("exactly one booking" in text for _level, text in messages_of(response))


def test_an_expired_request_is_sent_again_or_captured_by_hand(world, ops, commit):
    booking = world.complete(method="card")
    request, _created = signature_request(booking=booking, user=world.vendor.user)
    signature_requests_expire(now=request.expires_at)
    client = logged_in(ops)

    # a new request: the customer gets a new link
    sent = choose_action(client, BOOKINGS, "send_signature_request", [booking.pk])
    assert sent.status_code == 302
    assert SignatureRequest.objects.filter(booking=booking, status=SignatureRequestStatus.OPEN).count() == 1
    assert Notification.objects.filter(user=world.customer, kind="signature.requested").count() == 2
    admin_action_audited(ops, booking, "send_signature_request")
    assert booking_ledger(booking) == {}  # a request moves no money

    # capture by hand needs a reason
    refused = confirm_action(client, BOOKINGS, "capture_by_hand", [booking.pk], reason="  ")
    assert refused.status_code == 200 and b"errorlist" in refused.content
    with commit():
        done = confirm_action(client, BOOKINGS, "capture_by_hand", [booking.pk], reason="Confirmed by phone")
    assert done.status_code == 302
    booking.refresh_from_db()
    assert booking.status == BookingStatus.SIGNED
    assert (active_attempt(booking).status, active_attempt(booking).amount_captured) == (
        AttemptStatus.CAPTURED,
        booking.total,
    )
    assert booking.events.filter(event="captured_by_ops", actor=ops, note="Confirmed by phone").exists()
    assert booking_ledger(booking) == capture_lines(
        booking, total=D("1180.00"), vendor=D("850.00"), commission=D("150.00"), tax=D("180.00")
    )
    entries = AuditLog.objects.filter(action="admin.action", actor=ops, object_id=str(booking.pk))
    assert [entry.new_values["action"] for entry in entries.order_by("created_at")] == [
        "send_signature_request",
        "capture_by_hand",
    ]
    assert entries.get(new_values__action="capture_by_hand").new_values["reason"] == "Confirmed by phone"


def test_ops_hide_a_review_and_erase_its_comments(world, ops, disputed):
    review = Review.objects.get(booking=disputed)
    client = logged_in(ops)

    assert choose_action(client, REVIEWS, "hide_reviews", [review.pk]).status_code == 200
    assert confirm_action(client, REVIEWS, "hide_reviews", [review.pk], reason="").status_code == 200
    hidden = confirm_action(client, REVIEWS, "hide_reviews", [review.pk], reason="Abusive language")
    assert hidden.status_code == 302
    review.refresh_from_db()
    assert (review.is_hidden, review.hidden_by, review.hidden_reason) == (True, ops, "Abusive language")

    erased = choose_action(client, REVIEWS, "erase_comments", [review.pk])
    assert erased.status_code == 302
    review.refresh_from_db()
    signature = Signature.objects.get(booking=disputed)
    assert review.comments == signature.comments == ""
    assert signature.comments_erased_at is not None
    assert AuditLog.objects.filter(action="signature.comments_erased", actor=ops).exists()


@pytest.mark.parametrize(
    ("model", "action"),
    [(BOOKINGS, "resolve_dispute"), (BOOKINGS, "capture_by_hand"), (REVIEWS, "hide_reviews")],
)
def test_the_actions_need_the_change_permission(world, disputed, model, action):
    app_label, model_name = model.split(".")
    Group.objects.get(name="ops_manager").permissions.remove(
        Permission.objects.get(content_type__app_label=app_label, codename=f"change_{model_name}")
    )
    viewer = make_user(Role.OPS_MANAGER, "viewer")
    client = logged_in(viewer)
    target = disputed.pk if model == BOOKINGS else Review.objects.get(booking=disputed).pk

    changelist = client.get(admin_url(model))
    assert changelist.status_code == 200 and action.encode() not in changelist.content
    confirm_action(client, model, action, [target], outcome="capture_full", reason="sneaky")
    disputed.refresh_from_db()
    assert disputed.status == BookingStatus.DISPUTED
    assert not Review.objects.filter(is_hidden=True).exists()


@pytest.mark.parametrize("role", [Role.ONBOARD_MANAGER, Role.CUSTOMER, Role.VENDOR])
def test_others_cannot_resolve(world, disputed, role):
    client = logged_in(make_user(role, "someone"))

    confirm_action(client, BOOKINGS, "resolve_dispute", [disputed.pk], outcome="capture_full", reason="x")

    disputed.refresh_from_db()
    assert disputed.status == BookingStatus.DISPUTED
