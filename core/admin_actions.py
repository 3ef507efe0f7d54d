"""What the ops actions of every admin share: an admin whose change permission only unlocks
actions, the intermediate page of an action that needs input, and turning a service's refusal into
an admin message or form errors (never a 500).

An action calls exactly one service; the service checks the actor, locks, audits and notifies.
"""

from django.contrib import admin
from django.contrib.admin import helpers
from django.template.response import TemplateResponse
from django.utils.translation import gettext

from core.errors import ApplicationError, InvalidInput
from payments.gateways.errors import GatewayError
from payments.ledger import LedgerError

ACTION_FORM_TEMPLATE = "admin/ops_action_form.html"

# What an ops action may run into and show as a message: a refusal of the service, a gateway that
# did not answer, a posting the ledger refused.
SHOWN_ERRORS = (ApplicationError, GatewayError, LedgerError)


class OpsActionsAdmin(admin.ModelAdmin):
    """Listed and viewed with the view permission; the change permission only unlocks the ops
    actions (it is asked without an object): object pages stay views for everyone, so a POST to
    one is refused before anything is saved."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        if obj is not None:
            return False
        return super().has_change_permission(request)

    def has_delete_permission(self, request, obj=None):
        return False


def error_text(error) -> str:
    if isinstance(error, InvalidInput) and error.fields:
        return " ".join(str(message) for messages_ in error.fields.values() for message in messages_)
    if isinstance(error, ApplicationError):
        return str(error.message)
    if isinstance(error, GatewayError):
        return gettext("The payment gateway did not answer (%(error)s); try again later.") % {"error": error}
    return str(error)


def form_add_errors(form, error: InvalidInput) -> None:
    """Put a service's field errors on the action's form (unknown fields on the form itself)."""
    for field, field_messages in error.fields.items():
        for message in field_messages:
            form.add_error(field if field in form.fields else None, message)
    if not error.fields:
        form.add_error(None, error.message)


def action_form_page(modeladmin, request, queryset, *, form, title, intro, submit):
    """The intermediate page of an action that needs input: the selected rows, the form, and the
    hidden fields that bring the POST back to the same action."""
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "intro": intro,
        "submit": submit,
        "form": form,
        "queryset": queryset,
        "opts": modeladmin.model._meta,
        "action": request.POST.get("action", ""),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "select_across": request.POST.get("select_across", "0"),
        "media": modeladmin.media + form.media,
    }
    return TemplateResponse(request, ACTION_FORM_TEMPLATE, context)


def bound_if_applied(request, form_class, **kwargs):
    """The action's form: bound when its page was submitted (``apply``), unbound on the first
    arrival from the changelist."""
    return form_class(request.POST if "apply" in request.POST else None, **kwargs)
