"""The booking admin for ops (issue 8): manual assignment listing only eligible vendors free for the
slot, cancellation with the policy's refund or another amount, the changelist filters (status,
dates, pincode, vendor, payment status, needs attention), the booking page (photos through the
admin, signature and its verification, payments, ledger, notifications) and the CSV export. Every
action goes through the admin client; bookings, payments, the ledger and the audit log are checked
afterwards."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from bookings.models import Booking, BookingOffer, BookingStatus, OfferOutcome
from bookings.services.assignment import booking_assign_by_ops
from bookings.services.creation import booking_create
from bookings.services.transitions import booking_accept, booking_reject
from bookings.tests.conftest import ADDRESS
from bookings.tests.factories import VendorServiceFactory
from core.errors import InvalidInput
from core.models import AuditLog, Notification, OnboardingStatus, Role
from core.tests.concurrency import all_at_once
from core.tests.factories import CustomerFactory, VendorFactory
from core.tests.test_admin import admin_url, choose_action, confirm_action, logged_in, make_user, messages_of
from payments.checkout import active_attempt, attempt_prepare, payment_confirm
from payments.models import AttemptStatus, LedgerKind, LedgerTransaction, OperationState, PayoutStatus
from payments.operations import booking_capture_payment, operation_run
from payments.payouts import payouts_run
from signatures.models import SignatureRequestStatus
from signatures.services import signature_request, signature_requests_expire, signature_sign
from signatures.tests.conftest import ALL_DAY, CARD, PRICE, TOTAL, make_world, raw_update, slot

D = Decimal
pytestmark = pytest.mark.django_db
BOOKINGS = "bookings.booking"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x01" * 64


@pytest.fixture
def world(db, settings):
    """A vendor working all day with one service (signatures/tests/conftest.py). Card bookings
    stay within 3 days (slots 0–9), where the card is authorised at checkout."""
    settings.PAYMENT_GATEWAY = "fake"
    return make_world()


@pytest.fixture
def ops():
    return make_user(Role.OPS_MANAGER, "opsdesk")


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def ledger_ok():
    def check():
        call_command("ledger_check", verbosity=0)
        return True

    return check


def vendor_named(world, name, **fields):
    vendor = VendorFactory(display_name=name, working_hours=ALL_DAY, **fields)
    VendorServiceFactory(vendor=vendor, service=world.service, price=PRICE)
    return vendor


def book(world, *, index=0, vendor=None, method="cash", customer=None):
    return booking_create(
        customer=customer or world.customer,
        lines=[{"service_id": world.service.pk, "quantity": 1}],
        scheduled_at=slot(index),
        address=ADDRESS,
        vendor_id=str(vendor.pk) if vendor is not None else None,
        payment_method=method,
    )


def confirmed_card_booking(world, index=0, vendor=None):
    vendor = vendor or world.vendor
    booking = book(world, index=index, vendor=vendor, method="card")
    payment_confirm(attempt=attempt_prepare(attempt=active_attempt(booking)), user=booking.customer, card=CARD)
    return booking_accept(booking=booking, user=vendor.user)


def queued(world, index=0, customer=None):
    """A pending cash booking in the manual-assignment queue: every vendor offered it declined."""
    booking = book(world, index=index, customer=customer)
    while (holder := Booking.objects.get(pk=booking.pk).vendor) is not None:
        booking_reject(booking=booking, user=holder.user, reason="On leave")
    booking.refresh_from_db()
    assert booking.needs_manual_assignment and booking.vendor is None
    return booking


def result_numbers(response):
    assert response.status_code == 200, response
    return {booking.booking_number for booking in response.context["cl"].result_list}


# --- manual assignment ---------------------------------------------------------------------------


def test_the_assign_form_lists_only_eligible_vendors_free_for_the_slot(world, ops, ledger_ok):
    booking = queued(world)
    price = (booking.subtotal, booking.total, booking.vendor_earning)
    free = vendor_named(world, "Free Fixers")
    busy = vendor_named(world, "Busy Bees")
    confirmed_card_booking(world, vendor=busy)  # the same slot (index 0)
    vendor_named(world, "Suspended Sam", onboarding_status=OnboardingStatus.SUSPENDED)
    vendor_named(world, "Away Anu", is_available=False)
    elsewhere = vendor_named(world, "Far Away", pincodes=["400050"])
    elsewhere.base_lat, elsewhere.base_lng = D("19.0596"), D("72.8295")  # Mumbai
    elsewhere.save()
    VendorFactory(display_name="No Such Service", working_hours=ALL_DAY)
    client = logged_in(ops)

    page = choose_action(client, BOOKINGS, "assign_vendor", [booking.pk])

    assert page.status_code == 200
    offered = {label.split(" — ")[0] for _value, label in page.context["form"].fields["vendor"].choices}
    # the vendor who declined may still be phoned and assigned by ops
    assert offered == {"Free Fixers", world.vendor.display_name}

    done = confirm_action(
        client, BOOKINGS, "assign_vendor", [booking.pk], vendor=str(free.pk), reason="Agreed by phone"
    )

    assert done.status_code == 302
    assert messages_of(done)[-1][0] == "success"
    booking.refresh_from_db()
    assert (booking.status, booking.vendor, booking.needs_manual_assignment) == (BookingStatus.CONFIRMED, free, False)
    assert (booking.subtotal, booking.total, booking.vendor_earning) == price  # the customer keeps the price
    offer = BookingOffer.objects.get(booking=booking, vendor=free)
    assert offer.outcome == OfferOutcome.ACCEPTED
    assert booking.events.filter(event="assigned_by_ops", actor=ops, note="Agreed by phone").exists()
    assert AuditLog.objects.filter(action="booking.assigned_by_ops", actor=ops, object_id=str(booking.pk)).exists()
    admin_entry = AuditLog.objects.get(action="admin.action", actor=ops, object_id=str(booking.pk))
    assert admin_entry.new_values["action"] == "assign_vendor"
    assert admin_entry.new_values["reason"] == "Agreed by phone"
    assert Notification.objects.filter(user=booking.customer, kind="booking.assigned").exists()
    assert Notification.objects.filter(user=free.user, kind="booking.assigned").exists()
    assert ledger_ok()


def test_a_vendor_who_became_busy_meanwhile_is_refused_on_the_form(world, ops):
    booking = queued(world)
    backup = vendor_named(world, "Backup")
    client = logged_in(ops)
    assert choose_action(client, BOOKINGS, "assign_vendor", [booking.pk]).status_code == 200
    # while ops read the form, the vendor took another job at that time
    confirmed_card_booking(world, vendor=world.vendor, index=0)

    response = confirm_action(
        client, BOOKINGS, "assign_vendor", [booking.pk], vendor=str(world.vendor.pk), reason="By phone"
    )

    assert response.status_code == 200
    assert "vendor" in response.context["form"].errors
    assert [value for value, _label in response.context["form"].fields["vendor"].choices] == [str(backup.pk)]
    booking.refresh_from_db()
    assert (booking.status, booking.vendor) == (BookingStatus.PENDING, None)

    # and once nobody is free, the action says so instead of showing an empty form
    confirmed_card_booking(world, vendor=backup, index=0)
    nobody = choose_action(client, BOOKINGS, "assign_vendor", [booking.pk])
    assert nobody.status_code == 302
    assert "No eligible vendor" in messages_of(nobody)[-1][1]


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"vendor": "not-a-vendor", "reason": "x"}, "vendor"),
        ({"reason": "x"}, "vendor"),
        ({"vendor": "VALID", "reason": "   "}, "reason"),
    ],
)
def test_bad_assignment_input_is_a_form_error(world, ops, fields, error):
    booking = queued(world)
    fields = {**fields, **({"vendor": str(world.vendor.pk)} if fields.get("vendor") == "VALID" else {})}

    response = confirm_action(logged_in(ops), BOOKINGS, "assign_vendor", [booking.pk], **fields)

    assert response.status_code == 200
    assert error in response.context["form"].errors
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.PENDING


def test_only_a_pending_ready_booking_can_be_assigned(world, ops):
    booking = confirmed_card_booking(world)

    response = choose_action(logged_in(ops), BOOKINGS, "assign_vendor", [booking.pk])

    assert response.status_code == 302
    level, text = messages_of(response)[-1]
    assert level == "error" and "pending" in text


def test_the_assignment_service_refuses_a_vendor_who_is_not_free(world, ops):
    booking = queued(world)
    other = vendor_named(world, "Other")
    confirmed_card_booking(world, vendor=other)

    with pytest.raises(InvalidInput) as refused:
        booking_assign_by_ops(booking=booking, vendor=other, user=ops, reason="try")

    assert "vendor" in refused.value.fields


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_ops_assigning_one_vendor_to_overlapping_bookings_at_once_one_wins(world):
    first, second = queued(world, index=0), queued(world, index=0, customer=CustomerFactory())
    free = vendor_named(world, "Only One")
    ops_a, ops_b = make_user(Role.OPS_MANAGER, "opsa"), make_user(Role.OPS_MANAGER, "opsb")

    def assign(booking, user):
        def call():
            try:
                return booking_assign_by_ops(booking=booking, vendor=free, user=user, reason="race")
            except InvalidInput as error:
                return error

        return call

    results = all_at_once(assign(first, ops_a), assign(second, ops_b))

    assert sum(isinstance(result, Booking) for result in results) == 1
    assert Booking.objects.filter(vendor=free, status=BookingStatus.CONFIRMED).count() == 1


# --- cancellation --------------------------------------------------------------------------------


def test_ops_cancel_with_the_policy_refund(world, ops, commit, ledger_ok):
    booking = confirmed_card_booking(world)
    client = logged_in(ops)
    page = choose_action(client, BOOKINGS, "cancel_booking", [booking.pk])
    assert page.status_code == 200 and "refund" in page.context["form"].fields

    with commit():
        done = confirm_action(client, BOOKINGS, "cancel_booking", [booking.pk], refund="policy", reason="Flooded")

    assert done.status_code == 302
    booking.refresh_from_db()
    assert (booking.status, booking.cancelled_by) == (BookingStatus.CANCELLED, "ops")
    assert (booking.refund_amount, booking.cancellation_fee) == (TOTAL, D("0.00"))
    assert booking.payment_attempts.get().status == AttemptStatus.CANCELLED  # the hold released
    assert AuditLog.objects.filter(action="booking.cancelled", actor=ops, object_id=str(booking.pk)).exists()
    assert AuditLog.objects.filter(action="admin.action", actor=ops, new_values__action="cancel_booking").exists()
    assert ledger_ok()


def test_ops_cancel_keeping_part_of_the_total(world, ops, commit, ledger_ok):
    booking = confirmed_card_booking(world)

    with commit():
        done = confirm_action(
            logged_in(ops),
            BOOKINGS,
            "cancel_booking",
            [booking.pk],
            refund="amount",
            amount="590.00",
            reason="Customer absent, vendor travelled",
        )

    assert done.status_code == 302
    booking.refresh_from_db()
    assert (booking.refund_amount, booking.cancellation_fee) == (D("590.00"), D("590.00"))
    attempt = booking.payment_attempts.get()
    assert attempt.amount_captured == D("590.00")
    fee = LedgerTransaction.objects.get(booking=booking, kind=LedgerKind.CANCELLATION_FEE)
    assert sum(line.amount for line in fee.lines.all()) == 0
    assert ledger_ok()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"refund": "amount", "amount": "", "reason": "x"}, "amount"),
        ({"refund": "amount", "amount": "abc", "reason": "x"}, "amount"),
        ({"refund": "amount", "amount": "-5", "reason": "x"}, "amount"),
        ({"refund": "policy", "reason": ""}, "reason"),
        ({"refund": "sideways", "reason": "x"}, "refund"),
        ({"refund": "amount", "amount": "99999.00", "reason": "x"}, None),  # more than the total: the service
    ],
)
def test_bad_cancellation_input_is_a_form_error(world, ops, fields, field):
    booking = confirmed_card_booking(world)

    response = confirm_action(logged_in(ops), BOOKINGS, "cancel_booking", [booking.pk], **fields)

    assert response.status_code == 200
    assert field in response.context["form"].errors if field else response.context["form"].non_field_errors()
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.CONFIRMED


def test_cancelling_a_signed_booking_is_refused_with_a_message(world, ops, commit):
    booking = world.complete()
    with commit():
        request, _created = signature_request(booking=booking, user=world.vendor.user)
        signature_sign(request=request, user=world.customer, rating=5)

    done = confirm_action(logged_in(ops), BOOKINGS, "cancel_booking", [booking.pk], refund="policy", reason="x")

    assert done.status_code == 302
    assert messages_of(done)[-1][0] == "error"
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.SIGNED


def test_a_malformed_selection_is_a_message_not_a_500(world, ops):
    response = choose_action(logged_in(ops), BOOKINGS, "cancel_booking", ["not-a-uuid"])

    assert response.status_code in (200, 302)
    assert any("not valid" in text for _level, text in messages_of(response))


# --- changelist filters --------------------------------------------------------------------------


@pytest.fixture
def spread(world, commit):
    """Bookings in different states, days, pincodes and with different vendors and payments."""
    other = vendor_named(world, "Second Vendor", pincodes=["560034", "560095"])
    rows = {
        "card_confirmed": confirmed_card_booking(world, index=0),
        "cash_pending_other_vendor": book(world, index=12, vendor=other),
        "queued": queued(world, index=23),
    }
    completed = world.complete(index=1, method="card")
    with commit():
        request, _created = signature_request(booking=completed, user=world.vendor.user)
        signature_sign(request=request, user=world.customer, rating=1, comments="Broke a tile")
    rows["disputed"] = completed
    elsewhere = booking_create(
        customer=world.customer,
        lines=[{"service_id": world.service.pk, "quantity": 1}],
        scheduled_at=slot(34),
        address={**ADDRESS, "pincode": "560095"},
        vendor_id=str(other.pk),
        payment_method="cash",
    )
    rows["other_pincode"] = elsewhere
    return {name: Booking.objects.get(pk=booking.pk) for name, booking in rows.items()}


def numbers(spread, *names):
    return {spread[name].booking_number for name in names}


def test_the_changelist_filters(world, ops, spread):
    client = logged_in(ops)
    url = admin_url(BOOKINGS)

    assert result_numbers(client.get(url, {"status__exact": "disputed"})) == numbers(spread, "disputed")
    assert result_numbers(client.get(url, {"pincode": "560095"})) == numbers(spread, "other_pincode")
    assert result_numbers(client.get(url, {"pincode": "garbage"})) == set()
    other = spread["other_pincode"].vendor
    assert result_numbers(client.get(url, {"vendor__id__exact": str(other.pk)})) == numbers(
        spread, "cash_pending_other_vendor", "other_pincode"
    )
    assert result_numbers(client.get(url, {"payment": "authorized"})) == numbers(spread, "card_confirmed", "disputed")
    # local days, both ends included: slots 0 and 1 are on day 2, 12 on day 3, 23 on day 4, 34 on day 5
    day = slot(23).date().isoformat()
    assert result_numbers(client.get(url, {"scheduled_from": day, "scheduled_to": day})) == numbers(spread, "queued")
    assert result_numbers(client.get(url, {"scheduled_from": day})) == numbers(spread, "queued", "other_pincode")
    assert result_numbers(client.get(url, {"scheduled_to": slot(0).date().isoformat()})) == numbers(
        spread, "card_confirmed", "disputed"
    )
    # filters combine
    assert result_numbers(client.get(url, {"scheduled_from": day, "pincode": "560034"})) == numbers(spread, "queued")


def test_the_needs_attention_filter(world, ops, spread):
    client = logged_in(ops)
    url = admin_url(BOOKINGS)

    assert result_numbers(client.get(url, {"attention": "manual_assignment"})) == numbers(spread, "queued")
    assert result_numbers(client.get(url, {"attention": "disputed"})) == numbers(spread, "disputed")
    # the other vendor's open offer expires within minutes: move its deadline close
    offer = BookingOffer.objects.get(booking=spread["cash_pending_other_vendor"], outcome=OfferOutcome.PENDING)
    raw_update(offer, expires_at=offer.sent_at)
    assert result_numbers(client.get(url, {"attention": "offer_expiring"})) == numbers(
        spread, "cash_pending_other_vendor"
    )
    assert result_numbers(client.get(url, {"attention": "any"})) == numbers(
        spread, "queued", "disputed", "cash_pending_other_vendor"
    )
    labels = dict(
        next(
            spec for spec in client.get(url).context["cl"].filter_specs if spec.parameter_name == "attention"
        ).lookup_choices
    )
    assert labels["disputed"].endswith("(1)")


def signature_and_money_trouble(world, commit, ops):
    """A booking for each reason the spread lacks, made the way it happens: a signature request
    that expired (and, not waiting any more, one whose expired request ops sent again), a card
    capture the gateway refused after the retries (a booking never paid), and a signed job whose
    payout failed (the vendor's payout account is not a connected account)."""
    expired = world.complete(index=40)
    resent = world.complete(index=41)
    requests = [signature_request(booking=booking, user=world.vendor.user)[0] for booking in (expired, resent)]
    assert signature_requests_expire(now=max(r.expires_at for r in requests) + timedelta(seconds=1)) == 2
    signature_request(booking=resent, user=ops)
    assert resent.signature_requests.filter(status=SignatureRequestStatus.OPEN).exists()

    unpaid = book(world, index=4, method="card")
    operation = booking_capture_payment(booking=unpaid, actor=ops, reason="Signed on paper")
    assert operation_run(operation.pk) == OperationState.FAILED

    paid_out = world.complete(index=5, method="card")
    with commit():
        request, _created = signature_request(booking=paid_out, user=world.vendor.user)
        signature_sign(request=request, user=world.customer, rating=5)
    world.vendor.payout_account_id = "bank-account-42"
    world.vendor.save(update_fields=["payout_account_id"])
    (payout,) = payouts_run(now=timezone.now() + timedelta(days=2))
    assert payout.status == PayoutStatus.FAILED and payout.earnings.get().booking_id == paid_out.pk
    return {
        name: Booking.objects.get(pk=booking.pk)
        for name, booking in {
            "signature_expired": expired,
            "signature_resent": resent,
            "payment_failed": unpaid,
            "payout_failed": paid_out,
        }.items()
    }


def test_the_needs_attention_filter_finds_expired_signatures_and_failed_payments_and_payouts(
    world, ops, spread, commit
):
    trouble = signature_and_money_trouble(world, commit, ops)
    rows = {**spread, **trouble}
    client = logged_in(ops)
    url = admin_url(BOOKINGS)

    assert result_numbers(client.get(url, {"attention": "signature_expired"})) == numbers(rows, "signature_expired")
    assert result_numbers(client.get(url, {"attention": "payment_failed"})) == numbers(rows, "payment_failed")
    assert result_numbers(client.get(url, {"attention": "payout_failed"})) == numbers(rows, "payout_failed")
    assert result_numbers(client.get(url, {"attention": "any"})) == numbers(
        rows, "queued", "disputed", "signature_expired", "payment_failed", "payout_failed"
    )
    labels = dict(
        next(
            spec for spec in client.get(url).context["cl"].filter_specs if spec.parameter_name == "attention"
        ).lookup_choices
    )
    for reason in ("signature_expired", "payment_failed", "payout_failed"):
        assert labels[reason].endswith("(1)"), labels[reason]
    assert labels["any"].endswith("(5)")


@pytest.mark.parametrize(
    "params",
    [
        {"scheduled_from": "2027-02-30"},
        {"scheduled_from": "yesterday"},
        {"attention": "everything"},
        {"payment": "bitcoin"},
        {"vendor__id__exact": "not-a-uuid"},
        {"status__exact": "lost"},
        {"_facets": "True"},
        {"_facets": "True", "attention": "any", "pincode": "560034", "scheduled_from": "2030-01-01"},
    ],
)
def test_bad_filter_values_never_500(world, ops, params):
    response = logged_in(ops).get(admin_url(BOOKINGS), params)

    assert response.status_code in (200, 302)


# --- the booking page ----------------------------------------------------------------------------


@pytest.fixture
def signed_job(world, commit):
    booking = world.complete(method="card")
    for photo in booking.photos.all():
        photo.thumbnail.save(f"{photo.pk}.png", ContentFile(PNG), save=True)
    with commit():
        request, _created = signature_request(booking=booking, user=world.vendor.user)
        signature_sign(request=request, user=world.customer, rating=4, comments="Good work")
    return Booking.objects.get(pk=booking.pk)


def test_the_booking_page_shows_photos_signature_payments_ledger_and_notifications(world, ops, signed_job):
    response = logged_in(ops).get(admin_url(BOOKINGS, "change", signed_job.pk))

    assert response.status_code == 200
    context = response.context
    assert len(context["booking_photos"]) == 2
    assert context["booking_signature"].rating == 4
    assert context["booking_signature_check"].valid
    assert [attempt.status for attempt in context["booking_attempts"]] == [AttemptStatus.CAPTURED]
    (capture,) = context["booking_ledger"]
    assert capture.kind == LedgerKind.CAPTURE and len(capture.lines.all()) == 4
    kinds = {note.kind for note in context["booking_notifications"]}
    assert {"signature.requested", "booking.completed"} <= kinds
    html = response.content.decode()
    thumbnail = reverse("admin:bookings_booking_photo", args=[signed_job.pk, signed_job.photos.first().pk, "thumbnail"])
    assert thumbnail in html
    assert "Verified: valid." in html
    assert signed_job.signature.signature_hash in html
    # files are never linked by their storage URL
    assert "/media/" not in html


def test_a_tampered_signature_shows_as_broken_on_the_booking_page(world, ops, signed_job):
    raw_update(signed_job.signature, rating=5)

    response = logged_in(ops).get(admin_url(BOOKINGS, "change", signed_job.pk))

    assert not response.context["booking_signature_check"].valid
    assert "Verification failed" in response.content.decode()


def test_photos_are_served_through_the_admin_with_a_permission_check(world, ops, signed_job):
    photo = signed_job.photos.first()
    url = reverse("admin:bookings_booking_photo", args=[signed_job.pk, photo.pk, "thumbnail"])

    served = logged_in(ops).get(url)

    assert served.status_code == 200
    assert served["Content-Type"] == "image/png"
    assert served.content == PNG
    assert logged_in(make_user(Role.ONBOARD_MANAGER, "onboarder")).get(url).status_code == 403
    assert logged_in(signed_job.customer).get(url).status_code == 302  # to the admin login
    other = world.complete(index=1)
    wrong_booking = reverse("admin:bookings_booking_photo", args=[other.pk, photo.pk, "thumbnail"])
    assert logged_in(ops).get(wrong_booking).status_code == 404
    bad_variant = reverse("admin:bookings_booking_photo", args=[signed_job.pk, photo.pk, "original"])
    assert logged_in(ops).get(bad_variant).status_code == 404
    missing_file = reverse("admin:bookings_booking_photo", args=[signed_job.pk, photo.pk, "image"])
    assert logged_in(ops).get(missing_file).status_code == 404  # the row names a file never stored


# --- CSV export ----------------------------------------------------------------------------------


def read_csv(response):
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_the_export_follows_the_filters_and_defuses_formulas(world, ops, spread):
    world.customer.first_name = '=HYPERLINK("http://evil.example","click")'
    world.customer.last_name = "@SUM(A1)"
    world.customer.save()
    client = logged_in(ops)

    rows = read_csv(client.get(reverse("admin:bookings_booking_export"), {"status__exact": "disputed"}))

    header, *body = rows
    assert header[0] == "booking"
    assert [row[0] for row in body] == [spread["disputed"].booking_number]
    customer = body[0][header.index("customer")]
    assert customer.startswith("'=HYPERLINK")
    assert body[0][header.index("total")] == str(TOTAL)
    assert AuditLog.objects.filter(action="admin.export", actor=ops, object_type="bookings.booking").exists()

    everything = read_csv(client.get(reverse("admin:bookings_booking_export")))
    assert len(everything) - 1 == Booking.objects.count()


def test_the_changelist_links_the_export_with_its_filters(world, ops, spread):
    response = logged_in(ops).get(admin_url(BOOKINGS), {"status__exact": "disputed"})

    assert reverse("admin:bookings_booking_export") + "?status__exact=disputed" in response.content.decode()
