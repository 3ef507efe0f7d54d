from django.urls import path, re_path

from signatures.pages import views

app_name = "signing"

LINK_KEY = r"(?P<token>[A-Za-z0-9_-]{1,200})"

urlpatterns = [
    # The link in the SMS/e-mail is /sign/<token> (signatures.tokens.signing_path); a trailing
    # slash is accepted too.
    re_path(rf"^sign/{LINK_KEY}/?$", views.sign_by_token, name="sign"),
    path("sign/<str:token>/photos/<uuid:photo_id>/", views.sign_photo, name="sign-photo"),
    path("bookings/<uuid:booking_id>/sign/", views.sign_booking, name="sign-booking"),
]
