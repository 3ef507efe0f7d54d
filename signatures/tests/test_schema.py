"""What the migrations leave in the database for signature requests: the one-open-request rule
is enforced by the database itself, and the indexes the expiry sweep writes are the few it needs."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from signatures.models import SignatureRequest

pytestmark = pytest.mark.django_db


def request_for(booking, n):
    now = timezone.now()
    return SignatureRequest(
        booking=booking, token_hash=f"{n:064x}", token_nonce="n", created_at=now, expires_at=now + timedelta(hours=48)
    )


def test_the_database_refuses_a_second_open_request_for_a_booking(world):
    """Written around the service (bulk_create): the partial unique index must be there. An
    AlterField(db_index=False) on the booking column once dropped it with the FK's own index."""
    booking = world.complete()
    SignatureRequest.objects.bulk_create([request_for(booking, 1)])
    with pytest.raises(IntegrityError), transaction.atomic():
        SignatureRequest.objects.bulk_create([request_for(booking, 2)])
    SignatureRequest.objects.filter(booking=booking).update(status="expired")
    SignatureRequest.objects.bulk_create([request_for(booking, 3)])  # a new one once the first is closed


def test_the_sweep_writes_only_the_indexes_it_needs():
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, SignatureRequest._meta.db_table)
    on_booking = sorted(n for n, info in constraints.items() if info["columns"] == ["booking_id"] and info["index"])
    assert on_booking == ["signature_request_one_open_per_booking"], "the FK's own index is gone, the rule stays"
    on_token = [info for info in constraints.values() if info["columns"] == ["token_hash"]]
    assert len(on_token) == 1 and on_token[0]["unique"], "one unique index on the token hash, no LIKE index"
    assert "signature_request_open_due" in constraints
