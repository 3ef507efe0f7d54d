"""Login helpers: username-or-e-mail resolution and the lockout response (django-axes)."""

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils.translation import gettext as _

from core.models import User


def resolve_login_name(identifier: str) -> str:
    """Map what was typed (a username or an e-mail) to the account's username, so that the
    lockout counts per account however the person signs in."""
    identifier = (identifier or "").strip()
    if "@" in identifier:
        username = User.objects.filter(email__iexact=identifier).values_list("username", flat=True).first()
        if username:
            return username
    else:
        username = User.objects.filter(username__iexact=identifier).values_list("username", flat=True).first()
        if username:
            return username
    return identifier.lower()


def axes_username(request, credentials):
    raw = (credentials or {}).get("username")
    if raw is None and request is not None and request.method == "POST":
        raw = request.POST.get("username")
    return resolve_login_name(raw or "")


def lockout_seconds() -> int:
    return int(settings.AXES_COOLOFF_TIME.total_seconds())


def lockout_response(request, original_response=None, credentials=None):
    """429 with Retry-After: JSON for the API, a short page for the admin login."""
    retry_after = lockout_seconds()
    message = _("Too many failed sign-in attempts. Try again in %(minutes)d minutes.") % {"minutes": retry_after // 60}
    if request.path.startswith(("/api/", "/auth/")):
        response = JsonResponse({"detail": message}, status=429)
    else:
        response = HttpResponse(
            render_to_string("errors/locked_out.html", {"message": message}, request=request), status=429
        )
    response["Retry-After"] = str(retry_after)
    return response
