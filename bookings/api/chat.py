"""``GET|POST /api/bookings/{id}/messages/`` and ``POST /api/bookings/{id}/messages/read/`` —
the booking chat over HTTP (ARCHITECTURE §8). Thin: bookings.services.chat decides everything.

The list is oldest first ("newest last") in pages of 50: ``?after=<message id>`` gives the
messages after that one, and ``next`` is the link to the following page (null on the last), so
a client polling for news keeps asking with the id of the last message it has."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from bookings.models import MESSAGE_MAX_LENGTH, Message
from bookings.services.chat import chat_booking, message_list, message_post, messages_mark_read
from core.api.base import ModelSerializer
from core.api.schema import error_response


class MessageSerializer(ModelSerializer):
    sender_role = serializers.SerializerMethodField()

    class Meta:
        model = Message
        fields = ["id", "sender", "sender_role", "body", "created_at", "read_at"]
        read_only_fields = fields

    def get_sender_role(self, message) -> str:
        booking = self.context["booking"]
        return "customer" if message.sender_id == booking.customer_id else "vendor"


class MessagePageSerializer(serializers.Serializer):
    results = MessageSerializer(many=True)
    next = serializers.CharField(allow_null=True)


class MessageCreateSerializer(serializers.Serializer):
    body = serializers.CharField(max_length=MESSAGE_MAX_LENGTH, trim_whitespace=True)


class MessageListParams(serializers.Serializer):
    after = serializers.IntegerField(required=False, min_value=0)


class MarkReadSerializer(serializers.Serializer):
    marked = serializers.IntegerField(help_text=_("How many messages were unread until now."))


def _booking(request, pk):
    return chat_booking(user=request.user, booking_id=pk)


class BookingMessagesView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="bookings_messages_list",
        parameters=[OpenApiParameter("after", int, description="Only messages after this message id.")],
        responses=MessagePageSerializer,
    )
    def get(self, request, pk):
        booking = _booking(request, pk)
        params = MessageListParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        page, more = message_list(booking=booking, user=request.user, after=params.validated_data.get("after"))
        next_link = None
        if more:
            next_link = request.build_absolute_uri(f"{request.path}?after={page[-1].pk}")
        results = MessageSerializer(page, many=True, context={"booking": booking}).data
        return Response({"results": results, "next": next_link})

    @extend_schema(
        operation_id="bookings_messages_create",
        request=MessageCreateSerializer,
        responses={201: MessageSerializer, 429: error_response("More than 20 messages in a minute.")},
    )
    def post(self, request, pk):
        booking = _booking(request, pk)
        serializer = MessageCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        message = message_post(booking=booking, user=request.user, body=serializer.validated_data["body"])
        return Response(MessageSerializer(message, context={"booking": booking}).data, status=status.HTTP_201_CREATED)


class BookingMessagesReadView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(operation_id="bookings_messages_read", request=None, responses=MarkReadSerializer)
    def post(self, request, pk):
        booking = _booking(request, pk)
        return Response({"marked": messages_mark_read(booking=booking, user=request.user)})
