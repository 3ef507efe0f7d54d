"""Phone verification and sign-in by one-time code (ARCHITECTURE §10, §11; rules in core/otp.py).

``POST /auth/send-otp/`` {phone} → 200 {detail, expires_in}. 400 ``{"phone": [...]}`` for a number
that is not E.164 (spaces, dashes, dots and brackets are ignored) or that the SMS provider
refused within the hour; 429 + Retry-After for the 4th code in an hour.

``POST /auth/verify-otp/`` {phone, otp} → 200 {verified: true, access, refresh, user{id, username,
email, role}} when an account has that number (it is now phone-verified and signed in), or
{verified: true, access: null, refresh: null, user: null} when none does (the number is proved,
e.g. before sign-up; staff accounts are verified but sign in with their password). Errors: 400
``{"phone": [...]}`` no code was sent to this number; 400 ``{"otp": [...]}`` wrong (with the
attempts left), expired, or already used; 429 + Retry-After once 5 wrong tries killed the code.
"""

import re

from django.contrib.auth.models import update_last_login
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.serializers import DetailSerializer, UserBriefSerializer
from core.api.views import tokens_for
from core.otp import OTP_DIGITS, OTP_TTL, OTPThrottled, otp_send, otp_verify
from core.validators import validate_e164

_PHONE_SEPARATORS = re.compile(r"[\s\-().]")


class PhoneField(serializers.CharField):
    """An E.164 number; the separators people type (spaces, dashes, dots, brackets) are dropped."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 32)
        super().__init__(**kwargs)
        self.validators.append(validate_e164)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        return _PHONE_SEPARATORS.sub("", value)


class SendOTPSerializer(serializers.Serializer):
    phone = PhoneField()


class VerifyOTPSerializer(serializers.Serializer):
    phone = PhoneField()
    otp = serializers.RegexField(
        rf"^\d{{{OTP_DIGITS}}}$",
        error_messages={"invalid": gettext_lazy("The code is the 6 digits from the text message.")},
    )


class OTPSentSerializer(serializers.Serializer):
    detail = serializers.CharField()
    expires_in = serializers.IntegerField(help_text=gettext_lazy("Seconds the code stays valid."))


class OTPVerifiedSerializer(serializers.Serializer):
    verified = serializers.BooleanField()
    access = serializers.CharField(allow_null=True)
    refresh = serializers.CharField(allow_null=True)
    user = UserBriefSerializer(allow_null=True)


def _too_many(error: OTPThrottled) -> Response:
    return Response(
        {"detail": str(error.message)},
        status=status.HTTP_429_TOO_MANY_REQUESTS,
        headers={"Retry-After": str(error.retry_after)},
    )


class SendOTPView(APIView):
    permission_classes = [permissions.AllowAny]
    authentication_classes = []
    throttle_scope = "auth"

    @extend_schema(request=SendOTPSerializer, responses={200: OTPSentSerializer, 429: DetailSerializer})
    def post(self, request):
        serializer = SendOTPSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            otp_send(phone=serializer.validated_data["phone"])
        except OTPThrottled as error:
            return _too_many(error)
        return Response({"detail": _("We sent a code by text message."), "expires_in": int(OTP_TTL.total_seconds())})


class VerifyOTPView(APIView):
    permission_classes = [permissions.AllowAny]
    authentication_classes = []
    throttle_scope = "auth"

    @extend_schema(request=VerifyOTPSerializer, responses={200: OTPVerifiedSerializer, 429: DetailSerializer})
    def post(self, request):
        serializer = VerifyOTPSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            result = otp_verify(phone=serializer.validated_data["phone"], code=serializer.validated_data["otp"])
        except OTPThrottled as error:
            return _too_many(error)
        if not result.sign_in:
            return Response({"verified": True, "access": None, "refresh": None, "user": None})
        update_last_login(None, result.user)
        return Response({"verified": True, **tokens_for(result.user), "user": UserBriefSerializer(result.user).data})
