"""Signature requests, signatures (a hash chain), reviews (ARCHITECTURE §5, §7).

- ``SignatureRequest``: what the vendor (or the 2-hour sweep, or ops) sends the customer after a
  job. At most one *open* request per booking (a partial unique constraint). Its link carries a
  token; the table keeps only the token's SHA-256 (see ``signatures/tokens.py``).
- ``Signature``: what the customer signed. Append-only like ``core.models.AuditLog``: rows are
  inserted, never updated or deleted — except two privacy erasures that keep the chain valid:
  the comments *text* (``SignatureQuerySet.erase_comments``: the hash covers the comments' own
  SHA-256, not the text), and what identifies the signer (``erase_signer``: the typed name, the
  IP address and user agent — none of them hashed — and the drawn image's bytes, whose SHA-256
  stays in the hashed snapshot; ``signer_erased_at`` tells verification the bytes are gone on
  purpose). ``sequence`` and ``previous_hash`` make the chain; the
  ``SignatureChain`` row is its head (locked while a signature is added, so two signings never take
  the same previous hash).
- ``Review``: the rating and comments as the vendor's public review; ops may hide it.
"""

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.models import MONEY_DIGITS, MONEY_PLACES

# The "previous hash" of the first signature in the chain.
GENESIS_HASH = "0" * 64


class SignatureRequestStatus(models.TextChoices):
    OPEN = "open", _("Waiting for the customer")
    SIGNED = "signed", _("Signed")
    EXPIRED = "expired", _("Expired")
    # Superseded: the booking left awaiting_signature another way (ops captured or cancelled it)
    # before the customer signed.
    CANCELLED = "cancelled", _("Cancelled")


class SignatureRequest(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No index of its own: ("booking", "-created_at") below serves every lookup by booking, and
    # each index is one more write per row when the expiry sweep updates 100,000 of them at once.
    booking = models.ForeignKey(
        "bookings.Booking", on_delete=models.PROTECT, related_name="signature_requests", db_index=False
    )
    # SHA-256 (hex) of the link's token; the token itself is never stored here (signatures/tokens.py).
    # Unique as a constraint rather than ``unique=True``: on PostgreSQL the latter adds a second,
    # pattern-matching (LIKE) index, and a hash is only ever looked up whole.
    token_hash = models.CharField(max_length=64)
    # Random per request; with SECRET_KEY it derives the token, so a reminder can carry the link again.
    token_nonce = models.CharField(max_length=64)
    status = models.CharField(
        max_length=10, choices=SignatureRequestStatus.choices, default=SignatureRequestStatus.OPEN
    )
    # Null: made by the system (the automatic request 2 h after completion).
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    # The 24-hours-before-expiry reminder went out (once).
    reminder_sent_at = models.DateTimeField(null=True, blank=True)
    # When it was signed, expired or cancelled.
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # Only open requests are ever looked up by deadline (the expiry and reminder sweeps).
            # Partial, so a request leaving "open" is not written into it again: the expiry
            # sweep's update of 100,000 rows skips this index and the one-open-per-booking one.
            models.Index(fields=["expires_at"], condition=models.Q(status="open"), name="signature_request_open_due"),
            models.Index(fields=["booking", "-created_at"]),
        ]
        constraints = [
            models.UniqueConstraint(fields=["token_hash"], name="signature_request_token_hash_unique"),
            models.UniqueConstraint(
                fields=["booking"],
                condition=models.Q(status="open"),
                name="signature_request_one_open_per_booking",
            ),
            models.CheckConstraint(
                condition=models.Q(expires_at__gt=models.F("created_at")), name="signature_request_expires_after"
            ),
        ]

    def __str__(self):
        return f"{self.booking_id} ({self.status})"


class SignatureQuerySet(models.QuerySet):
    """Append-only: no update, no delete — only the privacy erasure of the comments text."""

    def update(self, **kwargs):
        raise PermissionError("Signatures are append-only.")

    def delete(self):
        raise PermissionError("Signatures are append-only.")

    def erase_comments(self, *, now):
        """Blank the comments text (the SHA-256 in the hash stays, so the chain stays valid)."""
        return models.QuerySet.update(self, comments="", comments_erased_at=now)

    def erase_signer(self, *, now):
        """Erase what identifies the signer (account deletion): the typed name, the IP address and
        user agent (none of them is hashed) and the drawn image's bytes. The image's SHA-256 stays
        in the row and in the hash, so the chain stays valid and the snapshot still proves which
        image was signed; ``signer_erased_at`` lets verification accept the missing bytes (an image
        that is present is always re-hashed, so a swapped one is still caught)."""
        return models.QuerySet.update(
            self.filter(signer_erased_at__isnull=True),
            signer_name="",
            ip_address=None,
            user_agent="",
            signature_image=None,
            signer_erased_at=now,
        )


class Signature(models.Model):
    """What the customer signed, with the SHA-256 of the canonical JSON of §7 (signatures/hashing.py)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Position in the chain: 1, 2, 3 … with no gaps (a gap is a deleted signature).
    sequence = models.PositiveBigIntegerField(unique=True)
    request = models.OneToOneField(SignatureRequest, on_delete=models.PROTECT, related_name="signature")
    booking = models.OneToOneField("bookings.Booking", on_delete=models.PROTECT, related_name="signature")
    # Snapshots of what was signed (all in the hash except currency, signer_name and how it was signed).
    customer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    vendor = models.ForeignKey("core.VendorProfile", on_delete=models.PROTECT, related_name="+")
    amount = models.DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES)
    currency = models.CharField(max_length=3)
    rating = models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(5)])
    comments = models.TextField(max_length=1000, blank=True)
    comments_sha256 = models.CharField(max_length=64)
    comments_erased_at = models.DateTimeField(null=True, blank=True)
    signer_name = models.CharField(max_length=120, blank=True)
    # The drawn signature as the customer's PNG bytes (≤ 1 MB, decoded and checked before storing).
    signature_image = models.BinaryField(null=True, blank=True)
    signature_image_sha256 = models.CharField(max_length=64, blank=True)
    photo_checksums = models.JSONField(default=list, blank=True)
    signed_at = models.DateTimeField()
    previous_hash = models.CharField(max_length=64)
    signature_hash = models.CharField(max_length=64, unique=True)
    # How the signer proved who they were: "session" (logged in) or "token" (the link).
    signed_via = models.CharField(max_length=10)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    # When signer_name, ip_address, user_agent and the image bytes were erased (erase_signer).
    signer_erased_at = models.DateTimeField(null=True, blank=True)

    objects = SignatureQuerySet.as_manager()

    class Meta:
        ordering = ["sequence"]
        constraints = [
            models.CheckConstraint(condition=models.Q(rating__gte=1, rating__lte=5), name="signature_rating_1_to_5"),
            models.CheckConstraint(condition=models.Q(amount__gte=0), name="signature_amount_gte_0"),
        ]

    def __str__(self):
        return f"#{self.sequence} {self.signature_hash[:12]}"

    def save(self, *args, **kwargs):
        # An integrity guard (as on AuditLog), not business logic.
        if not self._state.adding:
            raise PermissionError("Signatures are append-only.")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("Signatures are append-only.")


class SignatureChain(models.Model):
    """The head of the signature chain: one row (id 1), locked by every signing while it appends,
    so signatures get consecutive sequences and each previous hash is taken once. It also lets
    verification notice a deleted *last* signature."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    last_sequence = models.PositiveBigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default=GENESIS_HASH)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="signature_chain_singleton")]

    def __str__(self):
        return f"#{self.last_sequence} {self.last_hash[:12]}"


class Review(models.Model):
    """A customer's rating of a job, shown on the vendor's page unless ops hid it. Every review's
    rating counts in the vendor's average, hidden or not: hiding is for abusive *text*, and the
    rating is part of a signed record."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    vendor = models.ForeignKey("core.VendorProfile", on_delete=models.PROTECT, related_name="reviews")
    booking = models.OneToOneField("bookings.Booking", on_delete=models.PROTECT, related_name="review")
    customer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    rating = models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(5)])
    comments = models.TextField(max_length=1000, blank=True)
    is_hidden = models.BooleanField(default=False)
    hidden_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    hidden_reason = models.CharField(max_length=500, blank=True)
    hidden_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["vendor", "is_hidden", "-created_at"])]
        constraints = [
            models.CheckConstraint(condition=models.Q(rating__gte=1, rating__lte=5), name="review_rating_1_to_5")
        ]

    def __str__(self):
        return f"{self.vendor_id} {self.rating}/5"
