import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils import timezone

from bookings.models import PaymentMethod
from core.models import MONEY_DIGITS, MONEY_PLACES


class IdempotencyRecord(models.Model):
    """One ``Idempotency-Key`` a caller used on a POST (ARCHITECTURE §6), with the response the
    first request produced. The unique constraint on (owner, key) is what makes concurrent
    duplicates safe: only one insert wins."""

    class State(models.TextChoices):
        IN_PROGRESS = "in_progress"
        DONE = "done"

    owner = models.CharField(max_length=80, help_text="user:<id>, or anon:<address> for anonymous callers")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    request_hash = models.CharField(max_length=64)
    state = models.CharField(max_length=12, choices=State.choices, default=State.IN_PROGRESS)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.BinaryField(null=True, blank=True)
    response_content_type = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "key"], name="idempotency_owner_key_unique")]
        indexes = [models.Index(fields=["created_at"])]

    def __str__(self):
        return f"{self.owner} {self.key}"


class FakeGatewayObject(models.Model):
    """The fake gateway's own storage (payments/gateways/fake.py): the intents, refunds and
    transfers it "holds", as Stripe would on its side. Nothing of ours reads these rows directly."""

    id = models.CharField(primary_key=True, max_length=64)
    kind = models.CharField(max_length=30)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["kind", "created_at"])]

    def __str__(self):
        return self.id


class AttemptStatus(models.TextChoices):
    """§6. ``card_saved`` is ours: a booking more than 3 days out only saves the card at checkout
    (a SetupIntent); the authorisation follows 24 h before the start as a new step forward."""

    REQUIRES_PAYMENT_METHOD = "requires_payment_method"
    REQUIRES_ACTION = "requires_action"
    CARD_SAVED = "card_saved"
    AUTHORIZED = "authorized"
    CAPTURED = "captured"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    CANCELLED = "cancelled"
    FAILED = "failed"


# Forward-only (§6): a status may only move to one of higher rank; cancelled and failed end an
# attempt from any status before capture. A late or repeated webhook can therefore never move an
# attempt back.
ATTEMPT_STATUS_RANK = {
    AttemptStatus.REQUIRES_PAYMENT_METHOD: 0,
    AttemptStatus.REQUIRES_ACTION: 1,
    AttemptStatus.CARD_SAVED: 2,
    AttemptStatus.AUTHORIZED: 3,
    AttemptStatus.CAPTURED: 4,
    AttemptStatus.PARTIALLY_REFUNDED: 5,
    AttemptStatus.REFUNDED: 6,
}
ATTEMPT_TERMINAL = {AttemptStatus.REFUNDED, AttemptStatus.CANCELLED, AttemptStatus.FAILED}
ATTEMPT_ACTIVE = {
    AttemptStatus.REQUIRES_PAYMENT_METHOD,
    AttemptStatus.REQUIRES_ACTION,
    AttemptStatus.CARD_SAVED,
    AttemptStatus.AUTHORIZED,
    AttemptStatus.CAPTURED,
    AttemptStatus.PARTIALLY_REFUNDED,
}


class PaymentAttempt(models.Model):
    """One try at paying for a booking (§6). A booking has one or more; at most one is active
    (a declined card ends its attempt and the customer retries with a new one)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    booking = models.ForeignKey("bookings.Booking", on_delete=models.PROTECT, related_name="payment_attempts")
    method = models.CharField(max_length=10, choices=PaymentMethod.choices)
    status = models.CharField(
        max_length=30, choices=AttemptStatus.choices, default=AttemptStatus.REQUIRES_PAYMENT_METHOD
    )
    is_active = models.BooleanField(default=True)
    amount = models.DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES)
    currency = models.CharField(max_length=3)
    amount_captured = models.DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES, default=Decimal("0"))
    amount_refunded = models.DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES, default=Decimal("0"))
    gateway = models.CharField(max_length=20, blank=True)
    gateway_intent_id = models.CharField(max_length=100, blank=True)
    gateway_setup_intent_id = models.CharField(max_length=100, blank=True)
    gateway_customer_id = models.CharField(max_length=100, blank=True)
    gateway_payment_method_id = models.CharField(max_length=100, blank=True)
    client_secret = models.CharField(max_length=200, blank=True)
    failure_code = models.CharField(max_length=60, blank=True)
    failure_message = models.CharField(max_length=300, blank=True)
    authorized_at = models.DateTimeField(null=True, blank=True)
    captured_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["booking"], condition=models.Q(is_active=True), name="payment_one_active_attempt_per_booking"
            ),
            models.UniqueConstraint(
                fields=["gateway", "gateway_intent_id"],
                condition=~models.Q(gateway_intent_id=""),
                name="payment_intent_id_unique",
            ),
            models.CheckConstraint(
                condition=models.Q(amount__gte=0, amount_captured__gte=0, amount_refunded__gte=0),
                name="payment_amounts_gte_0",
            ),
            models.CheckConstraint(
                condition=models.Q(amount_captured__lte=models.F("amount"))
                & models.Q(amount_refunded__lte=models.F("amount_captured")),
                name="payment_refund_lte_captured_lte_amount",
            ),
        ]

    def __str__(self):
        return f"{self.booking_id} {self.method} {self.status}"


class WebhookEvent(models.Model):
    """A gateway event as received (§6). The row is inserted first, under the unique event id, so a
    repeat delivery is recognised and acknowledged without being handled twice."""

    class State(models.TextChoices):
        RECEIVED = "received"
        PROCESSED = "processed"
        IGNORED = "ignored"
        FAILED = "failed"

    gateway = models.CharField(max_length=20)
    event_id = models.CharField(max_length=100)
    type = models.CharField(max_length=100)
    payload = models.JSONField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.RECEIVED)
    error = models.TextField(blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        constraints = [models.UniqueConstraint(fields=["gateway", "event_id"], name="webhook_event_once")]

    def __str__(self):
        return f"{self.gateway} {self.type} {self.event_id}"


# --- Ledger (ARCHITECTURE §4) ---------------------------------------------------------------------
# Double-entry bookkeeping of every money movement. Sign convention: a line's ``amount`` is signed,
# DEBIT POSITIVE, CREDIT NEGATIVE, and the lines of one transaction sum to exactly zero. An account's
# balance is the SUM of its lines in the database (payments/ledger.py), never a stored counter.
# Posted rows are never updated or deleted: a correction is a new transaction.


class LedgerAppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionError("The ledger is append-only: post a correcting transaction instead.")

    def delete(self):
        raise PermissionError("The ledger is append-only: post a correcting transaction instead.")


class LedgerAppendOnlyModel(models.Model):
    objects = LedgerAppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        # An integrity guard like AuditLog's: rows are inserted once, never changed.
        if not self._state.adding:
            raise PermissionError("The ledger is append-only: post a correcting transaction instead.")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("The ledger is append-only: post a correcting transaction instead.")


class LedgerKind(models.TextChoices):
    CAPTURE = "capture"
    CANCELLATION_FEE = "cancellation_fee"
    REFUND = "refund"
    CASH_COLLECTED = "cash_collected"
    PAYOUT = "payout"
    PAYOUT_REVERSAL = "payout_reversal"
    MANUAL_PAYMENT = "manual_payment"
    ADJUSTMENT = "adjustment"


class LedgerTransaction(LedgerAppendOnlyModel):
    """One money movement: its lines (``LedgerLine``) sum to zero. ``idempotency_key`` names the
    movement itself (``capture:<attempt id>``, ``refund:<refund reference>``, ``payout:<PO-…>``) and
    is unique in the database, so the same movement can never be posted twice."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=20, choices=LedgerKind.choices)
    idempotency_key = models.CharField(max_length=200)
    booking = models.ForeignKey(
        "bookings.Booking", null=True, blank=True, on_delete=models.PROTECT, related_name="ledger_transactions"
    )
    attempt = models.ForeignKey(
        PaymentAttempt, null=True, blank=True, on_delete=models.PROTECT, related_name="ledger_transactions"
    )
    reference = models.CharField(max_length=100, blank=True, help_text="Gateway refund id, payout number, bank ref…")
    memo = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["idempotency_key"], name="ledger_transaction_key_unique")]
        indexes = [models.Index(fields=["kind", "created_at"])]

    def __str__(self):
        return f"{self.kind} {self.idempotency_key}"


class LedgerLine(LedgerAppendOnlyModel):
    """One side of a transaction on one account. ``amount`` is signed: debit positive, credit
    negative; never zero."""

    transaction = models.ForeignKey(LedgerTransaction, on_delete=models.PROTECT, related_name="lines")
    account = models.CharField(max_length=80)
    amount = models.DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES)
    currency = models.CharField(max_length=3)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=~models.Q(amount=0), name="ledger_line_amount_not_0"),
            models.CheckConstraint(condition=~models.Q(account=""), name="ledger_line_account_not_empty"),
        ]
        indexes = [models.Index(fields=["account", "currency"])]

    def __str__(self):
        return f"{self.account} {self.amount} {self.currency}"


# --- Money movements after commit (ARCHITECTURE §5, §6) --------------------------------------------


class RedactionState(models.TextChoices):
    PENDING = "pending", "Waiting to be redacted at the gateway"
    DONE = "done", "Redacted at the gateway"
    FAILED = "failed", "Redaction failed (ops told)"


class GatewayCustomer(models.Model):
    """The gateway's customer object for one of our users (cards are saved on it). When the user
    deletes their account the gateway's copy of their name and e-mail is redacted after commit
    (``redaction_*``: payments/customers.py), retried until it succeeds or is flagged for ops."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="gateway_customers")
    gateway = models.CharField(max_length=20)
    customer_id = models.CharField(max_length=100)
    created_at = models.DateTimeField(default=timezone.now)
    redaction_state = models.CharField(max_length=10, choices=RedactionState.choices, blank=True)
    redaction_tries = models.PositiveSmallIntegerField(default=0)
    redaction_next_try_at = models.DateTimeField(null=True, blank=True)
    redaction_error = models.TextField(blank=True)
    redacted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "gateway"], name="gateway_customer_once")]
        indexes = [models.Index(fields=["redaction_state", "redaction_next_try_at"])]

    def __str__(self):
        return f"{self.gateway} {self.customer_id}"


class OperationKind(models.TextChoices):
    AUTHORIZE = "authorize", "Authorise a saved card (far-out booking)"
    CAPTURE = "capture", "Capture"
    SETTLE_CANCELLATION = "settle_cancellation", "Settle a cancellation (void, fee or refund)"
    REFUND = "refund", "Refund"
    RELEASE = "release", "Release a hold nothing tracks any more"


class OperationState(models.TextChoices):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # gave up: flagged for ops


class PaymentOperation(models.Model):
    """A money movement decided by a committed state change and carried out afterwards (an
    outbox row). The booking's transition writes the row in its own transaction; a task runs it
    after commit and a periodic sweep retries it with backoff until it succeeds or is flagged
    for ops. ``key`` names the movement (``capture:<booking id>``), so asking twice — two
    simultaneous captures, a retried request — yields one row and one gateway call."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    booking = models.ForeignKey("bookings.Booking", on_delete=models.PROTECT, related_name="payment_operations")
    attempt = models.ForeignKey(
        PaymentAttempt, null=True, blank=True, on_delete=models.PROTECT, related_name="operations"
    )
    kind = models.CharField(max_length=24, choices=OperationKind.choices)
    key = models.CharField(max_length=200, unique=True)
    amount = models.DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES, null=True, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    state = models.CharField(max_length=10, choices=OperationState.choices, default=OperationState.PENDING)
    tries = models.PositiveSmallIntegerField(default=0)
    next_try_at = models.DateTimeField(default=timezone.now)
    lease_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    reference = models.CharField(max_length=100, blank=True, help_text="Gateway refund id and the like")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["state", "next_try_at"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount__isnull=True) | models.Q(amount__gte=0), name="payment_operation_amount_gte_0"
            )
        ]

    def __str__(self):
        return f"{self.kind} {self.key} {self.state}"


# --- Earnings and payouts (§6) -----------------------------------------------------------------------


class PayoutNumberCounter(models.Model):
    """Per-day counter behind PO-YYYYMMDD-NNNNN; its row is locked while a number is taken."""

    day = models.DateField(primary_key=True)
    last_value = models.PositiveIntegerField(default=0)

    def __str__(self):
        return f"{self.day}: {self.last_value}"


class PayoutStatus(models.TextChoices):
    PENDING = "pending"  # created, transfer not yet confirmed
    PAID = "paid"
    FAILED = "failed"  # retries used up: ops retry or pay by bank transfer


class Payout(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    number = models.CharField(max_length=20, unique=True)
    vendor = models.ForeignKey("core.VendorProfile", on_delete=models.PROTECT, related_name="payouts")
    amount = models.DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES)
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=10, choices=PayoutStatus.choices, default=PayoutStatus.PENDING)
    destination_account = models.CharField(max_length=64, blank=True)
    gateway_transfer_id = models.CharField(max_length=100, blank=True)
    bank_reference = models.CharField(max_length=100, blank=True)
    tries = models.PositiveSmallIntegerField(default=0)
    next_try_at = models.DateTimeField(default=timezone.now)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    paid_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "next_try_at"]), models.Index(fields=["vendor", "created_at"])]
        constraints = [models.CheckConstraint(condition=models.Q(amount__gt=0), name="payout_amount_gt_0")]

    def __str__(self):
        return self.number


class Earning(models.Model):
    """The vendor's share of money the platform kept for a booking (a capture, a cancellation
    fee, a manual payment), payable once ``available_at`` (capture + the hold) has passed. It
    records the hold; what the vendor is owed is the ledger's ``vendor_payable`` balance."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    vendor = models.ForeignKey("core.VendorProfile", on_delete=models.PROTECT, related_name="earnings")
    booking = models.ForeignKey("bookings.Booking", on_delete=models.PROTECT, related_name="earnings")
    ledger_transaction = models.OneToOneField(LedgerTransaction, on_delete=models.PROTECT, related_name="earning")
    amount = models.DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES)
    currency = models.CharField(max_length=3)
    available_at = models.DateTimeField()
    payout = models.ForeignKey(Payout, null=True, blank=True, on_delete=models.PROTECT, related_name="earnings")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["vendor", "payout", "available_at"])]

    def __str__(self):
        return f"{self.vendor_id} {self.amount} {self.currency}"


class ReconciliationIssue(models.Model):
    """A difference the daily reconciliation found between a local payment and the gateway."""

    attempt = models.ForeignKey(PaymentAttempt, on_delete=models.PROTECT, related_name="reconciliation_issues")
    found_at = models.DateTimeField(default=timezone.now)
    local_state = models.CharField(max_length=200)
    gateway_state = models.CharField(max_length=200)
    detail = models.TextField(blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-found_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["attempt"], condition=models.Q(resolved_at__isnull=True), name="reconciliation_one_open_issue"
            )
        ]

    def __str__(self):
        return f"{self.attempt_id} {self.local_state} ≠ {self.gateway_state}"
