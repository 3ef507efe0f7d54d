"""The embedded run's stand-in for celery beat.

With no Redis there is no broker and no separate beat process, so a daemon thread inside the
ASGI process fires each entry of ``CELERY_BEAT_SCHEDULE`` when celery's own schedule object says
it is due (an interval or a crontab); tasks run eagerly in that thread. Each task is idempotent,
so an occasional double run is harmless.
"""

import logging
import threading
from dataclasses import dataclass
from datetime import timedelta

from celery.schedules import maybe_schedule
from celery.schedules import schedule as interval_schedule
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import close_old_connections

logger = logging.getLogger(__name__)
_started = threading.Event()


@dataclass(frozen=True)
class ScheduledJob:
    name: str
    task: object  # a registered celery Task
    schedule: object  # a celery schedule (interval or crontab)


def scheduled_jobs() -> list[ScheduledJob]:
    """``CELERY_BEAT_SCHEDULE`` resolved to registered tasks, after importing every task module
    the way a worker does. An entry naming no registered task raises ImproperlyConfigured — a
    typo must stop the start-up, not fail quietly every minute."""
    from marketplace.celery import app, load_task_modules

    load_task_modules(app)
    jobs = []
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        task = app.tasks.get(entry["task"])
        if task is None:
            raise ImproperlyConfigured(f"Beat entry {name!r} names {entry['task']!r}, which is not a registered task.")
        jobs.append(ScheduledJob(name=name, task=task, schedule=maybe_schedule(entry["schedule"], app=app)))
    return jobs


def run_scheduler_forever(stop: threading.Event, tick: float = 1.0, first_delay: float = 5.0, jobs=None):
    """Fire each job when its schedule says it is due, until ``stop`` is set. Time comes from
    each schedule's own clock (Django's ``timezone.now`` through the Celery app)."""
    jobs = scheduled_jobs() if jobs is None else jobs
    last_run = {}
    for job in jobs:
        started = job.schedule.now()
        if isinstance(job.schedule, interval_schedule):
            # Intervals first fire ``first_delay`` after start-up, then every interval.
            last_run[job.name] = started - job.schedule.run_every + timedelta(seconds=first_delay)
        else:
            # A crontab fires at its next time after start-up, as under celery beat.
            last_run[job.name] = started
    while not stop.is_set():
        for job in jobs:
            due, _next_check = job.schedule.is_due(last_run[job.name])
            if not due:
                continue
            last_run[job.name] = job.schedule.now()
            try:
                job.task.apply()
            except Exception:
                logger.exception("Scheduled job %s (%s) failed", job.name, job.task.name)
            finally:
                close_old_connections()
        stop.wait(tick)


def start_in_process_scheduler():
    if _started.is_set():
        return None
    # Resolved here, in the starting process, so a bad entry fails the start-up loudly.
    jobs = scheduled_jobs()
    _started.set()
    stop = threading.Event()
    thread = threading.Thread(
        target=run_scheduler_forever, args=(stop,), kwargs={"jobs": jobs}, name="in-process-scheduler", daemon=True
    )
    thread.start()
    logger.info("In-process scheduler started (%d periodic jobs)", len(jobs))
    return stop
