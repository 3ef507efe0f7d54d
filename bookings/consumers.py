"""Booking sockets (ARCHITECTURE §8): ``ws/bookings/<id>/`` and ``ws/vendor/jobs/``."""

import uuid
from types import SimpleNamespace

from channels.db import database_sync_to_async
from django.utils import timezone

from bookings.selectors import booking_detail_queryset
from bookings.services.chat import chat_booking, message_post, messages_mark_read
from core.consumers import AuthenticatedConsumer
from core.errors import ApplicationError, InvalidInput
from core.realtime import booking_chat_group, booking_group, vendor_jobs_group


class BookingConsumer(AuthenticatedConsumer):
    """The booking's customer, the vendor it was offered to or held by, and ops staff. On connect
    the current state is sent first, so a reconnecting client is never stale.

    The chat goes to a group of its own that only its readers join (the customer, the vendor
    holding the booking, ops); when the booking changes hands, a socket whose user is no longer
    a reader leaves it at the update that says so."""

    booking = None

    async def authorize(self, user):
        self.booking = await self._visible_booking(user, self.scope["url_route"]["kwargs"]["booking_id"])
        if self.booking is None:
            return None
        groups = [booking_group(self.booking.pk)]
        if await self._reads_chat(user):
            groups.append(booking_chat_group(self.booking.pk))
        return groups

    async def push(self, event):
        chat = booking_chat_group(self.booking.pk) if self.booking is not None else None
        changed = event["message"].get("type") == "booking.update" and chat in self.groups_joined
        if changed and not await self._reads_chat(self.scope["user"]):
            await self.channel_layer.group_discard(chat, self.channel_name)
            self.groups_joined.remove(chat)
        await super().push(event)

    @database_sync_to_async
    def _reads_chat(self, user):
        try:
            chat_booking(user=user, booking_id=self.booking.pk)
        except ApplicationError:
            return False
        return True

    async def on_joined(self, user):
        await self.send_json(await self._snapshot(user))

    async def receive_json(self, content, **kwargs):
        """Chat from the socket: ``{"type": "chat.send", "body": …}`` posts through the same service
        as the HTTP API (the message then reaches everyone, the sender included, as ``chat.message``);
        ``{"type": "chat.read"}`` marks the other side's messages read. A refusal is answered on the
        socket as ``{"type": "error", "status", "detail", "request": <type>}`` and the socket stays open."""
        kind = content.get("type") if isinstance(content, dict) else None
        if kind not in ("chat.send", "chat.read"):
            await self.send_json({"type": "error", "status": 400, "detail": "Unknown message type.", "request": kind})
            return
        try:
            await self._chat(kind, content)
        except ApplicationError as error:
            detail = error.message
            if isinstance(error, InvalidInput) and error.fields:
                detail = " ".join(str(m) for messages in error.fields.values() for m in messages)
            await self.send_json({"type": "error", "status": error.status_code, "detail": str(detail), "request": kind})

    @database_sync_to_async
    def _chat(self, kind, content):
        user = self.scope["user"]
        booking = chat_booking(user=user, booking_id=self.booking.pk)
        if kind == "chat.send":
            message_post(booking=booking, user=user, body=content.get("body"))
        else:
            messages_mark_read(booking=booking, user=user)

    @database_sync_to_async
    def _visible_booking(self, user, raw_id):
        try:
            booking_id = uuid.UUID(str(raw_id))
        except ValueError:
            return None
        return booking_detail_queryset(user).filter(pk=booking_id).first()

    @database_sync_to_async
    def _snapshot(self, user):
        from bookings.api.serializers import BookingDetailSerializer

        booking = booking_detail_queryset(user).get(pk=self.booking.pk)
        data = BookingDetailSerializer(booking, context={"request": SimpleNamespace(user=user)}).data
        return {
            "type": "booking.update",
            "booking_id": str(booking.pk),
            "status": booking.status,
            "event": "snapshot",
            "at": timezone.now().isoformat(),
            "data": data,
        }


class VendorJobsConsumer(AuthenticatedConsumer):
    """A vendor's live job feed: new offers, updates to their jobs, withdrawn offers."""

    async def authorize(self, user):
        vendor_id = await self._vendor_id(user)
        return [vendor_jobs_group(vendor_id)] if vendor_id is not None else None

    @database_sync_to_async
    def _vendor_id(self, user):
        if not user.is_vendor:
            return None
        from core.models import VendorProfile

        return VendorProfile.objects.filter(user=user).values_list("pk", flat=True).first()
