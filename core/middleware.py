import logging

from django.db import InterfaceError
from django.http import HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils.translation import gettext as _

from core.request_context import reset_request_context, set_request_context

logger = logging.getLogger(__name__)


class RequestContextMiddleware:
    """Remembers the caller's address and user agent so audit entries can record them."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = set_request_context(request)
        try:
            return self.get_response(request)
        finally:
            reset_request_context(token)


# --- the database out of reach: 503, never 500 ---------------------------------------------------
#
# While PostgreSQL restarts or fails over, a request meets a refused connection, a session the
# server terminated, or no free pooled connection within DB_POOL_TIMEOUT. That is an outage, not a
# bug: the answer is 503 with ``Retry-After`` — JSON ``{"detail"}`` for the API, a short page for
# the pages — and the next request after the database is back succeeds by itself (the pool checks
# each connection before handing it out: CONN_HEALTH_CHECKS in settings). The middleware below
# answers for views (API and pages); ``handler500`` (core.api.errors.server_error) for an error
# met in a middleware (the Idempotency-Key record, a session save). Other database errors (a bad
# query, a constraint) stay 500s: they are bugs.

RETRY_AFTER_SECONDS = 5
# SQLSTATEs that mean "the server is not there for us right now": connection exceptions (class
# 08), admin/crash shutdown and "cannot connect now" (starting up, shutting down), too many
# connections.
_UNAVAILABLE_SQLSTATES = {"57P01", "57P02", "57P03", "53300"}


def database_unavailable(exc: BaseException | None) -> bool:
    """True when ``exc`` means the database cannot be reached at the moment (PostgreSQL)."""
    if exc is None:
        return False
    if isinstance(exc, InterfaceError):  # Django's "connection already closed"
        return True
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a requirement
        return False
    for error in (exc, exc.__cause__):
        if isinstance(error, psycopg.InterfaceError):
            return True
        if isinstance(error, psycopg.OperationalError):  # includes psycopg_pool.PoolTimeout
            sqlstate = getattr(error, "sqlstate", None)
            return sqlstate is None or sqlstate.startswith("08") or sqlstate in _UNAVAILABLE_SQLSTATES
    return False


def _wants_json(request) -> bool:
    path = request.path
    return (
        path.startswith(("/api/", "/auth/", "/healthz"))
        or "application/json" in request.headers.get("Accept", "")
        or request.content_type == "application/json"
    )


def database_unavailable_response(request) -> HttpResponse:
    message = _("The service is briefly unavailable. Please try again in a few seconds.")
    if _wants_json(request):
        response = JsonResponse({"detail": message}, status=503)
    else:
        # No request context: context processors could touch the session or user (the database).
        html = render_to_string("errors/unavailable.html", {"message": message})
        response = HttpResponse(html, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


class DatabaseUnavailableMiddleware:
    """A view (API or page) that lost the database answers 503 instead of 500."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not database_unavailable(exception):
            return None
        logger.warning("Database unavailable during %s %s: %s", request.method, request.path, exception)
        return database_unavailable_response(request)
