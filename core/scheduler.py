"""The embedded run's stand-in for celery beat.

With no Redis there is no broker and no separate beat process, so a daemon thread inside the
ASGI process fires each entry of ``CELERY_BEAT_SCHEDULE`` at its interval; tasks run eagerly in
that thread. Each task is idempotent, so an occasional double run is harmless.
"""

import logging
import threading
import time

from django.conf import settings
from django.db import close_old_connections

logger = logging.getLogger(__name__)
_started = threading.Event()


def _due_entries():
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        schedule = entry["schedule"]
        interval = schedule if isinstance(schedule, int | float) else schedule.total_seconds()
        yield name, entry["task"], float(interval)


def run_scheduler_forever(stop: threading.Event, tick: float = 1.0, first_delay: float = 5.0):
    from marketplace.celery import app

    next_run = {name: time.monotonic() + first_delay for name, _task, _interval in _due_entries()}
    while not stop.is_set():
        now = time.monotonic()
        for name, task_name, interval in _due_entries():
            if now >= next_run[name]:
                next_run[name] = now + interval
                try:
                    app.tasks[task_name].apply()
                except Exception:
                    logger.exception("Scheduled job %s failed", task_name)
                finally:
                    close_old_connections()
        stop.wait(tick)


def start_in_process_scheduler():
    if _started.is_set():
        return
    _started.set()
    stop = threading.Event()
    thread = threading.Thread(target=run_scheduler_forever, args=(stop,), name="in-process-scheduler", daemon=True)
    thread.start()
    logger.info("In-process scheduler started (%d periodic jobs)", len(settings.CELERY_BEAT_SCHEDULE))
    return stop
