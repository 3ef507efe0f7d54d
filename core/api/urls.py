from django.urls import path

from core.api import notifications, otp, views

auth_urlpatterns = [
    path("register/", views.RegisterView.as_view(), name="auth-register"),
    path("login/", views.LoginView.as_view(), name="auth-login"),
    path("refresh/", views.RefreshView.as_view(), name="auth-refresh"),
    path("logout/", views.LogoutView.as_view(), name="auth-logout"),
    path("send-otp/", otp.SendOTPView.as_view(), name="auth-send-otp"),
    path("verify-otp/", otp.VerifyOTPView.as_view(), name="auth-verify-otp"),
]

api_urlpatterns = [
    path("users/me/", views.MeView.as_view(), name="users-me"),
    path("notifications/", notifications.NotificationListView.as_view(), name="notifications"),
    path(
        "notifications/unread-count/",
        notifications.NotificationUnreadCountView.as_view(),
        name="notifications-unread-count",
    ),
    path("notifications/read-all/", notifications.NotificationReadAllView.as_view(), name="notifications-read-all"),
    path("notifications/<int:pk>/read/", notifications.NotificationReadView.as_view(), name="notification-read"),
    path("vendors/me/", views.VendorMeView.as_view(), name="vendor-me"),
    path("vendors/me/documents/", views.VendorDocumentsView.as_view(), name="vendor-me-documents"),
    path("vendors/me/time-off/", views.VendorTimeOffView.as_view(), name="vendor-me-time-off"),
    path("vendors/me/time-off/<int:pk>/", views.VendorTimeOffDetailView.as_view(), name="vendor-me-time-off-detail"),
]
