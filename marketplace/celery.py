"""The Celery app. Its configuration is the ``CELERY_*`` block of the Django settings
(marketplace/settings/base.py): late acks, JSON only, time limits, the beat schedule.

Production runs ``celery -A marketplace worker`` and one ``celery -A marketplace beat``; the
embedded default runs tasks eagerly and fires the schedule from core/scheduler.py instead.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings.base")


def create_app(name: str = "marketplace", **overrides) -> Celery:
    """A Celery app configured from the Django settings, with ``overrides`` (lower-case Celery
    setting names) on top. The process-wide ``app`` below is the one everything uses; a test
    that needs a worker on a real broker builds its own so it never reconfigures this one."""
    celery_app = Celery(name)
    celery_app.config_from_object("django.conf:settings", namespace="CELERY")
    if overrides:
        celery_app.conf.update(overrides)
    # The installed apps' tasks.py modules; CELERY_IMPORTS adds the ones outside them.
    celery_app.autodiscover_tasks()
    return celery_app


app = create_app()


def load_task_modules(celery_app: Celery = app) -> None:
    """Import every task module (autodiscovered and ``CELERY_IMPORTS``), as a worker does at
    start-up, so that ``celery_app.tasks`` knows every task by name. Idempotent."""
    celery_app.loader.import_default_modules()
