"""The beat schedule and the embedded run's in-process scheduler (core/scheduler.py), and the
settings that decide which of the two runs the periodic jobs."""

import json
import os
import secrets
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
from celery.schedules import crontab
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from core.scheduler import ScheduledJob, run_scheduler_forever, scheduled_jobs

# Printed by a fresh interpreter: nothing the test run imported can stand in for a task module
# the schedule forgot to load.
RESOLVE = (
    "import json, django; django.setup(); "
    "from django.conf import settings; from core.scheduler import scheduled_jobs; "
    "print(json.dumps({'schedule': {n: e['task'] for n, e in settings.CELERY_BEAT_SCHEDULE.items()}, "
    "'resolved': {j.name: j.task.name for j in scheduled_jobs()}}))"
)


def _run_python(code, **env):
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )
    return result


def test_every_beat_entry_resolves_to_a_registered_task_in_a_fresh_process():
    # when
    result = _run_python(RESOLVE, DJANGO_SETTINGS_MODULE="marketplace.settings.base", IN_PROCESS_SCHEDULER="0")
    # then
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout.strip().splitlines()[-1])
    assert probe["resolved"] == probe["schedule"]
    assert {
        "bookings.tasks.expire_booking_offers",
        "bookings.tasks.expire_stale_bookings",
        "bookings.tasks.send_booking_reminders",
        "marketplace.tasks.flush_expired_tokens",
    } <= set(probe["resolved"].values())


def test_a_beat_entry_naming_no_task_stops_the_start_up(settings):
    # given: a typo in a task name
    settings.CELERY_BEAT_SCHEDULE = {
        **settings.CELERY_BEAT_SCHEDULE,
        "send-reminders": {"task": "bookings.tasks.send_booking_remindrs", "schedule": 60.0},
    }
    # when / then
    with pytest.raises(ImproperlyConfigured, match="send_booking_remindrs"):
        scheduled_jobs()


def test_the_offer_timeouts_run_every_minute_and_the_token_flush_daily():
    jobs = {job.name: job for job in scheduled_jobs()}
    assert jobs["expire-booking-offers"].schedule.run_every == timedelta(minutes=1)
    assert jobs["send-booking-reminders"].schedule.run_every == timedelta(minutes=1)
    flush = jobs["flush-expired-tokens"].schedule
    assert isinstance(flush, crontab)
    assert flush.hour == {21} and flush.minute == {40}  # 03:10 in Asia/Kolkata


def test_the_in_process_scheduler_fires_a_daily_entry_once_when_its_time_comes():
    # given: a crontab job on a clock the test moves
    # A fixed time of day: from 10:00 one day on crosses 03:00 exactly once, one more hour does not.
    clock = {"now": timezone.now().replace(hour=10, minute=0, second=0, microsecond=0)}
    runs = []

    class Probe:
        name = "probe"

        @staticmethod
        def apply():
            runs.append(clock["now"])

    daily = crontab(hour=3, minute=0, nowfun=lambda: clock["now"])
    stop = threading.Event()
    thread = threading.Thread(
        target=run_scheduler_forever,
        args=(stop,),
        kwargs={"tick": 0.01, "jobs": [ScheduledJob(name="daily", task=Probe, schedule=daily)]},
    )
    thread.start()
    try:
        # when: time stands still, then passes the next 03:00, then stays on the same day
        time.sleep(0.1)
        before = len(runs)
        clock["now"] = clock["now"] + timedelta(days=1)
        time.sleep(0.1)
        after_one_day = len(runs)
        clock["now"] = clock["now"] + timedelta(hours=1)
        time.sleep(0.1)
    finally:
        stop.set()
        thread.join(timeout=5)
    # then
    assert (before, after_one_day, len(runs)) == (0, 1, 1)


def test_production_runs_a_real_worker_and_beat_never_eager_tasks_or_the_thread():
    # given: production settings, even with the embedded switches turned on by mistake
    env = {
        "DJANGO_SETTINGS_MODULE": "marketplace.settings.production",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "homeserve.example",
        "DATABASE_URL": "postgres://homeserve@db.internal:5432/homeserve",
        "REDIS_URL": "redis://cache.internal:6379/0",
        "PAYMENT_GATEWAY": "fake",
        "CELERY_TASK_ALWAYS_EAGER": "1",
        "IN_PROCESS_SCHEDULER": "1",
    }
    code = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "print(json.dumps({'eager': s.CELERY_TASK_ALWAYS_EAGER, 'thread': s.IN_PROCESS_SCHEDULER, "
        "'broker': s.CELERY_BROKER_URL}))"
    )
    # when
    result = _run_python(code, **env)
    # then
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout.strip().splitlines()[-1])
    assert probe == {"eager": False, "thread": False, "broker": "redis://cache.internal:6379/0"}


def test_celery_limits_out_of_order_refuse_to_start():
    # a hard time limit past the visibility timeout would let Redis hand a running task to a
    # second worker
    result = _run_python(
        "import django; django.setup()",
        DJANGO_SETTINGS_MODULE="marketplace.settings.base",
        CELERY_TASK_TIME_LIMIT="4000",
        CELERY_VISIBILITY_TIMEOUT="3600",
    )
    assert result.returncode != 0
    assert "visibility timeout" in result.stderr
