from decimal import Decimal

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from core.api.base import ModelSerializer
from payments.models import PaymentAttempt, PaymentOperation


class PaymentSerializer(ModelSerializer):
    """A booking's ``payment`` object (§6): {id, method, status, amount, client_secret}, plus what a
    payments list needs. ``client_secret`` is shown to the paying customer only, and only while
    the card still has to be confirmed."""

    booking_id = serializers.UUIDField(read_only=True)
    booking_number = serializers.CharField(source="booking.booking_number", read_only=True)
    client_secret = serializers.SerializerMethodField()

    class Meta:
        model = PaymentAttempt
        fields = [
            "id",
            "method",
            "status",
            "amount",
            "currency",
            "client_secret",
            "amount_captured",
            "amount_refunded",
            "booking_id",
            "booking_number",
            "failure_code",
            "failure_message",
            "created_at",
            "authorized_at",
            "captured_at",
        ]

    def get_client_secret(self, attempt) -> str | None:
        request = self.context.get("request")
        user = getattr(request, "user", None)
        if attempt.method != "card" or not attempt.client_secret or user is None:
            return None
        if attempt.booking.customer_id != user.pk or attempt.status not in (
            "requires_payment_method",
            "requires_action",
        ):
            return None
        return attempt.client_secret


class BookingPaymentSerializer(PaymentSerializer):
    """The compact form inside a booking."""

    class Meta(PaymentSerializer.Meta):
        fields = ["id", "method", "status", "amount", "currency", "client_secret", "amount_captured", "amount_refunded"]


class PaymentDeclinedSerializer(serializers.Serializer):
    """402: the card was declined. ``payment`` is the new attempt to confirm with another card
    (null when the booking can no longer be paid)."""

    detail = serializers.CharField()
    code = serializers.CharField(allow_blank=True, help_text=_("The gateway's decline code, if it gave one."))
    payment = PaymentSerializer(allow_null=True)


class ConfirmSerializer(serializers.Serializer):
    """The fake gateway's card form, or ``authentication`` to finish 3-D Secure. With the stripe
    gateway the browser confirms with Stripe.js and posts an empty body: the server re-reads."""

    card_number = serializers.RegexField(r"^\d{12,19}$", required=False, help_text=_("Digits only."))
    exp_month = serializers.IntegerField(min_value=1, max_value=12, required=False)
    exp_year = serializers.IntegerField(min_value=2000, max_value=2100, required=False)
    cvc = serializers.RegexField(r"^\d{3,4}$", required=False)
    authentication = serializers.ChoiceField(choices=["pass", "fail"], required=False)

    def validate(self, data):
        card_fields = ("card_number", "exp_month", "exp_year", "cvc")
        given = [name for name in card_fields if name in data]
        if given and len(given) != len(card_fields):
            raise serializers.ValidationError(
                {name: [_("This field is required.")] for name in card_fields if name not in data}
            )
        if given and "authentication" in data:
            raise serializers.ValidationError({"authentication": [_("Send either the card or the authentication.")]})
        return data


class RefundSerializer(serializers.Serializer):
    amount = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=Decimal("0.01"), required=False)
    reason = serializers.CharField(max_length=500)


class OperationSerializer(ModelSerializer):
    class Meta:
        model = PaymentOperation
        fields = ["id", "kind", "amount", "reason", "state", "reference", "last_error", "created_at", "finished_at"]


class RefundResponseSerializer(serializers.Serializer):
    payment = PaymentSerializer()
    refund = OperationSerializer()
