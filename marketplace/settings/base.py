"""Settings shared by every environment.

Every value comes from an environment variable with a default that suits the embedded run
(SQLite, in-memory channel layer, eager tasks, console SMS/e-mail, fake payments). Setting
``DATABASE_URL`` switches to PostgreSQL with pooled connections and ``REDIS_URL`` switches the
cache, channel layer and Celery broker to Redis. ``production.py`` removes the defaults for secrets.
"""

from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab

from core.layers import redis_channel_layer

from .env import env_bool, env_int, env_list, env_str
from .media import default_storage_config

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

# A fixed key is fine for the embedded run on 127.0.0.1; production.py requires a real one.
SECRET_KEY = env_str("SECRET_KEY", "embedded-default-not-secret-7Qm2xV9pL4sK8wN3")
DEBUG = env_bool("DEBUG", True)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "csp",
    "channels",
    "core",
    "bookings",
    "payments",
    "signatures",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Idempotency-Key on POSTs (payments/idempotency.py): after the session user is known.
    "payments.idempotency.IdempotencyMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "core.middleware.RequestContextMiddleware",
    # A view that lost the database (PostgreSQL restarting) answers 503, not 500.
    "core.middleware.DatabaseUnavailableMiddleware",
    # Last, as django-axes asks: it turns a lockout raised by the auth backend into a response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "marketplace.urls"
ASGI_APPLICATION = "marketplace.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------------
# The hot list queries run as prepared statements on PostgreSQL (core/prepared.py); off behind a
# pooler that cannot keep them (PgBouncer < 1.21 in transaction mode).
DATABASE_PREPARED_STATEMENTS = env_bool("DATABASE_PREPARED_STATEMENTS", True)
DATABASE_URL = env_str("DATABASE_URL", "")
if DATABASE_URL:
    # Health checks: with the pool, Django has it check each connection as it is handed out
    # (psycopg_pool's check_connection), so after a database restart the stale connections are
    # replaced instead of failing one request each.
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0, conn_health_checks=True)}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # psycopg 3 connection pool (Django >= 5.1); persistent connections must stay off with it.
        # A request that finds no connection within DB_POOL_TIMEOUT answers 503 (core/middleware.py).
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": env_int("DB_POOL_MIN", 2),
            "max_size": env_int("DB_POOL_MAX", 10),
            "timeout": env_int("DB_POOL_TIMEOUT", 10),
        }
        if DATABASE_PREPARED_STATEMENTS:
            # Django turns psycopg's preparation off (None). Its ORM cursors bind on the client and
            # never prepare whatever this says; only core/prepared.py's server-side cursor does.
            DATABASES["default"]["OPTIONS"]["prepare_threshold"] = 5
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "homeserve.sqlite3",
            # Waiting for the write lock is how SQLite serialises concurrent bookings.
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache, channel layer -----------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL:
    # Fails soft (core/cache.py): with Redis down the throttles count in process memory instead
    # of failing every request; a stuck connection gives up after REDIS_SOCKET_TIMEOUT seconds.
    CACHES = {
        "default": {
            "BACKEND": "core.cache.FailSoftRedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                "socket_connect_timeout": env_int("REDIS_SOCKET_TIMEOUT", 2),
                "socket_timeout": env_int("REDIS_SOCKET_TIMEOUT", 2),
            },
        }
    }
    # Read timeout above channels_redis's blocking pop, and a pool for mass joins (core/layers.py).
    CHANNEL_LAYERS = {
        "default": redis_channel_layer(REDIS_URL, max_connections=env_int("CHANNEL_LAYER_MAX_CONNECTIONS", 1000))
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Auth ---------------------------------------------------------------------------------------
AUTH_USER_MODEL = "core.User"
AUTHENTICATION_BACKENDS = [
    # Axes first: it refuses a locked-out account before the password is even checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 8},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "core.validators.CharacterClassPasswordValidator"},
]
# The web pages sign in with a session (core/pages); the admin keeps its own login page.
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
# Password-reset links (core/accounts.py) last one hour; they are single use and die when the
# password changes or the person signs in, because Django's token hashes the password and last_login.
PASSWORD_RESET_TIMEOUT = 3600
# E-mail verification links: signed, bound to the address they were sent to.
EMAIL_VERIFICATION_TIMEOUT = env_int("EMAIL_VERIFICATION_TIMEOUT_HOURS", 72) * 3600

# django-axes: 5 failures lock the *account* (not the address) for 15 minutes.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["username"]
AXES_RESET_ON_SUCCESS = True
AXES_USERNAME_CALLABLE = "core.auth.axes_username"
AXES_LOCKOUT_CALLABLE = "core.auth.lockout_response"
AXES_ENABLE_ACCESS_FAILURE_LOG = False
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_IPWARE_PROXY_COUNT = env_int("PROXY_COUNT", 0)
# Lockout is per account by design (§11: other accounts from the same address are unaffected);
# address-based abuse is limited by the anonymous throttle instead.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "core.api.authentication.JWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # The API speaks JSON (§10); the upload views (documents, photos) add multipart themselves.
    # Form-encoded bodies would follow DRF's form semantics (an empty field is "not given"),
    # which the JSON schema cannot describe.
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "core.api.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    # Documents the error answers of §10 on every operation (core/api/schema.py).
    "DEFAULT_SCHEMA_CLASS": "core.api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.ScopedRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_str("THROTTLE_ANON", "100/min"),
        "booking_create": env_str("THROTTLE_BOOKING_CREATE", "10/hour"),
        "auth": env_str("THROTTLE_AUTH", "20/min"),
        # Card confirmations: enough for typos and a second card, too few for card testing.
        "payment_confirm": env_str("THROTTLE_PAYMENT_CONFIRM", "10/min"),
        # Accounts and privacy (core/api/accounts.py, core/api/contact.py): per address for
        # anonymous callers, per user for signed-in ones.
        "password_reset": env_str("THROTTLE_PASSWORD_RESET", "5/hour"),
        "email_verify_resend": env_str("THROTTLE_EMAIL_VERIFY_RESEND", "3/hour"),
        "contact": env_str("THROTTLE_CONTACT", "5/hour"),
    },
    "NUM_PROXIES": env_int("PROXY_COUNT", 0),
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "COERCE_DECIMAL_TO_STRING": True,
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=15),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=7),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    # Access tokens carry a hash of the password hash: a password reset (or an anonymised account's
    # unusable password) ends them at once, not 15 minutes later (§11).
    "CHECK_REVOKE_TOKEN": True,
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "HomeServe API",
    "DESCRIPTION": "Book verified home-service vendors, pay by card, sign off the work.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    # Swagger UI from the installed sidecar package: the docs work offline, no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "BookingStatusEnum": "bookings.models.BookingStatus",
        "RoleEnum": "core.models.Role",
        "PaymentMethodEnum": "bookings.models.PaymentMethod",
        "PaymentStatusEnum": "payments.models.AttemptStatus",
        "PayoutStatusEnum": "payments.models.PayoutStatus",
        "PaymentOperationStateEnum": "payments.models.OperationState",
        "PhotoKindEnum": "bookings.models.PhotoKind",
        "SignatureRequestStatusEnum": "signatures.models.SignatureRequestStatus",
    },
}

# --- I18N / time --------------------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("hi", "Hindi")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_str("TIME_ZONE", "Asia/Kolkata")
USE_I18N = True
USE_TZ = True

# --- Static / media -----------------------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
# Uploads: local files under MEDIA_ROOT, or a private S3-compatible bucket when MEDIA_S3_BUCKET is
# set (marketplace/settings/media.py). Either way they are served only through the API.
STORAGES = {
    "default": default_storage_config(),
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# --- Sessions / security defaults (tightened in production.py) ----------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Content-Security-Policy (django-csp) on every response. Scripts only from our own static files
# (no inline scripts anywhere: pages, admin, chat); styles from ours plus inline style attributes
# (the admin and a few layout tweaks use them; they cannot run code); WebSockets and fetches to
# this site only ('self' covers ws:/wss: of the same host). With the stripe gateway the checkout
# loads Stripe.js and its frames from js.stripe.com, which talks to api.stripe.com.
_STRIPE_PAGES = env_str("PAYMENT_GATEWAY", "fake") == "stripe"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", *(["https://js.stripe.com"] if _STRIPE_PAGES else [])],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'", *(["https://api.stripe.com"] if _STRIPE_PAGES else [])],
        "frame-src": ["https://js.stripe.com", "https://hooks.stripe.com"] if _STRIPE_PAGES else ["'none'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# --- Marketplace ---------------------------------------------------------------------------------
CURRENCY = env_str("CURRENCY", "INR")
# Where people open the site: the base of links we send by e-mail (password reset, e-mail
# verification). production.py defaults it to https://<first ALLOWED_HOSTS entry>.
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

# --- Background work ----------------------------------------------------------------------------
# Without Redis the app runs in one process: Celery tasks execute eagerly and the in-process
# scheduler (core/scheduler.py, started by asgi.py) fires CELERY_BEAT_SCHEDULE below. With Redis,
# separate `celery worker` and `celery beat` processes do (README, "Background jobs").
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL or "memory://")
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
# Nothing reads task results: state lives in the database, so no result backend.
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
# At-least-once delivery: a message is acknowledged only after its task ran, and is handed back
# to the queue when the worker process dies mid-task. Every task is therefore idempotent (it
# re-reads and claims its rows, and unique constraints stop double effects).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# With late acks a worker losing the broker connection cannot ack the tasks it runs; they are
# redelivered anyway, so stop them rather than finish them twice (Celery 6's default).
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
# One message reserved per process: a reserved message is unacked too and would wait out a
# long task on a busy worker instead of going to an idle one.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_EVENT_SERIALIZER = "json"
# The sweeps work in bounded batches and finish in seconds; a task past the soft limit gets
# SoftTimeLimitExceeded (its transaction rolls back), past the hard limit its process is killed.
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 240)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 300)
# Redis redelivers a message not acknowledged within the visibility timeout to another worker. It
# must outlast the longest task, and every retry countdown (a retry is a message with an ETA, and
# Redis redelivers ETA messages waiting longer than this too) — which is also why no job is ever
# scheduled days ahead with an ETA: periodic sweeps find due rows instead.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600)}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
if not CELERY_TASK_SOFT_TIME_LIMIT < CELERY_TASK_TIME_LIMIT < CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        "Celery limits must satisfy soft time limit < hard time limit < broker visibility timeout."
    )
CELERY_TIMEZONE = "UTC"
# Task modules outside the installed apps (the apps' tasks.py are autodiscovered).
CELERY_IMPORTS = ["marketplace.tasks"]
# Every entry is an idempotent sweep, safe to overlap with itself. Interval entries also drive the
# in-process scheduler; the daily one is a crontab so that restarting beat never postpones it.
CELERY_BEAT_SCHEDULE = {
    "expire-booking-offers": {"task": "bookings.tasks.expire_booking_offers", "schedule": 60.0},
    "expire-stale-bookings": {"task": "bookings.tasks.expire_stale_bookings", "schedule": 60.0},
    "send-booking-reminders": {"task": "bookings.tasks.send_booking_reminders", "schedule": 60.0},
    "notify-unread-messages": {"task": "bookings.tasks.notify_unread_messages", "schedule": 60.0},
    "flush-expired-tokens": {
        "task": "marketplace.tasks.flush_expired_tokens",
        # 21:40 UTC is 03:10 in Asia/Kolkata, the quietest hour.
        "schedule": crontab(hour=21, minute=40),
    },
    # Re-dispatch SMS/e-mail copies whose task was lost (core.notifications.deliveries_requeue_stuck).
    "requeue-stuck-deliveries": {"task": "core.tasks.requeue_stuck_deliveries", "schedule": 300.0},
    "purge-idempotency-records": {
        "task": "payments.tasks.purge_idempotency_records",
        "schedule": crontab(minute=25),  # hourly: records bind their key for 24 h only
    },
    "run-due-payment-operations": {"task": "payments.tasks.run_due_payment_operations", "schedule": 60.0},
    "authorize-due-bookings": {"task": "payments.tasks.authorize_due_bookings", "schedule": 300.0},
    "run-payouts": {
        "task": "payments.tasks.run_payouts",
        # 22:30 UTC is 04:00 in Asia/Kolkata: a quiet hour, after the day's captures are in.
        "schedule": crontab(hour=22, minute=30),
    },
    "retry-payouts": {"task": "payments.tasks.retry_payouts", "schedule": 300.0},
    # Deleted accounts' customer records at the card gateway (payments/customers.py): retries.
    "redact-gateway-customers": {"task": "payments.tasks.redact_due_gateway_customers", "schedule": 300.0},
    "reconcile-payments": {
        "task": "payments.tasks.reconcile_payments",
        # 23:00 UTC is 04:30 in Asia/Kolkata: quiet, and after the payout run.
        "schedule": crontab(hour=23, minute=0),
    },
    # Signature requests (signatures/tasks.py): expire the overdue in one bulk UPDATE; request the
    # signatures due 2 h after completion and send the 24 h-before-expiry reminders.
    "expire-signature-requests": {"task": "signatures.tasks.expire_signature_requests", "schedule": 300.0},
    "request-due-signatures": {"task": "signatures.tasks.request_due_signatures", "schedule": 300.0},
}
IN_PROCESS_SCHEDULER = env_bool("IN_PROCESS_SCHEDULER", CELERY_TASK_ALWAYS_EAGER)

# --- SMS and e-mail (ARCHITECTURE §2: console in the embedded default) -------------------------
# SMS_BACKEND: "console" (written to the log), "twilio" (the Messages API through the twilio SDK),
# or the dotted path of a core.sms.SMSBackend subclass.
SMS_BACKEND = env_str("SMS_BACKEND", "console")
TWILIO_ACCOUNT_SID = env_str("TWILIO_ACCOUNT_SID", "")
TWILIO_AUTH_TOKEN = env_str("TWILIO_AUTH_TOKEN", "")
TWILIO_FROM_NUMBER = env_str("TWILIO_FROM_NUMBER", "")  # or, instead of one number:
TWILIO_MESSAGING_SERVICE_SID = env_str("TWILIO_MESSAGING_SERVICE_SID", "")
# Tests point the real SDK at a local fake of the Twilio API; empty means api.twilio.com.
TWILIO_API_BASE_URL = env_str("TWILIO_API_BASE_URL", "")
TWILIO_TIMEOUT_SECONDS = env_int("TWILIO_TIMEOUT_SECONDS", 10)
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "HomeServe <no-reply@homeserve.example>")
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 15)

# --- Payments (ARCHITECTURE §6; payments/gateways/) --------------------------------------------
# PAYMENT_GATEWAY: "fake" (Stripe test mode simulated in-process, the embedded default) or
# "stripe" (the real stripe SDK).
PAYMENT_GATEWAY = env_str("PAYMENT_GATEWAY", "fake")
STRIPE_SECRET_KEY = env_str("STRIPE_SECRET_KEY", "")
STRIPE_PUBLISHABLE_KEY = env_str("STRIPE_PUBLISHABLE_KEY", "")
# Webhook signatures (Stripe-Signature). The fake gateway checks the same scheme with this secret;
# production.py removes the default.
STRIPE_WEBHOOK_SECRET = env_str("STRIPE_WEBHOOK_SECRET", "whsec_embedded-default-not-secret")
# Tests point the real SDK at a local fake of Stripe's API; production forces the default.
STRIPE_API_BASE = env_str("STRIPE_API_BASE", "https://api.stripe.com")
STRIPE_TIMEOUT_SECONDS = env_int("STRIPE_TIMEOUT_SECONDS", 30)
# The SDK retries timeouts, refused connections, 409 and 5xx itself, with the same idempotency key.
STRIPE_MAX_NETWORK_RETRIES = env_int("STRIPE_MAX_NETWORK_RETRIES", 2)

# --- Logging ------------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"axes": {"level": "WARNING"}},
}
