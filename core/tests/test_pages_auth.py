"""Auth, notification and account pages with Django's test client (issue 7)."""

import logging
import re

import pytest
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from core import accounts
from core.models import Notification, OnboardingStatus, Role, User, VendorProfile
from core.tests.factories import PASSWORD, CustomerFactory, VendorFactory
from core.tests.pages import logged_in

pytestmark = pytest.mark.django_db


def csrf_token(client, url):
    client.get(url)
    return client.cookies["csrftoken"].value


# --- log in / out ----------------------------------------------------------------------------------


def test_login_with_email_lands_a_customer_on_their_bookings():
    customer = CustomerFactory()
    response = Client().post("/login/", {"username": customer.email.upper(), "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/bookings/"


def test_login_honours_a_local_next_and_ignores_another_site():
    customer = CustomerFactory()
    local = Client().post("/login/?next=/notifications/", {"username": customer.username, "password": PASSWORD})
    assert local["Location"] == "/notifications/"
    foreign = Client().post("/login/?next=https://evil.example/", {"username": customer.username, "password": PASSWORD})
    assert foreign["Location"] == "/bookings/"


def test_an_approved_vendor_lands_on_the_dashboard_and_an_applicant_on_the_application():
    vendor = VendorFactory()
    applicant = VendorFactory(onboarding_status=OnboardingStatus.PENDING)
    assert Client().post("/login/", {"username": vendor.user.username, "password": PASSWORD})["Location"] == "/vendor/"
    response = Client().post("/login/", {"username": applicant.user.username, "password": PASSWORD})
    assert response["Location"] == "/vendor/apply/"


def test_a_wrong_password_is_shown_on_the_form():
    customer = CustomerFactory()
    response = Client().post("/login/", {"username": customer.username, "password": "nope"})
    assert response.status_code == 200
    assert "Wrong e-mail, username or password." in response.content.decode()


def test_five_failures_lock_the_account_with_429():
    customer = CustomerFactory()
    client = Client()
    for _ in range(5):
        client.post("/login/", {"username": customer.username, "password": "nope"})
    response = client.post("/login/", {"username": customer.username, "password": PASSWORD})
    assert response.status_code == 429
    assert "Retry-After" in response


def test_csrf_is_enforced_on_the_login_form():
    customer = CustomerFactory()
    client = Client(enforce_csrf_checks=True)
    refused = client.post("/login/", {"username": customer.username, "password": PASSWORD})
    assert refused.status_code == 403
    token = csrf_token(client, "/login/")
    accepted = client.post(
        "/login/", {"username": customer.username, "password": PASSWORD, "csrfmiddlewaretoken": token}
    )
    assert accepted.status_code == 302


def test_logout_needs_a_post():
    client = logged_in(CustomerFactory())
    assert client.get("/logout/").status_code == 405
    assert client.post("/logout/").status_code == 302
    assert client.get("/bookings/")["Location"].startswith("/login/")


# --- sign up ---------------------------------------------------------------------------------------


def test_sign_up_as_a_customer_signs_in():
    client = Client()
    response = client.post(
        "/signup/",
        {
            "role": "customer",
            "first_name": "Asha",
            "email": "asha@example.com",
            "password": "Good#Pass2026",
            "phone": "+91 98000 11111",
        },
    )
    assert response.status_code == 302
    user = User.objects.get(email="asha@example.com")
    assert user.role == Role.CUSTOMER and user.phone == "+919800011111"
    assert client.get("/bookings/").status_code == 200


def test_sign_up_as_a_vendor_makes_an_application():
    response = Client().post(
        "/signup/", {"role": "vendor", "first_name": "Ravi", "email": "ravi@example.com", "password": "Good#Pass2026"}
    )
    assert response["Location"] == "/vendor/apply/"
    assert VendorProfile.objects.get(user__email="ravi@example.com").onboarding_status == OnboardingStatus.PENDING


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"password": "short"}, "password", "This password is too short"),
        ({"email": "taken@example.com"}, "email", "An account with this e-mail already exists."),
        ({"phone": "12345"}, "phone", ""),
        ({"email": "not-an-email"}, "email", "Enter a valid email address."),
    ],
)
def test_sign_up_errors_are_shown_at_their_field(data, field, message):
    CustomerFactory(email="taken@example.com")
    form = {"role": "customer", "first_name": "Asha", "email": "new@example.com", "password": "Good#Pass2026", **data}
    response = Client().post("/signup/", form)
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert field in errors
    assert message in " ".join(errors[field])
    assert f'id="id_{field}_error"' in response.content.decode()


# --- one-time codes --------------------------------------------------------------------------------


def sent_code(caplog) -> str:
    return re.findall(r"(\d{6}) is your HomeServe verification code", caplog.text)[-1]


def test_log_in_with_a_code(caplog, django_capture_on_commit_callbacks):
    caplog.set_level(logging.INFO, logger="core.sms")
    customer = CustomerFactory(phone="+919811112222")
    client = Client()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/login/code/", {"step": "send", "phone": "+91 98111 12222"})
    assert response.status_code == 200 and response.context["code_form"] is not None
    response = client.post("/login/code/", {"step": "verify", "phone": customer.phone, "otp": sent_code(caplog)})
    assert response.status_code == 302
    assert client.get("/bookings/").status_code == 200


def test_a_wrong_code_is_shown_at_the_code_field(caplog, django_capture_on_commit_callbacks):
    caplog.set_level(logging.INFO, logger="core.sms")
    customer = CustomerFactory(phone="+919811113333")
    client = Client()
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/login/code/", {"step": "send", "phone": customer.phone})
    wrong = "000000" if sent_code(caplog) != "000000" else "000001"
    response = client.post("/login/code/", {"step": "verify", "phone": customer.phone, "otp": wrong})
    assert response.status_code == 200
    assert response.context["code_form"].errors["otp"] == ["Wrong code. 4 attempts left."]


def test_a_bad_phone_number_is_shown_at_the_phone_field():
    response = Client().post("/login/code/", {"step": "send", "phone": "12"})
    assert response.status_code == 200
    assert "phone" in response.context["phone_form"].errors


# --- notifications ---------------------------------------------------------------------------------


def notes(user, count):
    Notification.objects.bulk_create(
        [Notification(user=user, kind="test", title=f"Note {n}", body="Body") for n in range(count)]
    )


def test_notifications_are_the_users_own_and_can_be_marked_read():
    customer, other = CustomerFactory(), CustomerFactory()
    notes(customer, 2)
    notes(other, 1)
    client = logged_in(customer)
    response = client.get("/notifications/")
    assert response.status_code == 200
    assert len(response.context["page_obj"].object_list) == 2
    mine = Notification.objects.filter(user=customer).first()
    assert client.post("/notifications/", {"id": mine.pk}).status_code == 302
    mine.refresh_from_db()
    assert mine.read_at is not None
    theirs = Notification.objects.get(user=other)
    assert client.post("/notifications/", {"id": theirs.pk}).status_code == 404
    assert client.post("/notifications/", {"id": "x"}).status_code == 404
    client.post("/notifications/", {"all": "1"})
    assert not Notification.objects.filter(user=customer, read_at__isnull=True).exists()


def test_notifications_page_needs_a_login():
    assert Client().get("/notifications/")["Location"].startswith("/login/")


def count_queries(client, url):
    client.get(url)  # warm up: the session
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def test_notifications_page_query_count_does_not_grow_with_rows():
    customer = CustomerFactory()
    client = logged_in(customer)
    notes(customer, 10)
    few = count_queries(client, "/notifications/")
    notes(customer, 40)
    many = count_queries(client, "/notifications/")
    assert few == many


# --- password reset, e-mail verification, the account page -----------------------------------------


def test_password_reset_by_link(django_capture_on_commit_callbacks):
    customer = CustomerFactory()
    with django_capture_on_commit_callbacks(execute=True):
        response = Client().post("/account/password-reset/", {"email": customer.email})
    assert response.status_code == 200 and response.context["sent"]
    link = re.search(r"/account/reset/[^/\s]+/[^/\s]+/", mail.outbox[-1].body).group(0)
    client = Client()
    assert client.get(link).context["link_ok"]
    mismatch = client.post(link, {"new_password": "Fresh#Pass2026", "new_password_again": "Other#Pass2026"})
    assert "new_password_again" in mismatch.context["form"].errors
    weak = client.post(link, {"new_password": "short", "new_password_again": "short"})
    assert "new_password" in weak.context["form"].errors
    done = client.post(link, {"new_password": "Fresh#Pass2026", "new_password_again": "Fresh#Pass2026"})
    assert done["Location"] == "/login/"
    signed_in = Client().post("/login/", {"username": customer.username, "password": "Fresh#Pass2026"})
    assert signed_in.status_code == 302
    assert not client.get(link).context["link_ok"]  # used once


def test_a_reset_request_for_an_unknown_address_answers_the_same():
    response = Client().post("/account/password-reset/", {"email": "nobody@example.com"})
    assert response.status_code == 200 and response.context["sent"]
    assert mail.outbox == []


def test_a_forged_reset_link_is_refused():
    response = Client().get("/account/reset/abc/def-123/")
    assert response.status_code == 200 and not response.context["link_ok"]
    assert Client().post("/account/reset/abc/def-123/", {"new_password": "x"}).context["link_ok"] is False


def test_email_verification_link():
    customer = CustomerFactory(email_verified=False)
    token = accounts.email_verification_token(customer)
    assert Client().get(f"/account/verify-email/{token}/").status_code == 200
    customer.refresh_from_db()
    assert customer.email_verified
    assert Client().get("/account/verify-email/forged/").status_code == 400


def test_account_page_profile_addresses_export_and_deletion():
    customer = CustomerFactory()
    client = logged_in(customer)
    assert client.get("/account/").status_code == 200
    response = client.post(
        "/account/",
        {
            "action": "profile",
            "first_name": "Meera",
            "last_name": "",
            "email": customer.email,
            "phone": customer.phone,
            "notify_sms": "on",
        },
    )
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.first_name == "Meera" and customer.notify_sms and not customer.notify_email

    bad = client.post("/account/", {"action": "address", "line1": "1 Road", "city": "Pune", "pincode": "012345"})
    assert "pincode" in bad.context["address_form"].errors
    client.post("/account/", {"action": "address", "line1": "1 Road", "city": "Bengaluru", "pincode": "560034"})
    address = customer.addresses.get()
    assert address.is_default
    other = CustomerFactory()
    assert logged_in(other).post("/account/", {"action": "address_delete", "id": address.pk}).status_code == 404

    export = client.get("/account/export/")
    assert export["Content-Type"] == "application/json"
    assert b"560034" in export.content

    wrong = client.post("/account/", {"action": "delete", "password": "nope"})
    assert wrong.context["delete_form"].errors["password"] == ["Wrong password."]
    client.post("/account/", {"action": "address_delete", "id": address.pk})
    assert not customer.addresses.exists()
    gone = client.post("/account/", {"action": "delete", "password": PASSWORD})
    assert gone.status_code == 302
    customer.refresh_from_db()
    assert customer.anonymised_at is not None
