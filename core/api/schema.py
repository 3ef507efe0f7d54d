"""The OpenAPI schema's error answers (ARCHITECTURE §10), documented on every operation they can
come from, so the schema tells a client — and the fuzzer (core/tests/fuzzing.py) checks — every
status an operation may answer, not only its success.

Which errors an operation can give follows from its view: 400 when it reads input (a body, query
parameters, or the ``Idempotency-Key`` header every POST outside ``/auth/`` accepts), 401 when it
authenticates (a bad or expired token is refused even where anonymous callers are welcome), 403
when it needs a role or a session's CSRF token, 404 for an object named in the path or a page past
the end of a list, 409 (a state conflict, or the same ``Idempotency-Key`` still running) and 422
(the key used for another request) on a POST that takes the key, 415 for a body of a
Content-Type the view does not parse, 429 where a throttle applies (with ``Retry-After``). An
operation's ``@extend_schema(responses=...)`` adds the others it can give (a 409 outside POST,
402, 410, 413…) or gives one a more precise body.
"""

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import permissions, serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.throttling import AnonRateThrottle, ScopedRateThrottle

from payments.idempotency import EXEMPT_PATHS, EXEMPT_PREFIXES, HEADER, MAX_KEY_LENGTH

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}

ERROR_DESCRIPTIONS = {
    400: "Bad input: field errors or a detail.",
    401: "No valid access token (missing where one is needed, expired, revoked or malformed).",
    403: "Not allowed for your role (or a session request without its CSRF token).",
    404: "Not visible to you, missing, or a malformed id; for a list, a page past its end.",
    409: "State conflict; or a request with this Idempotency-Key is still running (Retry-After: 1).",
    413: "Upload too large.",
    415: "Unsupported Content-Type for the body.",
    422: "This Idempotency-Key was used with a different request.",
    429: "Throttled or locked out; retry after Retry-After seconds.",
}


class ErrorSerializer(serializers.Serializer):
    """The body of every error answer; its schema is given by ``ErrorSchema`` below."""


class ErrorSchema(OpenApiSerializerExtension):
    target_class = ErrorSerializer

    def map_serializer(self, auto_schema, direction):
        return {
            "type": "object",
            "description": (
                '`{"detail": ...}`, or field errors `{"field": ["message"]}` (nested for nested '
                "input), sometimes with more context (e.g. the booking's `status` on a 409)."
            ),
            "properties": {
                "detail": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
            },
            "additionalProperties": {},
        }


def error_response(description: str) -> OpenApiResponse:
    """For an operation's ``@extend_schema(responses={...})``: an error it answers besides the
    ones this module documents by itself."""
    return OpenApiResponse(ErrorSerializer, description=description)


class AutoSchema(SpectacularAutoSchema):
    def _accepts_idempotency_key(self) -> bool:
        return (
            self.method == "POST"
            and self.path not in EXEMPT_PATHS
            and not any(self.path.startswith(prefix) for prefix in EXEMPT_PREFIXES)
        )

    def get_override_parameters(self):
        parameters = list(super().get_override_parameters())
        if self._accepts_idempotency_key():
            parameters.append(
                OpenApiParameter(
                    HEADER,
                    {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
                    OpenApiParameter.HEADER,
                    description=(
                        "Send the same key again to get the first answer back instead of running the "
                        "request twice (kept 24 h, per caller)."
                    ),
                )
            )
        return parameters

    def _get_parameters(self):
        parameters = super()._get_parameters()
        for parameter in parameters:
            # An optional query parameter sent empty (``?status=``) is taken as not given: DRF's
            # form semantics for serializer fields, django-filter's for filters, and pagination's.
            if parameter["in"] == "query" and not parameter.get("required"):
                parameter["allowEmptyValue"] = True
        return parameters

    def error_statuses(self) -> set[int]:
        view = self.view
        authenticators = view.get_authenticators()
        allow_any = all(isinstance(p, permissions.AllowAny) for p in view.get_permissions())
        unsafe = self.method in UNSAFE_METHODS
        statuses = set()
        has_query = any(p["in"] == "query" for p in self._get_parameters())
        if unsafe or has_query:
            statuses.add(400)
        if authenticators:
            statuses.add(401)
            session = any(isinstance(a, SessionAuthentication) for a in authenticators)
            if not allow_any or (unsafe and session):
                statuses.add(403)
        if "{" in self.path or (self._is_list_view() and self._get_paginator() is not None):
            statuses.add(404)
        if self._accepts_idempotency_key():
            statuses.update({409, 422})
        for throttle in view.get_throttles():
            if isinstance(throttle, AnonRateThrottle):
                if allow_any:
                    statuses.add(429)
            elif isinstance(throttle, ScopedRateThrottle):
                if getattr(view, "throttle_scope", None):
                    statuses.add(429)
            else:
                statuses.add(429)
        return statuses

    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        responses = operation["responses"]
        statuses = self.error_statuses()
        if "requestBody" in operation:
            statuses.add(415)  # a Content-Type the view has no parser for
        for status in sorted(statuses):
            code = str(status)
            if code not in responses:
                responses[code] = self._get_response_for_code(error_response(ERROR_DESCRIPTIONS[status]), code)
        if "429" in responses:
            responses["429"].setdefault("headers", {})["Retry-After"] = {
                "schema": {"type": "integer", "minimum": 0},
                "required": True,
                "description": "Seconds to wait before trying again.",
            }
        return operation
