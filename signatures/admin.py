"""A minimal read-only admin for the signature vault (the full ops admin comes later): requests,
signatures, the chain head and reviews are listed and viewed, never added, changed or deleted here
(signatures are append-only anyway). Ops act through the services: new requests, manual capture,
dispute resolution, hiding a review."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from core.admin import ViewOnlyAdmin
from signatures.models import Review, Signature, SignatureChain, SignatureRequest


@admin.register(SignatureRequest)
class SignatureRequestAdmin(ViewOnlyAdmin):
    list_display = ["booking", "status", "created_at", "expires_at", "reminder_sent_at", "closed_at"]
    list_filter = ["status"]
    search_fields = ["booking__booking_number"]
    list_select_related = ["booking"]
    exclude = ["token_hash", "token_nonce"]
    date_hierarchy = "created_at"


@admin.register(Signature)
class SignatureAdmin(ViewOnlyAdmin):
    list_display = ["sequence", "booking", "rating", "amount", "currency", "signed_at", "short_hash"]
    search_fields = ["booking__booking_number", "signature_hash"]
    list_select_related = ["booking"]
    exclude = ["signature_image"]
    ordering = ["-sequence"]

    @admin.display(description=_("hash"))
    def short_hash(self, signature):
        return signature.signature_hash[:16] + "…"

    def get_queryset(self, request):
        return super().get_queryset(request).defer("signature_image")


@admin.register(SignatureChain)
class SignatureChainAdmin(ViewOnlyAdmin):
    list_display = ["last_sequence", "last_hash", "updated_at"]


@admin.register(Review)
class ReviewAdmin(ViewOnlyAdmin):
    list_display = ["vendor", "booking", "rating", "is_hidden", "created_at"]
    list_filter = ["is_hidden", "rating"]
    search_fields = ["booking__booking_number", "vendor__display_name"]
    list_select_related = ["vendor", "booking"]
