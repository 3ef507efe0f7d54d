from django.urls import path

from core.pages import account_views, views

app_name = "accounts"

urlpatterns = [
    path("login/", views.login_view, name="login"),
    path("login/code/", views.otp_login_view, name="otp-login"),
    path("logout/", views.logout_view, name="logout"),
    path("signup/", views.signup_view, name="signup"),
    path("notifications/", views.notifications_view, name="notifications"),
    path("vendor/apply/", views.vendor_apply_view, name="vendor-apply"),
    path("vendor/schedule/", views.vendor_schedule_view, name="vendor-schedule"),
    path("account/", account_views.account_view, name="account"),
    path("account/export/", account_views.account_export_view, name="account-export"),
    path("account/password-reset/", account_views.password_reset_request_view, name="password-reset"),
    # The links e-mailed by core/accounts.py.
    path(
        "account/reset/<str:uid>/<str:token>/", account_views.password_reset_confirm_view, name="password-reset-confirm"
    ),
    path("account/verify-email/<str:token>/", account_views.verify_email_view, name="verify-email"),
]
