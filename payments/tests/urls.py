"""The project's URLs plus a few views that only the idempotency tests need (a view that fails
once, a streaming view, an echo view, and a stand-in for the webhook path). Used through
``settings.ROOT_URLCONF``; the test views come first so that they win over the project's."""

import hashlib

from django.http import StreamingHttpResponse
from django.urls import include, path
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

CALLS: dict[str, int] = {}


def _count(name: str) -> int:
    CALLS[name] = CALLS.get(name, 0) + 1
    return CALLS[name]


class FailsOnceView(APIView):
    """Raises on its first call (a 500), answers 201 afterwards."""

    def post(self, request):
        call = _count("fails-once")
        if call == 1:
            raise RuntimeError("simulated fault")
        return Response({"call": call}, status=201)


class StreamingView(APIView):
    def post(self, request):
        call = _count("stream")
        return StreamingHttpResponse(iter([b"call ", str(call).encode()]), content_type="text/plain")


class EchoView(APIView):
    """Answers what it received (anyone may call it): the body's fields and each file's SHA-256.
    Takes multipart like the upload views (the API's default is JSON only)."""

    permission_classes = [AllowAny]
    parser_classes = [JSONParser, MultiPartParser]

    def post(self, request):
        call = _count("echo")
        files = {name: hashlib.sha256(upload.read()).hexdigest() for name, upload in request.FILES.items()}
        fields = {name: value for name, value in request.data.items() if name not in request.FILES}
        return Response({"call": call, "fields": fields, "files": files})


class WebhookStandInView(APIView):
    permission_classes = [AllowAny]

    def post(self, request):
        return Response({"call": _count("webhook")})


urlpatterns = [
    path("api/test-idempotency/fails-once/", FailsOnceView.as_view()),
    path("api/test-idempotency/stream/", StreamingView.as_view()),
    path("api/test-idempotency/echo/", EchoView.as_view()),
    path("api/payments/webhook/", WebhookStandInView.as_view()),
    path("", include("marketplace.urls")),
]
