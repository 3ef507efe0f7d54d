"""Bearer-token authentication: simplejwt's, with the token's user read by a prepared query.

Every authenticated API request reads its user by primary key. Through the ORM that read cost
about 0.4 ms of CPU per request (building and compiling the query, then the row), a tenth of a
whole booking-list request (bench/http_load.py). Here the statement text is fixed, so on
PostgreSQL it runs prepared (core/prepared.py) and the row becomes a ``User`` through
``Model.from_db``, as the ORM would build it (SQLite, the embedded default, keeps the ORM's
read). The checks after the read are simplejwt's own, in its order and with its messages:
unknown user, inactive user, token issued before the password changed (``CHECK_REVOKE_TOKEN``).
"""

import uuid
from functools import cache

from django.db import connection
from django.utils.translation import gettext_lazy as _
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt import authentication
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.utils import get_md5_hash_password

from core.models import User
from core.prepared import fetch_all


@cache
def _user_query() -> tuple[str, tuple[str, ...]]:
    fields = tuple(field.attname for field in User._meta.concrete_fields)
    quote = connection.ops.quote_name
    columns = ", ".join(quote(User._meta.get_field(name).column) for name in fields)
    pk_column = quote(User._meta.pk.column)
    # Identifiers from the model, quoted; the value is a parameter.
    return f"SELECT {columns} FROM {quote(User._meta.db_table)} WHERE {pk_column} = %s", fields  # noqa: S608


def user_by_pk(pk) -> User | None:
    """The user with primary key ``pk`` (a UUID or its text), or None."""
    try:
        pk = pk if isinstance(pk, uuid.UUID) else uuid.UUID(str(pk))
    except ValueError:
        return None
    if connection.vendor != "postgresql":
        return User.objects.filter(pk=pk).first()  # the embedded database: nothing to prepare
    sql, fields = _user_query()
    rows = fetch_all(sql, [pk])
    # psycopg's values are already the fields' Python values (UUID, aware datetimes, booleans).
    return User.from_db(connection.alias, fields, rows[0]) if rows else None


class JWTAuthentication(authentication.JWTAuthentication):
    def get_user(self, validated_token):
        try:
            user_id = validated_token[api_settings.USER_ID_CLAIM]
        except KeyError as error:
            raise InvalidToken(_("Token contained no recognizable user identification")) from error
        user = user_by_pk(user_id)
        if user is None:
            raise AuthenticationFailed(_("User not found"), code="user_not_found")
        if api_settings.CHECK_USER_IS_ACTIVE and not user.is_active:
            raise AuthenticationFailed(_("User is inactive"), code="user_inactive")
        if api_settings.CHECK_REVOKE_TOKEN and validated_token.get(
            api_settings.REVOKE_TOKEN_CLAIM
        ) != get_md5_hash_password(user.password):
            raise AuthenticationFailed(_("The user's password has been changed."), code="password_changed")
        return user


class JWTScheme(SimpleJWTScheme):
    """The schema's ``jwtAuth`` bearer scheme, as drf-spectacular gives simplejwt's class."""

    target_class = JWTAuthentication
