"""The signature vault in the admin: requests, signatures, the chain head and reviews are listed
and viewed, never added, changed or deleted here (signatures are append-only anyway). Ops act
through the services: on reviews, "Hide…" with a reason (``review_hide``) and "Erase the comments"
for privacy (``signature_comments_erase``: the text goes from the signature and the review, the
chain stays valid); new signature requests, manual capture and dispute resolution are actions of
the booking admin."""

from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from core.admin import ViewOnlyAdmin
from core.admin_actions import (
    SHOWN_ERRORS,
    OpsActionsAdmin,
    action_form_page,
    bound_if_applied,
    error_text,
)
from signatures.models import Review, Signature, SignatureChain, SignatureRequest
from signatures.services import review_hide, signature_comments_erase


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


class HideReviewForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=500, widget=forms.Textarea(attrs={"rows": 3}))


@admin.register(Review)
class ReviewAdmin(OpsActionsAdmin):
    list_display = ["vendor", "booking", "rating", "is_hidden", "created_at"]
    list_filter = ["is_hidden", "rating"]
    search_fields = ["booking__booking_number", "vendor__display_name"]
    list_select_related = ["vendor", "booking"]
    actions = ["hide_reviews", "erase_comments"]

    @admin.action(description=_("Hide from the vendor's page…"), permissions=["change"])
    def hide_reviews(self, request, queryset):
        form = bound_if_applied(request, HideReviewForm)
        if not (form.is_bound and form.is_valid()):
            return action_form_page(
                self,
                request,
                queryset,
                form=form,
                title=gettext("Hide reviews"),
                intro=gettext(
                    "A hidden review's text leaves the vendor's page; its rating still counts in the average "
                    "(it is part of a signed record)."
                ),
                submit=gettext("Hide"),
            )
        hidden = 0
        for review in queryset.select_related("booking"):
            try:
                review_hide(review=review, actor=request.user, reason=form.cleaned_data["reason"])
            except SHOWN_ERRORS as error:
                self.message_user(request, f"{review.booking.booking_number}: {error_text(error)}", messages.ERROR)
            else:
                hidden += 1
        self.message_user(request, ngettext("%d review hidden.", "%d reviews hidden.", hidden) % hidden)
        return None

    @admin.action(description=_("Erase the comments (privacy)"), permissions=["change"])
    def erase_comments(self, request, queryset):
        erased = 0
        signatures = Signature.objects.filter(booking__in=queryset.values("booking")).defer("signature_image")
        for signature in signatures:
            try:
                signature_comments_erase(signature=signature, actor=request.user)
            except SHOWN_ERRORS as error:
                self.message_user(request, error_text(error), messages.ERROR)
            else:
                erased += 1
        self.message_user(
            request, ngettext("Comments of %d review erased.", "Comments of %d reviews erased.", erased) % erased
        )
