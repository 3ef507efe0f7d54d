"""Password reset by e-mailed link (issue 6; core/accounts.py): no account enumeration, a link
valid one hour, single use, voided by a later password change, and a reset that ends every
session and token of the account."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher
from django.core import mail
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from core.accounts import (
    PASSWORD_RESET_KIND,
    password_reset_check,
    password_reset_confirm,
    password_reset_request,
    password_reset_token,
)
from core.errors import InvalidInput
from core.models import AuditLog, NotificationDelivery, User
from core.tests.concurrency import all_at_once
from core.tests.factories import PASSWORD, CustomerFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "Fresh!Start42"
LINK_RE = re.compile(r"https://homeserve\.example/account/reset/(?P<uid>[^/\s]+)/(?P<token>[^/\s]+)/")


class CountingHasher(MD5PasswordHasher):
    """Django's test hasher, counting how many password hashes are computed."""

    computed = 0

    def encode(self, password, salt):
        type(self).computed += 1
        return super().encode(password, salt)


@pytest.fixture(autouse=True)
def _site(settings):
    settings.SITE_URL = "https://homeserve.example"


@pytest.fixture
def user():
    return CustomerFactory(email="asha@example.com")


def ask_reset(client, email, on_commit):
    with on_commit(execute=True):
        return client.post("/auth/password-reset/", {"email": email}, format="json")


def reset_link(email="asha@example.com"):
    """uid and token of the last reset e-mail sent to ``email``."""
    sent = [message for message in mail.outbox if message.to == [email]]
    assert sent, "no reset e-mail was sent"
    match = LINK_RE.search(sent[-1].body)
    assert match, sent[-1].body
    return match["uid"], match["token"]


def confirm(client, uid, token, password=NEW_PASSWORD):
    return client.post(
        "/auth/password-reset/confirm/", {"token": f"{uid}:{token}", "new_password": password}, format="json"
    )


def login(client, email, password):
    return client.post("/auth/login/", {"username": email, "password": password}, format="json")


# --- asking for a link: no enumeration -----------------------------------------------------------


def test_the_answer_is_the_same_and_a_password_hash_is_computed_for_known_and_unknown_addresses(
    api_client, user, settings, django_capture_on_commit_callbacks
):
    settings.PASSWORD_HASHERS = [f"{__name__}.CountingHasher"]
    CustomerFactory(email="gone@example.com", is_active=False)
    answers, hashes = {}, {}
    for case, email in {
        "known": "Asha@Example.com",
        "unknown": "nobody@example.com",
        "inactive": "gone@example.com",
        "malformed": "not-an-address",
    }.items():
        CountingHasher.computed = 0
        response = ask_reset(api_client, email, django_capture_on_commit_callbacks)
        answers[case] = (response.status_code, response.json())
        hashes[case] = CountingHasher.computed

    assert len(set(map(repr, answers.values()))) == 1, answers
    assert answers["known"][0] == 200
    # the same work on every path: one password hash each
    assert hashes == {"known": 1, "unknown": 1, "inactive": 1, "malformed": 1}
    # and only the active account was written to
    assert [message.to for message in mail.outbox] == [["asha@example.com"]]


def test_the_e_mail_carries_a_link_to_the_reset_page_and_the_token_is_not_stored(
    api_client, user, django_capture_on_commit_callbacks
):
    ask_reset(api_client, "asha@example.com", django_capture_on_commit_callbacks)

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.subject == "Reset your HomeServe password"
    uid, token = reset_link()
    assert password_reset_check(uid=uid, token=token) == user
    delivery = NotificationDelivery.objects.get(kind=PASSWORD_RESET_KIND)
    assert delivery.to == "asha@example.com" and delivery.notification is None and delivery.status == "sent"
    stored = repr(list(NotificationDelivery.objects.values_list())) + repr(list(AuditLog.objects.values_list()))
    assert token not in stored
    assert AuditLog.objects.filter(action="user.password_reset_requested", object_id=str(user.pk)).exists()


def test_at_most_three_reset_e_mails_per_address_per_hour(user):
    now = timezone.now()
    for minute in range(5):
        password_reset_request(email="asha@example.com", now=now + timedelta(minutes=minute))
    assert NotificationDelivery.objects.filter(kind=PASSWORD_RESET_KIND).count() == 3

    password_reset_request(email="asha@example.com", now=now + timedelta(minutes=61))
    assert NotificationDelivery.objects.filter(kind=PASSWORD_RESET_KIND).count() == 4


def test_asking_is_throttled_per_client_address(api_client, django_capture_on_commit_callbacks):
    statuses = [
        ask_reset(api_client, f"someone{n}@example.com", django_capture_on_commit_callbacks).status_code
        for n in range(6)
    ]

    assert statuses == [200] * 5 + [429]
    assert int(ask_reset(api_client, "x@example.com", django_capture_on_commit_callbacks)["Retry-After"]) > 0


# --- using the link ------------------------------------------------------------------------------


def test_the_link_sets_the_password_and_ends_every_session_and_token(
    user, django_capture_on_commit_callbacks, client_for
):
    # given the person is signed in twice through the API and once in a browser session
    api = APIClient()
    first = login(api, "asha@example.com", PASSWORD).json()
    second = login(api, "asha@example.com", PASSWORD).json()
    browser = Client()
    browser.force_login(user)
    assert browser.get("/api/users/me/").status_code == 200
    signed_in = client_for(user)
    assert signed_in.get("/api/users/me/").status_code == 200
    ask_reset(api, "asha@example.com", django_capture_on_commit_callbacks)
    uid, token = reset_link()

    # when the link is used
    with django_capture_on_commit_callbacks(execute=True):
        response = confirm(APIClient(), uid, token)

    # then the new password works and the old one does not
    assert response.status_code == 200, response.json()
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD) and not user.check_password(PASSWORD)
    assert login(APIClient(), "asha@example.com", PASSWORD).status_code == 401
    assert login(APIClient(), "asha@example.com", NEW_PASSWORD).status_code == 200
    # every refresh token issued before is blacklisted and refused
    for pair in (first, second):
        assert APIClient().post("/auth/refresh/", {"refresh": pair["refresh"]}, format="json").status_code == 401
    earlier = OutstandingToken.objects.filter(user=user, token__in=[first["refresh"], second["refresh"]])
    assert BlacklistedToken.objects.filter(token__in=earlier).count() == 2
    # access tokens issued before die at once, not 15 minutes later
    assert signed_in.get("/api/users/me/").status_code == 401
    stale = APIClient()
    stale.credentials(HTTP_AUTHORIZATION=f"Bearer {first['access']}")
    assert stale.get("/api/users/me/").status_code == 401
    # and the browser session is over
    assert browser.get("/api/users/me/").status_code in (401, 403)
    # receiving the link proved the address
    assert user.email_verified
    entry = AuditLog.objects.get(action="user.password_reset", object_id=str(user.pk))
    assert entry.new_values["refresh_tokens_ended"] >= 2


def test_the_link_works_once(api_client, user, django_capture_on_commit_callbacks):
    ask_reset(api_client, "asha@example.com", django_capture_on_commit_callbacks)
    uid, token = reset_link()

    assert confirm(api_client, uid, token).status_code == 200
    again = confirm(api_client, uid, token, password="Another!Pass7")

    assert again.status_code == 400
    assert "token" in again.json()
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)


def test_the_link_expires_after_one_hour(api_client, user):
    issued = timezone.now()
    uid, token = password_reset_token(user, now=issued)

    assert password_reset_check(uid=uid, token=token, now=issued + timedelta(minutes=59)) == user
    assert password_reset_check(uid=uid, token=token, now=issued + timedelta(minutes=61)) is None
    with pytest.raises(InvalidInput) as error:
        password_reset_confirm(uid=uid, token=token, new_password=NEW_PASSWORD, now=issued + timedelta(minutes=61))
    assert "token" in error.value.fields

    # and through the API, a link made 61 minutes ago
    uid, token = password_reset_token(user, now=timezone.now() - timedelta(minutes=61))
    response = confirm(api_client, uid, token)
    assert response.status_code == 400 and "token" in response.json()
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_a_later_password_change_voids_the_link(api_client, user, django_capture_on_commit_callbacks):
    ask_reset(api_client, "asha@example.com", django_capture_on_commit_callbacks)
    uid, token = reset_link()
    user.set_password("Changed!Else5")
    user.save(update_fields=["password"])

    response = confirm(api_client, uid, token)

    assert response.status_code == 400 and "token" in response.json()
    user.refresh_from_db()
    assert user.check_password("Changed!Else5")


def test_an_older_link_dies_when_a_newer_one_is_used(api_client, user, django_capture_on_commit_callbacks):
    ask_reset(api_client, "asha@example.com", django_capture_on_commit_callbacks)
    old = reset_link()
    older_token = password_reset_token(user, now=timezone.now() - timedelta(minutes=5))

    assert confirm(api_client, *old).status_code == 200
    assert confirm(api_client, *older_token, password="Another!Pass7").status_code == 400


def test_a_weak_password_is_refused_and_the_link_stays_good(api_client, user, django_capture_on_commit_callbacks):
    ask_reset(api_client, "asha@example.com", django_capture_on_commit_callbacks)
    uid, token = reset_link()

    weak = confirm(api_client, uid, token, password="password")

    assert weak.status_code == 400
    assert "new_password" in weak.json() and "token" not in weak.json()
    assert confirm(api_client, uid, token).status_code == 200


def test_uid_and_token_may_also_be_given_apart(api_client, user, django_capture_on_commit_callbacks):
    ask_reset(api_client, "asha@example.com", django_capture_on_commit_callbacks)
    uid, token = reset_link()

    response = api_client.post(
        "/auth/password-reset/confirm/", {"uid": uid, "token": token, "new_password": NEW_PASSWORD}, format="json"
    )

    assert response.status_code == 200, response.json()


@pytest.mark.parametrize(
    "token",
    ["", "garbage", "no-colon-at-all", "%%%:abc", "AAAA:1-2", "MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAw:x-y"],
)
def test_malformed_links_are_a_400_never_a_500(api_client, token):
    response = api_client.post(
        "/auth/password-reset/confirm/", {"token": token, "new_password": NEW_PASSWORD}, format="json"
    )

    assert response.status_code == 400
    assert "token" in response.json()


def test_an_anonymised_account_cannot_be_reset(user):
    uid, token = password_reset_token(user)
    User.objects.filter(pk=user.pk).update(is_active=False)

    assert password_reset_check(uid=uid, token=token) is None
    password_reset_request(email="asha@example.com")
    assert not NotificationDelivery.objects.filter(kind=PASSWORD_RESET_KIND).exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_link_used_twice_at_the_same_moment_resets_once():
    user = CustomerFactory(email="race@example.com")
    uid, token = password_reset_token(user)

    def use(password):
        def call():
            try:
                password_reset_confirm(uid=uid, token=token, new_password=password)
            except InvalidInput:
                return "refused"
            return password

        return call

    outcomes = all_at_once(use("First!Winner1"), use("Second!Winner2"))

    assert sorted(outcome == "refused" for outcome in outcomes) == [False, True]
    winner = next(outcome for outcome in outcomes if outcome != "refused")
    user.refresh_from_db()
    assert user.check_password(winner)
    assert AuditLog.objects.filter(action="user.password_reset", object_id=str(user.pk)).count() == 1
