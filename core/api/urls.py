from django.urls import path

from core.api import views

auth_urlpatterns = [
    path("register/", views.RegisterView.as_view(), name="auth-register"),
    path("login/", views.LoginView.as_view(), name="auth-login"),
    path("refresh/", views.RefreshView.as_view(), name="auth-refresh"),
    path("logout/", views.LogoutView.as_view(), name="auth-logout"),
]

api_urlpatterns = [
    path("users/me/", views.MeView.as_view(), name="users-me"),
    path("vendors/me/", views.VendorMeView.as_view(), name="vendor-me"),
    path("vendors/me/documents/", views.VendorDocumentsView.as_view(), name="vendor-me-documents"),
    path("vendors/me/time-off/", views.VendorTimeOffView.as_view(), name="vendor-me-time-off"),
    path("vendors/me/time-off/<int:pk>/", views.VendorTimeOffDetailView.as_view(), name="vendor-me-time-off-detail"),
]
