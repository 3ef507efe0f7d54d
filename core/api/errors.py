"""One error format for the API: ``{"detail": ...}`` or field errors ``{"field": [...]}``."""

import logging
import sys

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.utils.translation import gettext as _
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import ApplicationError, InvalidInput
from core.middleware import database_unavailable, database_unavailable_response

logger = logging.getLogger(__name__)


def exception_handler(exc, context):
    if isinstance(exc, ApplicationError):
        if isinstance(exc, InvalidInput) and exc.fields:
            data = dict(exc.fields)
            if exc.message and str(exc.message) != str(exc.default_message):
                data["detail"] = str(exc.message)
        else:
            data = {"detail": str(exc.message), **exc.extra}
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
        return Response(data, status=exc.status_code, headers=headers)
    if isinstance(exc, DjangoValidationError):
        data = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        return Response(data, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(exc, exceptions.Throttled) and exc.wait:
        response["Retry-After"] = str(int(exc.wait) + 1)
    return response


# Django's own error pages, for what never reaches a DRF view: a path that matches no route (a
# malformed id: `/api/bookings/not-a-uuid/`), a request Django itself refuses (SuspiciousOperation,
# e.g. too many fields), an unhandled error. Under /api/ and /auth/ they answer in the API's JSON
# format (§10); elsewhere they are Django's pages. (Set as handler400/403/404/500 in the URLconf.)
API_PREFIXES = ("/api/", "/auth/")


def _api_error(request, status, detail):
    if request.path.startswith(API_PREFIXES):
        return JsonResponse({"detail": str(detail)}, status=status)
    return None


def bad_request(request, exception):
    return _api_error(request, 400, _("Bad request.")) or defaults.bad_request(request, exception)


def permission_denied(request, exception):
    return _api_error(request, 403, exceptions.PermissionDenied.default_detail) or defaults.permission_denied(
        request, exception
    )


def page_not_found(request, exception):
    return _api_error(request, 404, exceptions.NotFound.default_detail) or defaults.page_not_found(request, exception)


def server_error(request):
    # A lost database connection met in a middleware (a session save, the Idempotency-Key record)
    # is an outage, not a bug: 503 with Retry-After, as core.middleware answers for views.
    if database_unavailable(sys.exc_info()[1]):
        return database_unavailable_response(request)
    return _api_error(request, 500, _("Server error.")) or defaults.server_error(request)
