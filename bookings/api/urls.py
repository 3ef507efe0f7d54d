from django.urls import path
from rest_framework.routers import DefaultRouter

from bookings.api import chat, views

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("services", views.ServiceViewSet, basename="service")
router.register("vendors", views.VendorViewSet, basename="vendor")
router.register("bookings", views.BookingViewSet, basename="booking")

# "vendors/me/..." must come before the router's "vendors/<pk>/".
urlpatterns = [
    path("vendors/me/services/", views.VendorServicesView.as_view(), name="vendor-me-services"),
    path("bookings/<uuid:pk>/messages/", chat.BookingMessagesView.as_view(), name="booking-messages"),
    path("bookings/<uuid:pk>/messages/read/", chat.BookingMessagesReadView.as_view(), name="booking-messages-read"),
    path("promo-codes/validate/", views.PromoValidateView.as_view(), name="promo-validate"),
]
router_urls = router.urls
