"""The signature vault in the admin: requests, signatures, the chain head and reviews are listed
and viewed, never added, changed or deleted here (signatures are append-only anyway). Ops act
through the services: on reviews, "Hide…" with a reason (``review_hide``) and "Erase the comments"
for privacy (``signature_comments_erase``: the text goes from the signature and the review, the
chain stays valid); new signature requests, manual capture and dispute resolution are actions of
the booking admin.

Verification (signatures/hashing.py, the code behind ``manage.py verify_signatures``): each
signature row has a "verify" link (and "Verify" is an action for the rows ticked), the signature's
page shows its result, and "Check the whole chain" on the changelist walks the chain and reports OK
or the first broken link. Reading and verifying need only the view permission (ops, super admins).
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
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
from core.admin_audit import admin_audit
from signatures.hashing import chain_verify, signature_verify
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


def chain_report_text(report) -> str:
    """What ``manage.py verify_signatures`` says, for an admin message."""
    if report.valid:
        return gettext("Signature chain OK: %(count)d signature(s) verified.") % {"count": report.checked}
    broken = report.first_broken
    where = (
        gettext("signature #%(sequence)s (booking %(number)s)")
        % {"sequence": broken.sequence, "number": broken.booking.booking_number}
        if broken is not None
        else gettext("the chain head")
    )
    return gettext("Signature chain broken at %(where)s: %(problem)s") % {"where": where, "problem": report.problem}


@admin.register(Signature)
class SignatureAdmin(ViewOnlyAdmin):
    list_display = [
        "sequence",
        "booking",
        "vendor",
        "rating",
        "amount",
        "currency",
        "signed_at",
        "comments_erased_at",
        "short_hash",
        "verify_link",
    ]
    list_filter = ["rating", "signed_via"]
    search_fields = ["booking__booking_number", "=signature_hash", "vendor__display_name"]
    list_select_related = ["booking", "vendor"]
    date_hierarchy = "signed_at"
    exclude = ["signature_image"]
    readonly_fields = ["verification"]
    ordering = ["-sequence"]
    actions = ["verify_signatures"]

    @admin.display(description=_("hash"))
    def short_hash(self, signature):
        return signature.signature_hash[:16] + "…"

    @admin.display(description=_("verify"))
    def verify_link(self, signature):
        url = reverse("admin:signatures_signature_verify", args=[signature.pk])
        return format_html('<a href="{}" class="ops-verify">{}</a>', url, gettext("Verify"))

    @admin.display(description=_("verification"))
    def verification(self, signature):
        if signature is None or signature.pk is None:
            return "—"
        result = signature_verify(signature)
        if result.valid:
            return gettext("Valid: the stored hash matches the recomputed one and its link to the previous signature.")
        return gettext("BROKEN: %(problem)s (stored %(stored)s…, computed %(computed)s…)") % {
            "problem": result.problem,
            "stored": result.stored[:16],
            "computed": result.computed[:16],
        }

    def get_queryset(self, request):
        return super().get_queryset(request).defer("signature_image", "comments")

    def get_urls(self):
        return [
            path("check-chain/", self.admin_site.admin_view(self.chain_view), name="signatures_signature_chain"),
            path(
                "<path:object_id>/verify/",
                self.admin_site.admin_view(self.verify_view),
                name="signatures_signature_verify",
            ),
            *super().get_urls(),
        ]

    def verify_view(self, request, object_id):
        """One signature's verification, with both hashes and what is wrong if anything."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        signature = self.get_object(request, unquote(object_id))
        if signature is None:
            raise Http404(gettext("No such signature."))
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Verify signature #%(sequence)s") % {"sequence": signature.sequence},
            "opts": self.model._meta,
            "original": signature,
            "result": signature_verify(signature),
        }
        return TemplateResponse(request, "admin/signatures/signature/verify.html", context)

    def chain_view(self, request):
        """Walk the whole chain (POST from the changelist's button) and report OK or the first
        broken link."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        changelist = reverse("admin:signatures_signature_changelist")
        if request.method != "POST":
            return HttpResponseRedirect(changelist)
        report = chain_verify()
        admin_audit(
            request,
            action="admin.signature_chain_check",
            object_type=self.model._meta.label_lower,
            object_id=report.first_broken.pk if report.first_broken is not None else "",
            new={"valid": report.valid, "checked": report.checked, "problem": report.problem},
        )
        self.message_user(request, chain_report_text(report), messages.SUCCESS if report.valid else messages.ERROR)
        return HttpResponseRedirect(changelist)

    @admin.action(description=_("Verify"), permissions=["view"])
    def verify_signatures(self, request, queryset):
        broken = 0
        for signature in queryset.select_related("booking").order_by("sequence"):
            result = signature_verify(signature)
            if not result.valid:
                broken += 1
                self.message_user(
                    request,
                    gettext("#%(sequence)s (%(number)s) is broken: %(problem)s")
                    % {
                        "sequence": signature.sequence,
                        "number": signature.booking.booking_number,
                        "problem": result.problem,
                    },
                    messages.ERROR,
                )
        checked = queryset.count()
        if not broken:
            self.message_user(
                request,
                ngettext("%d signature verified: valid.", "%d signatures verified: all valid.", checked) % checked,
                messages.SUCCESS,
            )


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
