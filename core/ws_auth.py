"""WebSocket authentication: the session cookie (pages) or ``?token=<access JWT>`` (apps).

A token in the query string wins over the cookie. A bad or expired token leaves the scope's user
anonymous and sets ``scope["auth_error"]`` so the consumer can close with 4401."""

from urllib.parse import parse_qs

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from channels.security.websocket import OriginValidator
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import AccessToken
from rest_framework_simplejwt.utils import get_md5_hash_password

from core.models import User


@database_sync_to_async
def _user_for_token(raw: str):
    try:
        token = AccessToken(raw)
    except TokenError:
        return None
    user = User.objects.select_related("vendor_profile").filter(pk=token.get("user_id"), is_active=True).first()
    # As the API does (SIMPLE_JWT["CHECK_REVOKE_TOKEN"]): a token issued before the password
    # last changed — a reset, an anonymised account — opens no socket.
    revoked = (
        user is not None
        and api_settings.CHECK_REVOKE_TOKEN
        and token.get(api_settings.REVOKE_TOKEN_CLAIM) != get_md5_hash_password(user.password)
    )
    return None if revoked else user


class JWTQueryAuthMiddleware(BaseMiddleware):
    async def __call__(self, scope, receive, send):
        query = parse_qs(scope.get("query_string", b"").decode())
        raw = (query.get("token") or [None])[0]
        if raw is not None:
            user = await _user_for_token(raw)
            scope = dict(scope, user=user or AnonymousUser(), auth_error=user is None)
        return await super().__call__(scope, receive, send)


def WebSocketAuthStack(inner):
    return AuthMiddlewareStack(JWTQueryAuthMiddleware(inner))


class BrowserOriginValidator(OriginValidator):
    """Refuse cross-site sockets from browsers, allow clients that send no Origin.

    Browsers always send Origin, and it must be one of our hosts — that stops another site from
    opening a socket with the victim's session cookie. Apps and scripts send none and
    authenticate with ``?token=``, which no other site can supply."""

    def valid_origin(self, parsed_origin):
        if parsed_origin is None:
            return True
        return self.validate_origin(parsed_origin)


def origin_checked(inner):
    allowed = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not allowed:
        allowed = ["localhost", "127.0.0.1", "[::1]"]
    return BrowserOriginValidator(inner, allowed)
