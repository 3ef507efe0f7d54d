from django.urls import path

from bookings.consumers import BookingConsumer, VendorJobsConsumer
from core.consumers import NotificationConsumer

websocket_urlpatterns = [
    path("ws/bookings/<str:booking_id>/", BookingConsumer.as_asgi()),
    path("ws/notifications/", NotificationConsumer.as_asgi()),
    path("ws/vendor/jobs/", VendorJobsConsumer.as_asgi()),
]
