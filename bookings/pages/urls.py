from django.urls import path

from bookings.pages import chat, views

app_name = "bookings"

urlpatterns = [
    path("", views.home, name="home"),
    path("search/", views.search, name="search"),
    path("vendors/<uuid:vendor_id>/", views.vendor_profile, name="vendor-profile"),
    path("vendors/<uuid:vendor_id>/book/", views.book, name="book"),
    path("vendors/<uuid:vendor_id>/quote/", views.price_quote, name="price-quote"),
    path("bookings/", views.my_bookings, name="my-bookings"),
    path("bookings/<uuid:booking_id>/", views.booking_detail, name="booking-detail"),
    path("bookings/<uuid:booking_id>/cancel/", views.booking_cancel, name="booking-cancel"),
    path("bookings/<uuid:booking_id>/reschedule/", views.booking_reschedule, name="booking-reschedule"),
    path("bookings/<uuid:booking_id>/complain/", views.booking_complaint, name="booking-complain"),
    path("bookings/<uuid:booking_id>/chat/", chat.chat_post, name="chat-post"),
    path("vendor/", views.vendor_dashboard, name="vendor-dashboard"),
    path("vendor/jobs/<uuid:booking_id>/", views.vendor_job, name="vendor-job"),
    path("vendor/jobs/<uuid:booking_id>/photos/", views.vendor_job_photo, name="vendor-job-photo"),
    path("vendor/jobs/<uuid:booking_id>/<slug:action>/", views.vendor_job_action, name="vendor-job-action"),
]
