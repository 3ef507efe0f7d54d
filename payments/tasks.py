"""Periodic payment jobs (CELERY_BEAT_SCHEDULE). Thin: each calls one idempotent function."""

from celery import shared_task

from payments.idempotency import idempotency_records_purge


@shared_task(name="payments.tasks.purge_idempotency_records")
def purge_idempotency_records():
    return idempotency_records_purge()
