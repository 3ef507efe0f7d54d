"""``GET /api/earnings/`` (vendors) and ``GET /api/payouts/`` (vendors: their own; ops: all)
— ARCHITECTURE §6 "Payouts", §10. Thin: validate the query, call payments.payouts, render. Money
is a string with 2 decimals."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import generics, permissions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.base import ModelSerializer
from core.api.views import IsVendor
from core.models import Role
from payments.models import Payout, PayoutStatus
from payments.payouts import PERIODS, earnings_summary, payouts_visible_to


def _money(**kwargs):
    return serializers.DecimalField(max_digits=12, decimal_places=2, coerce_to_string=True, **kwargs)


class EarningsQuerySerializer(serializers.Serializer):
    period = serializers.ChoiceField(choices=PERIODS, default="day", required=False)
    date_from = serializers.DateField(required=False)
    date_to = serializers.DateField(required=False)


class EarningsTotalsSerializer(serializers.Serializer):
    pending = _money(help_text=_("On hold: not payable until the hold after capture has passed."))
    payable = _money(help_text=_("Past the hold, waiting for the next payout."))
    processing = _money(help_text=_("In a payout that is not paid yet."))
    paid = _money(help_text=_("In paid payouts."))
    balance = _money(help_text=_("What the platform owes you net of what you owe it (negative: you owe)."))


class EarningsRowSerializer(serializers.Serializer):
    period_start = serializers.DateField()
    amount = _money()
    count = serializers.IntegerField()


class EarningsSummarySerializer(serializers.Serializer):
    currency = serializers.CharField()
    period = serializers.CharField()
    date_from = serializers.DateField()
    date_to = serializers.DateField()
    hold_hours = serializers.IntegerField()
    totals = EarningsTotalsSerializer()
    rows = EarningsRowSerializer(many=True)


class EarningsView(APIView):
    """The signed-in vendor's earnings: totals and rows per ``?period=day|week|month``."""

    permission_classes = [IsVendor]

    @extend_schema(parameters=[EarningsQuerySerializer], responses=EarningsSummarySerializer)
    def get(self, request):
        query = EarningsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        summary = earnings_summary(vendor=request.user.vendor_profile, **query.validated_data)
        return Response(EarningsSummarySerializer(summary).data)


class CanListPayouts(permissions.BasePermission):
    message = _("Only vendors and operations staff can see payouts.")

    def has_permission(self, request, view):
        user = request.user
        if not user.is_authenticated:
            return False
        if user.role in (Role.OPS_MANAGER, Role.SUPER_ADMIN):
            return True
        return user.role == Role.VENDOR and hasattr(user, "vendor_profile")


class PayoutQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=PayoutStatus.choices, required=False)
    vendor = serializers.UUIDField(required=False, help_text=_("Operations staff: one vendor's payouts."))


class PayoutSerializer(ModelSerializer):
    vendor_name = serializers.CharField(source="vendor.display_name", read_only=True)
    amount = _money()
    earnings_count = serializers.IntegerField(read_only=True)

    # Operations detail a vendor has no use for (gateway error texts, retry schedule).
    OPS_ONLY = ("tries", "next_try_at", "last_error")

    class Meta:
        model = Payout
        fields = [
            "id",
            "number",
            "vendor",
            "vendor_name",
            "amount",
            "currency",
            "status",
            "destination_account",
            "gateway_transfer_id",
            "bank_reference",
            "earnings_count",
            "created_at",
            "paid_at",
            "tries",
            "next_try_at",
            "last_error",
        ]
        read_only_fields = fields

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if not self.context.get("ops"):
            for name in self.OPS_ONLY:
                data.pop(name, None)
        return data


class PayoutListView(generics.ListAPIView):
    """Payouts, newest first: a vendor sees their own, ops managers and super admins all
    (``?status=``, and ``?vendor=`` for ops). Paginated {count, next, previous, results}."""

    permission_classes = [CanListPayouts]
    serializer_class = PayoutSerializer
    filter_backends = []

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Payout.objects.none()
        query = PayoutQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        queryset = payouts_visible_to(self.request.user)
        if query.validated_data.get("status"):
            queryset = queryset.filter(status=query.validated_data["status"])
        if query.validated_data.get("vendor"):
            queryset = queryset.filter(vendor_id=query.validated_data["vendor"])
        return queryset

    def get_serializer_context(self):
        context = super().get_serializer_context()
        user = self.request.user
        context["ops"] = bool(user.is_authenticated and user.role in (Role.OPS_MANAGER, Role.SUPER_ADMIN))
        return context

    @extend_schema(parameters=[PayoutQuerySerializer])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)
