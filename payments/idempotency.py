"""``Idempotency-Key`` on POST requests (ARCHITECTURE §6).

A client that may retry a POST (a timeout, a dropped connection) sends a key of its choosing; the
first request with that key runs, and every later one with the same key gets the first response
back instead of running again. Keys are scoped per caller ("owner"): ``user:<id>`` for an
authenticated caller, ``anon:<address>`` otherwise, so two callers never see each other's keys.

How a request is handled:

1. The key is checked (1–255 characters, else 400) and a fingerprint of the request is taken:
   SHA-256 over method, path with query string, and the raw body.
2. An ``IdempotencyRecord`` (``in_progress``) is inserted in its own committed statement *before*
   the view runs. The unique constraint on (owner, key) decides which of several concurrent
   duplicates runs; the others find the record:
   - another fingerprint → 422 (the key was used for a different request);
   - still ``in_progress`` → 409 with ``Retry-After: 1``;
   - ``done`` → the stored status, body and content type, with ``Idempotent-Replayed: true``.
3. After the view the response is stored and the record marked ``done`` — except when it must not
   be replayed, in which case the record is deleted so that the client may retry with the same
   key: a 5xx or a view that raised (the request may not have done its work), a streaming response
   (its body cannot be stored), and the refusals that happen before the request is considered at
   all and that the client is expected to retry as it is — 401 (log in or refresh the token), 403
   (includes a CSRF failure) and 429 (wait, then retry).
   Every other 4xx is stored and replayed like a 2xx: the request was considered and answered
   (bad input, a taken slot, an unknown promo code), and a retry with the same key must not run it
   again, so the client sees one consistent answer per key. To send a corrected request, use a
   new key.

Records expire after ``RECORD_TTL`` (24 h): an expired record no longer binds its key (the next
request with it runs as new) and ``idempotency_records_purge`` (the periodic task
``payments.tasks.purge_idempotency_records``) deletes them. A record left ``in_progress`` by a
process that died mid-request keeps answering 409 until it expires: whether that request did its
work is unknown, so running it again could do it twice.

``POST /api/payments/webhook/`` is exempt: Stripe deduplicates by event id (§6), not by this header.
``/auth/`` is exempt too: its answers carry access and refresh tokens, which must never be stored
in the database, and signing in twice does no harm (each call mints its own tokens).
"""

import hashlib
import logging
import tempfile
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.exceptions import APIException

from core.api.authentication import JWTAuthentication
from core.request_context import client_ip
from payments.models import IdempotencyRecord

logger = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = IdempotencyRecord._meta.get_field("key").max_length
RECORD_TTL = timedelta(hours=24)
EXEMPT_PATHS = frozenset({"/api/payments/webhook/"})
EXEMPT_PREFIXES = ("/auth/",)
# Refused before the request was considered; the client retries the very same request (see above).
NOT_REPLAYED_STATUSES = frozenset({401, 403, 429})
# A duplicate that finds the winner's record gone (the winner failed and deleted it) tries to insert
# again; after this many rounds it answers 409 like any other concurrent duplicate.
INSERT_ATTEMPTS = 3
_BODY_CHUNK = 64 * 1024


def request_fingerprint(*, method: str, path: str, body: bytes) -> str:
    """The fingerprint a request with this method, path (with query string) and body gets."""
    digest = _fingerprint_start(method, path)
    digest.update(body)
    return digest.hexdigest()


def _fingerprint_start(method: str, path: str):
    # Length-prefixed so that no two different (path, body) splits hash alike.
    path_bytes = path.encode()
    return hashlib.sha256(b"%s\n%d:%s\n" % (method.upper().encode(), len(path_bytes), path_bytes))


def _fingerprint_request(request) -> str:
    """Fingerprint ``request`` without taking its body away from the view.

    ``request.body`` would do for small bodies but refuses anything over
    DATA_UPLOAD_MAX_MEMORY_SIZE, which legitimate multipart uploads (vendor documents, photos) are,
    and a view that streams the body itself (DRF's parsers, Django's multipart parser) accepts. So
    the body is read in chunks into a spooled file (in memory up to FILE_UPLOAD_MAX_MEMORY_SIZE,
    on disk beyond) and handed back to the request as its unread stream: what the view sees is
    exactly what it would have seen without this middleware."""
    digest = _fingerprint_start(request.method, request.get_full_path())
    if hasattr(request, "_body"):  # already read into memory by someone before us
        digest.update(request.body)
        return digest.hexdigest()
    spool = tempfile.SpooledTemporaryFile(max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE)  # noqa: SIM115
    while chunk := request.read(_BODY_CHUNK):
        digest.update(chunk)
        spool.write(chunk)
    spool.seek(0)
    # HttpRequest.read() reads from ``_stream`` and flags ``_read_started``, after which Django and
    # DRF would refuse to parse the body; pointing the stream at the copy and clearing the flag
    # makes the body unread again. ASGIRequest.close() closes the spool with the request.
    request._stream = spool
    request._read_started = False
    return digest.hexdigest()


def _caller(request):
    """(owner, user) for the idempotency scope, resolved as DRF will resolve it in the view: a
    JWT first, then the session. DRF authenticates only inside the view, so the JWT is checked
    here too; a bad or expired token makes the caller anonymous here and the view answers 401."""
    user = None
    try:
        authenticated = JWTAuthentication().authenticate(request)
    except APIException:
        authenticated = None
        bad_token = True
    else:
        bad_token = False
    if authenticated is not None:
        user = authenticated[0]
    elif not bad_token:
        session_user = getattr(request, "user", None)
        if session_user is not None and session_user.is_authenticated:
            user = session_user
    if user is not None:
        return f"user:{user.pk}", user
    owner = f"anon:{client_ip(request) or 'unknown'}"
    return owner[: IdempotencyRecord._meta.get_field("owner").max_length], None


def _problem(status: int, detail: str, headers=None) -> JsonResponse:
    return JsonResponse({"detail": detail}, status=status, headers=headers)


def _replay(record: IdempotencyRecord) -> HttpResponse:
    response = HttpResponse(
        bytes(record.response_body or b""),
        status=record.response_status,
        content_type=record.response_content_type or None,
    )
    response[REPLAYED_HEADER] = "true"
    return response


def _should_store(response) -> bool:
    return not response.streaming and response.status_code < 500 and response.status_code not in NOT_REPLAYED_STATUSES


class IdempotencyMiddleware:
    """Applies ``Idempotency-Key`` to every POST except the exempt paths (module docstring).

    Placed after AuthenticationMiddleware (the session user) and, like every other request, not
    inside a transaction (ATOMIC_REQUESTS is off): the record's insert commits on its own so that
    concurrent duplicates see it while the first request is still running."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if (
            request.method != "POST"
            or HEADER not in request.headers
            or request.path_info in EXEMPT_PATHS
            or request.path_info.startswith(EXEMPT_PREFIXES)
        ):
            return self.get_response(request)
        key = request.headers[HEADER].strip()
        if not key or len(key) > MAX_KEY_LENGTH:
            return _problem(
                400,
                _("The Idempotency-Key header must be 1 to %(max)d characters long.") % {"max": MAX_KEY_LENGTH},
            )
        owner, user = _caller(request)
        fingerprint = _fingerprint_request(request)
        record, answer = self._claim(request, owner=owner, user=user, key=key, fingerprint=fingerprint)
        if answer is not None:
            return answer
        try:
            response = self.get_response(request)
        except BaseException:
            self._release(record)
            raise
        if _should_store(response):
            self._store(record, response)
        else:
            self._release(record)
        return response

    def _claim(self, request, *, owner, user, key, fingerprint):
        """Insert the in-progress record, or find the one that holds the key: returns
        (record, None) when this request is to run, (None, response) when it is answered here."""
        for _attempt in range(INSERT_ATTEMPTS):
            try:
                # A savepoint when called inside a transaction (tests), its own commit otherwise.
                with transaction.atomic():
                    record = IdempotencyRecord.objects.create(
                        owner=owner,
                        user=user,
                        key=key,
                        method=request.method,
                        path=request.get_full_path()[: IdempotencyRecord._meta.get_field("path").max_length],
                        request_hash=fingerprint,
                        state=IdempotencyRecord.State.IN_PROGRESS,
                    )
                return record, None
            except IntegrityError:
                pass
            existing = IdempotencyRecord.objects.filter(owner=owner, key=key).first()
            if existing is None:
                continue  # the holder failed and gave the key back; try again
            if existing.created_at <= timezone.now() - RECORD_TTL:
                # Expired: it no longer binds the key. Delete exactly that row (a concurrent
                # request may already have replaced it) and try again.
                IdempotencyRecord.objects.filter(pk=existing.pk).delete()
                continue
            if existing.request_hash != fingerprint:
                return None, _problem(422, _("This Idempotency-Key was used with a different request."))
            if existing.state == IdempotencyRecord.State.DONE:
                return None, _replay(existing)
            return None, self._in_progress()
        return None, self._in_progress()

    @staticmethod
    def _in_progress():
        detail = _("A request with this Idempotency-Key is still being processed. Retry later.")
        return _problem(409, detail, headers={"Retry-After": "1"})

    @staticmethod
    def _store(record, response):
        try:
            IdempotencyRecord.objects.filter(pk=record.pk).update(
                state=IdempotencyRecord.State.DONE,
                response_status=response.status_code,
                response_body=response.content,
                response_content_type=(response.get("Content-Type") or "")[:100],
                completed_at=timezone.now(),
            )
        except DatabaseError:
            # The request did its work, so the record is not given back (a retry would do it
            # again): its key answers 409 until the record expires.
            logger.exception("Could not store the response for idempotency record %s", record.pk)

    @staticmethod
    def _release(record):
        try:
            IdempotencyRecord.objects.filter(pk=record.pk).delete()
        except DatabaseError:
            logger.exception("Could not release idempotency record %s; its key answers 409 until it expires", record.pk)


def idempotency_records_purge(*, now=None, batch_size: int = 5000) -> int:
    """Delete records older than ``RECORD_TTL`` in batches; returns how many. Idempotent, safe to
    run concurrently with requests (an expired record no longer binds its key anyway)."""
    cutoff = (now or timezone.now()) - RECORD_TTL
    deleted = 0
    while True:
        ids = list(
            IdempotencyRecord.objects.filter(created_at__lte=cutoff)
            .order_by("pk")
            .values_list("pk", flat=True)[:batch_size]
        )
        if not ids:
            return deleted
        deleted += IdempotencyRecord.objects.filter(pk__in=ids).delete()[0]
