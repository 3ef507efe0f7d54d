"""Sign-up, sign-in, lockout, token rotation and the caller's own account (§10, §11)."""

import pytest

from core.models import AuditLog, OnboardingStatus, Role, User, VendorProfile
from core.tests.factories import PASSWORD, CustomerFactory

pytestmark = pytest.mark.django_db

STRONG = "Sunny!Day42"


def register(api_client, **overrides):
    payload = {
        "email": "asha@example.com",
        "password": STRONG,
        "role": "customer",
        "first_name": "Asha",
        "last_name": "Rao",
        "phone": "+919876543210",
    }
    payload.update(overrides)
    return api_client.post("/auth/register/", payload, format="json")


def login(api_client, username, password=PASSWORD):
    return api_client.post("/auth/login/", {"username": username, "password": password}, format="json")


# --- register ------------------------------------------------------------------------------------


def test_register_answers_201_with_user_and_a_working_token_pair(api_client):
    response = register(api_client)

    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) >= {"user", "access", "refresh"}
    assert body["user"]["email"] == "asha@example.com"
    assert body["user"]["role"] == "customer"
    user = User.objects.get(email="asha@example.com")
    assert user.check_password(STRONG)
    assert str(user.pk) == body["user"]["id"]
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {body['access']}")
    me = api_client.get("/api/users/me/")
    assert me.status_code == 200
    assert me.json()["email"] == "asha@example.com"


@pytest.mark.parametrize(
    "password",
    [
        pytest.param("sunny!day42", id="no-upper"),
        pytest.param("SUNNY!DAY42", id="no-lower"),
        pytest.param("Sunny!Dayxx", id="no-digit"),
        pytest.param("SunnyDay42x", id="no-special"),
        pytest.param("Sun!y4D", id="shorter-than-8"),
    ],
)
def test_register_refuses_a_weak_password(api_client, password):
    response = register(api_client, password=password)

    assert response.status_code == 400
    assert "password" in response.json()
    assert not User.objects.filter(email="asha@example.com").exists()


def test_register_refuses_an_e_mail_already_taken_in_another_case(api_client):
    CustomerFactory(email="asha@example.com")

    response = register(api_client, email="ASHA@Example.COM", phone="")

    assert response.status_code == 400
    assert "email" in response.json()
    assert User.objects.filter(email__iexact="asha@example.com").count() == 1


LONG_EMAIL = ".".join(["a" * 60] * 4) + "@example.com"  # valid syntax, longer than the 254-char column


@pytest.mark.parametrize(
    "field,value",
    [
        ("email", "not-an-email"),
        ("email", LONG_EMAIL),
        ("phone", "98450"),
        ("first_name", "x" * 151),
        ("password", ""),
    ],
)
def test_register_refuses_bad_fields_with_400_never_500(api_client, field, value):
    response = register(api_client, **{field: value})

    assert response.status_code == 400
    assert field in response.json()
    assert not User.objects.exists()


def test_register_refuses_a_phone_already_taken(api_client):
    CustomerFactory(phone="+919876543210")

    response = register(api_client)

    assert response.status_code == 400
    assert "phone" in response.json()


@pytest.mark.parametrize("role", ["ops_manager", "super_admin", "onboard_manager", "wizard"])
def test_register_refuses_any_role_but_customer_or_vendor(api_client, role):
    response = register(api_client, role=role)

    assert response.status_code == 400
    assert "role" in response.json()
    assert not User.objects.filter(email="asha@example.com").exists()


def test_registering_as_vendor_creates_a_profile_pending_onboarding(api_client):
    response = register(api_client, role="vendor")

    assert response.status_code == 201, response.json()
    user = User.objects.get(email="asha@example.com")
    assert user.role == Role.VENDOR
    assert not user.is_staff
    profile = VendorProfile.objects.get(user=user)
    assert profile.onboarding_status == OnboardingStatus.PENDING
    assert not profile.is_bookable


# --- login and lockout ---------------------------------------------------------------------------


@pytest.mark.parametrize("identifier", ["username", "email", "EMAIL-UPPER"])
def test_login_by_username_or_e_mail(api_client, identifier):
    user = CustomerFactory(username="meera", email="meera@example.com")
    name = {"username": "meera", "email": "meera@example.com", "EMAIL-UPPER": "Meera@Example.com"}[identifier]

    response = login(api_client, name)

    assert response.status_code == 200, response.json()
    body = response.json()
    assert set(body) >= {"access", "refresh", "user"}
    assert body["user"] == {"id": str(user.pk), "username": "meera", "email": "meera@example.com", "role": "customer"}
    user.refresh_from_db()
    assert user.last_login is not None


def test_login_with_a_wrong_password_answers_401(api_client):
    CustomerFactory(username="meera")

    response = login(api_client, "meera", "Wrong!pass1")

    assert response.status_code == 401
    assert "access" not in response.json()


def test_five_failures_lock_the_account_even_for_the_right_password(api_client):
    CustomerFactory(username="meera", email="meera@example.com")
    for _attempt in range(5):
        assert login(api_client, "meera", "Wrong!pass1").status_code in (401, 429)

    response = login(api_client, "meera", PASSWORD)

    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "access" not in response.json()


def test_four_failures_do_not_lock_and_success_resets_the_count(api_client):
    CustomerFactory(username="meera")
    for _attempt in range(4):
        assert login(api_client, "meera", "Wrong!pass1").status_code == 401

    assert login(api_client, "meera", PASSWORD).status_code == 200
    for _attempt in range(4):
        assert login(api_client, "meera", "Wrong!pass1").status_code == 401
    assert login(api_client, "meera", PASSWORD).status_code == 200


def test_failures_by_e_mail_and_by_username_count_against_one_account(api_client):
    CustomerFactory(username="meera", email="meera@example.com")
    for name in ["meera", "meera@example.com", "MEERA", "Meera@Example.com", "meera"]:
        assert login(api_client, name, "Wrong!pass1").status_code in (401, 429)

    by_email = login(api_client, "meera@example.com", PASSWORD)
    by_username = login(api_client, "meera", PASSWORD)

    assert by_email.status_code == 429
    assert "Retry-After" in by_email
    assert by_username.status_code == 429


def test_a_locked_account_does_not_lock_another_account_from_the_same_address(api_client):
    CustomerFactory(username="meera")
    CustomerFactory(username="ravi")
    for _attempt in range(6):
        login(api_client, "meera", "Wrong!pass1")
    assert login(api_client, "meera", PASSWORD).status_code == 429

    response = login(api_client, "ravi", PASSWORD)

    assert response.status_code == 200, response.json()


# --- refresh and logout --------------------------------------------------------------------------


def test_refresh_rotates_and_the_old_refresh_token_is_rejected(api_client):
    CustomerFactory(username="meera")
    old_refresh = login(api_client, "meera").json()["refresh"]

    rotated = api_client.post("/auth/refresh/", {"refresh": old_refresh}, format="json")

    assert rotated.status_code == 200, rotated.json()
    pair = rotated.json()
    assert pair["access"] and pair["refresh"] and pair["refresh"] != old_refresh
    assert api_client.post("/auth/refresh/", {"refresh": old_refresh}, format="json").status_code == 401
    assert api_client.post("/auth/refresh/", {"refresh": pair["refresh"]}, format="json").status_code == 200


def test_refresh_with_garbage_answers_401(api_client):
    assert api_client.post("/auth/refresh/", {"refresh": "not-a-token"}, format="json").status_code == 401


def test_logout_blacklists_the_refresh_token(api_client):
    CustomerFactory(username="meera")
    refresh = login(api_client, "meera").json()["refresh"]

    response = api_client.post("/auth/logout/", {"refresh": refresh}, format="json")

    assert response.status_code == 200
    assert api_client.post("/auth/refresh/", {"refresh": refresh}, format="json").status_code == 401


# --- the caller's own account --------------------------------------------------------------------


def test_me_without_a_token_answers_401(api_client):
    assert api_client.get("/api/users/me/").status_code == 401
    assert api_client.patch("/api/users/me/", {"first_name": "X"}, format="json").status_code == 401


def test_me_with_a_bad_token_answers_401(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not.a.jwt")
    assert api_client.get("/api/users/me/").status_code == 401


def test_patch_me_changes_the_name_and_writes_an_audit_row(client_for):
    user = CustomerFactory(first_name="Old")
    api = client_for(user)

    response = api.patch("/api/users/me/", {"first_name": "Lakshmi"}, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["first_name"] == "Lakshmi"
    user.refresh_from_db()
    assert user.first_name == "Lakshmi"
    entry = AuditLog.objects.get(action="user.update", object_id=str(user.pk))
    assert entry.actor_id == user.pk
    assert entry.old_values == {"first_name": "Old"}
    assert entry.new_values == {"first_name": "Lakshmi"}


@pytest.mark.parametrize("phone", ["98765", "+0123456789", "919876543210", "+91 98765 43210", "phone"])
def test_patch_me_refuses_a_malformed_phone(client_for, phone):
    user = CustomerFactory()
    before = user.phone

    response = client_for(user).patch("/api/users/me/", {"phone": phone}, format="json")

    assert response.status_code == 400
    assert "phone" in response.json()
    user.refresh_from_db()
    assert user.phone == before
    assert not AuditLog.objects.filter(action="user.update").exists()


def test_patch_me_refuses_an_e_mail_another_account_has(client_for):
    CustomerFactory(email="taken@example.com")
    user = CustomerFactory(email="mine@example.com", email_verified=True)

    response = client_for(user).patch("/api/users/me/", {"email": "Taken@Example.com"}, format="json")

    assert response.status_code == 400
    assert "email" in response.json()
    user.refresh_from_db()
    assert user.email == "mine@example.com"
    assert user.email_verified


def test_patch_me_refuses_a_phone_another_account_has(client_for):
    CustomerFactory(phone="+919811111111")
    user = CustomerFactory()

    response = client_for(user).patch("/api/users/me/", {"phone": "+919811111111"}, format="json")

    assert response.status_code == 400
    assert "phone" in response.json()


def test_patch_me_refuses_an_over_long_e_mail(client_for):
    user = CustomerFactory()

    response = client_for(user).patch("/api/users/me/", {"email": LONG_EMAIL}, format="json")

    assert response.status_code == 400
    assert "email" in response.json()


def test_changing_the_e_mail_resets_its_verification(client_for):
    user = CustomerFactory(email="mine@example.com", email_verified=True)

    response = client_for(user).patch("/api/users/me/", {"email": "new@example.com"}, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["email"] == "new@example.com"
    assert response.json()["email_verified"] is False
    user.refresh_from_db()
    assert (user.email, user.email_verified) == ("new@example.com", False)
    entry = AuditLog.objects.get(action="user.update", object_id=str(user.pk))
    assert entry.new_values["email"] == "new@example.com"
    assert entry.new_values["email_verified"] is False


def test_changing_the_phone_resets_its_verification(client_for):
    user = CustomerFactory(phone="+919822222222", phone_verified=True)

    response = client_for(user).patch("/api/users/me/", {"phone": "+919833333333"}, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["phone_verified"] is False
    assert AuditLog.objects.filter(action="user.update", object_id=str(user.pk)).count() == 1


def test_every_change_writes_its_own_audit_row(client_for):
    user = CustomerFactory()
    api = client_for(user)

    api.patch("/api/users/me/", {"first_name": "A"}, format="json")
    api.patch("/api/users/me/", {"last_name": "B"}, format="json")
    api.patch("/api/users/me/", {"last_name": "B"}, format="json")  # no change, no row

    assert AuditLog.objects.filter(action="user.update", object_id=str(user.pk)).count() == 2


def test_patch_me_cannot_change_the_role(client_for):
    user = CustomerFactory()

    response = client_for(user).patch("/api/users/me/", {"role": "super_admin"}, format="json")

    assert response.status_code in (200, 400)
    user.refresh_from_db()
    assert user.role == Role.CUSTOMER
    assert not user.is_staff
