"""DATABASE_URL and REDIS_URL switch the embedded default to PostgreSQL (pooled) and Redis."""

import json
import os
import subprocess
import sys

from django.conf import settings

PROBE = (
    "import json, django; from django.conf import settings; django.setup(); "
    "db = settings.DATABASES['default']; "
    "print(json.dumps({'engine': db['ENGINE'], 'pool': db.get('OPTIONS', {}).get('pool'), "
    "'layer': settings.CHANNEL_LAYERS['default']['BACKEND'], 'cache': settings.CACHES['default']['BACKEND'], "
    "'broker': settings.CELERY_BROKER_URL, 'eager': settings.CELERY_TASK_ALWAYS_EAGER, "
    "'scheduler': settings.IN_PROCESS_SCHEDULER}))"
)


def _settings_with(**env):
    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    clean.update(env, DJANGO_SETTINGS_MODULE="marketplace.settings.base")
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=settings.BASE_DIR, capture_output=True, text=True, env=clean, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_embedded_default_needs_no_servers():
    probe = _settings_with()
    assert probe["engine"] == "django.db.backends.sqlite3"
    assert probe["layer"] == "channels.layers.InMemoryChannelLayer"
    assert probe["eager"] is True and probe["scheduler"] is True


def test_database_and_redis_urls_switch_to_pooled_postgres_and_redis():
    probe = _settings_with(DATABASE_URL="postgres://u@db:5432/hs", REDIS_URL="redis://cache:6379/0")
    assert probe["engine"] == "django.db.backends.postgresql"
    assert probe["pool"]["max_size"] == 10
    assert probe["layer"] == "core.channel_layer.WaitingRedisChannelLayer"
    assert probe["cache"] == "core.cache.FailSoftRedisCache"
    assert probe["broker"] == "redis://cache:6379/0"
    assert probe["eager"] is False and probe["scheduler"] is False
