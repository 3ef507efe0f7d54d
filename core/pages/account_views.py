"""Account pages: password reset by e-mail link, e-mail verification, and the customer's account
(profile, saved addresses, data export, deletion). Thin, on top of core.accounts,
core.addresses, core.privacy and core.services — the same functions the API calls."""

import json

from django.contrib import messages
from django.contrib.auth import logout
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _

from core import accounts, addresses, privacy, services
from core.errors import ApplicationError
from core.models import Role
from core.pages import account_forms as f
from core.pages.common import apply_service_error, message_service_error, role_required

account_required = role_required(Role.CUSTOMER, Role.VENDOR)


def password_reset_request_view(request):
    form = f.PasswordResetRequestForm(request.POST if request.method == "POST" else None)
    sent = False
    if request.method == "POST" and form.is_valid():
        accounts.password_reset_request(email=form.cleaned_data["email"])
        sent = True  # the same answer whether or not an account has the address
    return render(request, "accounts/password_reset.html", {"form": form, "sent": sent})


def password_reset_confirm_view(request, uid, token):
    user = accounts.password_reset_check(uid=uid, token=token)
    form = f.NewPasswordForm(request.POST if request.method == "POST" else None)
    if user is not None and request.method == "POST" and form.is_valid():
        try:
            accounts.password_reset_confirm(uid=uid, token=token, new_password=form.cleaned_data["new_password"])
        except ApplicationError as error:
            apply_service_error(form, error, field_map={"token": None})
        else:
            messages.success(request, _("Your password is changed. Log in with it now."))
            return redirect("accounts:login")
    return render(request, "accounts/password_reset_confirm.html", {"form": form, "link_ok": user is not None})


def verify_email_view(request, token):
    try:
        accounts.email_verify(token=token)
    except ApplicationError as error:
        message = " ".join(str(m) for m in getattr(error, "fields", {}).get("token", [error.message]))
        return render(request, "accounts/verify_email.html", {"ok": False, "message": message}, status=400)
    return render(request, "accounts/verify_email.html", {"ok": True})


@account_required
def account_view(request):
    user = request.user
    action = request.POST.get("action") if request.method == "POST" else None
    profile_form = f.ProfileForm(
        request.POST if action == "profile" else None,
        initial={
            k: getattr(user, k) for k in ("first_name", "last_name", "email", "phone", "notify_sms", "notify_email")
        },
    )
    address_form = f.AddressForm(request.POST if action == "address" else None)
    delete_form = f.DeleteAccountForm(request.POST if action == "delete" else None)
    if action == "profile" and profile_form.is_valid():
        try:
            services.user_update(user=user, actor=user, **profile_form.cleaned_data)
        except ApplicationError as error:
            apply_service_error(profile_form, error)
        else:
            messages.success(request, _("Your details are saved."))
            return redirect("accounts:account")
    elif action == "address" and address_form.is_valid():
        try:
            addresses.address_create(user=user, **address_form.cleaned_data)
        except ApplicationError as error:
            apply_service_error(address_form, error)
        else:
            messages.success(request, _("The address is saved."))
            return redirect("accounts:account")
    elif action in ("address_delete", "address_default"):
        try:
            if action == "address_delete":
                addresses.address_delete(user=user, address_id=request.POST.get("id"))
            else:
                addresses.address_update(user=user, address_id=request.POST.get("id"), is_default=True)
        except ApplicationError as error:
            message_service_error(request, error)
        return redirect("accounts:account")
    elif action == "verify_email":
        if accounts.email_verification_send(user=user):
            messages.success(request, _("We sent a link to %(email)s.") % {"email": user.email})
        return redirect("accounts:account")
    elif action == "delete" and delete_form.is_valid():
        try:
            privacy.account_delete(user=user, password=delete_form.cleaned_data["password"])
        except ApplicationError as error:
            reasons = error.extra.get("reasons") if hasattr(error, "extra") else None
            apply_service_error(delete_form, error)
            if reasons:
                delete_form.errors.pop("__all__", None)
                for reason in reasons:
                    delete_form.add_error(None, reason)
        else:
            logout(request)
            messages.success(request, _("Your account is deleted."))
            return redirect("bookings:home")
    context = {
        "profile_form": profile_form,
        "address_form": address_form,
        "delete_form": delete_form,
        "addresses": addresses.address_list(user=user),
    }
    return render(request, "accounts/account.html", context)


@account_required
def account_export_view(request):
    data = privacy.user_data_export(user=request.user)
    response = HttpResponse(json.dumps(data, cls=DjangoJSONEncoder, indent=2), content_type="application/json")
    stamp = timezone.localdate().isoformat()
    response["Content-Disposition"] = f'attachment; filename="homeserve-data-{stamp}.json"'
    return response
