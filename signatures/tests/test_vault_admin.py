"""The signature vault in the admin (issue 8): signatures listed with rating, dates and hash, a
"verify" per row (and as an action), and "Check the whole chain" reporting OK or the first broken
link — the code behind ``manage.py verify_signatures``."""

import pytest
from django.urls import reverse

from core.models import AuditLog, Role
from core.tests.test_admin import admin_url, choose_action, logged_in, make_user, messages_of
from signatures.models import Signature
from signatures.services import signature_request, signature_sign
from signatures.tests.conftest import raw_delete, raw_update

pytestmark = pytest.mark.django_db
SIGNATURES = "signatures.signature"


@pytest.fixture
def ops():
    return make_user(Role.OPS_MANAGER, "opsdesk")


@pytest.fixture
def chain(world):
    """Three signed jobs: signatures #1, #2, #3."""
    signatures = []
    for index, rating in enumerate((5, 4, 3)):
        booking = world.complete(index=index)
        request, _created = signature_request(booking=booking, user=world.vendor.user)
        signatures.append(signature_sign(request=request, user=world.customer, rating=rating, comments=f"Job {index}"))
    return signatures


def test_the_vault_lists_rating_dates_hash_and_a_verify_link(ops, chain):
    response = logged_in(ops).get(admin_url(SIGNATURES))

    assert response.status_code == 200
    html = response.content.decode()
    for signature in chain:
        assert signature.signature_hash[:16] in html
        assert reverse("admin:signatures_signature_verify", args=[signature.pk]) in html
    assert [s.sequence for s in response.context["cl"].result_list] == [3, 2, 1]
    assert {s.rating for s in response.context["cl"].result_list} == {5, 4, 3}
    assert reverse("admin:signatures_signature_chain") in html


def test_verifying_one_signature(ops, chain):
    url = reverse("admin:signatures_signature_verify", args=[chain[1].pk])

    valid = logged_in(ops).get(url)
    assert valid.status_code == 200
    assert valid.context["result"].valid
    assert chain[1].signature_hash in valid.content.decode()

    raw_update(chain[1], amount="1.00")  # an edited amount
    broken = logged_in(ops).get(url)
    assert not broken.context["result"].valid
    assert "a hashed field was changed" in broken.content.decode()
    # the signature's own page says so too
    page = logged_in(ops).get(admin_url(SIGNATURES, "change", chain[1].pk)).content.decode()
    assert "BROKEN: a hashed field was changed" in page


def test_the_verify_action_reports_each_broken_signature(ops, chain):
    all_valid = choose_action(logged_in(ops), SIGNATURES, "verify_signatures", [s.pk for s in chain])
    assert messages_of(all_valid) == [("success", "3 signatures verified: all valid.")]

    raw_update(chain[2], rating=1)
    some_broken = choose_action(logged_in(ops), SIGNATURES, "verify_signatures", [s.pk for s in chain])

    (message,) = messages_of(some_broken)
    assert message[0] == "error" and message[1].startswith("#3 ")


def test_checking_the_whole_chain_reports_ok(ops, chain):
    response = logged_in(ops).post(reverse("admin:signatures_signature_chain"))

    assert response.status_code == 302
    assert messages_of(response) == [("success", "Signature chain OK: 3 signature(s) verified.")]
    entry = AuditLog.objects.get(action="admin.signature_chain_check", actor=ops)
    assert entry.new_values == {"valid": True, "checked": 3, "problem": ""}


def test_checking_the_whole_chain_names_the_first_broken_link(ops, chain):
    raw_delete(chain[1])  # signature #2 deleted behind the application's back

    response = logged_in(ops).post(reverse("admin:signatures_signature_chain"))

    ((level, text),) = messages_of(response)
    assert level == "error"
    assert text.startswith(f"Signature chain broken at signature #3 (booking {chain[2].booking.booking_number})")
    assert "#2" in text
    assert Signature.objects.count() == 2


def test_a_get_on_the_chain_check_does_nothing_but_return(ops, chain):
    response = logged_in(ops).get(reverse("admin:signatures_signature_chain"))

    assert response.status_code == 302
    assert not AuditLog.objects.filter(action="admin.signature_chain_check").exists()


def test_onboarding_managers_have_no_vault(chain):
    client = logged_in(make_user(Role.ONBOARD_MANAGER, "onboarder"))

    assert client.get(admin_url(SIGNATURES)).status_code == 403
    assert client.get(reverse("admin:signatures_signature_verify", args=[chain[0].pk])).status_code == 403
    assert client.post(reverse("admin:signatures_signature_chain")).status_code == 403
