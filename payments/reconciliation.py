"""The daily reconciliation of card payments against the gateway (ARCHITECTURE §6, §9).

``payments_reconcile`` (task ``payments.tasks.reconcile_payments``, beat entry
``reconcile-payments``, daily) re-reads from the gateway the PaymentIntent of every card attempt
that was updated within ``since`` (default 8 days: longer than a card hold lives), of every
attempt still authorised however old (its hold may have lapsed) and of every attempt with an open
issue, and compares:

- the status, in the forward-only order of attempts: ``authorized`` ↔ ``requires_capture``;
  ``captured`` / ``partially_refunded`` / ``refunded`` ↔ ``succeeded``; ``cancelled`` /
  ``failed`` ↔ an intent that holds and took nothing (``canceled``, or back to
  ``requires_payment_method`` after a decline); an attempt still waiting for its card ↔ an intent
  that holds nothing yet;
- the amount captured here with the intent's ``amount_received``.

Refunds cannot be read through the gateway interface, so a refund made in the gateway's dashboard
is not seen here; it is caught by the ledger check below when the attempt was updated for it
(``charge.refunded``) without a ledger entry.

A difference opens one ``ReconciliationIssue`` per attempt (a partial unique constraint allows
one open issue per attempt) and notifies every active ops manager and super admin once
(``payment.reconciliation``); while it stays open later runs only refresh its detail, and when the
difference has gone (a late webhook, ops acted at the gateway) the issue is resolved automatically
with a note. An issue ops resolved by hand is their decision about exactly that difference: the
same difference (same local and gateway state) does not open a new issue; any other one does.

Attempts whose booking has a payment operation pending or running are skipped for the run: the
operation is moving the money now and records the result itself. A gateway error for one attempt
is logged and counted and the run goes on with the others; an intent the gateway does not know is
itself a difference.

**Nothing is fixed automatically.** Reconciliation flags; ops decide. When the gateway is
*ahead* of us in the forward-only order (authorised there but waiting here, captured or cancelled
there but authorised here — a missed webhook, or a capture or release made in the gateway's
dashboard), ops may apply the gateway's state with ``reconciliation_issue_sync`` (admin action
"Apply the gateway's state"): it calls ``checkout.attempt_sync`` with the intent re-read, exactly
what the webhook would have done (ledger capture and earning included), and resolves the issue.
This is not done in the nightly run on purpose: a difference that outlived the gateway's own
webhook retries (about three days) is rarely a plain lost message — a hold released by the bank
under a confirmed booking, a capture taken before the service — and ops should see it before the
books follow it. Everything else (we recorded a capture the gateway does not have, amounts that
differ, money held on an attempt that ended) needs a person: a refund, a capture or a void in the
gateway's dashboard, or a ledger adjustment, then "Resolve…" with a note.

The ledger is checked in the same run: when ``unbalanced_transactions`` or ``attempt_mismatches``
(what ``manage.py ledger_check`` reports) find anything, ops are notified once per run with the
count.
"""

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from bookings.models import PaymentMethod
from core.audit import audit_record
from core.errors import Conflict, Forbidden, InvalidInput
from core.models import Role
from core.notifications import notify_ops
from payments.gateways import get_gateway
from payments.gateways.base import IntentStatus
from payments.gateways.errors import GatewayError, InvalidPaymentRequest
from payments.ledger import CAPTURED_STATUSES, LedgerError, attempt_mismatches, unbalanced_transactions
from payments.models import (
    AttemptStatus,
    OperationState,
    PaymentAttempt,
    PaymentOperation,
    ReconciliationIssue,
)
from payments.services import attempt_can_move

logger = logging.getLogger(__name__)

NOTIFICATION_KIND = "payment.reconciliation"
DEFAULT_SINCE = timedelta(days=8)
NOTE_MAX_LENGTH = 2000

# Intent statuses in which the gateway holds nothing and has taken nothing.
_NOTHING_HELD = frozenset(
    {
        IntentStatus.REQUIRES_PAYMENT_METHOD,
        IntentStatus.REQUIRES_CONFIRMATION,
        IntentStatus.REQUIRES_ACTION,
        IntentStatus.PROCESSING,
    }
)
# An ended attempt: its intent released the money, or never held any.
_RELEASED = frozenset(
    {
        IntentStatus.CANCELED,
        IntentStatus.REQUIRES_PAYMENT_METHOD,
        IntentStatus.REQUIRES_CONFIRMATION,
        IntentStatus.REQUIRES_ACTION,
    }
)
_CAPTURED = frozenset({IntentStatus.SUCCEEDED})

# The intent statuses that agree with each local status.
AGREEING_INTENT_STATUSES = {
    AttemptStatus.REQUIRES_PAYMENT_METHOD: _NOTHING_HELD,
    AttemptStatus.REQUIRES_ACTION: _NOTHING_HELD,
    # an off-session charge of a saved card that has not gone through yet
    AttemptStatus.CARD_SAVED: _NOTHING_HELD,
    AttemptStatus.AUTHORIZED: frozenset({IntentStatus.REQUIRES_CAPTURE}),
    AttemptStatus.CAPTURED: _CAPTURED,
    AttemptStatus.PARTIALLY_REFUNDED: _CAPTURED,
    AttemptStatus.REFUNDED: _CAPTURED,
    AttemptStatus.CANCELLED: _RELEASED,
    AttemptStatus.FAILED: _RELEASED,
}

# The attempt status an intent's status stands for, to tell whether the gateway is ahead of us.
INTENT_AS_ATTEMPT_STATUS = {
    IntentStatus.REQUIRES_ACTION: AttemptStatus.REQUIRES_ACTION,
    IntentStatus.REQUIRES_CAPTURE: AttemptStatus.AUTHORIZED,
    IntentStatus.SUCCEEDED: AttemptStatus.CAPTURED,
    IntentStatus.CANCELED: AttemptStatus.CANCELLED,
}


@dataclass(frozen=True)
class Finding:
    """A difference between an attempt and its intent."""

    local_state: str
    gateway_state: str
    detail: str
    gateway_ahead: bool


def _local_state(attempt) -> str:
    return f"{attempt.status}, captured {attempt.amount_captured} {attempt.currency}"[:200]


def _gateway_state(intent) -> str:
    if intent is None:
        return _("no such intent")
    return (
        f"{intent.status}, received {intent.amount_received} {intent.currency}, capturable {intent.amount_capturable}"
    )[:200]


def attempt_compare(attempt: PaymentAttempt, intent) -> Finding | None:
    """The difference between a card attempt and its intent as the gateway has it (``None``: the
    gateway does not know the intent), or None when they agree."""
    local, remote = _local_state(attempt), _gateway_state(intent)
    if intent is None:
        detail = _("The gateway does not know intent %(id)s, which this payment refers to.") % {
            "id": attempt.gateway_intent_id
        }
        return Finding(local, remote, detail, gateway_ahead=False)
    agreeing = AGREEING_INTENT_STATUSES.get(attempt.status, frozenset())
    if intent.status in agreeing:
        if attempt.status in CAPTURED_STATUSES and attempt.amount_captured != intent.amount_received:
            detail = _("%(captured)s %(currency)s was captured here but the gateway received %(received)s.") % {
                "captured": attempt.amount_captured,
                "currency": attempt.currency,
                "received": intent.amount_received,
            }
            return Finding(local, remote, detail, gateway_ahead=False)
        return None
    target = INTENT_AS_ATTEMPT_STATUS.get(intent.status)
    if target is not None and attempt_can_move(attempt.status, target):
        detail = _(
            "The gateway is ahead: the intent is %(intent)s while the payment is %(status)s here (a missed "
            "webhook, or an action in the gateway's dashboard). Applying the gateway's state records it as "
            "the webhook would have."
        ) % {"intent": intent.status, "status": attempt.status}
        return Finding(local, remote, detail, gateway_ahead=True)
    if attempt.status in CAPTURED_STATUSES:
        detail = _(
            "A capture of %(captured)s %(currency)s is recorded here but the gateway's intent is %(intent)s."
        ) % {
            "captured": attempt.amount_captured,
            "currency": attempt.currency,
            "intent": intent.status,
        }
    elif intent.status in (IntentStatus.REQUIRES_CAPTURE, IntentStatus.SUCCEEDED):
        detail = _(
            "The payment is %(status)s here, but the gateway %(what)s %(amount)s %(currency)s on intent %(intent)s."
        ) % {
            "status": attempt.status,
            "what": _("holds") if intent.status == IntentStatus.REQUIRES_CAPTURE else _("received"),
            "amount": (
                intent.amount_capturable if intent.status == IntentStatus.REQUIRES_CAPTURE else intent.amount_received
            ),
            "currency": intent.currency,
            "intent": attempt.gateway_intent_id,
        }
    else:
        detail = _("The payment is %(status)s here but the gateway's intent is %(intent)s.") % {
            "status": attempt.status,
            "intent": intent.status,
        }
    return Finding(local, remote, detail, gateway_ahead=False)


# --- the run -----------------------------------------------------------------------------------------


def _attempts_to_check(gateway_name: str, cutoff) -> list:
    in_flight = PaymentOperation.objects.filter(
        booking_id=OuterRef("booking_id"), state__in=[OperationState.PENDING, OperationState.RUNNING]
    )
    open_issues = ReconciliationIssue.objects.filter(resolved_at__isnull=True).values("attempt_id")
    return list(
        PaymentAttempt.objects.filter(method=PaymentMethod.CARD, gateway=gateway_name)
        .exclude(gateway_intent_id="")
        .filter(Q(updated_at__gte=cutoff) | Q(status=AttemptStatus.AUTHORIZED, is_active=True) | Q(pk__in=open_issues))
        .exclude(Exists(in_flight))
        .order_by("updated_at", "pk")
        .values_list("pk", flat=True)
    )


def _read_intent(gateway, attempt):
    """The attempt's intent, or None when the gateway does not know it. GatewayError otherwise."""
    try:
        return gateway.retrieve_payment_intent(attempt.gateway_intent_id)
    except InvalidPaymentRequest as error:
        if error.code == "resource_missing":
            return None
        raise


def _resolve(issue, *, actor, note, now, action):
    issue.resolved_at = now
    issue.resolved_by = actor if getattr(actor, "pk", None) else None
    issue.note = note[:NOTE_MAX_LENGTH]
    issue.save(update_fields=["resolved_at", "resolved_by", "note"])
    audit_record(actor=actor, action=action, obj=issue, new={"note": issue.note, "resolved_at": now.isoformat()})
    return issue


def _accepted_before(attempt, finding) -> bool:
    """Ops resolved exactly this difference by hand before: it is their decision, not news."""
    return ReconciliationIssue.objects.filter(
        attempt=attempt,
        resolved_by__isnull=False,
        local_state=finding.local_state,
        gateway_state=finding.gateway_state,
    ).exists()


def _record(attempt_id, intent, now) -> tuple[ReconciliationIssue | None, str]:
    """Compare under the attempt's row lock (a webhook may have applied the intent meanwhile) and
    open, refresh or resolve its issue. Returns (the open issue or None, what happened)."""
    with transaction.atomic():
        attempt = PaymentAttempt.objects.select_for_update().get(pk=attempt_id)
        finding = attempt_compare(attempt, intent)
        issue = (
            ReconciliationIssue.objects.select_for_update().filter(attempt=attempt, resolved_at__isnull=True).first()
        )
        if finding is None:
            if issue is None:
                return None, "agree"
            note = _("Resolved automatically: the payment and the gateway agree again (%(local)s / %(remote)s).") % {
                "local": _local_state(attempt),
                "remote": _gateway_state(intent),
            }
            _resolve(issue, actor=None, note=note, now=now, action="reconciliation.auto_resolved")
            return None, "resolved"
        if issue is not None:
            fields = {
                "local_state": finding.local_state,
                "gateway_state": finding.gateway_state,
                "detail": finding.detail,
            }
            changed = [name for name, value in fields.items() if getattr(issue, name) != value]
            if changed:
                for name in changed:
                    setattr(issue, name, fields[name])
                issue.save(update_fields=changed)
            return issue, "still_open"
        if _accepted_before(attempt, finding):
            return None, "accepted"
        try:
            with transaction.atomic():
                issue = ReconciliationIssue.objects.create(
                    attempt=attempt,
                    found_at=now,
                    local_state=finding.local_state,
                    gateway_state=finding.gateway_state,
                    detail=finding.detail,
                )
        except IntegrityError:
            # another run opened it a moment ago (the constraint allows one open issue per attempt)
            return ReconciliationIssue.objects.get(attempt=attempt, resolved_at__isnull=True), "still_open"
        audit_record(
            actor=None,
            action="reconciliation.opened",
            obj=issue,
            new={"attempt": attempt.pk, "local_state": issue.local_state, "gateway_state": issue.gateway_state},
        )
        booking = attempt.booking
        notify_ops(
            kind=NOTIFICATION_KIND,
            title=_("A payment differs from the gateway"),
            body=_("Booking %(number)s: %(detail)s") % {"number": booking.booking_number, "detail": finding.detail},
            data={"issue_id": issue.pk, "attempt_id": str(attempt.pk), "booking_id": str(booking.pk)},
        )
        return issue, "opened"


def _check_ledger():
    problems = [*unbalanced_transactions(), *attempt_mismatches()]
    if not problems:
        return 0
    logger.warning("Reconciliation: the ledger check found %s problem(s): %s", len(problems), "; ".join(problems[:20]))
    with transaction.atomic():
        notify_ops(
            kind=NOTIFICATION_KIND,
            title=_("The ledger needs attention"),
            body=_(
                "The ledger check found %(count)s problem(s), e.g. %(first)s. Run manage.py ledger_check for the list."
            )
            % {"count": len(problems), "first": problems[0]},
            data={"ledger_problems": len(problems)},
        )
    return len(problems)


def payments_reconcile(*, now=None, since: timedelta = DEFAULT_SINCE) -> list[ReconciliationIssue]:
    """Compare card payments with the gateway and the ledger with itself (see the module
    docstring). Returns the issues open for the attempts checked — opened in this run or still
    open from an earlier one. Call it outside a transaction: it calls the gateway once per
    attempt, holding no lock meanwhile."""
    now = now or timezone.now()
    gateway = get_gateway()
    counts = Counter()
    issues = []
    for attempt_id in _attempts_to_check(gateway.name, now - since):
        attempt = PaymentAttempt.objects.filter(pk=attempt_id).first()
        if attempt is None:
            continue
        counts["checked"] += 1
        try:
            intent = _read_intent(gateway, attempt)
        except GatewayError as error:
            counts["gateway_errors"] += 1
            logger.warning(
                "Reconciliation: reading intent %s of payment %s failed: %r",
                attempt.gateway_intent_id,
                attempt.pk,
                error,
            )
            continue
        try:
            issue, outcome = _record(attempt_id, intent, now)
        except Exception:  # one bad row must not stop the nightly run; it is logged with its trace
            counts["errors"] += 1
            logger.exception("Reconciliation of payment %s failed", attempt_id)
            continue
        counts[outcome] += 1
        if issue is not None:
            issues.append(issue)
    counts["ledger_problems"] = _check_ledger()
    logger.info("Reconciliation done: %s", dict(counts))
    return issues


# --- ops -----------------------------------------------------------------------------------------


def _require_ops(actor):
    if not (getattr(actor, "is_authenticated", False) and actor.role in (Role.OPS_MANAGER, Role.SUPER_ADMIN)):
        raise Forbidden(_("Only operations staff can do this."))


def reconciliation_issue_resolve(*, issue: ReconciliationIssue, actor, note: str, now=None) -> ReconciliationIssue:
    """Ops close an issue with a note saying what they decided or did (refunded in the dashboard,
    adjusted the ledger, accepted the difference…). Resolving exactly this difference also stops
    later runs from reopening it. A resolved issue is a Conflict."""
    _require_ops(actor)
    note = (note or "").strip()
    if not note:
        raise InvalidInput(fields={"note": [_("Say what was decided or done.")]})
    if len(note) > NOTE_MAX_LENGTH:
        raise InvalidInput(fields={"note": [_("At most %(n)s characters.") % {"n": NOTE_MAX_LENGTH}]})
    now = now or timezone.now()
    with transaction.atomic():
        issue = ReconciliationIssue.objects.select_for_update().get(pk=issue.pk)
        if issue.resolved_at is not None:
            raise Conflict(_("This issue is already resolved."))
        return _resolve(issue, actor=actor, note=note, now=now, action="reconciliation.resolved")


def reconciliation_issue_sync(*, issue: ReconciliationIssue, actor, now=None) -> ReconciliationIssue:
    """Ops apply the gateway's state to the payment of an open issue where the gateway is ahead
    of us: the intent is re-read and applied with ``checkout.attempt_sync`` (what the webhook
    would have done: status, ledger capture and earning), and the issue is resolved. An issue
    whose difference has gone meanwhile is resolved as well. Conflict when the gateway is not
    ahead (a person must decide), does not answer, or the result is refused by the ledger."""
    from payments.checkout import attempt_sync

    _require_ops(actor)
    now = now or timezone.now()
    issue = ReconciliationIssue.objects.select_related("attempt").get(pk=issue.pk)
    if issue.resolved_at is not None:
        raise Conflict(_("This issue is already resolved."))
    attempt = issue.attempt
    try:
        intent = _read_intent(get_gateway(), attempt)
    except GatewayError as error:
        raise Conflict(_("The gateway did not answer (%(error)s); try again later.") % {"error": error}) from error
    with transaction.atomic():
        attempt = PaymentAttempt.objects.select_for_update().get(pk=attempt.pk)
        locked = ReconciliationIssue.objects.select_for_update().get(pk=issue.pk)
        if locked.resolved_at is not None:
            raise Conflict(_("This issue is already resolved."))
        finding = attempt_compare(attempt, intent)
        if finding is None:
            note = _("The payment and the gateway agree (%(local)s / %(remote)s); nothing to apply.") % {
                "local": _local_state(attempt),
                "remote": _gateway_state(intent),
            }
            return _resolve(locked, actor=actor, note=note, now=now, action="reconciliation.resolved")
        if not finding.gateway_ahead:
            raise Conflict(
                _("The gateway is not ahead of this payment; decide by hand, then resolve with a note. %(detail)s")
                % {"detail": finding.detail}
            )
        before = _local_state(attempt)
        try:
            attempt = attempt_sync(attempt=attempt, intent=intent, now=now)
        except LedgerError as error:
            raise Conflict(_("The ledger refused the gateway's state: %(error)s") % {"error": error}) from error
        audit_record(
            actor=actor,
            action="reconciliation.synced",
            obj=locked,
            old={"payment": before},
            new={"payment": _local_state(attempt), "gateway": _gateway_state(intent)},
        )
        remaining = attempt_compare(attempt, intent)
        if remaining is not None:
            # applied as far as the forward-only order allows; what is left is for a person
            locked.local_state = remaining.local_state
            locked.gateway_state = remaining.gateway_state
            locked.detail = remaining.detail
            locked.save(update_fields=["local_state", "gateway_state", "detail"])
            return locked
        note = _("Applied the gateway's state as its webhook would have: %(before)s → %(after)s.") % {
            "before": before,
            "after": _local_state(attempt),
        }
        return _resolve(locked, actor=actor, note=note, now=now, action="reconciliation.resolved")
