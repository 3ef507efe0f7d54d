"""Onboarding in the admin (issue 8): the vendor application queue, document previews served only
through a permission-checked admin view, and approve / reject / suspend with a reason — refused
while the phone is unverified — each notifying the vendor and audited."""

import itertools

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from bookings.services.creation import booking_create
from bookings.tests.conftest import ADDRESS, local_time
from bookings.tests.factories import ServiceFactory, VendorServiceFactory
from core.models import AuditLog, DocumentKind, Notification, OnboardingStatus, Role, VendorDocument
from core.services import user_mark_phone_verified, user_register, vendor_profile_update
from core.tests.factories import PASSWORD, CustomerFactory
from core.tests.test_admin import admin_url, choose_action, confirm_action, logged_in, make_user, messages_of

pytestmark = pytest.mark.django_db
VENDORS = "core.vendorprofile"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x02" * 64
PHONES = itertools.count(10_000_001)
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\n"


def applicant(name, *, verified=True):
    user = user_register(
        email=f"{name}@example.com",
        password=PASSWORD,
        role=Role.VENDOR,
        first_name=name.title(),
        last_name="Vendor",
        phone=f"+9198{next(PHONES):08d}",
        username=name,
    )
    if verified:
        user_mark_phone_verified(user=user)
    return user.vendor_profile


def document(vendor, content=PNG, name="id.png", kind=DocumentKind.ID_PROOF):
    row = VendorDocument(vendor=vendor, kind=kind)
    row.file.save(name, ContentFile(content), save=True)
    return row


@pytest.fixture
def onboarder():
    return make_user(Role.ONBOARD_MANAGER, "onboarder")


# --- the queue ---------------------------------------------------------------------------------


def test_the_queue_shows_phone_verification_and_documents(onboarder):
    ready, unverified = applicant("ready"), applicant("unverified", verified=False)
    document(ready)
    document(ready, PDF, "cert.pdf", DocumentKind.CERTIFICATE)
    client = logged_in(onboarder)

    response = client.get(admin_url(VENDORS))

    assert response.status_code == 200
    html = response.content.decode()
    assert ready.user.phone in html
    assert "2 (2 to review)" in html
    rows = {vendor.pk: vendor for vendor in response.context["cl"].result_list}
    assert rows[ready.pk].user.phone_verified and not rows[unverified.pk].user.phone_verified
    can_approve = client.get(admin_url(VENDORS), {"application": "ready"}).context["cl"].result_list
    must_verify = client.get(admin_url(VENDORS), {"application": "phone"}).context["cl"].result_list
    assert [v.pk for v in can_approve] == [ready.pk]
    assert [v.pk for v in must_verify] == [unverified.pk]


def test_the_vendor_page_shows_phone_services_and_document_previews(onboarder):
    vendor = applicant("plumber")
    VendorServiceFactory(vendor=vendor, service=ServiceFactory(name="Tap repair"))
    doc = document(vendor)

    page = logged_in(onboarder).get(admin_url(VENDORS, "change", vendor.pk)).content.decode()

    assert vendor.user.phone in page
    assert "Tap repair" in page
    preview = reverse("admin:core_vendordocument_file", args=[doc.pk])
    assert f'src="{preview}"' in page
    # the storage path is never put on the page
    assert doc.file.name not in page


def test_documents_are_served_only_to_reviewers(onboarder):
    vendor = applicant("plumber")
    image, pdf = document(vendor), document(vendor, PDF, "cert.pdf")
    # the uploader's name says .png; the bytes decide
    unknown = document(vendor, b"<html><script>alert(1)</script>", "sneaky.png")
    client = logged_in(onboarder)

    served = client.get(reverse("admin:core_vendordocument_file", args=[image.pk]))
    assert served.status_code == 200
    assert served.content == PNG
    assert served["Content-Type"] == "image/png"
    assert served["X-Content-Type-Options"] == "nosniff"
    assert served["Content-Disposition"].startswith("inline")
    assert client.get(reverse("admin:core_vendordocument_file", args=[pdf.pk]))["Content-Type"] == "application/pdf"
    other = client.get(reverse("admin:core_vendordocument_file", args=[unknown.pk]))
    assert other["Content-Type"] == "application/octet-stream"
    assert other["Content-Disposition"].startswith("attachment")

    url = reverse("admin:core_vendordocument_file", args=[image.pk])
    ops = logged_in(make_user(Role.OPS_MANAGER, "ops"))
    assert ops.get(url).status_code == 403
    assert url not in ops.get(admin_url(VENDORS, "change", vendor.pk)).content.decode()
    assert logged_in(make_user(Role.SUPER_ADMIN, "root")).get(url).status_code == 200
    assert logged_in(vendor.user).get(url).status_code == 302  # even their own: not through the admin
    assert client.get(reverse("admin:core_vendordocument_file", args=[999999])).status_code == 404
    assert client.get(reverse("admin:core_vendordocument_file", args=["abc"])).status_code == 404


def test_a_document_whose_file_is_gone_is_a_404(onboarder):
    doc = document(applicant("plumber"))
    doc.file.storage.delete(doc.file.name)

    assert logged_in(onboarder).get(reverse("admin:core_vendordocument_file", args=[doc.pk])).status_code == 404


# --- decisions ---------------------------------------------------------------------------------


def test_approving_asks_for_a_reason_then_approves_and_tells_the_vendor(onboarder):
    vendor = applicant("plumber")
    client = logged_in(onboarder)

    page = choose_action(client, VENDORS, "approve_vendors", [vendor.pk])
    assert page.status_code == 200 and "reason" in page.context["form"].fields
    empty = confirm_action(client, VENDORS, "approve_vendors", [vendor.pk], reason="  ")
    assert empty.status_code == 200 and "reason" in empty.context["form"].errors

    done = confirm_action(client, VENDORS, "approve_vendors", [vendor.pk], reason="ID and certificate checked")

    assert done.status_code == 302
    vendor.refresh_from_db()
    assert vendor.onboarding_status == OnboardingStatus.APPROVED
    note = Notification.objects.get(user=vendor.user, kind="vendor.approved")
    assert "ID and certificate checked" in note.body
    entry = AuditLog.objects.get(action="vendor.onboarding", object_id=str(vendor.pk))
    assert entry.actor == onboarder
    assert entry.old_values == {"onboarding_status": "pending"}
    assert entry.new_values == {"onboarding_status": "approved", "reason": "ID and certificate checked"}
    assert AuditLog.objects.filter(action="admin.action", actor=onboarder, object_type="core.vendorprofile").exists()

    # deciding again is a no-op: no second message
    confirm_action(client, VENDORS, "approve_vendors", [vendor.pk], reason="again")
    assert Notification.objects.filter(user=vendor.user, kind="vendor.approved").count() == 1


def test_approval_is_refused_while_the_phone_is_unverified(onboarder):
    unverified, verified = applicant("unverified", verified=False), applicant("verified")

    done = confirm_action(
        logged_in(onboarder), VENDORS, "approve_vendors", [unverified.pk, verified.pk], reason="Looks good"
    )

    assert done.status_code == 302
    levels = dict(messages_of(done))
    assert any("verify their phone" in text for level, text in messages_of(done) if level == "error")
    assert "success" in levels
    unverified.refresh_from_db()
    verified.refresh_from_db()
    assert unverified.onboarding_status == OnboardingStatus.PENDING
    assert verified.onboarding_status == OnboardingStatus.APPROVED
    assert not Notification.objects.filter(user=unverified.user, kind__startswith="vendor.").exists()


def test_rejecting_tells_the_vendor_why(onboarder):
    vendor = applicant("plumber")

    confirm_action(logged_in(onboarder), VENDORS, "reject_vendors", [vendor.pk], reason="The ID photo is unreadable.")

    vendor.refresh_from_db()
    assert vendor.onboarding_status == OnboardingStatus.REJECTED
    assert "The ID photo is unreadable." in Notification.objects.get(user=vendor.user, kind="vendor.rejected").body


def test_suspending_warns_about_bookings_the_vendor_still_holds(onboarder):
    vendor = applicant("plumber")
    vendor_profile_update(
        vendor=vendor,
        actor=vendor.user,
        working_hours={str(day): [["08:00", "20:00"]] for day in range(7)},
        base_lat="12.935200",
        base_lng="77.624500",
        pincodes=["560034"],
    )
    confirm_action(logged_in(onboarder), VENDORS, "approve_vendors", [vendor.pk], reason="ok")
    service = ServiceFactory()
    VendorServiceFactory(vendor=vendor, service=service)
    booking_create(
        customer=CustomerFactory(),
        lines=[{"service_id": service.pk, "quantity": 1}],
        scheduled_at=local_time(3, 10),
        address=ADDRESS,
        vendor_id=str(vendor.pk),
        payment_method="cash",
    )

    done = confirm_action(logged_in(onboarder), VENDORS, "suspend_vendors", [vendor.pk], reason="Complaints")

    vendor.refresh_from_db()
    assert vendor.onboarding_status == OnboardingStatus.SUSPENDED
    assert any(level == "warning" and "1 upcoming booking" in text for level, text in messages_of(done))
    assert Notification.objects.filter(user=vendor.user, kind="vendor.suspended").exists()


@pytest.mark.parametrize("role", [Role.OPS_MANAGER, Role.CUSTOMER, Role.VENDOR])
def test_only_onboarding_staff_decide(role):
    vendor = applicant("plumber")
    client = logged_in(make_user(role, "someone"))

    response = confirm_action(client, VENDORS, "approve_vendors", [vendor.pk], reason="sneaky")

    vendor.refresh_from_db()
    assert vendor.onboarding_status == OnboardingStatus.PENDING
    if role == Role.OPS_MANAGER:
        # ops see the queue but are not offered the decisions; the attempt is logged
        assert "approve_vendors" not in client.get(admin_url(VENDORS)).content.decode()
        assert AuditLog.objects.filter(action="admin.action_refused", new_values__action="approve_vendors").exists()
    else:
        assert response.status_code == 302


def test_a_long_reason_is_a_form_error_not_a_500(onboarder):
    vendor = applicant("plumber")

    response = confirm_action(logged_in(onboarder), VENDORS, "reject_vendors", [vendor.pk], reason="x" * 501)

    assert response.status_code == 200
    assert "reason" in response.context["form"].errors
