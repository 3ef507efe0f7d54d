"""Saved addresses: ``GET|POST /api/users/me/addresses/``, ``GET|PUT|PATCH|DELETE
/api/users/me/addresses/{id}/`` (customers; rules in core/addresses.py).

An address is {id, label, line1, line2, city, pincode, lat, lng, is_default, created_at,
updated_at}; lat/lng are strings with 6 decimals or null. POST → 201; PUT replaces (is_default
may be left out: unchanged), PATCH changes some fields; DELETE → 204. 400 for a pincode that is
not 6 digits (not starting with 0), coordinates out of range or only one of them, more than 20
addresses; 403 for a role that never books; 404 for someone else's id.
"""

from decimal import Decimal

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core import addresses
from core.api.base import ModelSerializer
from core.models import Address, Role
from core.validators import validate_pincode


class IsCustomer(permissions.BasePermission):
    message = gettext_lazy("Only customers keep saved addresses.")

    def has_permission(self, request, view):
        return bool(request.user.is_authenticated and request.user.role == Role.CUSTOMER)


class AddressSerializer(ModelSerializer):
    pincode = serializers.CharField(max_length=6, validators=[validate_pincode])
    lat = serializers.DecimalField(
        max_digits=9,
        decimal_places=6,
        min_value=Decimal("-90"),
        max_value=Decimal("90"),
        required=False,
        allow_null=True,
    )
    lng = serializers.DecimalField(
        max_digits=9,
        decimal_places=6,
        min_value=Decimal("-180"),
        max_value=Decimal("180"),
        required=False,
        allow_null=True,
    )
    is_default = serializers.BooleanField(required=False)

    class Meta:
        model = Address
        fields = [
            "id",
            "label",
            "line1",
            "line2",
            "city",
            "pincode",
            "lat",
            "lng",
            "is_default",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]

    def validate(self, attrs):
        if self.partial:
            return attrs
        # A full write: coordinates are a pair (or both left out).
        if (attrs.get("lat") is None) != (attrs.get("lng") is None):
            raise serializers.ValidationError({"lat": [_("Give both lat and lng, or neither.")]})
        attrs.setdefault("lat", None)
        attrs.setdefault("lng", None)
        attrs.setdefault("label", "")
        attrs.setdefault("line2", "")
        return attrs


class AddressListView(APIView):
    permission_classes = [IsCustomer]

    @extend_schema(responses=AddressSerializer(many=True))
    def get(self, request):
        return Response(AddressSerializer(addresses.address_list(user=request.user), many=True).data)

    @extend_schema(request=AddressSerializer, responses={201: AddressSerializer})
    def post(self, request):
        serializer = AddressSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        address = addresses.address_create(user=request.user, **serializer.validated_data)
        return Response(AddressSerializer(address).data, status=status.HTTP_201_CREATED)


class AddressDetailView(APIView):
    permission_classes = [IsCustomer]

    @extend_schema(responses=AddressSerializer)
    def get(self, request, pk):
        return Response(AddressSerializer(addresses.address_get(user=request.user, address_id=pk)).data)

    def _write(self, request, pk, *, partial):
        addresses.address_get(user=request.user, address_id=pk)  # someone else's: 404 before 400
        serializer = AddressSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        address = addresses.address_update(user=request.user, address_id=pk, **serializer.validated_data)
        return Response(AddressSerializer(address).data)

    @extend_schema(request=AddressSerializer, responses=AddressSerializer)
    def put(self, request, pk):
        return self._write(request, pk, partial=False)

    @extend_schema(request=AddressSerializer, responses=AddressSerializer)
    def patch(self, request, pk):
        return self._write(request, pk, partial=True)

    @extend_schema(responses={204: None})
    def delete(self, request, pk):
        addresses.address_delete(user=request.user, address_id=pk)
        return Response(status=status.HTTP_204_NO_CONTENT)
