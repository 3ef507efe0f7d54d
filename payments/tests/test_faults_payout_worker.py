"""Fault: a Celery worker is killed mid-payout (issue 10, "Faults").

Real ``celery -A marketplace worker`` subprocesses (prefork, production settings — see
fault_worker_settings.py) on a private ``redis-server`` broker, the test database, and the stripe
gateway talking to the local fake Stripe server, which holds the transfer call long enough for the
test to SIGKILL the whole worker while the transfer is in flight. Stripe carries the transfer out;
our side never hears the answer and never acknowledges the task.

What production relies on to finish it, and what this test shows:

- the payout row was committed (and posted to the ledger) before the gateway call, claimed with a
  10-minute lease (``TRANSFER_LEASE``): it stays ``pending``;
- Redis hands the unacknowledged ``run_payouts`` message to a worker again once the broker's
  visibility timeout passes (1 h in production; 10 s here, with the task time limits below it as
  the settings require). The rerun finds nothing left to pay: the vendor's balance was already
  paid out in the ledger — no second payout, no second transfer;
- the ``retry-payouts`` sweep (every 5 minutes) sends the pending payout's transfer again once the
  lease has lapsed — the test moves the lease back instead of waiting 10 minutes — with the same
  idempotency key ``payout-<number>``, so Stripe answers with the transfer it already made.

So: one payout, paid, one transfer at Stripe, the ledger balanced.
"""

import os
import time
import uuid
from datetime import timedelta

import pytest
import redis
from django.core.management import call_command
from django.utils import timezone

from core.tests.faults import CeleryWorker, RedisServer, close_other_sessions, this_runs_database_url, wait_for
from marketplace.celery import app as default_app
from marketplace.celery import create_app
from payments.ledger import vendor_balance
from payments.models import Payout, PayoutStatus
from payments.tests.fake_stripe import FakeStripe
from payments.tests.test_payouts import captured, idempotency_key, vendor_with_account

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

IN_FLIGHT = 4  # seconds the fake Stripe holds the transfer call before carrying it out
VISIBILITY_TIMEOUT = 10


@pytest.fixture
def broker():
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture
def fake_stripe_server():
    fake = FakeStripe().start()
    yield fake
    fake.stop()


@pytest.fixture
def workers(broker, fake_stripe_server, transactional_db, tmp_path):
    """Start workers with ``workers.start(name)``; all are stopped afterwards."""
    queue = f"homeserve-faults-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEST_")}
    env.update(
        DJANGO_SETTINGS_MODULE="payments.tests.fault_worker_settings",
        DATABASE_URL=this_runs_database_url(),
        REDIS_URL=broker.url(0),
        SECRET_KEY="faults-only-secret-key-not-for-any-real-deployment-0123456789",
        ALLOWED_HOSTS="127.0.0.1",
        SITE_URL="http://127.0.0.1",
        PAYMENT_GATEWAY="stripe",
        STRIPE_SECRET_KEY=fake_stripe_server.api_key,
        STRIPE_PUBLISHABLE_KEY="pk_test_fake",
        STRIPE_WEBHOOK_SECRET="whsec_faults",
        STRIPE_API_BASE=fake_stripe_server.base_url,
        STRIPE_TIMEOUT_SECONDS="30",
        SMS_BACKEND="console",
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        CELERY_TASK_DEFAULT_QUEUE=queue,
        CELERY_VISIBILITY_TIMEOUT=str(VISIBILITY_TIMEOUT),
        CELERY_TASK_SOFT_TIME_LIMIT="6",
        CELERY_TASK_TIME_LIMIT="8",
        LOG_LEVEL="INFO",
        VAR_DIR=str(tmp_path),
        PYTHONUNBUFFERED="1",
    )
    started = []

    class Workers:
        def __init__(self):
            self.queue = queue
            # what beat would be: a client of the same broker, sending to the workers' queue
            self.client = create_app(
                "homeserve-faults-client", broker_url=broker.url(0), task_default_queue=queue, task_always_eager=False
            )

        def start(self, name):
            worker = CeleryWorker(env=env, queue=queue, log_path=tmp_path / f"{name}.log", name=name).start()
            started.append(worker)
            return worker

        def send(self, task_name):
            return self.client.send_task(task_name, queue=queue)

    helper = Workers()
    try:
        yield helper
    finally:
        for worker in started:
            worker.stop()
        helper.client.close()
        default_app.set_current()
        default_app.set_default()
        close_other_sessions()


def unacked(broker) -> int:
    return redis.Redis.from_url(broker.url(0)).hlen("unacked")


def test_a_worker_killed_mid_transfer_pays_the_vendor_exactly_once(workers, broker, fake_stripe_server):
    fake = fake_stripe_server
    vendor = vendor_with_account("acct_faults_1")
    captured(vendor, at=timezone.now() - timedelta(days=2))  # an earning past its hold
    owed = vendor_balance(vendor.pk)
    assert owed > 0

    # given: the nightly run on a worker, and Stripe slow to answer the transfer
    fake.delay_next(IN_FLIGHT)
    first = workers.start("first")
    run = workers.send("payments.tasks.run_payouts")
    wait_for(lambda: fake.posts("/v1/transfers"), timeout=60, what="the transfer call to reach Stripe")

    # when: the whole worker is killed while the transfer is in flight
    first.kill()
    fake.wait_idle(timeout=IN_FLIGHT + 30)  # Stripe carries it out; the answer goes nowhere

    # then: the payout stands, posted and pending, its task unacknowledged at the broker
    payout = Payout.objects.get()
    assert (payout.vendor_id, payout.amount, payout.status) == (vendor.pk, owed, PayoutStatus.PENDING)
    assert payout.gateway_transfer_id == "" and payout.next_try_at > timezone.now()  # its lease
    assert vendor_balance(vendor.pk) == 0  # the ledger paid it out once
    assert len(fake.objects("transfer")) == 1
    assert unacked(broker) == 1

    # a worker starts again; once the visibility timeout has passed Redis redelivers the run,
    # which finds nothing left to pay
    wait_for(
        lambda: (time.time() - payout.created_at.timestamp()) > VISIBILITY_TIMEOUT + 1,
        timeout=VISIBILITY_TIMEOUT + 30,
        what="the visibility timeout to pass",
    )
    second = workers.start("second")
    wait_for(
        lambda: f"payments.tasks.run_payouts[{run.id}] succeeded" in second.log(),
        timeout=60,
        what="the redelivered run to finish",
    )
    wait_for(lambda: unacked(broker) == 0, timeout=30, what="the redelivered run to be acknowledged")
    assert Payout.objects.count() == 1
    assert len(fake.posts("/v1/transfers")) == 1

    # ten minutes later (the lease: moved back rather than waited out) the retry sweep sends the
    # transfer again with the same key; Stripe answers with the transfer it already made
    Payout.objects.filter(pk=payout.pk).update(next_try_at=timezone.now() - timedelta(seconds=1))
    sweep = workers.send("payments.tasks.retry_payouts")
    wait_for(
        lambda: f"payments.tasks.retry_payouts[{sweep.id}] succeeded" in second.log(),
        timeout=60,
        what="the retry sweep to finish",
    )

    payout.refresh_from_db()
    transfers = fake.objects("transfer")
    assert Payout.objects.count() == 1
    assert (payout.status, payout.tries) == (PayoutStatus.PAID, 1)
    assert [t["id"] for t in transfers] == [payout.gateway_transfer_id]
    assert transfers[0]["destination"] == "acct_faults_1" and transfers[0]["metadata"]["payout"] == payout.number
    calls = fake.posts("/v1/transfers")
    assert len(calls) == 2 and {idempotency_key(call) for call in calls} == {f"payout-{payout.number}"}
    assert vendor_balance(vendor.pk) == 0
    call_command("ledger_check")  # every transaction balances; exits 1 otherwise
