"""The contact form (issue 6; core/contact.py): ``POST /api/contact/`` for anyone, throttled,
stored and told to ops; worked in the admin by ops (status and notes, audited, never deleted)."""

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from core.contact import contact_message_submit, contact_message_update
from core.errors import Forbidden
from core.models import AuditLog, ContactMessage, ContactStatus, Notification, Role
from core.services import user_register, user_set_role
from core.tests.factories import PASSWORD, CustomerFactory

pytestmark = pytest.mark.django_db

URL = "/api/contact/"
MESSAGE = {
    "name": "Priya Nair",
    "email": "priya@example.com",
    "subject": "Invoice for BK-20270301-000001",
    "message": "Please send me a GST invoice for my cleaning last week.",
}


def staff(role, name):
    user = user_register(email=f"{name}@example.com", password=PASSWORD, first_name=name.title(), username=name)
    user_set_role(user=user, role=role, actor=user)
    return user


def admin_client(user):
    client = Client()
    client.force_login(user)
    return client


def change_url(message):
    return reverse("admin:core_contactmessage_change", args=[message.pk])


# --- the form --------------------------------------------------------------------------------------


def test_anyone_may_write_and_ops_are_told(api_client):
    ops = staff(Role.OPS_MANAGER, "opsy")
    admin = staff(Role.SUPER_ADMIN, "boss")
    customer = CustomerFactory()

    response = api_client.post(URL, MESSAGE, format="json")

    assert response.status_code == 201, response.json()
    message = ContactMessage.objects.get(pk=response.json()["id"])
    assert (message.name, message.email, message.subject) == ("Priya Nair", "priya@example.com", MESSAGE["subject"])
    assert message.status == ContactStatus.NEW and message.user is None and message.handled_by is None
    told = Notification.objects.filter(kind="contact.new")
    assert set(told.values_list("user", flat=True)) == {ops.pk, admin.pk}
    assert not told.filter(user=customer).exists()
    note = told.get(user=ops)
    assert MESSAGE["subject"] in note.title and f"/admin/core/contactmessage/{message.pk}/change/" in note.body
    # the sender's name and words stay in the message, not in ops' notification list
    assert "Priya" not in note.body + note.title and "GST invoice" not in note.body
    assert AuditLog.objects.filter(action="contact.received", object_id=str(message.pk), actor=None).exists()


def test_a_signed_in_sender_may_leave_out_name_and_e_mail(client_for):
    customer = CustomerFactory(first_name="Arjun", last_name="Rao", email="arjun@example.com")

    response = client_for(customer).post(URL, {"subject": "Hello", "message": "A question"}, format="json")

    assert response.status_code == 201, response.json()
    message = ContactMessage.objects.get()
    assert (message.name, message.email, message.user) == ("Arjun Rao", "arjun@example.com", customer)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        pytest.param({"name": ""}, "name", id="no-name"),
        pytest.param({"email": "not-an-address"}, "email", id="bad-email"),
        pytest.param({"email": ""}, "email", id="no-email"),
        pytest.param({"subject": ""}, "subject", id="no-subject"),
        pytest.param({"subject": "s" * 201}, "subject", id="long-subject"),
        pytest.param({"message": ""}, "message", id="no-message"),
        pytest.param({"message": "m" * 5001}, "message", id="long-message"),
        pytest.param({"email": "a" * 250 + "@example.com"}, "email", id="long-email"),
        # A number where the schema says string: refused, not stored as "0.5" (core/api/strict.py).
        pytest.param({"name": 0.5}, "name", id="number-for-name"),
        pytest.param({"subject": 12}, "subject", id="number-for-subject"),
        pytest.param({"email": 7}, "email", id="number-for-email"),
    ],
)
def test_bad_input_is_a_400_and_nothing_is_stored(api_client, changes, field):
    response = api_client.post(URL, {**MESSAGE, **changes}, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not ContactMessage.objects.exists()
    assert not Notification.objects.exists()


def test_the_form_is_throttled(api_client):
    statuses = [api_client.post(URL, MESSAGE, format="json").status_code for _ in range(6)]

    assert statuses == [201] * 5 + [429]
    assert ContactMessage.objects.count() == 5
    assert int(api_client.post(URL, MESSAGE, format="json")["Retry-After"]) > 0


# --- ops in the admin ------------------------------------------------------------------------------


def test_ops_may_view_and_change_but_never_add_or_delete():
    perms = set(Group.objects.get(name="ops_manager").permissions.values_list("codename", flat=True))
    assert {"view_contactmessage", "change_contactmessage"} <= perms
    assert not {"add_contactmessage", "delete_contactmessage"} & perms
    onboard = set(Group.objects.get(name="onboard_manager").permissions.values_list("codename", flat=True))
    assert not {p for p in onboard if p.endswith("contactmessage")}

    message = contact_message_submit(**MESSAGE)
    for role, name in ((Role.OPS_MANAGER, "opsy"), (Role.SUPER_ADMIN, "boss")):
        client = admin_client(staff(role, name))
        assert client.get(reverse("admin:core_contactmessage_changelist")).status_code == 200
        assert client.get(change_url(message)).status_code == 200
        assert client.get(reverse("admin:core_contactmessage_add")).status_code == 403
        assert client.get(reverse("admin:core_contactmessage_delete", args=[message.pk])).status_code == 403
        assert (
            client.post(reverse("admin:core_contactmessage_delete", args=[message.pk]), {"post": "yes"}).status_code
            == 403
        )
    assert ContactMessage.objects.filter(pk=message.pk).exists()
    onboarding = admin_client(staff(Role.ONBOARD_MANAGER, "onboardy"))
    assert onboarding.get(reverse("admin:core_contactmessage_changelist")).status_code == 403


def test_ops_change_status_and_notes_and_every_change_is_audited():
    ops = staff(Role.OPS_MANAGER, "opsy")
    message = contact_message_submit(**MESSAGE)
    client = admin_client(ops)

    response = client.post(
        change_url(message), {"status": "replied", "ops_notes": "Sent the invoice by e-mail.", "_save": "Save"}
    )

    assert response.status_code == 302, response.content[:2000]
    message.refresh_from_db()
    assert message.status == ContactStatus.REPLIED and message.ops_notes == "Sent the invoice by e-mail."
    assert message.handled_by == ops and message.resolved_at is None
    entry = AuditLog.objects.get(action="contact.update", object_id=str(message.pk))
    assert entry.actor == ops
    assert entry.old_values == {"status": "new", "ops_notes": "", "handled_by": None}
    assert entry.new_values == {
        "status": "replied",
        "ops_notes": "Sent the invoice by e-mail.",
        "handled_by": str(ops.pk),
    }

    client.post(change_url(message), {"status": "resolved", "ops_notes": message.ops_notes, "_save": "Save"})
    message.refresh_from_db()
    assert message.status == ContactStatus.RESOLVED and message.resolved_at is not None
    second = AuditLog.objects.filter(action="contact.update", object_id=str(message.pk)).order_by("-created_at")[0]
    assert second.old_values == {"status": "replied"} and second.new_values == {"status": "resolved"}


def test_the_senders_words_cannot_be_edited_in_the_admin():
    ops = staff(Role.OPS_MANAGER, "opsy")
    message = contact_message_submit(**MESSAGE)

    admin_client(ops).post(
        change_url(message),
        {"status": "read", "ops_notes": "", "message": "rewritten", "email": "x@example.com", "_save": "Save"},
    )

    message.refresh_from_db()
    assert message.status == ContactStatus.READ
    assert message.message == MESSAGE["message"] and message.email == MESSAGE["email"]


def test_saving_without_a_change_writes_nothing():
    ops = staff(Role.OPS_MANAGER, "opsy")
    message = contact_message_submit(**MESSAGE)

    contact_message_update(message=message, actor=ops, status="new", ops_notes="")

    message.refresh_from_db()
    assert message.handled_by is None
    assert not AuditLog.objects.filter(action="contact.update").exists()


def test_only_staff_with_the_permission_may_change_a_message():
    message = contact_message_submit(**MESSAGE)

    with pytest.raises(Forbidden):
        contact_message_update(message=message, actor=CustomerFactory(), status="read")
    with pytest.raises(Forbidden):
        contact_message_update(message=message, actor=staff(Role.ONBOARD_MANAGER, "onboardy"), status="read")
    message.refresh_from_db()
    assert message.status == ContactStatus.NEW
