"""The operations admin site: who may enter, the dashboard on the index page, and the audit trail
of every ModelAdmin (ARCHITECTURE §3, §11).

``django.contrib.admin`` keeps making its default site (``admin.site``), which every app's admin
module, Django's own auth admin and the third-party admins (axes, the token blacklist) register
with. ``use_ops_admin_site`` turns that very instance into an ``OpsAdminSite`` — the instance and
its registry stay, only its behaviour becomes ours — and wraps what was registered before it in the
audit mixin; ``OpsAdminSite.register`` wraps everything registered after. Called once from
core/admin.py, the first app admin module autodiscovery imports. (A custom ``AdminConfig`` with
``default_site`` would do the same from INSTALLED_APPS.)
"""

from django.contrib import admin
from django.contrib.admin import ModelAdmin
from django.utils.translation import gettext_lazy as _

from core.admin_audit import AuditedAdminMixin
from core.models import STAFF_ROLES


def audited(admin_class):
    """``admin_class`` with the audit mixin in front (itself when it already has it)."""
    if issubclass(admin_class, AuditedAdminMixin):
        return admin_class
    return type(
        admin_class.__name__,
        (AuditedAdminMixin, admin_class),
        {"__module__": admin_class.__module__, "__qualname__": admin_class.__qualname__},
    )


class OpsAdminSite(admin.AdminSite):
    site_header = _("HomeServe operations")
    site_title = _("HomeServe")
    index_title = _("Operations")

    def has_permission(self, request):
        """Staff of a staff role only: a customer or vendor account never enters, even if someone
        set its ``is_staff`` flag by hand (they are sent to the login page)."""
        user = request.user
        return bool(
            user.is_active and user.is_staff and (user.is_superuser or getattr(user, "role", None) in STAFF_ROLES)
        )

    def register(self, model_or_iterable, admin_class=None, **options):
        super().register(model_or_iterable, audited(admin_class or ModelAdmin), **options)

    def index(self, request, extra_context=None):
        from core.admin_dashboard import index_panels

        return super().index(request, {**index_panels(request), **(extra_context or {})})


def use_ops_admin_site(site) -> None:
    """Make the default admin site an ``OpsAdminSite`` (module docstring). Idempotent."""
    site.__class__ = OpsAdminSite
    for model, model_admin in list(site._registry.items()):
        if not isinstance(model_admin, AuditedAdminMixin):
            site._registry[model] = audited(type(model_admin))(model, site)
