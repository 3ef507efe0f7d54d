"""The hash chain (issue 5 item 4, ARCHITECTURE §7): the canonical JSON, verification, and
tampering — each hashed field edited, a photo swapped, a signature deleted in the middle or at the
end — caught by ``signature_verify`` and by ``manage.py verify_signatures``."""

import json
from datetime import UTC, timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from bookings.models import Booking, BookingPhoto
from core.tests.factories import CustomerFactory, VendorFactory
from signatures.hashing import (
    GENESIS_HASH,
    _stored_payload,
    canonical_json,
    chain_verify,
    payload_hash,
    sha256_hex,
    signature_verify,
)
from signatures.models import Signature, SignatureChain
from signatures.services import signature_comments_erase, signature_request, signature_sign
from signatures.tests.conftest import data_url, png_bytes, raw_delete, raw_update

pytestmark = pytest.mark.django_db


def sign(world, index, *, rating=4, comments="Good work", image=True):
    booking = world.complete(index=index)
    request, _created = signature_request(booking=booking, user=world.vendor.user)
    return signature_sign(
        request=request,
        user=world.customer,
        rating=rating,
        comments=comments,
        signature_image=data_url(png_bytes()) if image else None,
    )


@pytest.fixture
def chain(world):
    """Three signatures: #1, #2, #3."""
    return [sign(world, index) for index in range(3)]


def assert_command_fails_naming(sequence):
    with pytest.raises(CommandError) as failure:
        call_command("verify_signatures")
    assert f"signature #{sequence} " in str(failure.value), str(failure.value)


def test_the_chain_links_each_signature_to_the_one_before(chain):
    first, second, third = chain

    assert [s.sequence for s in chain] == [1, 2, 3]
    assert first.previous_hash == GENESIS_HASH
    assert second.previous_hash == first.signature_hash and third.previous_hash == second.signature_hash
    head = SignatureChain.objects.get()
    assert (head.last_sequence, head.last_hash) == (3, third.signature_hash)
    for signature in chain:
        valid, stored, computed = signature_verify(signature)
        assert valid and stored == computed == signature.signature_hash
    call_command("verify_signatures")


def test_the_hash_is_sha256_of_the_canonical_json_of_section_7(world):
    signature = sign(world, 0, comments="Très bien — ok")
    booking = signature.booking
    photos = sorted(BookingPhoto.objects.filter(booking=booking).values_list("sha256", flat=True))
    expected = {
        "amount": "1180.00",
        "booking_id": str(booking.pk),
        "comments_sha256": sha256_hex("Très bien — ok"),
        "customer_id": str(world.customer.pk),
        "photo_checksums": photos,
        "previous_hash": GENESIS_HASH,
        "rating": 4,
        "signature_image_sha256": sha256_hex(bytes(signature.signature_image)),
        "signed_at": signature.signed_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "vendor_id": str(world.vendor.pk),
    }
    text = canonical_json(expected)

    assert text == json.dumps(expected, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert b" " not in text.replace("Très bien".encode(), b"")
    assert sha256_hex(text) == signature.signature_hash


TAMPERING = {
    "rating": lambda s: raw_update(s, rating=1 if s.rating != 1 else 5),
    "comments text": lambda s: raw_update(s, comments="Terrible work"),
    "comments hash": lambda s: raw_update(s, comments_sha256=sha256_hex("Terrible work")),
    "amount": lambda s: raw_update(s, amount=s.amount - Decimal("100.00")),
    "stored photo checksum": lambda s: raw_update(s, photo_checksums=[*s.photo_checksums[:-1], "0" * 64]),
    "booking photo checksum": lambda s: BookingPhoto.objects.filter(booking=s.booking).update(sha256="f" * 64),
    "photo deleted": lambda s: BookingPhoto.objects.filter(
        pk=BookingPhoto.objects.filter(booking=s.booking).values("pk")[:1]
    ).delete(),
    "photo added": lambda s: BookingPhoto.objects.create(
        booking=s.booking, kind="after", image="booking-photos/x.jpg", sha256="e" * 64, uploaded_by=s.vendor.user
    ),
    "booking total": lambda s: Booking.objects.filter(pk=s.booking_id).update(total=s.amount - Decimal("100.00")),
    "booking customer": lambda s: Booking.objects.filter(pk=s.booking_id).update(customer=CustomerFactory()),
    "signed_at": lambda s: raw_update(s, signed_at=s.signed_at - timedelta(minutes=5)),
    "customer": lambda s: raw_update(s, customer=CustomerFactory()),
    "vendor": lambda s: raw_update(s, vendor=VendorFactory()),
    "drawn signature": lambda s: raw_update(s, signature_image=png_bytes(color=(200, 0, 0, 255))),
    "drawn signature hash": lambda s: raw_update(s, signature_image_sha256="a" * 64),
    # the bytes gone without the privacy erasure's mark
    "drawn signature removed": lambda s: raw_update(s, signature_image=None),
    "previous hash": lambda s: raw_update(s, previous_hash="b" * 64),
    "stored hash": lambda s: raw_update(s, signature_hash="c" * 64),
}


@pytest.mark.parametrize("what", TAMPERING)
def test_tampering_with_a_hashed_field_is_detected(chain, what):
    middle = chain[1]

    TAMPERING[what](middle)

    middle = Signature.objects.get(pk=middle.pk)
    valid, stored, computed = signature_verify(middle)
    assert not valid
    assert stored == middle.signature_hash
    if what not in ("previous hash",):
        assert computed != stored
    assert_command_fails_naming(2)
    # the others still verify on their own fields
    assert signature_verify(Signature.objects.get(pk=chain[0].pk)).valid


def test_a_deleted_signature_in_the_middle_is_detected(chain):
    first, middle, last = chain

    raw_delete(middle)

    result = signature_verify(Signature.objects.get(pk=last.pk))
    assert not result.valid and "#2" in result.problem
    assert signature_verify(Signature.objects.get(pk=first.pk)).valid
    assert_command_fails_naming(3)


def test_a_deleted_middle_signature_with_its_successor_rehashed_is_still_detected(chain):
    """Relinking #3 to #1 (its previous hash and its own hash recomputed) leaves a gap in the sequence."""
    first, middle, last = chain
    raw_delete(middle)
    raw_update(last, previous_hash=first.signature_hash)
    relinked = Signature.objects.get(pk=last.pk)
    raw_update(relinked, signature_hash=payload_hash(_stored_payload(relinked)))

    assert not signature_verify(Signature.objects.get(pk=last.pk)).valid
    assert_command_fails_naming(3)


def test_a_deleted_last_signature_is_detected_by_the_chain_head(chain):
    raw_delete(chain[2])

    report = chain_verify()

    assert not report.valid and "#3" in report.problem
    with pytest.raises(CommandError, match="chain head"):
        call_command("verify_signatures")


def test_erasing_the_comments_keeps_the_chain_valid(world, chain):
    middle = chain[1]

    erased = signature_comments_erase(signature=middle, actor=world.customer)

    assert erased.comments == "" and erased.comments_erased_at is not None
    assert erased.comments_sha256 == sha256_hex("Good work")
    assert erased.booking.review.comments == ""
    assert signature_verify(erased).valid
    call_command("verify_signatures")


def test_erasing_the_signer_keeps_the_chain_valid(chain):
    """Account deletion: the typed name, IP address, user agent (not hashed) and the drawn image's
    bytes (hashed through their SHA-256, which stays) go; the chain still verifies."""
    middle = chain[1]
    raw_update(middle, signer_name="Zenobia Quixley", ip_address="203.0.113.77", user_agent="ZenobiaPhone/9.1")
    image_sha256 = middle.signature_image_sha256

    erased = Signature.objects.filter(pk=middle.pk).erase_signer(now=middle.signed_at + timedelta(days=9))

    assert erased == 1
    middle = Signature.objects.get(pk=middle.pk)
    assert (middle.signer_name, middle.ip_address, middle.user_agent, middle.signature_image) == ("", None, "", None)
    assert middle.signer_erased_at is not None and middle.signature_image_sha256 == image_sha256
    assert signature_verify(middle).valid
    call_command("verify_signatures")
    # erasing again changes nothing
    assert Signature.objects.filter(pk=middle.pk).erase_signer(now=middle.signed_at + timedelta(days=10)) == 0


ERASED_TAMPERING = {
    # another image put back on an erased signature is re-hashed and caught
    "image put back": lambda s: raw_update(s, signature_image=png_bytes(color=(0, 0, 200, 255))),
    # the snapshot's image hash still counts
    "image hash": lambda s: raw_update(s, signature_image_sha256="a" * 64),
    "rating": lambda s: raw_update(s, rating=1),
}


@pytest.mark.parametrize("what", ERASED_TAMPERING)
def test_tampering_with_an_erased_signature_is_still_detected(chain, what):
    middle = chain[1]
    Signature.objects.filter(pk=middle.pk).erase_signer(now=middle.signed_at)

    ERASED_TAMPERING[what](middle)

    result = signature_verify(Signature.objects.get(pk=middle.pk))
    assert not result.valid and result.computed != result.stored
    assert_command_fails_naming(2)


def test_signatures_are_append_only(chain):
    signature = chain[0]

    with pytest.raises(PermissionError):
        Signature.objects.filter(pk=signature.pk).update(rating=1)
    with pytest.raises(PermissionError):
        Signature.objects.filter(pk=signature.pk).delete()
    with pytest.raises(PermissionError):
        signature.save()
    with pytest.raises(PermissionError):
        signature.delete()


def test_the_command_reports_ok(chain, capsys):
    call_command("verify_signatures")

    assert "3 signature(s) verified" in capsys.readouterr().out
