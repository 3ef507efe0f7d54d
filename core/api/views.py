from django.contrib.auth import authenticate
from django.contrib.auth.signals import user_logged_in
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, permissions, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.serializers import TokenRefreshSerializer
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.views import TokenRefreshView

from core import services
from core.api import serializers as s
from core.api.privacy import AccountDeleteSerializer
from core.api.schema import error_response
from core.auth import lockout_response, resolve_login_name
from core.models import Role, VendorDocument, VendorTimeOff
from core.privacy import account_delete


def tokens_for(user):
    refresh = RefreshToken.for_user(user)
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


class RegisterView(APIView):
    permission_classes = [permissions.AllowAny]
    authentication_classes = []
    throttle_scope = "auth"

    @extend_schema(request=s.RegisterSerializer, responses={201: s.RegisterResponseSerializer})
    def post(self, request):
        serializer = s.RegisterSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.user_register(**serializer.validated_data)
        return Response({"user": s.UserSerializer(user).data, **tokens_for(user)}, status=status.HTTP_201_CREATED)


class LoginView(APIView):
    """Sign in with a username or an e-mail address. Five failures lock the account for 15
    minutes (429 with Retry-After), even with the right password; other accounts are unaffected."""

    permission_classes = [permissions.AllowAny]
    authentication_classes = []
    throttle_scope = "auth"

    @extend_schema(request=s.LoginSerializer, responses={200: s.AuthResponseSerializer, 401: s.DetailSerializer})
    def post(self, request):
        serializer = s.LoginSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        django_request = request._request
        username = resolve_login_name(serializer.validated_data["username"])
        user = authenticate(django_request, username=username, password=serializer.validated_data["password"])
        if getattr(django_request, "axes_locked_out", False):
            return lockout_response(django_request)
        if user is None or not user.is_active:
            return Response({"detail": _("Wrong username or password.")}, status=status.HTTP_401_UNAUTHORIZED)
        # No session login happens here, so announce the sign-in ourselves: django-axes resets the
        # account's failure count on it (AXES_RESET_ON_SUCCESS) and Django records last_login.
        user_logged_in.send(sender=user.__class__, request=django_request, user=user)
        return Response({**tokens_for(user), "user": s.UserBriefSerializer(user).data})


@extend_schema_view(
    post=extend_schema(
        responses={
            200: TokenRefreshSerializer,
            401: error_response("The refresh token is invalid, expired or already used."),
        }
    )
)
class RefreshView(TokenRefreshView):
    """Exchange a refresh token for a new pair; the old refresh token is blacklisted."""

    throttle_scope = "auth"


class LogoutView(APIView):
    permission_classes = [permissions.AllowAny]
    authentication_classes = []

    @extend_schema(request=s.RefreshSerializer, responses={200: s.DetailSerializer})
    def post(self, request):
        serializer = s.RefreshSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            RefreshToken(serializer.validated_data["refresh"]).blacklist()
        except TokenError:
            return Response({"refresh": [_("This token is invalid or already used.")]}, status=400)
        return Response({"detail": _("Signed out.")})


class MeView(APIView):
    def get_throttles(self):
        # Deleting asks for the password again: limit guesses like a sign-in.
        self.throttle_scope = "auth" if self.request.method == "DELETE" else None
        return super().get_throttles()

    @extend_schema(responses=s.UserSerializer)
    def get(self, request):
        return Response(s.UserSerializer(request.user).data)

    @extend_schema(request=s.UserUpdateSerializer, responses=s.UserSerializer)
    def patch(self, request):
        serializer = s.UserUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        user = services.user_update(user=request.user, actor=request.user, **serializer.validated_data)
        return Response(s.UserSerializer(user).data)

    @extend_schema(request=AccountDeleteSerializer, responses={204: None})
    def delete(self, request):
        """Anonymise the account (core/privacy.py): bookings, payments, ledger and audit stay."""
        serializer = AccountDeleteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        account_delete(user=request.user, password=serializer.validated_data["password"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class IsVendor(permissions.BasePermission):
    message = _("Only vendors can do this.")

    def has_permission(self, request, view):
        return bool(
            request.user.is_authenticated
            and request.user.role == Role.VENDOR
            and hasattr(request.user, "vendor_profile")
        )


class VendorMeView(APIView):
    permission_classes = [IsVendor]

    def _vendor(self, request):
        return request.user.vendor_profile

    @extend_schema(responses=s.VendorMeSerializer)
    def get(self, request):
        return Response(s.VendorMeSerializer(self._vendor(request)).data)

    @extend_schema(request=s.VendorMeSerializer, responses=s.VendorMeSerializer)
    def patch(self, request):
        vendor = self._vendor(request)
        serializer = s.VendorMeSerializer(vendor, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        pincodes = data.pop("pincodes", None)
        vendor = services.vendor_profile_update(vendor=vendor, actor=request.user, pincodes=pincodes, **data)
        return Response(s.VendorMeSerializer(vendor).data)


@extend_schema_view(
    post=extend_schema(
        responses={201: s.VendorDocumentSerializer, 413: error_response("The document is larger than 10 MB.")}
    )
)
class VendorDocumentsView(generics.ListCreateAPIView):
    permission_classes = [IsVendor]
    serializer_class = s.VendorDocumentSerializer
    parser_classes = [MultiPartParser, FormParser]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return VendorDocument.objects.none()
        return self.request.user.vendor_profile.documents.all()

    def perform_create(self, serializer):
        serializer.instance = services.vendor_document_upload(
            vendor=self.request.user.vendor_profile,
            kind=serializer.validated_data["kind"],
            file=serializer.validated_data["file"],
            actor=self.request.user,
        )


class VendorTimeOffView(generics.ListCreateAPIView):
    permission_classes = [IsVendor]
    serializer_class = s.TimeOffSerializer
    pagination_class = None
    parser_classes = [JSONParser]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return VendorTimeOff.objects.none()
        return self.request.user.vendor_profile.time_off.all()

    def perform_create(self, serializer):
        serializer.instance = services.vendor_time_off_add(
            vendor=self.request.user.vendor_profile, actor=self.request.user, **serializer.validated_data
        )


class VendorTimeOffDetailView(generics.DestroyAPIView):
    permission_classes = [IsVendor]
    serializer_class = s.TimeOffSerializer

    def get_object(self):
        return get_object_or_404(VendorTimeOff, pk=self.kwargs["pk"], vendor=self.request.user.vendor_profile)

    def perform_destroy(self, instance):
        services.vendor_time_off_remove(time_off=instance, actor=self.request.user)
