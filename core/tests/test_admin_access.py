"""Who opens which admin page (ARCHITECTURE §3), over every page the admin registers: each staff
role gets 200 or 403 exactly as its role says, customers and vendors are sent to the login page,
and every registered ModelAdmin is audited by the operations site."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib import admin
from django.core.files.base import ContentFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from bookings.models import BookingReminder, PromoCode, PromoRedemption
from core.admin_audit import AuditedAdminMixin
from core.admin_site import OpsAdminSite
from core.contact import contact_message_submit
from core.models import Address, DocumentKind, Role, SystemSettings, VendorDocument
from core.tests.test_admin import LOGIN_URL, admin_url, logged_in, make_user
from payments.models import GatewayCustomer, ReconciliationIssue, WebhookEvent
from payments.operations import active_attempt
from payments.payouts import payouts_run
from signatures.services import signature_request, signature_sign
from signatures.tests.conftest import make_world

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64

ONBOARDING = {"core.user", "core.vendorprofile", "core.vendordocument"}
# Ours and the third-party admins (accounts' groups, JWT blacklist, login lockouts): super admins only.
SUPER_ONLY = {
    "core.auditlog",
    "auth.group",
    "token_blacklist.outstandingtoken",
    "token_blacklist.blacklistedtoken",
    "axes.accessattempt",
    "axes.accesslog",
    "axes.accessfailurelog",
}
OURS = {
    "core.user",
    "core.vendorprofile",
    "core.vendordocument",
    "core.address",
    "core.auditlog",
    "core.systemsettings",
    "core.notification",
    "core.notificationdelivery",
    "core.contactmessage",
    "bookings.servicecategory",
    "bookings.service",
    "bookings.vendorservice",
    "bookings.booking",
    "bookings.promocode",
    "bookings.promoredemption",
    "bookings.bookingreminder",
    "payments.paymentattempt",
    "payments.paymentoperation",
    "payments.payout",
    "payments.earning",
    "payments.ledgertransaction",
    "payments.webhookevent",
    "payments.gatewaycustomer",
    "payments.reconciliationissue",
    "signatures.signaturerequest",
    "signatures.signature",
    "signatures.signaturechain",
    "signatures.review",
}
# Add pages that exist at all (the rest are made by services, never typed in): who may open them.
ADDABLE = {
    Role.ONBOARD_MANAGER: set(),
    Role.OPS_MANAGER: {"bookings.promocode"},
    Role.SUPER_ADMIN: {
        "core.user",
        "core.address",
        "bookings.servicecategory",
        "bookings.service",
        "bookings.promocode",
    },
}
STAFF = (Role.ONBOARD_MANAGER, Role.OPS_MANAGER, Role.SUPER_ADMIN)


def registered():
    return {model._meta.label_lower: model for model in admin.site._registry}


def may_view(role, label) -> bool:
    if role == Role.SUPER_ADMIN:
        return True
    if role == Role.ONBOARD_MANAGER:
        return label in ONBOARDING
    return label not in SUPER_ONLY  # ops: everything they run, not the audit log or accounts' plumbing


def one_of_everything(commit, tag="1"):
    """One row of (nearly) every registered model, made the way the product makes them: a card job
    signed and captured, paid out, with its photos, signature, review, notifications; plus a
    document, an address, a promo redemption, a reminder, a webhook event, a gateway customer,
    a reconciliation issue and a contact message."""
    world = make_world()
    booking = world.complete(method="card")
    with commit():
        request, _created = signature_request(booking=booking, user=world.vendor.user)
        signature_sign(request=request, user=world.customer, rating=5, comments="Spotless.")
    payouts_run(now=timezone.now() + timedelta(days=2))
    document = VendorDocument(vendor=world.vendor, kind=DocumentKind.ID_PROOF)
    document.file.save("id.png", ContentFile(PNG), save=True)
    Address.objects.create(user=world.customer, line1="1 MG Road", city="Bengaluru", pincode="560001")
    promo = PromoCode.objects.create(code=f"WELCOME{tag}", kind="fixed", value=Decimal("50"))
    PromoRedemption.objects.create(promo=promo, user=world.customer, booking=booking, discount=Decimal("0"))
    BookingReminder.objects.create(
        booking=booking, kind="24h", recipient="customer", user=world.customer, starts_at=booking.scheduled_at
    )
    WebhookEvent.objects.create(gateway="fake", event_id=f"evt_access_{tag}", type="charge.refunded", payload={})
    GatewayCustomer.objects.get_or_create(user=world.customer, gateway="fake", defaults={"customer_id": f"cus_{tag}"})
    ReconciliationIssue.objects.create(attempt=active_attempt(booking), local_state="a", gateway_state="b")
    contact_message_submit(name="Asha", email="asha@example.com", subject="Where is my refund?", message="Hello")
    SystemSettings.load()
    return world, booking, document


@pytest.fixture
def everything(django_capture_on_commit_callbacks):
    return one_of_everything(lambda: django_capture_on_commit_callbacks(execute=True))


def test_the_default_site_is_the_operations_site_and_audits_every_admin():
    assert isinstance(admin.site, OpsAdminSite)
    unaudited = [
        label for label, model in registered().items() if not isinstance(admin.site._registry[model], AuditedAdminMixin)
    ]
    assert unaudited == []


def test_every_registered_admin_is_classified():
    # A new admin must be given a place in §3 here (and so in this test) before it ships.
    assert set(registered()) == OURS | SUPER_ONLY


@pytest.mark.parametrize("role", STAFF)
def test_every_admin_page_answers_as_the_role_says(role, everything):
    client = logged_in(make_user(role, "staffer"))
    wrong = []
    for label, model in sorted(registered().items()):
        expected = 200 if may_view(role, label) else 403
        got = client.get(admin_url(label)).status_code
        if got != expected:
            wrong.append((label, "changelist", got, expected))
        obj = model._default_manager.first()
        if role == Role.ONBOARD_MANAGER and label == "core.user":
            obj = model._default_manager.filter(role=Role.VENDOR).first()  # theirs: vendor accounts only
        if label in OURS and label != "core.auditlog":
            assert obj is not None, f"no {label} row to open"
        if obj is not None:
            got = client.get(admin_url(label, "change", obj.pk)).status_code
            if got != expected:
                wrong.append((label, "change", got, expected))
        if label in OURS:
            expected_add = 200 if label in ADDABLE[role] else 403
            got = client.get(admin_url(label, "add")).status_code
            if got != expected_add:
                wrong.append((label, "add", got, expected_add))
    assert wrong == []


def test_onboard_managers_see_only_vendor_accounts(everything):
    world, _booking, _document = everything
    ops = make_user(Role.OPS_MANAGER, "opsdesk")
    client = logged_in(make_user(Role.ONBOARD_MANAGER, "onboarder"))
    url = admin_url("core.user")

    listed = client.get(url)
    searched = client.get(url, {"q": world.customer.email})

    assert listed.status_code == 200
    assert {user.pk for user in listed.context["cl"].result_list} == {world.vendor.user.pk}
    assert list(searched.context["cl"].result_list) == []
    assert client.get(admin_url("core.user", "change", world.vendor.user.pk)).status_code == 200
    # a customer's or a staff member's account answers as a missing one (sent back to the index)
    for other in (world.customer, ops):
        page = client.get(admin_url("core.user", "change", other.pk))
        assert page.status_code == 302 and page["Location"] == reverse("admin:index"), other.role
        assert client.get(reverse("admin:core_user_history", args=[other.pk])).status_code == 302
    # ops still see every account
    everyone = logged_in(ops).get(url).context["cl"].result_list
    assert {world.customer.pk, world.vendor.user.pk, ops.pk} <= {user.pk for user in everyone}


CUSTOM_PAGES = {
    # name: (url maker, roles answered 200; every other staff role gets 403)
    "document file": (
        lambda b, d: reverse("admin:core_vendordocument_file", args=[d.pk]),
        {Role.ONBOARD_MANAGER, Role.SUPER_ADMIN},
    ),
    "booking photo": (
        lambda b, d: reverse("admin:bookings_booking_photo", args=[b.pk, b.photos.first().pk, "image"]),
        {Role.OPS_MANAGER, Role.SUPER_ADMIN},
    ),
    "bookings csv": (lambda b, d: reverse("admin:bookings_booking_export"), {Role.OPS_MANAGER, Role.SUPER_ADMIN}),
    "payments csv": (
        lambda b, d: reverse("admin:payments_paymentattempt_export"),
        {Role.OPS_MANAGER, Role.SUPER_ADMIN},
    ),
    "payouts csv": (lambda b, d: reverse("admin:payments_payout_export"), {Role.OPS_MANAGER, Role.SUPER_ADMIN}),
    "run payouts": (lambda b, d: reverse("admin:payments_payout_run"), {Role.OPS_MANAGER, Role.SUPER_ADMIN}),
    "manual payment": (
        lambda b, d: reverse("admin:payments_paymentattempt_manual_payment", args=[active_attempt(b).pk]),
        {Role.OPS_MANAGER, Role.SUPER_ADMIN},
    ),
    "verify a signature": (
        lambda b, d: reverse("admin:signatures_signature_verify", args=[b.signature.pk]),
        {Role.OPS_MANAGER, Role.SUPER_ADMIN},
    ),
}


@pytest.mark.parametrize("role", STAFF)
def test_the_ops_pages_of_the_admin_answer_as_the_role_says(role, everything, settings):
    _world, booking, document = everything
    photo = booking.photos.first()
    photo.image.save("before.png", ContentFile(PNG), save=True)
    client = logged_in(make_user(role, "staffer"))

    answers = {name: client.get(url(booking, document)).status_code for name, (url, _roles) in CUSTOM_PAGES.items()}

    assert answers == {name: 200 if role in roles else 403 for name, (_url, roles) in CUSTOM_PAGES.items()}
    chain = client.post(reverse("admin:signatures_signature_chain"))
    assert chain.status_code == (302 if role != Role.ONBOARD_MANAGER else 403)


@pytest.mark.parametrize("role", [Role.CUSTOMER, Role.VENDOR])
def test_customers_and_vendors_never_enter_any_admin_page(role, everything):
    _world, booking, document = everything
    client = logged_in(make_user(role, "outsider"))
    urls = [reverse("admin:index")]
    urls += [admin_url(label) for label in registered()]
    urls += [url(booking, document) for url, _roles in CUSTOM_PAGES.values()]

    for url in urls:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(f"{LOGIN_URL}?next="), url


def test_a_customer_with_a_staff_flag_set_by_hand_is_still_kept_out():
    customer = make_user(Role.CUSTOMER, "sneaky")
    customer.is_staff = True
    customer.save(update_fields=["is_staff"])

    response = logged_in(customer).get(reverse("admin:index"))

    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN_URL)


def test_the_index_shows_each_role_its_own_panels(everything):
    onboarder = logged_in(make_user(Role.ONBOARD_MANAGER, "onboarder")).get(reverse("admin:index"))
    ops = logged_in(make_user(Role.OPS_MANAGER, "ops")).get(reverse("admin:index"))
    root = logged_in(make_user(Role.SUPER_ADMIN, "root")).get(reverse("admin:index"))

    assert "dashboard" not in onboarder.context and "onboarding" in onboarder.context
    assert "dashboard" in ops.context and "onboarding" not in ops.context
    assert "dashboard" in root.context and "onboarding" in root.context


def test_no_changelist_costs_more_queries_for_more_rows(django_capture_on_commit_callbacks):
    """Every changelist of ours selects or prefetches what its rows show: twice the data, the same
    queries (third-party admins are not ours to tune)."""
    client = logged_in(make_user(Role.SUPER_ADMIN, "root"))

    def counts():
        result = {}
        for label in sorted(OURS):
            with CaptureQueriesContext(connection) as seen:
                response = client.get(admin_url(label))
            assert response.status_code == 200, label
            result[label] = (len(seen), len(response.context["cl"].result_list))
        return result

    one_of_everything(lambda: django_capture_on_commit_callbacks(execute=True), tag="a")
    before = counts()
    one_of_everything(lambda: django_capture_on_commit_callbacks(execute=True), tag="b")
    after = counts()

    grown = [label for label in OURS if after[label][1] > before[label][1]]
    assert len(grown) >= len(OURS) - 3  # nearly every list got longer (the settings and chain head are one row)
    assert {label: queries for label, (queries, _rows) in after.items()} == {
        label: queries for label, (queries, _rows) in before.items()
    }
