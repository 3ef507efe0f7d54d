"""Periodic booking jobs. Thin: each calls one service, which is idempotent and claims rows
with SKIP LOCKED, so overlapping runs are harmless."""

from celery import shared_task

from bookings.services.offers import expire_due_offers
from bookings.services.transitions import expire_stale_bookings


@shared_task(acks_late=True)
def expire_booking_offers():
    return expire_due_offers()


@shared_task(acks_late=True, name="bookings.tasks.expire_stale_bookings")
def expire_stale_bookings_task():
    return expire_stale_bookings()
