"""``/api/signatures/`` (ARCHITECTURE §10), included from marketplace/urls.py."""

from rest_framework.routers import DefaultRouter

from signatures.api.views import SignatureViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("signatures", SignatureViewSet, basename="signature")

urlpatterns = router.urls
