"""The read-only signature vault in the admin: pages open, nothing can be added, changed or deleted."""

import pytest
from django.urls import reverse

from core.tests.factories import UserFactory
from signatures.models import Review, Signature, SignatureChain, SignatureRequest
from signatures.services import signature_request, signature_sign

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_session(client):
    superuser = UserFactory(role="super_admin", is_staff=True, is_superuser=True)
    client.force_login(superuser)
    return client


def test_the_vault_pages_open_read_only(world, admin_session):
    booking = world.complete()
    request, _created = signature_request(booking=booking, user=world.vendor.user)
    signature_sign(request=request, user=world.customer, rating=4)

    for model, obj in [
        (SignatureRequest, SignatureRequest.objects.get()),
        (Signature, Signature.objects.get()),
        (SignatureChain, SignatureChain.objects.get()),
        (Review, Review.objects.get()),
    ]:
        prefix = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        assert admin_session.get(reverse(f"{prefix}_changelist")).status_code == 200
        page = admin_session.get(reverse(f"{prefix}_change", args=[obj.pk]))
        assert page.status_code == 200
        assert b"token_hash" not in page.content
        assert admin_session.get(reverse(f"{prefix}_add")).status_code == 403
        deleted = admin_session.post(reverse(f"{prefix}_delete", args=[obj.pk]), {"post": "yes"})
        assert deleted.status_code == 403
    assert Signature.objects.count() == 1
