"""Password reset and e-mail verification endpoints (ARCHITECTURE §10; rules in core/accounts.py).

``POST /auth/password-reset/`` {email} → always 200 {detail}, known address or not (throttled:
``password_reset``, per client address).
``POST /auth/password-reset/confirm/`` {token, new_password} (token = ``<uid>:<token>`` from the link
``/account/reset/<uid>/<token>/``; or give ``uid`` and ``token`` apart) → 200 {detail}; 400
``{"token": [...]}`` for a bad, used or expired link, 400 ``{"new_password": [...]}`` for a weak one.
``POST /auth/verify-email/`` {token} → 200 {detail, email_verified: true}; 400 ``{"token": [...]}``.
``POST /auth/verify-email/resend/`` (signed in; throttled: ``email_verify_resend``) → 200 {detail,
sent}.
"""

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core import accounts
from core.api.serializers import DetailSerializer


class PasswordResetSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=254, help_text=gettext_lazy("The account's e-mail address."))


class PasswordResetConfirmSerializer(serializers.Serializer):
    token = serializers.CharField(
        max_length=300,
        help_text=gettext_lazy(
            "From the e-mailed link /account/reset/<uid>/<token>/: '<uid>:<token>', or the "
            "token alone when uid is given."
        ),
    )
    uid = serializers.CharField(max_length=64, required=False, allow_blank=True)
    new_password = serializers.CharField(max_length=128, write_only=True, style={"input_type": "password"})


class VerifyEmailSerializer(serializers.Serializer):
    token = serializers.CharField(
        max_length=500, help_text=gettext_lazy("From the link /account/verify-email/<token>/.")
    )


class VerifiedSerializer(DetailSerializer):
    email_verified = serializers.BooleanField()


class ResentSerializer(DetailSerializer):
    sent = serializers.BooleanField()


class PasswordResetView(APIView):
    permission_classes = [permissions.AllowAny]
    authentication_classes = []
    throttle_scope = "password_reset"

    @extend_schema(request=PasswordResetSerializer, responses={200: DetailSerializer})
    def post(self, request):
        serializer = PasswordResetSerializer(data=request.data)
        # A malformed address gets the same answer as an unknown one.
        email = serializer.validated_data["email"] if serializer.is_valid() else ""
        accounts.password_reset_request(email=email)
        return Response(
            {"detail": _("If an account has this e-mail address, we sent it a link to reset the password.")}
        )


class PasswordResetConfirmView(APIView):
    permission_classes = [permissions.AllowAny]
    authentication_classes = []
    throttle_scope = "auth"

    @extend_schema(request=PasswordResetConfirmSerializer, responses={200: DetailSerializer})
    def post(self, request):
        serializer = PasswordResetConfirmSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        uid, token = accounts.split_reset_token(data["token"], data.get("uid"))
        accounts.password_reset_confirm(uid=uid, token=token, new_password=data["new_password"])
        return Response({"detail": _("Your password was changed. Sign in with the new one.")})


class VerifyEmailView(APIView):
    permission_classes = [permissions.AllowAny]
    authentication_classes = []
    throttle_scope = "auth"

    @extend_schema(request=VerifyEmailSerializer, responses={200: VerifiedSerializer})
    def post(self, request):
        serializer = VerifyEmailSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        accounts.email_verify(token=serializer.validated_data["token"])
        return Response({"detail": _("Thank you: your e-mail address is verified."), "email_verified": True})


class VerifyEmailResendView(APIView):
    throttle_scope = "email_verify_resend"

    @extend_schema(request=None, responses={200: ResentSerializer})
    def post(self, request):
        sent = accounts.email_verification_send(user=request.user)
        if sent:
            detail = _("We sent a new verification link to %(email)s.") % {"email": request.user.email}
        elif request.user.email_verified:
            detail = _("Your e-mail address is already verified.")
        else:
            detail = _("Your account has no e-mail address to verify.")
        return Response({"detail": detail, "sent": sent})
