"""The signing page (ARCHITECTURE §7): reached from the SMS/e-mail link ``/sign/<token>`` by
anyone holding it, or from the booking page by the customer logged in. Both post to the same
service as the API, ``signature_sign``; a service refusal shows inline (bad input), or as the
page's state (already signed, expired)."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _

from bookings.api.photos import photo_file_response
from bookings.models import Booking, BookingPhoto
from core.errors import ApplicationError, Conflict, Gone
from core.pages.common import apply_service_error, customer_required, raise_for_page
from signatures.models import SignatureRequest, SignatureRequestStatus
from signatures.pages.forms import SignForm
from signatures.services import signature_request_by_token, signature_sign


def _sign(request, *, signature_request, token=None, user=None):
    booking = signature_request.booking
    form = SignForm(
        request.POST if request.method == "POST" else None, initial={"signer_name": booking.customer.get_full_name()}
    )
    state = None
    if signature_request.status == SignatureRequestStatus.SIGNED:
        state = "signed"
    elif signature_request.status != SignatureRequestStatus.OPEN or signature_request.expires_at <= timezone.now():
        state = "expired"
    if request.method == "POST" and state is None and form.is_valid():
        data = form.cleaned_data
        try:
            signature_sign(
                request=signature_request,
                user=user,
                token=token,
                rating=data["satisfaction_rating"],
                comments=data["comments"],
                signer_name=data["signer_name"],
                signature_image=data["signature_image"] or None,
            )
        except Conflict:
            state = "signed"
        except Gone:
            state = "expired"
        except ApplicationError as error:
            raise_for_page(error)
            apply_service_error(form, error)
        else:
            booking.refresh_from_db()
            messages.success(request, _("Thank you! Your signature is recorded."))
            if user is not None:
                return redirect("bookings:booking-detail", booking_id=booking.pk)
            state = "done"
    photos = sorted(BookingPhoto.objects.filter(booking=booking), key=lambda p: (p.kind != "before", p.created_at))
    context = {
        "signature_request": signature_request,
        "booking": booking,
        "form": form,
        "state": state,
        "photos": photos,
        "token": token,
    }
    return render(request, "signing/sign.html", context, status=410 if state == "expired" else 200)


def sign_by_token(request, token):
    signature_request = signature_request_by_token(token)
    if signature_request is None:
        raise Http404
    user = request.user if request.user.is_authenticated else None
    return _sign(request, signature_request=signature_request, token=token, user=user)


@customer_required
def sign_booking(request, booking_id):
    booking = Booking.objects.filter(pk=booking_id, customer=request.user).first()
    if booking is None:
        raise Http404
    signature_request = (
        SignatureRequest.objects.select_related("booking").filter(booking=booking).order_by("-created_at").first()
    )
    if signature_request is None:
        messages.error(request, _("The vendor has not asked you to sign yet."))
        return redirect("bookings:booking-detail", booking_id=booking.pk)
    return _sign(request, signature_request=signature_request, user=request.user)


def sign_photo(request, token, photo_id):
    """A job photo's thumbnail for whoever holds the signing link (they may not be logged in)."""
    signature_request = signature_request_by_token(token)
    if signature_request is None:
        raise Http404
    photo = (
        BookingPhoto.objects.select_related("booking")
        .filter(pk=photo_id, booking_id=signature_request.booking_id)
        .first()
    )
    if photo is None:
        raise Http404
    try:
        return photo_file_response(photo, "thumbnail")
    except ApplicationError:
        raise Http404 from None
