"""The daily token-blacklist flush (marketplace.tasks.flush_expired_tokens)."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from core.maintenance import flush_expired_tokens
from core.tests.factories import CustomerFactory
from marketplace.tasks import flush_expired_tokens as flush_expired_tokens_task

pytestmark = pytest.mark.django_db


def expired_token(user, jti, *, blacklisted):
    token = OutstandingToken.objects.create(
        user=user,
        jti=jti,
        token=f"expired-{jti}",
        created_at=timezone.now() - timedelta(days=8),
        expires_at=timezone.now() - timedelta(days=1),
    )
    if blacklisted:
        BlacklistedToken.objects.create(token=token)
    return token


def test_the_flush_removes_expired_tokens_only_and_rotated_tokens_stay_refused(api_client):
    # given: two expired refresh tokens (one blacklisted), a rotated (blacklisted) live one and
    # a live one in use
    user = CustomerFactory()
    expired_token(user, "old-blacklisted", blacklisted=True)
    expired_token(user, "old-unused", blacklisted=False)
    rotated = RefreshToken.for_user(user)
    rotated.blacklist()
    current = RefreshToken.for_user(user)
    # when
    deleted = flush_expired_tokens_task()
    # then
    assert deleted == 2
    assert set(OutstandingToken.objects.values_list("jti", flat=True)) == {rotated["jti"], current["jti"]}
    assert list(BlacklistedToken.objects.values_list("token__jti", flat=True)) == [rotated["jti"]]
    # the rotated token is still refused; the current one still works
    assert api_client.post("/auth/refresh/", {"refresh": str(rotated)}, format="json").status_code == 401
    assert api_client.post("/auth/refresh/", {"refresh": str(current)}, format="json").status_code == 200


def test_the_flush_works_in_batches_and_is_idempotent():
    # given
    user = CustomerFactory()
    for number in range(7):
        expired_token(user, f"old-{number}", blacklisted=number % 2 == 0)
    live = RefreshToken.for_user(user)
    # when
    first = flush_expired_tokens(batch_size=3)
    again = flush_expired_tokens(batch_size=3)
    # then
    assert (first, again) == (7, 0)
    assert list(OutstandingToken.objects.values_list("jti", flat=True)) == [live["jti"]]
    assert not BlacklistedToken.objects.exists()
