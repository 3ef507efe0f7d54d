"""``/api/signatures/`` (ARCHITECTURE §10): the signature request and, once signed, its signature.

Thin: each action validates its input, calls one service and renders the result. Signing is open
to a caller who is not logged in — the customer following the link sends its token in the body —
and is throttled per user or address (``SignatureSignThrottle``) on top of the anonymous limit."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, permissions, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle

from bookings.services.common import BookingConflict
from core.api.schema import error_response
from core.api.serializers import QueryBooleanField
from core.errors import NotFound
from signatures.api import serializers as s
from signatures.hashing import signature_verify
from signatures.models import SignatureRequest, SignatureRequestStatus
from signatures.selectors import signature_attention_queue, signature_requests_visible_to
from signatures.services import signature_sign

DEFAULT_SIGN_RATE = "10/min"


class SignatureSignThrottle(SimpleRateThrottle):
    """Signing attempts per logged-in user, or per address for a caller with a token: a few are
    plenty for a person, and each costs a PNG decode. ``signature_sign`` in
    ``DEFAULT_THROTTLE_RATES`` overrides the default of 10 a minute."""

    scope = "signature_sign"

    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope) or DEFAULT_SIGN_RATE

    def get_cache_key(self, request, view):
        user = request.user
        ident = f"user:{user.pk}" if user and user.is_authenticated else f"anon:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


class ListParams(serializers.Serializer):
    status = serializers.ChoiceField(choices=SignatureRequestStatus.choices, required=False)
    booking = serializers.UUIDField(required=False)
    needs_attention = QueryBooleanField(help_text="Ops: requests of bookings in the signature queue.")


class SignatureViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    filter_backends = []

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return SignatureRequest.objects.none()
        queryset = signature_requests_visible_to(self.request.user)
        if self.action in ("retrieve", "verify"):
            queryset = queryset.defer(None)  # one resource: with the drawn image
        return queryset

    def get_serializer_class(self):
        return s.SignatureRequestDetailSerializer if self.action == "retrieve" else s.SignatureRequestSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str),
            OpenApiParameter("booking", str),
            OpenApiParameter("needs_attention", bool),
        ]
    )
    def list(self, request, *args, **kwargs):
        params = ListParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        queryset = self.get_queryset()
        if data.get("status"):
            queryset = queryset.filter(status=data["status"])
        if data.get("booking"):
            queryset = queryset.filter(booking_id=data["booking"])
        if data.get("needs_attention"):
            queryset = queryset.filter(
                status=SignatureRequestStatus.EXPIRED, booking__in=signature_attention_queue().values("pk")
            )
        queryset = queryset.order_by("-created_at", "-pk")
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        request=s.SignSerializer,
        responses={
            200: s.SignResponseSerializer,
            410: error_response("The signature request has expired."),
            413: error_response("The drawn signature is larger than 1 MB."),
        },
    )
    @action(
        detail=True,
        methods=["post"],
        permission_classes=[permissions.AllowAny],
        throttle_classes=[AnonRateThrottle, SignatureSignThrottle],
    )
    def sign(self, request, pk=None):
        serializer = s.SignSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        signature_request = self._request_for_signing(pk)
        user = request.user if request.user and request.user.is_authenticated else None
        signature = signature_sign(
            request=signature_request,
            user=user,
            token=data["token"] or None,
            rating=data["satisfaction_rating"],
            comments=data["comments"],
            signer_name=data["signer_name"],
            signature_image=data["signature_image"] or None,
        )
        return Response(
            s.SignResponseSerializer(
                {
                    "status": signature.booking.status,
                    "signature_hash": signature.signature_hash,
                    "signed_at": signature.signed_at,
                }
            ).data
        )

    @staticmethod
    def _request_for_signing(pk):
        # Found by id for everyone (the token or the login decides in the service); a malformed
        # id is simply not found.
        try:
            found = SignatureRequest.objects.filter(pk=pk).first()
        except (ValueError, TypeError, DjangoValidationError):
            found = None
        if found is None:
            raise NotFound()
        return found

    @extend_schema(responses={200: s.VerifySerializer, 409: error_response("The request has not been signed yet.")})
    @action(detail=True, methods=["get"])
    def verify(self, request, pk=None):
        signature_request = self.get_object()
        if signature_request.status != "signed" or getattr(signature_request, "signature", None) is None:
            raise BookingConflict(_("This request has not been signed yet."), booking=signature_request.booking)
        result = signature_verify(signature_request.signature)
        return Response(
            s.VerifySerializer(
                {
                    "valid": result.valid,
                    "signature_hash": result.stored,
                    "computed_hash": result.computed,
                    "problem": result.problem,
                }
            ).data
        )
