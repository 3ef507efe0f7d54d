from django.urls import path

from payments.pages import views

app_name = "payments"

urlpatterns = [
    path("checkout/<uuid:booking_id>/", views.checkout, name="checkout"),
    path("vendor/earnings/", views.vendor_earnings, name="vendor-earnings"),
]
