from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from core.api.base import ModelSerializer
from core.models import DocumentKind, Role, User, VendorDocument, VendorProfile, VendorTimeOff, validate_working_hours
from core.validators import validate_e164, validate_pincode


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 datetime that must carry its UTC offset: a naive time is refused, not guessed."""

    default_error_messages = {"naive": _("Give the time with its UTC offset, e.g. 2026-11-23T10:00:00+05:30.")}

    def to_internal_value(self, value):
        if isinstance(value, str):
            from django.utils.dateparse import parse_datetime

            try:
                parsed = parse_datetime(value.strip())
            except ValueError:
                parsed = None
            if parsed is not None and parsed.tzinfo is None:
                self.fail("naive")
        return super().to_internal_value(value)


class QueryBooleanField(serializers.BooleanField):
    """An optional true/false query parameter: absent or empty is "not given" (None) — not False,
    as DRF's form semantics would have it for an absent checkbox — and anything else but true/false
    ("null" included) is refused."""

    NULL_VALUES = frozenset()

    def __init__(self, **kwargs):
        super().__init__(required=False, allow_null=True, default=None, **kwargs)


class UserSerializer(ModelSerializer):
    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "email",
            "role",
            "first_name",
            "last_name",
            "phone",
            "phone_verified",
            "email_verified",
            "notify_sms",
            "notify_email",
        ]
        read_only_fields = fields


class UserBriefSerializer(ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username", "email", "role"]
        read_only_fields = fields


class UserUpdateSerializer(serializers.Serializer):
    first_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    email = serializers.EmailField(required=False, max_length=254)
    phone = serializers.CharField(max_length=16, required=False, allow_blank=True, validators=[validate_e164])
    notify_sms = serializers.BooleanField(required=False, help_text=_("Send SMS copies of notifications."))
    notify_email = serializers.BooleanField(required=False, help_text=_("Send e-mail copies of notifications."))


class RegisterSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)  # the column's length: longer would be a 500
    password = serializers.CharField(write_only=True, max_length=128, style={"input_type": "password"})
    role = serializers.ChoiceField(choices=[Role.CUSTOMER, Role.VENDOR], default=Role.CUSTOMER)
    first_name = serializers.CharField(max_length=150)
    last_name = serializers.CharField(max_length=150, allow_blank=True, required=False, default="")
    phone = serializers.CharField(
        max_length=16, required=False, allow_blank=True, default="", validators=[validate_e164]
    )


class LoginSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=254, help_text=_("Username or e-mail address"))
    password = serializers.CharField(max_length=128, style={"input_type": "password"})


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


class AuthResponseSerializer(TokenPairSerializer):
    user = UserBriefSerializer()


class RegisterResponseSerializer(TokenPairSerializer):
    user = UserSerializer()


class RefreshSerializer(serializers.Serializer):
    refresh = serializers.CharField()


class DetailSerializer(serializers.Serializer):
    detail = serializers.CharField()


class TimeOffSerializer(ModelSerializer):
    starts_at = AwareDateTimeField()
    ends_at = AwareDateTimeField()

    class Meta:
        model = VendorTimeOff
        fields = ["id", "starts_at", "ends_at", "reason"]

    def validate(self, attrs):
        if attrs["ends_at"] <= attrs["starts_at"]:
            raise serializers.ValidationError({"ends_at": [_("Time off must end after it starts.")]})
        return attrs


class PincodeListField(serializers.ListField):
    """Written as a list of pincodes; read from the vendor's ``VendorPincode`` rows (a related
    manager, which the plain ListField cannot iterate)."""

    def to_representation(self, data):
        return sorted(p.pincode for p in data.all())


class VendorMeSerializer(ModelSerializer):
    pincodes = PincodeListField(
        child=serializers.CharField(max_length=6, validators=[validate_pincode]), required=False, max_length=100
    )
    working_hours = serializers.JSONField(required=False, validators=[validate_working_hours])
    user = UserSerializer(read_only=True)

    class Meta:
        model = VendorProfile
        fields = [
            "id",
            "user",
            "display_name",
            "bio",
            "experience_years",
            "base_lat",
            "base_lng",
            "radius_km",
            "working_hours",
            "is_available",
            "pincodes",
            "onboarding_status",
            "rating_avg",
            "rating_count",
        ]
        read_only_fields = ["id", "user", "onboarding_status", "rating_avg", "rating_count"]


class VendorDocumentSerializer(ModelSerializer):
    kind = serializers.ChoiceField(choices=DocumentKind.choices)
    # Identity documents are private: the file is never exposed by URL, only reviewed by staff.
    # What the file may be (PDF/JPEG/PNG/WebP by content, ≤ 10 MB → else 413) is checked by
    # core.services.vendor_document_upload, for the application page too (core/documents.py).
    file = serializers.FileField(write_only=True)

    class Meta:
        model = VendorDocument
        fields = ["id", "kind", "file", "status", "review_note", "uploaded_at"]
        read_only_fields = ["id", "status", "review_note", "uploaded_at"]
