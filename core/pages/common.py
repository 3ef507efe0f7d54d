"""What every server-rendered page shares: role guards, and turning a service's error into what a
person sees — an inline form error, a message, or a 404 — so that no input ever answers 500.

Pages call the same services as the API (CONVENTIONS "thin edges"): a view validates a form,
calls one service, and renders or redirects."""

from functools import wraps

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils.translation import gettext as _

from core.errors import ApplicationError, Forbidden, InvalidInput, NotFound
from core.models import Role


def role_required(*roles):
    """Log in first (anonymous → the login page), then only these roles (others → 403)."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if request.user.role not in roles:
                raise PermissionDenied(_("This page is not for your account type."))
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


customer_required = role_required(Role.CUSTOMER)


def vendor_required(view):
    @wraps(view)
    @role_required(Role.VENDOR)
    def wrapped(request, *args, **kwargs):
        if getattr(request.user, "vendor_profile", None) is None:
            raise PermissionDenied(_("This account has no vendor profile."))
        return view(request, *args, **kwargs)

    return wrapped


def _flatten(messages_list):
    for message in messages_list:
        if isinstance(message, dict):
            yield from _flatten(message.values())
        elif isinstance(message, list | tuple):
            yield from _flatten(message)
        else:
            yield str(message)


def apply_service_error(form, error: ApplicationError, *, field_map=None) -> None:
    """Put a service's refusal on ``form``: an InvalidInput's fields on the matching form fields
    (``field_map`` renames service field names to form field names; unknown ones become errors
    of the whole form), anything else as an error of the whole form."""
    field_map = field_map or {}
    if isinstance(error, InvalidInput) and error.fields:
        for name, value in error.fields.items():
            target = field_map.get(name, name)
            if isinstance(value, dict):
                for sub, sub_value in value.items():
                    sub_target = field_map.get(sub, sub)
                    form.add_error(sub_target if sub_target in form.fields else None, list(_flatten([sub_value])))
                continue
            form.add_error(target if target in form.fields else None, list(_flatten([value])))
        return
    form.add_error(None, str(error.message))


def raise_for_page(error: ApplicationError):
    """NotFound → 404 and Forbidden → 403 (what the API answers too); anything else is the
    caller's to show."""
    if isinstance(error, NotFound):
        raise Http404(str(error.message))
    if isinstance(error, Forbidden):
        raise PermissionDenied(str(error.message))


def service_error_text(error: ApplicationError) -> str:
    """A service's refusal as one line of text (its field messages, or its message)."""
    if isinstance(error, InvalidInput) and error.fields:
        return " ".join(_flatten(list(error.fields.values())))
    return str(error.message)


def message_service_error(request, error: ApplicationError) -> None:
    """For actions without a form of their own (a button): 404/403 as such, anything else as an
    error message on the page the person is sent back to."""
    raise_for_page(error)
    messages.error(request, service_error_text(error))
