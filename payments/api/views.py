"""Payments API (ARCHITECTURE §6, §10): list and detail (the paying customer, ops), the fake
gateway's confirmation, and ops refunds. Status always comes from the gateway."""

import uuid

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import generics, permissions, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import NotFound
from core.models import Role
from payments.api import serializers as s
from payments.checkout import PaymentRefused, payment_confirm, payment_get_for_customer
from payments.gateways.base import CardDetails
from payments.models import PaymentAttempt
from payments.operations import payment_refund


class IsCustomerOrOps(permissions.BasePermission):
    message = _("Payments are seen by the paying customer and by operations staff.")

    def has_permission(self, request, view):
        return bool(
            request.user.is_authenticated and request.user.role in (Role.CUSTOMER, Role.OPS_MANAGER, Role.SUPER_ADMIN)
        )


class IsOps(permissions.BasePermission):
    message = _("Only operations staff can do this.")

    def has_permission(self, request, view):
        return bool(request.user.is_authenticated and request.user.role in (Role.OPS_MANAGER, Role.SUPER_ADMIN))


def payments_visible_to(user):
    queryset = PaymentAttempt.objects.select_related("booking")
    if user.role in (Role.OPS_MANAGER, Role.SUPER_ADMIN):
        return queryset
    if user.role == Role.CUSTOMER:
        return queryset.filter(booking__customer=user)
    return queryset.none()


def _get_visible(user, pk) -> PaymentAttempt:
    if user.role == Role.CUSTOMER:
        return payment_get_for_customer(payment_id=pk, user=user)
    try:
        pk = uuid.UUID(str(pk))
    except ValueError:
        raise NotFound() from None
    attempt = payments_visible_to(user).filter(pk=pk).first()
    if attempt is None:
        raise NotFound()
    return attempt


class PaymentListView(generics.ListAPIView):
    """The caller's payments (a customer), or every payment (ops), newest first."""

    permission_classes = [IsCustomerOrOps]
    serializer_class = s.PaymentSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return PaymentAttempt.objects.none()
        queryset = payments_visible_to(self.request.user).order_by("-created_at", "pk")
        status_filter = self.request.query_params.get("status")
        if status_filter:
            queryset = queryset.filter(status=status_filter)
        booking = self.request.query_params.get("booking")
        if booking:
            queryset = queryset.filter(booking__booking_number=booking)
        return queryset


class PaymentDetailView(APIView):
    permission_classes = [IsCustomerOrOps]

    @extend_schema(responses=s.PaymentSerializer)
    def get(self, request, pk):
        attempt = _get_visible(request.user, pk)
        return Response(s.PaymentSerializer(attempt, context={"request": request}).data)


class PaymentConfirmView(APIView):
    """Confirm the card of the caller's booking. 200 with the payment (``authorized``,
    ``card_saved`` or ``requires_action``); 402 when the card is declined, with the next payment
    to confirm; 409 when the booking can no longer be paid."""

    permission_classes = [permissions.IsAuthenticated]
    throttle_scope = "payment_confirm"

    @extend_schema(request=s.ConfirmSerializer, responses={200: s.PaymentSerializer, 402: s.PaymentDeclinedSerializer})
    def post(self, request, pk):
        attempt = payment_get_for_customer(payment_id=pk, user=request.user)
        serializer = s.ConfirmSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        card = None
        if "card_number" in data:
            card = CardDetails(
                number=data["card_number"], exp_month=data["exp_month"], exp_year=data["exp_year"], cvc=data["cvc"]
            )
        try:
            attempt = payment_confirm(
                attempt=attempt, user=request.user, card=card, authentication=data.get("authentication")
            )
        except PaymentRefused as refused:
            body = {"detail": str(refused.message), **refused.extra}
            body["payment"] = (
                s.PaymentSerializer(refused.attempt, context={"request": request}).data if refused.attempt else None
            )
            return Response(body, status=status.HTTP_402_PAYMENT_REQUIRED)
        return Response(s.PaymentSerializer(attempt, context={"request": request}).data)


class PaymentRefundView(APIView):
    """Ops refund part or all of a captured payment, with a reason. 202: the refund runs after
    commit (at once in the embedded run); the answer shows its state."""

    permission_classes = [IsOps]

    @extend_schema(request=s.RefundSerializer, responses={202: s.RefundResponseSerializer})
    def post(self, request, pk):
        attempt = _get_visible(request.user, pk)
        serializer = s.RefundSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        op = payment_refund(
            attempt=attempt,
            actor=request.user,
            reason=serializer.validated_data["reason"],
            amount=serializer.validated_data.get("amount"),
        )
        op.refresh_from_db()
        attempt.refresh_from_db()
        return Response(
            {
                "payment": s.PaymentSerializer(attempt, context={"request": request}).data,
                "refund": s.OperationSerializer(op).data,
            },
            status=status.HTTP_202_ACCEPTED,
        )
