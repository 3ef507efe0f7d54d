"""Booking sockets (ARCHITECTURE §8): ``ws/bookings/<id>/`` and ``ws/vendor/jobs/``."""

import uuid
from types import SimpleNamespace

from channels.db import database_sync_to_async
from django.utils import timezone

from bookings.selectors import booking_detail_queryset
from core.consumers import AuthenticatedConsumer
from core.realtime import booking_group, vendor_jobs_group


class BookingConsumer(AuthenticatedConsumer):
    """The booking's customer, the vendor it was offered to or held by, and ops staff. On connect
    the current state is sent first, so a reconnecting client is never stale."""

    booking = None

    async def authorize(self, user):
        self.booking = await self._visible_booking(user, self.scope["url_route"]["kwargs"]["booking_id"])
        return [booking_group(self.booking.pk)] if self.booking is not None else None

    async def on_joined(self, user):
        await self.send_json(await self._snapshot(user))

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
