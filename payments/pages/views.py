"""Checkout and the vendor's earnings page. Thin: ``payment_confirm`` (payments/checkout.py) is
the one place a card is confirmed — the same call the API's confirm endpoint makes; the status
always comes from the gateway's answer."""

from django.conf import settings
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from bookings.models import Booking
from core.errors import ApplicationError
from core.pages.common import (
    apply_service_error,
    customer_required,
    raise_for_page,
    service_error_text,
    vendor_required,
)
from payments.checkout import GatewayDown, PaymentRefused, booking_awaits_card, checkout_start, payment_confirm
from payments.gateways.base import CardDetails
from payments.models import AttemptStatus
from payments.pages.forms import AuthenticationForm, CardForm
from payments.payouts import PERIODS, earnings_summary, payouts_visible_to

PAYOUTS_SHOWN = 50


def _customer_booking(request, booking_id):
    booking = Booking.objects.filter(pk=booking_id, customer=request.user).first()
    if booking is None:
        raise Http404
    return booking


@customer_required
def checkout(request, booking_id):
    booking = _customer_booking(request, booking_id)
    if not booking_awaits_card(booking):
        return redirect("bookings:booking-detail", booking_id=booking.pk)
    # checkout_start also prepares an attempt the gateway did not answer for at booking time
    # (idempotent): Stripe Elements needs the intent's client secret.
    attempt = checkout_start(booking=booking)
    if attempt is None:
        return redirect("bookings:booking-detail", booking_id=booking.pk)
    form = CardForm()
    payment_error = ""
    stripe = settings.PAYMENT_GATEWAY == "stripe"
    if request.method == "POST":
        card, authentication = None, None
        if "authentication" in request.POST:
            auth_form = AuthenticationForm(request.POST)
            if auth_form.is_valid():
                authentication = auth_form.cleaned_data["authentication"]
            else:
                form.add_error(None, _("Choose how the authentication went."))
        elif not stripe:
            form = CardForm(request.POST)
            if form.is_valid():
                data = form.cleaned_data
                card = CardDetails(
                    number=data["card_number"], exp_month=data["exp_month"], exp_year=data["exp_year"], cvc=data["cvc"]
                )
        if card or authentication or (stripe and not form.errors):
            try:
                attempt = payment_confirm(attempt=attempt, user=request.user, card=card, authentication=authentication)
            except PaymentRefused as refused:
                # A fresh form: the refused card's number is never echoed back into the page.
                form = CardForm()
                payment_error = str(refused.message)
                attempt = refused.attempt or attempt
            except ApplicationError as error:
                raise_for_page(error)
                if form.is_bound:
                    apply_service_error(form, error)
                else:  # Stripe Elements or the 3-D Secure step: no card form to put it on
                    payment_error = service_error_text(error)
            else:
                if attempt.status in (AttemptStatus.AUTHORIZED, AttemptStatus.CARD_SAVED):
                    messages.success(
                        request,
                        _("Payment confirmed for booking %(number)s. We are asking the vendor to accept it.")
                        % {"number": booking.booking_number},
                    )
                    return redirect("bookings:booking-detail", booking_id=booking.pk)
                if attempt.status == AttemptStatus.REQUIRES_ACTION:
                    return redirect("payments:checkout", booking_id=booking.pk)
    if stripe and not attempt.client_secret and not form.errors and not payment_error:
        # The gateway has not answered yet (at booking time or just now): no client secret for
        # Stripe Elements. Say so; the Pay button then posts, and the server prepares it again.
        payment_error = str(GatewayDown.default_message)
    context = {
        "booking": booking,
        "attempt": attempt,
        "form": form,
        "payment_error": payment_error,
        "needs_authentication": attempt.status == AttemptStatus.REQUIRES_ACTION,
        "stripe": stripe,
        "stripe_key": settings.STRIPE_PUBLISHABLE_KEY,
        "client_secret": attempt.client_secret if stripe else "",
    }
    return render(request, "payments/checkout.html", context)


@vendor_required
def vendor_earnings(request):
    vendor = request.user.vendor_profile
    period = request.GET.get("period") if request.GET.get("period") in PERIODS else "day"
    try:
        summary = earnings_summary(vendor=vendor, period=period)
    except ApplicationError as error:  # pragma: no cover - the period is checked above
        raise_for_page(error)
        raise
    payouts = list(payouts_visible_to(request.user)[:PAYOUTS_SHOWN])
    return render(
        request,
        "payments/earnings.html",
        {"summary": summary, "payouts": payouts, "period": period, "periods": PERIODS},
    )
