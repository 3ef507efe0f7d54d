"""The signature hash and the chain (ARCHITECTURE §7).

A signature's hash is the SHA-256 (hex) of the canonical JSON — keys sorted, no spaces, UTF-8,
non-ASCII kept as is — of exactly these fields::

    {"amount": "1060.99",                      # the booking total signed for, 2 decimals
     "booking_id": "<uuid>", "customer_id": "<uuid>", "vendor_id": "<uuid>",
     "comments_sha256": "<hex>",               # SHA-256 of the comments text (UTF-8), "" → hash of ""
     "photo_checksums": ["<hex>", …],          # the booking's photo SHA-256s, sorted
     "previous_hash": "<hex>",                 # the previous signature's hash; 64 zeros for the first
     "rating": 4,
     "signature_image_sha256": "<hex>" | null, # SHA-256 of the drawn PNG, null without one
     "signed_at": "2027-03-01T04:30:00.000000Z"}  # UTC, microseconds

The comments appear only as their hash, so the text can be erased for privacy without breaking
the chain; the drawn image likewise (``signer_erased_at``: the bytes are gone, their SHA-256 stays
in the snapshot). The signer's typed name, IP address and user agent are not hashed at all.
Verification recomputes the hash twice: from the signature's stored snapshot, and from the live
sources (the booking's total, customer and vendor; the comments text unless erased; the stored
image bytes unless erased — bytes that are present are always re-hashed; the booking's photos as
they are now). Both must equal the stored hash, and ``previous_hash`` must be the hash of the
signature just before it in the sequence (no gap), so an edited field, a swapped photo or image or
a deleted signature is detected. The chain head (``SignatureChain``) catches a deleted last one.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC

from django.db.models import Prefetch

from core.money import money
from signatures.models import GENESIS_HASH, Signature, SignatureChain


def sha256_hex(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def canonical_json(payload: dict) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def format_signed_at(value) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def signature_payload(
    *,
    booking_id,
    customer_id,
    vendor_id,
    amount,
    rating: int,
    comments_sha256: str,
    signed_at,
    photo_checksums,
    signature_image_sha256: str | None,
    previous_hash: str,
) -> dict:
    return {
        "booking_id": str(booking_id),
        "customer_id": str(customer_id),
        "vendor_id": str(vendor_id),
        "amount": f"{money(amount):.2f}",
        "rating": int(rating),
        "comments_sha256": comments_sha256,
        "signed_at": format_signed_at(signed_at),
        "photo_checksums": sorted(photo_checksums),
        "signature_image_sha256": signature_image_sha256 or None,
        "previous_hash": previous_hash,
    }


def payload_hash(payload: dict) -> str:
    return sha256_hex(canonical_json(payload))


def _stored_payload(signature: Signature) -> dict:
    return signature_payload(
        booking_id=signature.booking_id,
        customer_id=signature.customer_id,
        vendor_id=signature.vendor_id,
        amount=signature.amount,
        rating=signature.rating,
        comments_sha256=signature.comments_sha256,
        signed_at=signature.signed_at,
        photo_checksums=signature.photo_checksums,
        signature_image_sha256=signature.signature_image_sha256,
        previous_hash=signature.previous_hash,
    )


def _live_payload(signature: Signature, photo_checksums) -> dict:
    payload = _stored_payload(signature)
    # The booking the signature was for, as it is now: its price snapshot and its parties never
    # change after signing, so an edited total or a booking handed to another customer or vendor
    # shows here even when the signature row itself is untouched.
    booking = signature.booking
    payload["amount"] = f"{money(booking.total):.2f}"
    payload["customer_id"] = str(booking.customer_id)
    payload["vendor_id"] = str(booking.vendor_id)
    if signature.comments_erased_at is None:
        payload["comments_sha256"] = sha256_hex(signature.comments or "")
    image = signature.signature_image
    if image is not None:
        # Bytes that are there are always re-hashed: a swapped image is caught, erased or not.
        payload["signature_image_sha256"] = sha256_hex(bytes(image))
    elif signature.signer_erased_at is None:
        payload["signature_image_sha256"] = None
    # else: the bytes were erased for privacy (SignatureQuerySet.erase_signer); the snapshot's
    # SHA-256 stands for them, as comments_sha256 does for erased comments.
    payload["photo_checksums"] = sorted(photo_checksums)
    return payload


@dataclass(frozen=True)
class Verification:
    """``valid, stored, computed = signature_verify(signature)``; ``problem`` says what is wrong."""

    valid: bool
    stored: str
    computed: str
    problem: str = ""

    def __iter__(self):
        return iter((self.valid, self.stored, self.computed))


def check_signature(signature: Signature, *, photo_checksums, predecessor: Signature | None) -> Verification:
    """Check one signature against its own fields, its live sources and its predecessor (the
    signature with the next lower sequence, or None)."""
    stored = signature.signature_hash
    from_snapshot = payload_hash(_stored_payload(signature))
    from_sources = payload_hash(_live_payload(signature, photo_checksums))
    computed = from_sources if from_sources != stored else from_snapshot
    if from_snapshot != stored:
        return Verification(False, stored, from_snapshot, "a hashed field was changed")
    if from_sources != stored:
        return Verification(
            False, stored, from_sources, "the booking, comments, drawn signature or photos differ from what was signed"
        )
    if predecessor is None:
        if signature.sequence != 1 or signature.previous_hash != GENESIS_HASH:
            return Verification(False, stored, computed, "signatures before it are missing")
    elif predecessor.sequence != signature.sequence - 1:
        return Verification(
            False, stored, computed, f"signature #{signature.sequence - 1} (before it) is missing from the chain"
        )
    elif signature.previous_hash != predecessor.signature_hash:
        return Verification(False, stored, computed, "its previous hash is not the hash of the signature before it")
    return Verification(True, stored, computed)


def booking_photo_checksums(booking) -> list[str]:
    return sorted(booking.photos.values_list("sha256", flat=True))


def signature_verify(signature: Signature) -> Verification:
    """(valid, stored hash, computed hash) of one signature, including its link to the one
    before it: a deleted predecessor or an edited field makes it invalid."""
    predecessor = (
        Signature.objects.filter(sequence__lt=signature.sequence)
        .order_by("-sequence")
        .defer("signature_image", "comments")
        .first()
    )
    return check_signature(
        signature, photo_checksums=booking_photo_checksums(signature.booking), predecessor=predecessor
    )


@dataclass(frozen=True)
class ChainReport:
    checked: int
    first_broken: Signature | None = None
    problem: str = ""

    @property
    def valid(self) -> bool:
        return not self.problem


def chain_verify(*, chunk_size: int = 500) -> ChainReport:
    """Walk the whole chain in sequence order (in chunks, photos prefetched per chunk) and stop at
    the first broken link; then check the head against the last signature."""
    from bookings.models import BookingPhoto

    signatures = Signature.objects.order_by("sequence").prefetch_related(
        Prefetch("booking__photos", queryset=BookingPhoto.objects.only("id", "booking_id", "sha256"))
    )
    previous = None
    checked = 0
    for signature in signatures.iterator(chunk_size=chunk_size):
        result = check_signature(
            signature,
            photo_checksums=[photo.sha256 for photo in signature.booking.photos.all()],
            predecessor=previous,
        )
        checked += 1
        if not result.valid:
            return ChainReport(checked, signature, result.problem)
        previous = signature
    head = SignatureChain.objects.filter(pk=1).first()
    recorded = (head.last_sequence, head.last_hash) if head else (0, GENESIS_HASH)
    actual = (previous.sequence, previous.signature_hash) if previous else (0, GENESIS_HASH)
    if recorded != actual:
        return ChainReport(
            checked,
            previous,
            f"the chain head records #{recorded[0]} ({recorded[1][:12]}…) but the last signature is #{actual[0]} "
            f"({actual[1][:12]}…): signatures at the end are missing or were altered",
        )
    return ChainReport(checked)
