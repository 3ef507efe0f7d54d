"""Housekeeping of platform tables that grow without bound."""

from django.db import transaction
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken


def flush_expired_tokens(*, now=None, batch_size: int = 5000) -> int:
    """Delete refresh tokens past their expiry, with their blacklist entries — what simplejwt's
    ``flushexpiredtokens`` command does, in batches so a large table never loads at once.

    Only expired tokens go: the blacklist entry of a token that is still valid is what keeps a
    rotated or logged-out refresh token refused, so it must stay until the token expires. Returns
    how many tokens were deleted. Idempotent."""
    now = now or timezone.now()
    deleted = 0
    while True:
        expired = OutstandingToken.objects.filter(expires_at__lte=now).order_by("pk")
        ids = list(expired.values_list("pk", flat=True)[:batch_size])
        if not ids:
            return deleted
        with transaction.atomic():
            BlacklistedToken.objects.filter(token_id__in=ids).delete()
            deleted += OutstandingToken.objects.filter(pk__in=ids).delete()[1].get(OutstandingToken._meta.label, 0)
