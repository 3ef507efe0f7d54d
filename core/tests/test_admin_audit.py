"""The admin's audit trail (issue 8, ARCHITECTURE §11): every save, delete attempt and action in the
admin writes an AuditLog row with old and new values, the staff member, IP address and user agent;
the audit log itself is read-only in the admin and filterable by actor, object type and date."""

from datetime import timedelta

import pytest
from django.contrib.admin import helpers
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from bookings.models import ServiceCategory
from bookings.tests.factories import CategoryFactory
from core.models import AuditLog, Role, SystemSettings, User
from core.tests.factories import PASSWORD
from core.tests.test_admin import admin_url, form_data, logged_in, make_user

pytestmark = pytest.mark.django_db

IP, UA = "203.0.113.9", "OpsBrowser/1.0 (audit test)"


def client_of(user):
    client = logged_in(user)
    client.defaults.update(REMOTE_ADDR=IP, HTTP_USER_AGENT=UA)
    return client


@pytest.fixture
def root():
    return make_user(Role.SUPER_ADMIN, "root")


def only(action, **filters):
    (entry,) = AuditLog.objects.filter(action=action, **filters)
    return entry


def test_a_save_records_old_and_new_values_ip_and_user_agent(root):
    category = CategoryFactory(name="Cleaning", slug="cleaning")
    client = client_of(root)
    url = admin_url("bookings.servicecategory", "change", category.pk)
    data = form_data(client.get(url))
    data["name"] = "Home cleaning"

    assert client.post(url, data).status_code == 302

    entry = only("admin.change", object_type="bookings.servicecategory")
    assert entry.actor == root
    assert entry.object_id == str(category.pk)
    assert entry.old_values == {"name": "Cleaning"}
    assert entry.new_values == {"name": "Home cleaning"}
    assert (entry.ip_address, entry.user_agent) == (IP, UA)


def test_an_add_records_the_new_values_and_never_a_password(root):
    client = client_of(root)

    response = client.post(
        admin_url("core.user", "add"),
        {
            "username": "newops",
            "email": "newops@example.com",
            "first_name": "New",
            "last_name": "Ops",
            "phone": "+919812345670",
            "role": Role.OPS_MANAGER,
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )

    assert response.status_code == 302
    user = User.objects.get(username="newops")
    entry = only("admin.add", object_type="core.user")
    assert entry.object_id == str(user.pk)
    assert entry.new_values["role"] == Role.OPS_MANAGER
    assert entry.new_values["email"] == "newops@example.com"
    assert PASSWORD not in str(entry.new_values)
    assert entry.new_values["password1"] == "********"


def test_system_settings_edits_are_audited_with_old_and_new_values(root):
    settings_row = SystemSettings.load()
    client = client_of(root)
    url = admin_url("core.systemsettings", "change", settings_row.pk)
    data = form_data(client.get(url))
    data.update(commission_rate="0.2000", travel_buffer_minutes="45")

    assert client.post(url, data).status_code == 302

    admin_entry = only("admin.change", object_type="core.systemsettings")
    assert admin_entry.old_values == {"commission_rate": "0.1500", "travel_buffer_minutes": 30}
    assert admin_entry.new_values == {"commission_rate": "0.2000", "travel_buffer_minutes": 45}
    service_entry = only("settings.update", actor=root)
    assert service_entry.old_values == {"commission_rate": "0.1500", "travel_buffer_minutes": 30}


def test_deleting_records_what_the_row_held(root):
    category = CategoryFactory(name="Pest control", slug="pest-control")
    client = client_of(root)

    response = client.post(admin_url("bookings.servicecategory", "delete", category.pk), {"post": "yes"})

    assert response.status_code == 302
    assert not ServiceCategory.objects.filter(pk=category.pk).exists()
    entry = only("admin.delete", object_type="bookings.servicecategory")
    assert entry.object_id == str(category.pk)
    assert entry.old_values["name"] == "Pest control"
    assert entry.ip_address == IP


def test_deleting_selected_rows_records_each_and_the_action(root):
    categories = [CategoryFactory(name=f"Old {n}", slug=f"old-{n}") for n in range(2)]
    client = client_of(root)

    response = client.post(
        admin_url("bookings.servicecategory"),
        {"action": "delete_selected", helpers.ACTION_CHECKBOX_NAME: [c.pk for c in categories], "post": "yes"},
    )

    assert response.status_code == 302
    assert not ServiceCategory.objects.filter(pk__in=[c.pk for c in categories]).exists()
    deleted = set(AuditLog.objects.filter(action="admin.delete").values_list("object_id", flat=True))
    assert deleted == {str(c.pk) for c in categories}
    action = only("admin.action", object_type="bookings.servicecategory")
    assert action.new_values["action"] == "delete_selected"
    assert sorted(action.new_values["objects"]) == sorted(str(c.pk) for c in categories)


def test_refused_writes_are_recorded_and_change_nothing():
    ops = make_user(Role.OPS_MANAGER, "ops")
    category = CategoryFactory(name="Plumbing", slug="plumbing")
    client = client_of(ops)

    assert client.post(admin_url("bookings.servicecategory", "delete", category.pk), {"post": "yes"}).status_code == 403
    assert client.post(admin_url("core.user", "add"), {"username": "x", "password1": "p"}).status_code == 403
    user = make_user(Role.CUSTOMER, "someone")
    assert client.post(admin_url("core.user", "change", user.pk), {"username": "hacked"}).status_code == 403

    assert ServiceCategory.objects.filter(pk=category.pk).exists()
    assert User.objects.get(pk=user.pk).username == "someone"
    assert only("admin.delete_refused", actor=ops).object_id == str(category.pk)
    added = only("admin.add_refused", actor=ops)
    assert added.new_values == {"username": "x", "password1": "********"}
    assert only("admin.change_refused", actor=ops).new_values == {"username": "hacked"}


def test_third_party_admins_are_audited_too(root):
    client = client_of(root)

    response = client.post(admin_url("auth.group", "add"), {"name": "night shift"})

    assert response.status_code == 302
    group = Group.objects.get(name="night shift")
    assert only("admin.add", object_type="auth.group").object_id == str(group.pk)


# --- the audit log in the admin -----------------------------------------------------------------


def test_the_audit_log_offers_no_add_change_or_delete(root):
    entry = AuditLog.objects.create(action="booking.cancelled", object_type="bookings.booking", object_id="1")
    client = client_of(root)

    changelist = client.get(admin_url("core.auditlog")).content.decode()
    page = client.get(admin_url("core.auditlog", "change", entry.pk)).content.decode()

    assert admin_url("core.auditlog", "add") not in changelist
    assert 'name="_save"' not in page and 'name="_continue"' not in page
    assert admin_url("core.auditlog", "delete", entry.pk) not in page
    for url, data in (
        (admin_url("core.auditlog", "add"), {"action": "forged"}),
        (admin_url("core.auditlog", "change", entry.pk), {"action": "edited"}),
        (admin_url("core.auditlog", "delete", entry.pk), {"post": "yes"}),
    ):
        assert client.post(url, data).status_code == 403
    assert AuditLog.objects.get(pk=entry.pk).action == "booking.cancelled"
    assert not AuditLog.objects.filter(action="forged").exists()


def test_the_audit_log_filters_by_actor_object_type_and_date(root):
    ops = make_user(Role.OPS_MANAGER, "ops")
    old = AuditLog.objects.create(
        actor=ops,
        action="payout.retry",
        object_type="payments.payout",
        object_id="p1",
        created_at=timezone.now() - timedelta(days=40),
    )
    recent = AuditLog.objects.create(
        actor=ops, action="booking.cancelled", object_type="bookings.booking", object_id="b"
    )
    system = AuditLog.objects.create(actor=None, action="payout.created", object_type="payments.payout", object_id="p2")
    client = client_of(root)

    ours = {old.pk, recent.pk, system.pk}

    def shown(**params):
        response = client.get(admin_url("core.auditlog"), params)
        assert response.status_code == 200
        # (making the staff accounts wrote entries of its own: only these three are looked at)
        return {entry.pk for entry in response.context["cl"].result_list} & ours

    assert shown() == ours
    assert shown(actor=str(ops.pk)) == {old.pk, recent.pk}
    assert shown(actor="system") == {system.pk}
    assert shown(actor="staff") == {old.pk, recent.pk}
    assert shown(actor="not-a-user") == set()
    assert shown(object_type__exact="payments.payout") == {old.pk, system.pk}
    # the date filter's own "Past 7 days" link
    changelist = client.get(admin_url("core.auditlog")).context["cl"]
    dates = next(spec for spec in changelist.filter_specs if getattr(spec, "field_path", "") == "created_at")
    past_week = next(choice for choice in dates.choices(changelist) if str(choice["display"]) == "Past 7 days")
    response = client.get(admin_url("core.auditlog") + past_week["query_string"])
    assert {entry.pk for entry in response.context["cl"].result_list} & ours == {recent.pk, system.pk}
    assert shown(actor=str(ops.pk), object_type__exact="payments.payout") == {old.pk}


def test_a_password_set_in_the_admin_is_audited_without_the_password(root):
    person = make_user(Role.CUSTOMER, "person")
    new_password = "N3w!passw0rd"

    response = client_of(root).post(
        reverse("admin:auth_user_password_change", args=[person.pk]),  # Django's own name for it
        {"password1": new_password, "password2": new_password, "usable_password": "true"},
    )

    assert response.status_code == 302
    person.refresh_from_db()
    assert person.check_password(new_password)
    entry = only("admin.password_change", object_id=str(person.pk))
    assert entry.actor == root
    assert new_password not in str(entry.new_values)
