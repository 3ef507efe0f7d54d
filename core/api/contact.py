"""``POST /api/contact/`` {name, email, subject, message} → 201 {id, detail} (core/contact.py).

Anonymous callers are welcome; a signed-in caller may leave out name and e-mail (the account's are
used). Throttled by the ``contact`` scope (per client address, or per user when signed in).
"""

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.contact import contact_message_submit


class ContactSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True, default="")
    subject = serializers.CharField(max_length=200)
    message = serializers.CharField(max_length=5000)

    def validate(self, attrs):
        user = self.context.get("user")
        if user is not None and user.is_authenticated:
            attrs["name"] = attrs["name"].strip() or user.get_full_name() or user.username
            attrs["email"] = attrs["email"] or user.email
        errors = {}
        if not attrs["name"].strip():
            errors["name"] = [_("This field is required.")]
        if not attrs["email"]:
            errors["email"] = [_("This field is required.")]
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class ContactReceivedSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    detail = serializers.CharField()


class ContactView(APIView):
    permission_classes = [permissions.AllowAny]
    throttle_scope = "contact"

    @extend_schema(request=ContactSerializer, responses={201: ContactReceivedSerializer})
    def post(self, request):
        serializer = ContactSerializer(data=request.data, context={"user": request.user})
        serializer.is_valid(raise_exception=True)
        message = contact_message_submit(user=request.user, **serializer.validated_data)
        return Response(
            {"id": message.pk, "detail": _("Thank you. We received your message and will answer by e-mail.")},
            status=status.HTTP_201_CREATED,
        )
