"""Periodic payment jobs (CELERY_BEAT_SCHEDULE). Thin: each calls one idempotent function."""

from celery import shared_task

from payments.idempotency import idempotency_records_purge


@shared_task(name="payments.tasks.purge_idempotency_records")
def purge_idempotency_records():
    return idempotency_records_purge()


@shared_task(name="payments.tasks.run_payment_operation")
def run_payment_operation(op_id):
    """Dispatched after the commit that created the operation (payments/operations.py)."""
    from payments.operations import operation_run

    return operation_run(op_id)


@shared_task(name="payments.tasks.run_due_payment_operations")
def run_due_payment_operations():
    """Retries with backoff, and operations whose dispatch or worker was lost."""
    from payments.operations import operations_run_due

    return operations_run_due()


@shared_task(name="payments.tasks.authorize_due_bookings")
def authorize_due_bookings():
    """Authorise saved cards of bookings starting within 24 h (§6)."""
    from payments.operations import authorize_due_bookings as authorize

    return authorize()


@shared_task(name="payments.tasks.run_payouts")
def run_payouts():
    """The daily payout run: every vendor's payable money, netted, transferred (§6)."""
    from payments.payouts import payouts_run

    return len(payouts_run())


@shared_task(name="payments.tasks.retry_payouts")
def retry_payouts():
    """Payout transfers whose retry is due (the gateway was unavailable), and lost runs."""
    from payments.payouts import payouts_retry_due

    return len(payouts_retry_due())


@shared_task(name="payments.tasks.reconcile_payments")
def reconcile_payments():
    """The daily reconciliation of card payments against the gateway, and of the ledger (§9)."""
    from payments.reconciliation import payments_reconcile

    return len(payments_reconcile())


@shared_task(name="payments.tasks.redact_gateway_customer")
def redact_gateway_customer(gateway_customer_id):
    """Dispatched after the commit of an account deletion (payments/customers.py)."""
    from payments.customers import gateway_customer_redact

    return gateway_customer_redact(gateway_customer_id)


@shared_task(name="payments.tasks.redact_due_gateway_customers")
def redact_due_gateway_customers():
    """Retries with backoff, and redactions whose dispatch or worker was lost."""
    from payments.customers import gateway_customers_redact_due

    return gateway_customers_redact_due()
