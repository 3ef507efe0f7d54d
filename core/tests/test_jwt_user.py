"""The bearer token's user, read by core.api.authentication (a prepared query on PostgreSQL)."""

import uuid

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from core.api.authentication import user_by_pk
from core.models import User
from core.tests.factories import CustomerFactory, VendorFactory

pytestmark = pytest.mark.django_db


def _me(token: str):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client.get("/api/users/me/")


def test_the_user_read_is_the_orms_user_field_for_field():
    user = VendorFactory().user
    user.first_name, user.phone, user.phone_verified = "Asha", "+919812345678", True
    user.save()
    fast = user_by_pk(str(user.pk))
    orm = User.objects.get(pk=user.pk)
    assert type(fast) is User
    for field in User._meta.concrete_fields:
        assert getattr(fast, field.attname) == getattr(orm, field.attname), field.name
        assert type(getattr(fast, field.attname)) is type(getattr(orm, field.attname)), field.name
    assert fast._state.adding is False and fast._state.db == "default"
    # the instance behaves as the ORM's: it saves in place, not as a new row
    fast.last_name = "Rao"
    fast.save(update_fields=["last_name"])
    assert User.objects.get(pk=user.pk).last_name == "Rao"


def test_an_unknown_or_malformed_id_is_nobody():
    assert user_by_pk(uuid.uuid4()) is None
    assert user_by_pk("not-a-uuid") is None
    assert user_by_pk(12) is None


def test_a_request_reads_its_user_in_one_query():
    user = CustomerFactory()
    token = str(AccessToken.for_user(user))
    with CaptureQueriesContext(connection) as queries:
        response = _me(token)
    assert response.status_code == 200
    assert response.json()["id"] == str(user.pk)
    reads = [query["sql"] for query in queries.captured_queries if '"core_user"' in query["sql"]]
    assert len(reads) == 1, reads


@pytest.mark.postgres
def test_on_postgresql_the_read_is_prepared():
    if not settings.DATABASE_PREPARED_STATEMENTS:
        pytest.skip("DATABASE_PREPARED_STATEMENTS is off")
    user = CustomerFactory()
    token = str(AccessToken.for_user(user))
    for _ in range(6):  # prepare=True prepares at once; a few runs show it is reused
        assert _me(token).status_code == 200
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        statements = [row[0] for row in cursor.fetchall()]
    assert any('FROM "core_user" WHERE "id" = $1' in text for text in statements), statements


def test_a_deleted_user_or_an_inactive_one_is_refused():
    gone, idle = CustomerFactory(), CustomerFactory()
    gone_token, idle_token = str(AccessToken.for_user(gone)), str(AccessToken.for_user(idle))
    idle.is_active = False
    idle.save()
    User.objects.filter(pk=gone.pk).delete()
    for token, message in ((gone_token, "User not found"), (idle_token, "User is inactive")):
        response = _me(token)
        assert response.status_code == 401
        assert response.json() == {"detail": message}


def test_a_token_without_a_user_claim_is_refused():
    token = AccessToken()
    assert _me(str(token)).status_code == 401
