import base64

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api.base import ModelSerializer
from signatures.models import Review, Signature, SignatureRequest


class SignatureSerializer(ModelSerializer):
    satisfaction_rating = serializers.IntegerField(source="rating")
    has_signature_image = serializers.SerializerMethodField()

    class Meta:
        model = Signature
        fields = [
            "sequence",
            "satisfaction_rating",
            "comments",
            "comments_sha256",
            "signer_name",
            "signed_at",
            "amount",
            "currency",
            "photo_checksums",
            "has_signature_image",
            "signature_image_sha256",
            "previous_hash",
            "signature_hash",
        ]

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_has_signature_image(self, signature):
        return bool(signature.signature_image_sha256)


class SignatureWithImageSerializer(SignatureSerializer):
    signature_image = serializers.SerializerMethodField()

    class Meta(SignatureSerializer.Meta):
        fields = [*SignatureSerializer.Meta.fields, "signature_image"]

    @extend_schema_field(OpenApiTypes.STR)
    def get_signature_image(self, signature):
        if signature.signature_image is None:
            return None
        return "data:image/png;base64," + base64.b64encode(bytes(signature.signature_image)).decode()


class SignatureRequestSerializer(ModelSerializer):
    """``/api/signatures/{id}/``: the request and, once signed, its signature (§7: one resource)."""

    booking_id = serializers.UUIDField(read_only=True)
    booking_number = serializers.CharField(source="booking.booking_number", read_only=True)
    booking_status = serializers.CharField(source="booking.status", read_only=True)
    signature = serializers.SerializerMethodField()
    signature_class = SignatureSerializer

    class Meta:
        model = SignatureRequest
        fields = [
            "id",
            "booking_id",
            "booking_number",
            "booking_status",
            "status",
            "created_at",
            "expires_at",
            "reminder_sent_at",
            "closed_at",
            "signature",
        ]

    @extend_schema_field(SignatureSerializer(allow_null=True))
    def get_signature(self, signature_request):
        signed = signature_request.status == "signed"
        signature = getattr(signature_request, "signature", None) if signed else None
        return self.signature_class(signature).data if signature is not None else None


class SignatureRequestDetailSerializer(SignatureRequestSerializer):
    signature_class = SignatureWithImageSerializer


class SignatureRequestCreatedSerializer(ModelSerializer):
    class Meta:
        model = SignatureRequest
        fields = ["id", "status", "expires_at"]


class SignSerializer(serializers.Serializer):
    satisfaction_rating = serializers.IntegerField(min_value=1, max_value=5)
    comments = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")
    signer_name = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")
    signature_image = serializers.CharField(
        required=False,
        allow_blank=True,
        allow_null=True,
        default=None,
        trim_whitespace=False,
        help_text=_("The drawn signature as a PNG data URL (data:image/png;base64,…), at most 1 MB."),
    )
    token = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=200,
        help_text=_("The token of the signing link, for a customer who is not logged in."),
    )


class SignResponseSerializer(serializers.Serializer):
    status = serializers.CharField(help_text=_("The booking's status after signing: signed or disputed."))
    signature_hash = serializers.CharField()
    signed_at = serializers.DateTimeField()


class VerifySerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    signature_hash = serializers.CharField()
    computed_hash = serializers.CharField()
    problem = serializers.CharField(allow_blank=True)


class ReviewSerializer(ModelSerializer):
    """A review as the public sees it: the customer by first name and initial only."""

    customer_name = serializers.SerializerMethodField()

    class Meta:
        model = Review
        fields = ["id", "rating", "comments", "customer_name", "created_at"]

    @extend_schema_field(OpenApiTypes.STR)
    def get_customer_name(self, review):
        customer = review.customer
        initial = f" {customer.last_name[:1]}." if customer.last_name else ""
        return f"{customer.first_name}{initial}".strip() or str(_("A customer"))
