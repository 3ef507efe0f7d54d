"""Periodic booking jobs (CELERY_BEAT_SCHEDULE). Thin: each calls one service, which is idempotent
and claims its rows with SKIP LOCKED, so overlapping or redelivered runs are harmless."""

from celery import shared_task

from bookings.services.chat import chat_unread_notify
from bookings.services.offers import expire_due_offers
from bookings.services.reminders import send_due_reminders
from bookings.services.transitions import expire_stale_bookings, expire_unpaid_bookings


@shared_task(name="bookings.tasks.expire_booking_offers")
def expire_booking_offers():
    return expire_due_offers()


@shared_task(name="bookings.tasks.expire_stale_bookings")
def expire_stale_bookings_task():
    """Pending bookings whose start passed, and card bookings not paid within 15 minutes."""
    return expire_stale_bookings() + expire_unpaid_bookings()


@shared_task(name="bookings.tasks.send_booking_reminders")
def send_booking_reminders():
    return send_due_reminders()


@shared_task(name="bookings.tasks.notify_unread_messages")
def notify_unread_messages():
    """Chat messages left unread for 5 minutes: one notification per conversation an hour."""
    return chat_unread_notify()
