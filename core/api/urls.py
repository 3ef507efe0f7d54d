from django.urls import path

from core.api import accounts, addresses, audit, contact, notifications, otp, privacy, views

auth_urlpatterns = [
    path("register/", views.RegisterView.as_view(), name="auth-register"),
    path("login/", views.LoginView.as_view(), name="auth-login"),
    path("refresh/", views.RefreshView.as_view(), name="auth-refresh"),
    path("logout/", views.LogoutView.as_view(), name="auth-logout"),
    path("send-otp/", otp.SendOTPView.as_view(), name="auth-send-otp"),
    path("verify-otp/", otp.VerifyOTPView.as_view(), name="auth-verify-otp"),
    path("password-reset/", accounts.PasswordResetView.as_view(), name="auth-password-reset"),
    path("password-reset/confirm/", accounts.PasswordResetConfirmView.as_view(), name="auth-password-reset-confirm"),
    path("verify-email/", accounts.VerifyEmailView.as_view(), name="auth-verify-email"),
    path("verify-email/resend/", accounts.VerifyEmailResendView.as_view(), name="auth-verify-email-resend"),
]

api_urlpatterns = [
    path("users/me/", views.MeView.as_view(), name="users-me"),
    path("users/me/export/", privacy.DataExportView.as_view(), name="users-me-export"),
    path("users/me/addresses/", addresses.AddressListView.as_view(), name="users-me-addresses"),
    path("users/me/addresses/<int:pk>/", addresses.AddressDetailView.as_view(), name="users-me-address"),
    path("contact/", contact.ContactView.as_view(), name="contact"),
    path("audit-logs/", audit.AuditLogListView.as_view(), name="audit-logs"),
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
