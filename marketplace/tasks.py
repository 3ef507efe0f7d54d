"""Platform-wide periodic jobs (CELERY_BEAT_SCHEDULE; loaded through CELERY_IMPORTS). Thin: each
calls one idempotent service."""

from celery import shared_task

from core.maintenance import flush_expired_tokens as flush_expired_tokens_service


@shared_task(name="marketplace.tasks.flush_expired_tokens")
def flush_expired_tokens():
    return flush_expired_tokens_service()
