"""Test settings.

The suite runs against PostgreSQL and Redis when they answer (or when ``REQUIRE_SERVICES=1``
demands them), otherwise against SQLite and in-memory layers; tests that need a real service
skip with a message naming it (see conftest.py).
"""

import os
import socket
from urllib.parse import urlparse

from .base import *  # noqa: F403
from .env import env_bool, env_str

REQUIRE_SERVICES = env_bool("REQUIRE_SERVICES", False)
TEST_POSTGRES_URL = env_str("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
TEST_REDIS_URL = env_str("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
TEST_DB = env_str("TEST_DB", "auto")  # auto | postgres | sqlite


def _answers(url, default_port):
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname, parsed.port or default_port), timeout=1):
            return True
    except OSError:
        return False


POSTGRES_AVAILABLE = TEST_DB != "sqlite" and _answers(TEST_POSTGRES_URL, 5432)
REDIS_AVAILABLE = _answers(TEST_REDIS_URL, 6379)
if REQUIRE_SERVICES and TEST_DB != "sqlite" and not POSTGRES_AVAILABLE:
    raise RuntimeError(f"REQUIRE_SERVICES=1 but PostgreSQL at {TEST_POSTGRES_URL} does not answer")
if REQUIRE_SERVICES and not REDIS_AVAILABLE:
    raise RuntimeError(f"REQUIRE_SERVICES=1 but Redis at {TEST_REDIS_URL} does not answer")

if POSTGRES_AVAILABLE:
    import dj_database_url

    DATABASES = {"default": dj_database_url.parse(TEST_POSTGRES_URL)}
    DATABASES["default"]["TEST"] = {"NAME": os.environ.get("TEST_DB_NAME", "homeserve_test")}
    if DATABASE_PREPARED_STATEMENTS:  # noqa: F405 - as production runs (core/prepared.py)
        DATABASES["default"]["OPTIONS"] = {"prepare_threshold": 5}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": ":memory:",
            "TEST": {"NAME": None},
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
        }
    }

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
CELERY_TASK_ALWAYS_EAGER = True
CELERY_BROKER_URL = "memory://"
IN_PROCESS_SCHEDULER = False
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
MEDIA_ROOT = VAR_DIR / "test-media"  # noqa: F405
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_AUTOREFRESH = True
LOGGING = {"version": 1, "disable_existing_loggers": False}
