"""Periodic signature jobs (CELERY_BEAT_SCHEDULE, every 5 minutes). Thin: each calls one service,
which claims its rows with SKIP LOCKED and is idempotent, so overlapping or redelivered runs are
harmless."""

from celery import shared_task

from signatures.services import signature_reminders_send, signature_requests_auto, signature_requests_expire


@shared_task(name="signatures.tasks.expire_signature_requests")
def expire_signature_requests():
    """Open requests past their deadline expire; vendors and ops are told (one bulk UPDATE)."""
    return signature_requests_expire()


@shared_task(name="signatures.tasks.request_due_signatures")
def request_due_signatures():
    """Bookings completed 2 h ago whose vendor did not ask get their request; then the 24-hours-
    before-expiry reminders go out."""
    return {"requested": signature_requests_auto(), "reminded": signature_reminders_send()}
