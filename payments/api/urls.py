"""Payment endpoints (ARCHITECTURE §10): payments (views.py), earnings and payouts (earnings.py).
The webhook is routed in marketplace/urls.py, ahead of everything else."""

from django.urls import path

from payments.api import earnings, views

urlpatterns = [
    path("payments/", views.PaymentListView.as_view(), name="payment-list"),
    path("payments/<str:pk>/", views.PaymentDetailView.as_view(), name="payment-detail"),
    path("payments/<str:pk>/confirm/", views.PaymentConfirmView.as_view(), name="payment-confirm"),
    path("payments/<str:pk>/refund/", views.PaymentRefundView.as_view(), name="payment-refund"),
    path("earnings/", earnings.EarningsView.as_view(), name="earnings"),
    path("payouts/", earnings.PayoutListView.as_view(), name="payout-list"),
]
