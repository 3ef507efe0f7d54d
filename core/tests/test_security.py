"""Security headers and token handling (issue 10, item 8; ARCHITECTURE §11). The deploy check with
production settings is in test_platform.py, the throttles in bookings/tests/test_throttles.py,
core/tests/test_otp.py and the accounts tests."""

import base64
import json

import jwt
import pytest
from django.test import Client
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from core.tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _policy(response) -> dict:
    return {
        part.split()[0]: part.split()[1:]
        for part in (piece.strip() for piece in response["Content-Security-Policy"].split(";"))
        if part
    }


@pytest.mark.parametrize("path", ["/", "/login/", "/admin/login/", "/api/ping/"])
def test_every_response_carries_the_security_headers(path):
    response = Client().get(path)

    assert response.status_code == 200
    policy = _policy(response)
    assert policy["script-src"] == ["'self'"]  # no inline or remote scripts
    assert policy["default-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
    assert policy["connect-src"] == ["'self'"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def test_hsts_with_the_production_values_over_https(settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True

    response = Client().get("/api/ping/", secure=True)

    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"


def test_no_template_carries_an_inline_script():
    """The policy refuses inline scripts, so none may exist: every <script> has a src, and no
    element has an on…= handler or a javascript: link."""
    import re
    from pathlib import Path

    from django.conf import settings

    for template in Path(settings.BASE_DIR, "templates").rglob("*.html"):
        text = template.read_text()
        for tag in re.findall(r"<script\b[^>]*>", text):
            assert "src=" in tag, (template, tag)
        assert not re.search(r"\son[a-z]+\s*=", text), template
        assert "javascript:" not in text, template


def _call_me(token: str):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client.get("/api/users/me/")


def test_a_valid_token_works():
    user = CustomerFactory()
    assert _call_me(str(AccessToken.for_user(user))).status_code == 200


def test_an_unsigned_token_with_alg_none_is_refused():
    user = CustomerFactory()
    claims = jwt.decode(str(AccessToken.for_user(user)), options={"verify_signature": False})
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    assert _call_me(unsigned).status_code == 401


def test_a_token_signed_with_another_key_is_refused():
    user = CustomerFactory()
    claims = jwt.decode(str(AccessToken.for_user(user)), options={"verify_signature": False})
    forged = jwt.encode(claims, "not-our-secret-key-but-long-enough-for-hs256", algorithm="HS256")
    assert _call_me(forged).status_code == 401


def test_a_token_whose_claims_were_changed_is_refused():
    user, other = CustomerFactory(), CustomerFactory()
    header, payload, signature = str(AccessToken.for_user(user)).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["user_id"] = str(other.pk)
    assert _call_me(f"{header}.{_b64(claims)}.{signature}").status_code == 401


def test_an_access_token_dies_with_a_password_change():
    user = CustomerFactory()
    token = str(AccessToken.for_user(user))
    user.set_password("Brand&New-Secret26")
    user.save()
    assert _call_me(token).status_code == 401
