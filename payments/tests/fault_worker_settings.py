"""Settings of the ``celery worker`` subprocesses in test_faults_payout_worker.py: production's
(``marketplace.settings.production``, from the same environment variables a deployment sets),
except that the stripe SDK talks to the test's fake Stripe server — production forces
api.stripe.com — and the worker sends the tasks it queues itself (the vendor's "paid" message)
to the test's own queue."""

from marketplace.settings.env import env_str
from marketplace.settings.production import *  # noqa: F403

STRIPE_API_BASE = env_str("STRIPE_API_BASE")
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_TASK_DEFAULT_QUEUE")
