"""Production: secrets have no defaults, so a missing one stops the start-up."""

from .base import *  # noqa: F403
from .env import env_bool, env_int, env_list, env_str

DEBUG = False
SECRET_KEY = env_str("SECRET_KEY")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [])
if not ALLOWED_HOSTS:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("ALLOWED_HOSTS must be set in production.")

WHITENOISE_USE_FINDERS = False
# Links in e-mails must point at the public site, never at the embedded default: SITE_URL, or
# https:// + the first allowed host (a wildcard host cannot name the site, so SITE_URL is needed).
_FIRST_HOST = ALLOWED_HOSTS[0].lstrip(".")
SITE_URL = (env_str("SITE_URL") if "*" in _FIRST_HOST else env_str("SITE_URL", f"https://{_FIRST_HOST}")).rstrip("/")
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 587)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "HomeServe <no-reply@homeserve.example>")

# SMS: with SMS_BACKEND=twilio the credentials and a sender are required (no defaults), and the
# SDK always talks to Twilio itself (the API base override exists for tests only).
TWILIO_API_BASE_URL = ""
if SMS_BACKEND == "twilio":  # noqa: F405
    TWILIO_ACCOUNT_SID = env_str("TWILIO_ACCOUNT_SID")
    TWILIO_AUTH_TOKEN = env_str("TWILIO_AUTH_TOKEN")
    if not (TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID):  # noqa: F405
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured("SMS_BACKEND=twilio needs TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID.")

# Payments: with PAYMENT_GATEWAY=stripe the keys and the webhook secret are required (no defaults),
# and the SDK always talks to Stripe itself (the API base override exists for tests only). The
# embedded webhook secret never reaches production: unset, every webhook is refused.
# The gateway is a deliberate choice in production: no silent fall-back to the fake one.
PAYMENT_GATEWAY = env_str("PAYMENT_GATEWAY")
if PAYMENT_GATEWAY not in {"fake", "stripe"}:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("PAYMENT_GATEWAY must be 'stripe' (or 'fake' for a demo deployment).")
STRIPE_API_BASE = "https://api.stripe.com"
STRIPE_WEBHOOK_SECRET = env_str("STRIPE_WEBHOOK_SECRET", "")
if PAYMENT_GATEWAY == "stripe":
    STRIPE_SECRET_KEY = env_str("STRIPE_SECRET_KEY")
    STRIPE_PUBLISHABLE_KEY = env_str("STRIPE_PUBLISHABLE_KEY")
    STRIPE_WEBHOOK_SECRET = env_str("STRIPE_WEBHOOK_SECRET")

# The embedded defaults (SQLite, in-memory layer, eager tasks) are for one process only.
if not DATABASE_URL or not REDIS_URL:  # noqa: F405
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("DATABASE_URL and REDIS_URL must be set in production.")
# Background work runs in `celery worker` processes fed by one `celery beat`, never in the web
# process: no eager tasks, no scheduler thread (one per web worker would multiply every job).
IN_PROCESS_SCHEDULER = False
CELERY_TASK_ALWAYS_EAGER = False
if CELERY_BROKER_URL.startswith("memory://"):  # noqa: F405
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("CELERY_BROKER_URL must name a real broker in production (it defaults to REDIS_URL).")
