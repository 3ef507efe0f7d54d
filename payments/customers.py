"""The card gateway's customer records, and forgetting them when an account is deleted (issue 6,
core/privacy.py).

A customer who pays by card gets a customer object at the gateway (``checkout._gateway_customer``)
holding their name and e-mail — at Stripe, or, with the fake gateway, in our own
``FakeGatewayObject`` rows. Deleting the account must not leave that copy behind, but the gateway
is an outside system: no lock or transaction may wait on it (ARCHITECTURE §5). So, like a payout
transfer, the redaction is a state on the row itself:

- ``gateway_customers_redact_request`` (in the deletion's transaction) marks every gateway
  customer of the person ``pending`` and dispatches ``payments.tasks.redact_gateway_customer``
  after commit;
- ``gateway_customer_redact`` claims the row, calls ``PaymentGateway.redact_customer`` (name,
  e-mail, phone and description blanked; the object stays, so refunds and disputes of past
  payments still work) with our idempotency key ``redact-<row id>``, and records ``done``; a
  gateway that is down is retried with backoff by the ``redact-gateway-customers`` sweep, up to
  ``MAX_TRIES``; a refusal, or the retries running out, makes it ``failed`` and ops are told.

The row itself (our user ↔ the gateway's customer id) stays: it names nobody.
"""

import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from core.audit import audit_record
from core.notifications import notify_ops
from payments.gateways import get_gateway
from payments.gateways.errors import GatewayError
from payments.models import GatewayCustomer, RedactionState

logger = logging.getLogger(__name__)

MAX_TRIES = 8
# A claimed row is not picked up by the sweep for this long (its worker may still be calling).
LEASE = timedelta(minutes=5)
FIRST_BACKOFF = timedelta(minutes=1)
MAX_BACKOFF = timedelta(hours=2)


def _backoff(tries: int) -> timedelta:
    return min(FIRST_BACKOFF * (2 ** max(tries - 1, 0)), MAX_BACKOFF)


def _gateway_for(name: str):
    """The adapter that holds customers made by gateway ``name``: the configured one, or the fake
    gateway (it lives in our database, so it is always reachable); None for another gateway."""
    gateway = get_gateway()
    if gateway.name == name:
        return gateway
    if name == "fake":
        from payments.gateways.fake import FakeGateway

        return FakeGateway()
    return None


def gateway_customers_redact_request(*, user, now=None) -> int:
    """Mark the user's gateway customers for redaction and run it after the caller's transaction
    commits (join it). Returns how many were marked."""
    now = now or timezone.now()
    rows = GatewayCustomer.objects.filter(user=user).exclude(redaction_state=RedactionState.DONE)
    ids = [str(pk) for pk in rows.values_list("pk", flat=True)]
    if not ids:
        return 0
    GatewayCustomer.objects.filter(pk__in=ids).update(
        redaction_state=RedactionState.PENDING, redaction_tries=0, redaction_next_try_at=now, redaction_error=""
    )
    transaction.on_commit(lambda: [_dispatch(pk) for pk in ids])
    return len(ids)


def _dispatch(pk):
    from payments.tasks import redact_gateway_customer

    try:
        redact_gateway_customer.delay(pk)
    except Exception:  # the broker is down: the sweep runs it
        logger.exception("Could not queue the redaction of gateway customer %s; the sweep will run it", pk)


def gateway_customer_redact(pk, *, now=None) -> str | None:
    """Redact one gateway customer at the gateway if it is due and nobody else is at it. Returns
    its redaction state after (None for an unknown row)."""
    now = now or timezone.now()
    with transaction.atomic():
        row = GatewayCustomer.objects.select_for_update(skip_locked=True).filter(pk=pk).first()
        if row is None:
            return None
        due = row.redaction_next_try_at is None or row.redaction_next_try_at <= now
        if row.redaction_state != RedactionState.PENDING or not due:
            return row.redaction_state
        row.redaction_tries += 1
        row.redaction_next_try_at = now + LEASE
        row.save(update_fields=["redaction_tries", "redaction_next_try_at"])
    gateway = _gateway_for(row.gateway)
    if gateway is None:
        return _failed(row, _("The %(gateway)s gateway is not configured here.") % {"gateway": row.gateway}, now)
    try:
        gateway.redact_customer(row.customer_id, idempotency_key=f"redact-{row.pk}")
    except Exception as error:
        # A gateway outage (or a fault of ours) is retried; a refusal is for ops.
        retryable = error.retryable if isinstance(error, GatewayError) else True
        if not isinstance(error, GatewayError):
            logger.exception("Redacting gateway customer %s raised", row.pk)
        if retryable and row.redaction_tries < MAX_TRIES:
            GatewayCustomer.objects.filter(pk=row.pk).update(
                redaction_next_try_at=now + _backoff(row.redaction_tries), redaction_error=repr(error)[:2000]
            )
            return RedactionState.PENDING
        return _failed(row, repr(error), now)
    with transaction.atomic():
        GatewayCustomer.objects.filter(pk=row.pk).update(
            redaction_state=RedactionState.DONE, redacted_at=now, redaction_next_try_at=None, redaction_error=""
        )
        audit_record(
            actor=None,
            action="gateway_customer.redacted",
            obj=row,
            new={"gateway": row.gateway, "customer_id": row.customer_id, "tries": row.redaction_tries},
        )
    return RedactionState.DONE


def _failed(row, error: str, now) -> str:
    with transaction.atomic():
        GatewayCustomer.objects.filter(pk=row.pk).update(
            redaction_state=RedactionState.FAILED, redaction_next_try_at=None, redaction_error=error[:2000]
        )
        audit_record(
            actor=None,
            action="gateway_customer.redaction_failed",
            obj=row,
            new={"gateway": row.gateway, "customer_id": row.customer_id, "error": error[:300]},
        )
        notify_ops(
            kind="payment.customer_redaction_failed",
            title=_("A deleted customer's card-gateway record needs attention"),
            body=_(
                "The %(gateway)s customer %(customer)s of a deleted account could not be redacted: %(error)s. "
                "Blank its name and e-mail at the gateway by hand."
            )
            % {"gateway": row.gateway, "customer": row.customer_id, "error": error[:300]},
            data={"gateway_customer_id": str(row.pk)},
        )
    return RedactionState.FAILED


def gateway_customers_redact_due(*, now=None, limit: int = 200) -> int:
    """The sweep: run every pending redaction whose next try is due (a backoff that passed, a
    lost dispatch, a lease that ran out because its worker died)."""
    now = now or timezone.now()
    due = list(
        GatewayCustomer.objects.filter(
            Q(redaction_next_try_at__lte=now) | Q(redaction_next_try_at__isnull=True),
            redaction_state=RedactionState.PENDING,
        )
        .order_by("redaction_next_try_at")
        .values_list("pk", flat=True)[:limit]
    )
    for pk in due:
        gateway_customer_redact(pk, now=now)
    return len(due)
