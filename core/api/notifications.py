"""The signed-in user's in-app notifications (ARCHITECTURE §10 "Other").

``GET /api/notifications/`` (newest first, paginated, ``?unread=true|false``; the page also
carries ``unread_count`` for a badge) · ``GET /api/notifications/unread-count/`` → ``{"unread": n}``
· ``POST /api/notifications/{id}/read/`` → the notification (someone else's id answers 404) ·
``POST /api/notifications/read-all/`` → ``{"marked": n, "unread": 0}``.
"""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core import notifications as service
from core.api.base import ModelSerializer
from core.api.pagination import PageNumberPagination
from core.api.serializers import QueryBooleanField
from core.models import Notification


class NotificationSerializer(ModelSerializer):
    is_read = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = ["id", "kind", "title", "body", "data", "created_at", "read_at", "is_read"]
        read_only_fields = fields

    def get_is_read(self, notification) -> bool:
        return notification.read_at is not None


class NotificationQuerySerializer(serializers.Serializer):
    unread = QueryBooleanField(help_text=_("true: unread only; false: read only"))


class UnreadCountSerializer(serializers.Serializer):
    unread = serializers.IntegerField()


class MarkAllReadSerializer(serializers.Serializer):
    marked = serializers.IntegerField()
    unread = serializers.IntegerField()


class NotificationPagination(PageNumberPagination):
    """The usual page, plus the user's total of unread notifications."""

    unread_count = 0

    def get_paginated_response(self, data):
        response = super().get_paginated_response(data)
        response.data["unread_count"] = self.unread_count
        return response

    def get_paginated_response_schema(self, schema):
        schema = super().get_paginated_response_schema(schema)
        schema["properties"]["unread_count"] = {"type": "integer", "example": 3}
        schema["required"] = [*schema.get("required", []), "unread_count"]
        return schema


class NotificationListView(generics.ListAPIView):
    serializer_class = NotificationSerializer
    pagination_class = NotificationPagination
    filter_backends = []

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Notification.objects.none()
        query = NotificationQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return service.notification_list(user=self.request.user, unread=query.validated_data.get("unread"))

    @extend_schema(parameters=[OpenApiParameter("unread", OpenApiTypes.BOOL, description=_("Filter by read state."))])
    def get(self, request, *args, **kwargs):
        self.paginator.unread_count = service.notification_unread_count(user=request.user)
        return super().get(request, *args, **kwargs)


class NotificationUnreadCountView(APIView):
    @extend_schema(responses=UnreadCountSerializer)
    def get(self, request):
        return Response({"unread": service.notification_unread_count(user=request.user)})


class NotificationReadView(APIView):
    @extend_schema(request=None, responses=NotificationSerializer)
    def post(self, request, pk):
        notification = service.notification_mark_read(user=request.user, notification_id=pk)
        return Response(NotificationSerializer(notification).data)


class NotificationReadAllView(APIView):
    @extend_schema(request=None, responses=MarkAllReadSerializer)
    def post(self, request):
        marked = service.notification_mark_all_read(user=request.user)
        return Response({"marked": marked, "unread": service.notification_unread_count(user=request.user)})
