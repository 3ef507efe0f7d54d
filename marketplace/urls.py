from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from bookings.api.urls import router_urls
from bookings.api.urls import urlpatterns as booking_api_urls
from core.api.urls import api_urlpatterns, auth_urlpatterns
from core.health import PingView, healthz
from payments.api.urls import urlpatterns as payment_api_urls
from payments.api.webhook import payment_webhook

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("api/ping/", PingView.as_view(), name="ping"),
    path("admin/", admin.site.urls),
    path("auth/", include(auth_urlpatterns)),
    path("api/payments/webhook/", payment_webhook, name="payment-webhook"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("api/", include(api_urlpatterns)),
    path("api/", include(booking_api_urls)),
    path("api/", include(payment_api_urls)),
    path("api/", include("signatures.api.urls")),
    path("api/", include(router_urls)),
    # Server-rendered pages (issue 7): customer, vendor, auth, checkout, signing.
    path("", include("core.pages.urls")),
    path("", include("payments.pages.urls")),
    path("", include("signatures.pages.urls")),
    path("", include("bookings.pages.urls")),
]

# JSON under /api/ and /auth/ (§10), Django's pages elsewhere.
handler400 = "core.api.errors.bad_request"
handler403 = "core.api.errors.permission_denied"
handler404 = "core.api.errors.page_not_found"
handler500 = "core.api.errors.server_error"

admin.site.site_header = "HomeServe operations"
admin.site.site_title = "HomeServe"

if settings.DEBUG:
    from django.urls import re_path
    from django.views.static import serve

    # Only public media (none yet) would be served here; vendor documents and job photos are
    # never linked (photos are served by the API after a permission check).
    urlpatterns += [
        re_path(
            r"^media/(?P<path>(?!vendor-documents/|booking-photos/).*)$",
            serve,
            {"document_root": settings.MEDIA_ROOT},
        )
    ]
