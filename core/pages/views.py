"""Auth, notifications and the vendor's own pages (application, schedule). Thin: each view
validates its form, calls one service (core.services, core.otp, core.notifications) and renders;
a service's refusal becomes an inline form error (core.pages.common)."""

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth import authenticate, login, logout
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from bookings.models import Service, VendorService
from bookings.services.catalog import vendor_service_set
from core import services
from core.auth import lockout_response, resolve_login_name
from core.errors import ApplicationError, PayloadTooLarge
from core.geo import pincode_coordinates
from core.models import OnboardingStatus, Role, VendorTimeOff
from core.notifications import notification_list, notification_mark_all_read, notification_mark_read
from core.otp import OTPThrottled, otp_send, otp_verify
from core.pages import forms as f
from core.pages.common import apply_service_error, message_service_error, vendor_required

NOTIFICATIONS_PER_PAGE = 25
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def landing_for(user) -> str:
    """Where a person lands after signing in."""
    if user.role == Role.VENDOR:
        vendor = getattr(user, "vendor_profile", None)
        if vendor is not None and vendor.onboarding_status != OnboardingStatus.APPROVED:
            return "accounts:vendor-apply"
        return "bookings:vendor-dashboard"
    if user.role == Role.CUSTOMER:
        return "bookings:my-bookings"
    return "admin:index"


def _next_or(request, fallback):
    target = request.POST.get("next") or request.GET.get("next")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect(fallback)


# --- sign in / out / up ---------------------------------------------------------------------------


def login_view(request):
    if request.user.is_authenticated and request.method == "GET":
        return redirect(landing_for(request.user))
    form = f.LoginForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        username = resolve_login_name(form.cleaned_data["username"])
        user = authenticate(request, username=username, password=form.cleaned_data["password"])
        if getattr(request, "axes_locked_out", False):
            return lockout_response(request)
        if user is None or not user.is_active:
            form.add_error(None, _("Wrong e-mail, username or password."))
        else:
            login(request, user)
            return _next_or(request, landing_for(user))
    return render(request, "accounts/login.html", {"form": form, "next": request.GET.get("next", "")})


@require_POST
def logout_view(request):
    logout(request)
    messages.success(request, _("You are logged out."))
    return redirect("bookings:home")


def signup_view(request):
    form = f.SignupForm(
        request.POST if request.method == "POST" else None, initial={"role": request.GET.get("role", Role.CUSTOMER)}
    )
    if request.method == "POST" and form.is_valid():
        try:
            user = services.user_register(**form.cleaned_data)
        except ApplicationError as error:
            apply_service_error(form, error)
        else:
            login(request, user, backend=MODEL_BACKEND)
            messages.success(request, _("Welcome to HomeServe, %(name)s.") % {"name": user.first_name or user.username})
            return redirect(landing_for(user))
    return render(request, "accounts/signup.html", {"form": form})


def otp_login_view(request):
    """Sign in with a code sent by SMS: step 1 the phone number, step 2 the code."""
    phone_form = f.OTPPhoneForm(request.POST if request.POST.get("step") == "send" else None)
    code_form = None
    if request.method == "POST" and request.POST.get("step") == "send" and phone_form.is_valid():
        phone = phone_form.cleaned_data["phone"]
        try:
            otp_send(phone=phone)
        except OTPThrottled as error:
            phone_form.add_error("phone", str(error.message))
        except ApplicationError as error:
            apply_service_error(phone_form, error)
        else:
            messages.success(request, _("We sent a code by text message. It is valid for 5 minutes."))
            code_form = f.OTPCodeForm(initial={"phone": phone})
    elif request.method == "POST" and request.POST.get("step") == "verify":
        code_form = f.OTPCodeForm(request.POST)
        if code_form.is_valid():
            try:
                result = otp_verify(phone=code_form.cleaned_data["phone"], code=code_form.cleaned_data["otp"])
            except OTPThrottled as error:
                code_form.add_error("otp", str(error.message))
            except ApplicationError as error:
                apply_service_error(code_form, error)
            else:
                if result.sign_in:
                    login(request, result.user, backend=MODEL_BACKEND)
                    return _next_or(request, landing_for(result.user))
                if result.user is None:
                    code_form.add_error(None, _("Your number is verified, but no account has it. Sign up first."))
                else:
                    code_form.add_error(None, _("Staff accounts sign in with their password."))
    return render(request, "accounts/otp_login.html", {"phone_form": phone_form, "code_form": code_form})


# --- notifications --------------------------------------------------------------------------------


def notifications_view(request):
    if not request.user.is_authenticated:
        from django.contrib.auth.views import redirect_to_login

        return redirect_to_login(request.get_full_path())
    if request.method == "POST":
        try:
            if request.POST.get("all"):
                notification_mark_all_read(user=request.user)
            else:
                notification_mark_read(user=request.user, notification_id=request.POST.get("id", "").strip() or 0)
        except (ApplicationError, ValueError) as error:
            if isinstance(error, ValueError):
                from django.http import Http404

                raise Http404 from None
            message_service_error(request, error)
        return redirect(request.get_full_path())
    page = Paginator(notification_list(user=request.user), NOTIFICATIONS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "accounts/notifications.html", {"page_obj": page})


# --- vendor: application --------------------------------------------------------------------------


def _profile_initial(vendor):
    pincodes = sorted(vendor.pincodes.values_list("pincode", flat=True))
    return {
        "display_name": vendor.display_name,
        "bio": vendor.bio,
        "experience_years": vendor.experience_years,
        "radius_km": vendor.radius_km,
        "pincodes": ", ".join(pincodes),
        "base_pincode": pincodes[0] if pincodes else "",
    }


@vendor_required
def vendor_apply_view(request):
    """The vendor's application: profile and area, services and prices, documents, phone
    verification, and where the application stands."""
    vendor = request.user.vendor_profile
    action = request.POST.get("action") if request.method == "POST" else None
    profile_form = f.VendorProfileForm(request.POST if action == "profile" else None, initial=_profile_initial(vendor))
    document_form = f.DocumentForm(
        request.POST if action == "document" else None, request.FILES if action == "document" else None
    )
    # The number checked is always the account's own, whatever the form says.
    code_data = request.POST.copy() if action == "verify" else None
    if code_data is not None:
        code_data["phone"] = request.user.phone
    code_form = f.OTPCodeForm(code_data, initial={"phone": request.user.phone})
    service_errors = {}

    if action == "profile" and profile_form.is_valid():
        data = dict(profile_form.cleaned_data)
        base = data.pop("base_pincode")
        changes = {key: data[key] for key in ("display_name", "bio", "experience_years", "radius_km")}
        coords = pincode_coordinates(base) if base else None
        if base and coords is None:
            profile_form.add_error(
                "base_pincode", _("We do not know this pincode yet; list it under the pincodes you serve.")
            )
        else:
            if coords:
                changes["base_lat"], changes["base_lng"] = coords
            pincodes = sorted(set(data["pincodes"]) | ({base} if base else set()))
            try:
                services.vendor_profile_update(vendor=vendor, actor=request.user, pincodes=pincodes, **changes)
            except ApplicationError as error:
                apply_service_error(profile_form, error)
            else:
                messages.success(request, _("Your profile is saved."))
                return redirect("accounts:vendor-apply")
    elif action == "services":
        offers = {o.service_id: o for o in VendorService.objects.filter(vendor=vendor)}
        price_field = f.ServicePriceField()
        for service in Service.objects.filter(is_active=True):
            raw = (request.POST.get(f"price_{service.pk}") or "").strip()
            current = offers.get(service.pk)
            if not raw and (current is None or not current.is_active):
                continue
            try:
                if not raw:
                    vendor_service_set(
                        vendor=vendor, service_id=service.pk, price=current.price, is_active=False, actor=request.user
                    )
                else:
                    try:
                        price = price_field.clean(raw)
                    except ValidationError as error:
                        service_errors[service.pk] = error.messages[0]
                        continue
                    vendor_service_set(
                        vendor=vendor, service_id=service.pk, price=price, is_active=True, actor=request.user
                    )
            except ApplicationError as error:
                service_errors[service.pk] = str(error.message)
        if not service_errors:
            messages.success(request, _("Your services and prices are saved."))
            return redirect("accounts:vendor-apply")
    elif action == "document" and document_form.is_valid():
        try:
            services.vendor_document_upload(vendor=vendor, actor=request.user, **document_form.cleaned_data)
        except PayloadTooLarge as error:
            document_form.add_error("file", str(error.message))
        except ApplicationError as error:
            apply_service_error(document_form, error)
        else:
            messages.success(request, _("The document is uploaded; our team will review it."))
            return redirect("accounts:vendor-apply")
    elif action == "send_code":
        if not request.user.phone:
            messages.error(request, _("Add your phone number first."))
        else:
            try:
                otp_send(phone=request.user.phone)
            except ApplicationError as error:
                message_service_error(request, error)
            else:
                messages.success(request, _("We sent a code to %(phone)s.") % {"phone": request.user.phone})
        return redirect("accounts:vendor-apply")
    elif action == "verify" and code_form.is_valid():
        try:
            otp_verify(phone=request.user.phone, code=code_form.cleaned_data["otp"])
        except OTPThrottled as error:
            code_form.add_error("otp", str(error.message))
        except ApplicationError as error:
            apply_service_error(code_form, error, field_map={"phone": "otp"})
        else:
            messages.success(request, _("Your phone number is verified."))
            return redirect("accounts:vendor-apply")

    offers = {o.service_id: o for o in VendorService.objects.filter(vendor=vendor)}
    service_rows = [
        {
            "service": service,
            "offer": offers.get(service.pk),
            "value": request.POST.get(f"price_{service.pk}", "")
            if action == "services"
            else (offers[service.pk].price if service.pk in offers and offers[service.pk].is_active else ""),
            "error": service_errors.get(service.pk),
        }
        for service in Service.objects.filter(is_active=True).select_related("category")
    ]
    context = {
        "vendor": vendor,
        "profile_form": profile_form,
        "document_form": document_form,
        "code_form": code_form,
        "service_rows": service_rows,
        "documents": vendor.documents.all(),
        "checklist": _application_checklist(vendor, offers),
    }
    return render(request, "vendor/apply.html", context)


def _application_checklist(vendor, offers):
    return [
        (_("Profile and service area"), bool(vendor.pincodes.exists() or vendor.base_lat is not None)),
        (_("At least one service with a price"), any(o.is_active for o in offers.values())),
        (_("Documents uploaded"), vendor.documents.exists()),
        (_("Phone number verified"), vendor.user.phone_verified),
        (_("Working hours set"), bool(vendor.working_hours)),
    ]


# --- vendor: schedule -----------------------------------------------------------------------------


@vendor_required
def vendor_schedule_view(request):
    vendor = request.user.vendor_profile
    action = request.POST.get("action") if request.method == "POST" else None
    hours_form = f.WorkingHoursForm(request.POST if action == "hours" else None, hours=vendor.working_hours)
    time_off_form = f.TimeOffForm(request.POST if action == "time_off" else None)
    if action == "hours" and hours_form.is_valid():
        try:
            services.vendor_profile_update(
                vendor=vendor, actor=request.user, working_hours=hours_form.cleaned_data["working_hours"]
            )
        except ApplicationError as error:
            apply_service_error(hours_form, error, field_map={"working_hours": None})
        else:
            messages.success(request, _("Your working hours are saved."))
            return redirect("accounts:vendor-schedule")
    elif action == "availability":
        available = request.POST.get("is_available") == "1"
        services.vendor_profile_update(vendor=vendor, actor=request.user, is_available=available)
        messages.success(
            request, _("You are taking new jobs.") if available else _("You are not taking new jobs for now.")
        )
        return redirect("accounts:vendor-schedule")
    elif action == "time_off" and time_off_form.is_valid():
        try:
            services.vendor_time_off_add(vendor=vendor, actor=request.user, **time_off_form.cleaned_data)
        except ApplicationError as error:  # already over, or more than a year ahead
            apply_service_error(time_off_form, error)
        else:
            messages.success(request, _("Time off added."))
            return redirect("accounts:vendor-schedule")
    elif action == "remove_time_off":
        time_off = (
            get_object_or_404(VendorTimeOff, pk=request.POST.get("id") or 0, vendor=vendor)
            if (request.POST.get("id", "").isdigit())
            else None
        )
        if time_off is None:
            from django.http import Http404

            raise Http404
        services.vendor_time_off_remove(time_off=time_off, actor=request.user)
        messages.success(request, _("Time off removed."))
        return redirect("accounts:vendor-schedule")
    time_off = vendor.time_off.filter(ends_at__gt=timezone.now() - timedelta(days=1))
    return render(
        request,
        "vendor/schedule.html",
        {"vendor": vendor, "hours_form": hours_form, "time_off_form": time_off_form, "time_off": time_off},
    )
