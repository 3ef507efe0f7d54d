from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from core.errors import PayloadTooLarge
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


class UserSerializer(serializers.ModelSerializer):
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


class UserBriefSerializer(serializers.ModelSerializer):
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


class TimeOffSerializer(serializers.ModelSerializer):
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


class VendorMeSerializer(serializers.ModelSerializer):
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


ALLOWED_DOCUMENT_TYPES = {"pdf", "jpeg", "png", "webp"}
MAX_DOCUMENT_BYTES = 10 * 1024 * 1024


def sniff_document_type(upload) -> str | None:
    """Decide the file type from its content, never from its name."""
    head = upload.read(16)
    upload.seek(0)
    if head.startswith(b"%PDF-"):
        return "pdf"
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(upload) as image:
            image.verify()
            kind = (image.format or "").lower()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return None
    finally:
        upload.seek(0)
    return kind


class VendorDocumentSerializer(serializers.ModelSerializer):
    kind = serializers.ChoiceField(choices=DocumentKind.choices)
    # Identity documents are private: the file is never exposed by URL, only reviewed by staff.
    file = serializers.FileField(write_only=True)

    class Meta:
        model = VendorDocument
        fields = ["id", "kind", "file", "status", "review_note", "uploaded_at"]
        read_only_fields = ["id", "status", "review_note", "uploaded_at"]

    def validate_file(self, upload):
        if upload.size > MAX_DOCUMENT_BYTES:
            # §10: too large is 413, not a field error.
            raise PayloadTooLarge(_("A document may be at most 10 MB."))
        if sniff_document_type(upload) not in ALLOWED_DOCUMENT_TYPES:
            raise serializers.ValidationError(_("Upload a PDF, JPEG, PNG or WebP file."))
        return upload
