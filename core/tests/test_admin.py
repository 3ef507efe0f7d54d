"""The Django admin: who may open what, what stays read-only, the append-only audit log, the
settings singleton, query budgets and the login lockout (ARCHITECTURE §3, §5, §11)."""

from datetime import datetime, timedelta

import pytest
from axes.models import AccessAttempt
from django import forms
from django.contrib.admin import helpers
from django.contrib.auth.models import Group
from django.contrib.messages import get_messages
from django.db import transaction
from django.db.models import F
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from bookings.availability import platform_zone
from bookings.models import Booking, BookingEvent
from bookings.services.creation import booking_create
from bookings.tests.factories import ServiceFactory, VendorServiceFactory
from core.models import AuditLog, OnboardingStatus, Role, SystemSettings, User, VendorProfile
from core.services import user_register, user_set_role
from core.tests.factories import PASSWORD, CustomerFactory, VendorFactory

pytestmark = pytest.mark.django_db

ADDRESS = {"line1": "12 Lake View Road", "city": "Bengaluru", "pincode": "560034"}
LOGIN_URL = "/admin/login/"

MODELS = (
    "core.user",
    "core.vendorprofile",
    "core.vendordocument",
    "core.address",
    "core.auditlog",
    "core.systemsettings",
    "bookings.servicecategory",
    "bookings.service",
    "bookings.vendorservice",
    "bookings.booking",
    "bookings.promocode",
    "bookings.promoredemption",
    "bookings.bookingreminder",
    "core.notification",
    "core.notificationdelivery",
)
# The changelists each staff role may open (§3); every other one answers 403.
ALLOWED_CHANGELISTS = {
    Role.ONBOARD_MANAGER: {"core.user", "core.vendorprofile", "core.vendordocument"},
    Role.OPS_MANAGER: set(MODELS) - {"core.auditlog"},
    Role.SUPER_ADMIN: set(MODELS),
}


def make_user(role, name):
    """An account made the way the product makes them: sign-up, then the role for staff."""
    user = user_register(
        email=f"{name}@example.com",
        password=PASSWORD,
        role=Role.VENDOR if role == Role.VENDOR else Role.CUSTOMER,
        first_name=name.title(),
        last_name="Tester",
        username=name,
    )
    if role not in (Role.CUSTOMER, Role.VENDOR):
        user_set_role(user=user, role=role, actor=user)
    return user


def logged_in(user):
    client = Client()
    client.force_login(user)
    return client


def admin_url(model, view="changelist", *args):
    app_label, model_name = model.split(".")
    return reverse(f"admin:{app_label}_{model_name}_{view}", args=args)


def messages_of(response):
    return [(message.level_tag, str(message)) for message in get_messages(response.wsgi_request)]


def choose_action(client, model, action, ids):
    """Pick an action in the changelist with rows ticked (the changelist's own form)."""
    return client.post(
        admin_url(model), {"action": action, helpers.ACTION_CHECKBOX_NAME: [str(pk) for pk in ids], "index": "0"}
    )


def confirm_action(client, model, action, ids, **fields):
    """Submit an action's intermediate page."""
    return client.post(
        admin_url(model),
        {
            "action": action,
            helpers.ACTION_CHECKBOX_NAME: [str(pk) for pk in ids],
            "select_across": "0",
            "apply": "apply",
            **fields,
        },
    )


def local_time(days_ahead, hour, minute=0):
    day = timezone.localdate() + timedelta(days=days_ahead)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=platform_zone())


def form_data(response):
    """The POST body the admin page in ``response`` would send unchanged."""
    data = {}
    form = response.context["adminform"].form
    for name, field in form.fields.items():
        value = form[name].value()
        if isinstance(field, forms.BooleanField):
            if value:
                data[name] = "on"
        else:
            data[name] = "" if value is None else value
    for inline in response.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        for name in management.fields:
            data[management.add_prefix(name)] = management[name].value()
    return data


def book(*, customer, vendor, service, when):
    return booking_create(
        customer=customer,
        lines=[{"service_id": service.pk, "quantity": 1}],
        scheduled_at=when,
        address=dict(ADDRESS),
        vendor_id=vendor.pk,
        payment_method="cash",
    )


# --- Groups and access --------------------------------------------------------------------------


def test_staff_groups_carry_the_role_permissions():
    def codenames(name):
        return set(Group.objects.get(name=name).permissions.values_list("codename", flat=True))

    onboard, ops, super_admin = codenames("onboard_manager"), codenames("ops_manager"), codenames("super_admin")

    assert onboard == {
        "view_user",
        *(f"{action}_{model}" for action in ("view", "change") for model in ("vendorprofile", "vendordocument")),
        *(f"{action}_{model}" for action in ("view", "change") for model in ("vendorpincode", "vendortimeoff")),
    }
    assert {"change_booking", "add_promocode", "change_promocode", "change_address", "view_systemsettings"} <= ops
    assert {"view_booking", "view_bookingevent", "view_user", "view_vendorprofile", "view_promoredemption"} <= ops
    assert not {"view_auditlog", "change_systemsettings", "delete_booking", "change_user"} & ops
    assert {"change_user", "change_systemsettings", "add_service", "view_auditlog"} <= super_admin
    assert not {"add_auditlog", "change_auditlog", "delete_auditlog"} & super_admin


@pytest.mark.parametrize("role", [Role.ONBOARD_MANAGER, Role.OPS_MANAGER, Role.SUPER_ADMIN])
def test_user_set_role_puts_staff_into_their_group(role):
    user = make_user(role, "staffer")

    assert user.is_staff
    assert user.is_superuser == (role == Role.SUPER_ADMIN)
    assert list(user.groups.values_list("name", flat=True)) == [role]


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("role", [Role.ONBOARD_MANAGER, Role.OPS_MANAGER, Role.SUPER_ADMIN])
def test_staff_roles_open_only_their_changelists(role, model):
    client = logged_in(make_user(role, "staffer"))

    response = client.get(admin_url(model))

    assert response.status_code == (200 if model in ALLOWED_CHANGELISTS[role] else 403)


@pytest.mark.parametrize(
    ("role", "model", "expected"),
    [
        (Role.OPS_MANAGER, "bookings.promocode", 200),
        (Role.OPS_MANAGER, "core.user", 403),
        (Role.OPS_MANAGER, "core.vendorprofile", 403),
        (Role.ONBOARD_MANAGER, "core.user", 403),
        (Role.SUPER_ADMIN, "core.user", 200),
        (Role.SUPER_ADMIN, "bookings.booking", 403),
        (Role.SUPER_ADMIN, "core.vendorprofile", 403),
    ],
)
def test_add_pages_follow_the_role(role, model, expected):
    client = logged_in(make_user(role, "staffer"))

    assert client.get(admin_url(model, "add")).status_code == expected


def test_admin_index_lists_only_what_the_role_may_see():
    client = logged_in(make_user(Role.ONBOARD_MANAGER, "onboarder"))

    response = client.get(reverse("admin:index"))

    assert response.status_code == 200
    listed = {
        f"{app['app_label']}.{model['object_name'].lower()}"
        for app in response.context["app_list"]
        for model in app["models"]
    }
    assert listed == ALLOWED_CHANGELISTS[Role.ONBOARD_MANAGER]


@pytest.mark.parametrize("role", [Role.CUSTOMER, Role.VENDOR])
def test_customers_and_vendors_are_sent_to_the_admin_login(role):
    user = make_user(role, "outsider")
    client = logged_in(user)

    for url in (reverse("admin:index"), admin_url("bookings.booking"), admin_url("core.user")):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(f"{LOGIN_URL}?next=")

    # Signing in at the admin with the right password does not let them in either.
    response = Client().post(LOGIN_URL, {"username": user.username, "password": PASSWORD, "next": "/admin/"})
    assert response.status_code == 200
    assert "_auth_user_id" not in response.wsgi_request.session


# --- Users --------------------------------------------------------------------------------------


def test_changing_a_role_goes_through_user_set_role():
    admin_user = make_user(Role.SUPER_ADMIN, "root")
    person = make_user(Role.CUSTOMER, "person")
    client = logged_in(admin_user)
    url = admin_url("core.user", "change", person.pk)
    data = form_data(client.get(url))
    # Staff flags and groups are not form fields: posting them changes nothing.
    data.update(role=Role.OPS_MANAGER, is_superuser="on", groups=[Group.objects.get(name="super_admin").pk])

    response = client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    person.refresh_from_db()
    assert person.role == Role.OPS_MANAGER
    assert person.is_staff
    assert not person.is_superuser
    assert list(person.groups.values_list("name", flat=True)) == ["ops_manager"]
    assert AuditLog.objects.filter(action="user.set_role", object_id=str(person.pk), actor=admin_user).exists()

    # and back: no staff access, no group
    data.update(role=Role.CUSTOMER)
    assert client.post(url, data).status_code == 302
    person.refresh_from_db()
    assert (person.role, person.is_staff, person.groups.count()) == (Role.CUSTOMER, False, 0)


@pytest.mark.parametrize(("start", "target"), [(Role.CUSTOMER, Role.VENDOR), (Role.VENDOR, Role.OPS_MANAGER)])
def test_the_user_admin_does_not_turn_accounts_into_or_out_of_vendors(start, target):
    person = make_user(start, "person")
    client = logged_in(make_user(Role.SUPER_ADMIN, "root"))
    url = admin_url("core.user", "change", person.pk)
    data = form_data(client.get(url))
    data["role"] = target

    response = client.post(url, data)

    assert response.status_code == 200
    assert "role" in response.context["adminform"].form.errors
    person.refresh_from_db()
    assert person.role == start


def test_profile_edits_in_the_user_admin_are_audited_and_reset_verification():
    admin_user = make_user(Role.SUPER_ADMIN, "root")
    person = make_user(Role.CUSTOMER, "person")
    User.objects.filter(pk=person.pk).update(email_verified=True)
    client = logged_in(admin_user)
    url = admin_url("core.user", "change", person.pk)
    data = form_data(client.get(url))
    data.update(email="new-address@example.com", email_verified="")

    assert client.post(url, data).status_code == 302

    person.refresh_from_db()
    assert person.email == "new-address@example.com"
    assert not person.email_verified
    assert AuditLog.objects.filter(action="user.update", object_id=str(person.pk)).exists()


def test_a_super_admin_cannot_change_their_own_role():
    admin_user = make_user(Role.SUPER_ADMIN, "root")
    client = logged_in(admin_user)
    url = admin_url("core.user", "change", admin_user.pk)
    data = form_data(client.get(url))
    data["role"] = Role.CUSTOMER

    assert client.post(url, data).status_code == 302

    admin_user.refresh_from_db()
    assert (admin_user.role, admin_user.is_superuser) == (Role.SUPER_ADMIN, True)


@pytest.mark.parametrize(("role", "staff"), [(Role.VENDOR, False), (Role.OPS_MANAGER, True)])
def test_adding_a_user_in_the_admin_uses_the_sign_up_service(role, staff):
    client = logged_in(make_user(Role.SUPER_ADMIN, "root"))

    response = client.post(
        admin_url("core.user", "add"),
        {
            "username": "newcomer",
            "email": "newcomer@example.com",
            "first_name": "New",
            "last_name": "Comer",
            "phone": "+919812345678",
            "role": role,
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    user = User.objects.get(username="newcomer")
    assert response["Location"] == admin_url("core.user", "change", user.pk)
    assert user.check_password(PASSWORD)
    assert (user.role, user.is_staff) == (role, staff)
    assert VendorProfile.objects.filter(user=user).exists() == (role == Role.VENDOR)
    assert AuditLog.objects.filter(action="user.register", object_id=str(user.pk)).exists()


def test_users_are_never_deleted_in_the_admin():
    person = make_user(Role.CUSTOMER, "person")
    client = logged_in(make_user(Role.SUPER_ADMIN, "root"))

    assert client.post(admin_url("core.user", "delete", person.pk), {"post": "yes"}).status_code == 403
    assert User.objects.filter(pk=person.pk).exists()


# --- Vendors ------------------------------------------------------------------------------------


def test_onboarding_status_and_rating_are_read_only_for_the_onboard_manager():
    onboarder = make_user(Role.ONBOARD_MANAGER, "onboarder")
    vendor = make_user(Role.VENDOR, "plumber").vendor_profile
    client = logged_in(onboarder)
    url = admin_url("core.vendorprofile", "change", vendor.pk)
    page = client.get(url)
    assert page.status_code == 200
    assert all(
        not (inline.has_add_permission or inline.has_change_permission or inline.has_delete_permission)
        for inline in page.context["inline_admin_formsets"]
    )
    editable = set(page.context["adminform"].form.fields)
    assert {"display_name", "working_hours", "is_available"} <= editable
    assert not {"onboarding_status", "rating_avg", "rating_count", "payout_account_id", "user"} & editable
    data = form_data(page)
    data.update(display_name="Plumber Pro", onboarding_status=OnboardingStatus.APPROVED, rating_avg="5.00")

    response = client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    vendor.refresh_from_db()
    assert vendor.display_name == "Plumber Pro"
    assert vendor.onboarding_status == OnboardingStatus.PENDING
    assert vendor.rating_avg == 0
    assert AuditLog.objects.filter(action="vendor.update", object_id=str(vendor.pk), actor=onboarder).exists()


def test_vendor_profile_changelist_stays_within_a_query_budget(django_assert_max_num_queries):
    VendorFactory.create_batch(50)
    client = logged_in(make_user(Role.ONBOARD_MANAGER, "onboarder"))

    with django_assert_max_num_queries(12):
        response = client.get(admin_url("core.vendorprofile"))

    assert response.status_code == 200
    assert response.context["cl"].result_count == 50


# --- Bookings -----------------------------------------------------------------------------------


@pytest.fixture
def service():
    return ServiceFactory(name="Deep cleaning", duration_minutes=60)


@pytest.fixture
def vendor(service):
    vendor = VendorFactory(display_name="Sparkle Cleaning")
    VendorServiceFactory(vendor=vendor, service=service)
    return vendor


@pytest.mark.parametrize("role", [Role.OPS_MANAGER, Role.SUPER_ADMIN])
def test_booking_page_shows_lines_timeline_and_offers_and_never_saves(role, service, vendor):
    booking = book(customer=CustomerFactory(), vendor=vendor, service=service, when=local_time(3, 10))
    client = logged_in(make_user(role, "staffer"))
    url = admin_url("bookings.booking", "change", booking.pk)

    page = client.get(url)

    assert page.status_code == 200
    inlines = {
        inline.formset.model.__name__: len(inline.formset.forms) for inline in page.context["inline_admin_formsets"]
    }
    assert inlines == {"BookingLine": 1, "BookingEvent": booking.events.count(), "BookingOffer": 1}
    assert inlines["BookingEvent"] >= 1
    assert all(
        not (inline.has_add_permission or inline.has_change_permission or inline.has_delete_permission)
        for inline in page.context["inline_admin_formsets"]
    )
    content = page.content.decode()
    assert booking.booking_number in content
    assert "Deep cleaning" in content
    assert "Sparkle Cleaning" in content
    assert 'name="_save"' not in content

    before = Booking.objects.filter(pk=booking.pk).values().get()
    events_before = BookingEvent.objects.filter(booking=booking).count()
    response = client.post(url, {"status": "cancelled", "notes": "changed by admin", "total": "0.00"})

    assert response.status_code == 403
    assert Booking.objects.filter(pk=booking.pk).values().get() == before
    assert BookingEvent.objects.filter(booking=booking).count() == events_before


def test_bookings_cannot_be_added_or_deleted_in_the_admin(service, vendor):
    booking = book(customer=CustomerFactory(), vendor=vendor, service=service, when=local_time(3, 10))
    client = logged_in(make_user(Role.SUPER_ADMIN, "root"))

    assert client.get(admin_url("bookings.booking", "add")).status_code == 403
    assert client.post(admin_url("bookings.booking", "delete", booking.pk), {"post": "yes"}).status_code == 403
    assert Booking.objects.filter(pk=booking.pk).exists()


def test_booking_changelist_stays_within_a_query_budget(service, django_assert_max_num_queries):
    vendors = []
    for _ in range(5):
        vendor = VendorFactory()
        VendorServiceFactory(vendor=vendor, service=service)
        vendors.append(vendor)
    customers = CustomerFactory.create_batch(10)
    slots = [
        local_time(day, hour, minute)
        for day in (2, 3)
        for hour, minute in ((8, 0), (9, 30), (11, 0), (12, 30), (14, 0))
    ]
    for index, (when, vendor) in enumerate((when, vendor) for when in slots for vendor in vendors):
        book(customer=customers[index % len(customers)], vendor=vendor, service=service, when=when)
    client = logged_in(make_user(Role.OPS_MANAGER, "ops"))

    with django_assert_max_num_queries(12):
        response = client.get(admin_url("bookings.booking"))

    assert response.status_code == 200
    assert response.context["cl"].result_count == 50
    assert len(response.context["cl"].result_list) == 50


# --- Audit log ----------------------------------------------------------------------------------


def make_plain_superuser():
    """A superuser as ``manage.py createsuperuser`` makes one (the role left at its default)."""
    return User.objects.create_superuser("bootstrap", "bootstrap@example.com", PASSWORD)


@pytest.fixture(params=["super_admin_role", "plain_superuser"])
def superuser(request):
    return make_user(Role.SUPER_ADMIN, "root") if request.param == "super_admin_role" else make_plain_superuser()


def test_the_audit_log_is_read_only_in_the_admin_even_for_superusers(superuser):
    entry = AuditLog.objects.create(action="test", object_type="core.user", object_id="1")
    client = logged_in(superuser)

    changelist = client.get(admin_url("core.auditlog"))
    detail = client.get(admin_url("core.auditlog", "change", entry.pk))

    assert changelist.status_code == 200
    assert "delete_selected" not in changelist.content.decode()
    assert detail.status_code == 200
    assert entry.action in detail.content.decode()
    assert 'name="_save"' not in detail.content.decode()
    assert client.get(admin_url("core.auditlog", "add")).status_code == 403
    assert client.post(admin_url("core.auditlog", "add"), {"action": "forged"}).status_code == 403
    assert client.post(admin_url("core.auditlog", "change", entry.pk), {"action": "edited"}).status_code == 403
    assert client.get(admin_url("core.auditlog", "delete", entry.pk)).status_code == 403
    assert client.post(admin_url("core.auditlog", "delete", entry.pk), {"post": "yes"}).status_code == 403
    client.post(
        admin_url("core.auditlog"), {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"}
    )
    entry.refresh_from_db()
    assert entry.action != "edited"
    assert AuditLog.objects.filter(pk=entry.pk).exists()
    assert not AuditLog.objects.filter(action="forged").exists()


@pytest.mark.parametrize("role", [Role.OPS_MANAGER, Role.ONBOARD_MANAGER])
def test_only_super_admins_see_the_audit_log(role):
    entry = AuditLog.objects.create(action="test", object_type="core.user", object_id="1")
    client = logged_in(make_user(role, "staffer"))

    assert client.get(admin_url("core.auditlog")).status_code == 403
    assert client.get(admin_url("core.auditlog", "change", entry.pk)).status_code == 403


def test_the_audit_log_model_refuses_updates_and_deletes():
    entry = AuditLog.objects.create(action="test", object_type="core.user", object_id="1")

    entry.action = "edited"
    with pytest.raises(PermissionError):
        entry.save()
    with pytest.raises(PermissionError):
        entry.delete()
    with pytest.raises(PermissionError):
        AuditLog.objects.filter(pk=entry.pk).update(action="edited")
    with pytest.raises(PermissionError):
        AuditLog.objects.filter(pk=entry.pk).delete()
    # bulk_update runs its update inside an atomic block; the refusal rolls that block back.
    with pytest.raises(PermissionError), transaction.atomic():
        AuditLog.objects.bulk_update([entry], ["action"])

    assert AuditLog.objects.get(pk=entry.pk).action == "test"


# --- System settings ----------------------------------------------------------------------------


def test_system_settings_are_edited_only_by_super_admins():
    settings_row = SystemSettings.load()
    ops = logged_in(make_user(Role.OPS_MANAGER, "ops"))
    root_user = make_user(Role.SUPER_ADMIN, "root")
    root = logged_in(root_user)
    url = admin_url("core.systemsettings", "change", settings_row.pk)

    page = ops.get(url)
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert ops.post(url, {"tax_rate": "0.50"}).status_code == 403

    data = form_data(root.get(url))
    data["tax_rate"] = "0.2000"
    response = root.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    assert str(SystemSettings.load().tax_rate) == "0.2000"
    entry = AuditLog.objects.get(action="settings.update", actor=root_user)
    assert entry.old_values == {"tax_rate": "0.1800"}
    assert entry.new_values == {"tax_rate": "0.2000"}


def test_system_settings_stay_a_single_row():
    settings_row = SystemSettings.load()
    client = logged_in(make_user(Role.SUPER_ADMIN, "root"))

    assert client.get(admin_url("core.systemsettings", "add")).status_code == 403
    assert client.post(admin_url("core.systemsettings", "delete", settings_row.pk), {"post": "yes"}).status_code == 403
    assert SystemSettings.objects.count() == 1


def test_system_settings_can_be_created_once_when_missing():
    client = logged_in(make_user(Role.SUPER_ADMIN, "root"))
    SystemSettings.objects.all().delete()

    assert client.get(admin_url("core.systemsettings", "add")).status_code == 200
    SystemSettings.load()
    assert client.get(admin_url("core.systemsettings", "add")).status_code == 403


# --- Login lockout (§11) ------------------------------------------------------------------------


def test_five_failed_admin_logins_lock_the_account_but_not_others_from_the_same_address():
    make_user(Role.OPS_MANAGER, "opsone")
    make_user(Role.OPS_MANAGER, "opstwo")
    client = Client(REMOTE_ADDR="203.0.113.7")

    # Failures count per account, whether the username or the e-mail address was typed.
    for typed in ("opsone", "opsone", "opsone", "opsone@example.com"):
        response = client.post(LOGIN_URL, {"username": typed, "password": "Wrong!pass1"})
        assert response.status_code == 200
    fifth = client.post(LOGIN_URL, {"username": "opsone", "password": "Wrong!pass1"})
    assert fifth.status_code == 429

    locked = client.post(LOGIN_URL, {"username": "opsone", "password": PASSWORD, "next": "/admin/"})

    assert locked.status_code == 429
    assert locked["Retry-After"] == "900"
    assert "_auth_user_id" not in client.session
    other = Client(REMOTE_ADDR="203.0.113.7")
    response = other.post(LOGIN_URL, {"username": "opstwo", "password": PASSWORD, "next": "/admin/"})
    assert response.status_code == 302
    assert other.get(reverse("admin:index")).status_code == 200

    # 15 minutes later the account signs in again.
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=15, seconds=1))
    response = client.post(LOGIN_URL, {"username": "opsone", "password": PASSWORD, "next": "/admin/"})
    assert response.status_code == 302
    assert client.get(reverse("admin:index")).status_code == 200


def test_createsuperuser_makes_a_super_admin():
    from django.core.management import call_command

    call_command("createsuperuser", username="root2", email="root2@example.com", interactive=False, verbosity=0)
    user = User.objects.get(username="root2")
    assert user.is_superuser and user.is_staff
    assert user.role == Role.SUPER_ADMIN
