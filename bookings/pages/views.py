"""Customer and vendor pages of bookings (issue 7). Thin: every change goes through the same
service as the API (bookings.services, payments.checkout, signatures.services); a service's
refusal is shown inline or as a message, never as a 500; a booking the caller may not see is 404."""

from datetime import timedelta
from types import SimpleNamespace

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from bookings.api.serializers import BookingSerializer
from bookings.models import (
    Booking,
    BookingOffer,
    BookingStatus,
    OfferOutcome,
    VendorService,
)
from bookings.pages import forms as f
from bookings.pages.chat import chat_context
from bookings.pages.slots import days_ahead, next_free_slots, slot_value, slots_by_day
from bookings.selectors import (
    booking_detail_queryset,
    booking_list_queryset,
    platform_free_slots,
    services_active,
    vendor_detail_queryset,
    vendor_search,
    vendors_bookable,
)
from bookings.services import transitions
from bookings.services.common import SlotTaken
from bookings.services.creation import booking_create
from bookings.services.photos import photo_list, photo_upload
from bookings.services.pricing import PricedLine
from bookings.services.quotes import booking_quote
from core.errors import ApplicationError, InvalidInput
from core.models import Address, Role
from core.pages.common import (
    apply_service_error,
    customer_required,
    message_service_error,
    raise_for_page,
    vendor_required,
)
from payments.checkout import booking_awaits_card, checkout_start, payment_pending
from signatures.models import SignatureRequestStatus
from signatures.services import booking_can_complain, booking_complain, signature_request

RESULTS_PER_PAGE = 20
BOOKINGS_PER_PAGE = 20
ACTIVE_STATUSES = (BookingStatus.PENDING, BookingStatus.CONFIRMED, BookingStatus.IN_PROGRESS)
OPEN_STATUSES = (*ACTIVE_STATUSES, BookingStatus.COMPLETED, BookingStatus.AWAITING_SIGNATURE)
VENDOR_JOB_STATUSES = (
    BookingStatus.CONFIRMED,
    BookingStatus.IN_PROGRESS,
    BookingStatus.COMPLETED,
    BookingStatus.AWAITING_SIGNATURE,
)


def _viewer(request):
    return {"request": SimpleNamespace(user=request.user)}


# --- discovery -------------------------------------------------------------------------------------


def home(request):
    form = f.SearchForm(services=services_active())
    return render(request, "bookings/home.html", {"form": form, "services": services_active()[:12]})


def search(request):
    form = f.SearchForm(request.GET or None, services=services_active())
    results, page, next_slots = None, None, {}
    if form.is_valid():
        service = form.cleaned_data["service"]
        results = vendor_search(
            service=service.pk, pincode=form.cleaned_data["pincode"], ordering=form.cleaned_data["ordering"] or None
        )
        page = Paginator(results, RESULTS_PER_PAGE).get_page(request.GET.get("page"))
        next_slots = next_free_slots(page.object_list, timedelta(minutes=service.duration_minutes))
        for vendor in page.object_list:
            vendor.next_slot = next_slots.get(vendor.pk)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "bookings/search.html",
        {"form": form, "page_obj": page, "query_prefix": query.urlencode() + "&" if query else ""},
    )


def _bookable_vendor(vendor_id):
    vendor = vendor_detail_queryset().filter(pk=vendor_id, pk__in=vendors_bookable().values("pk")).first()
    if vendor is None:
        raise Http404
    return vendor


def vendor_profile(request, vendor_id):
    from signatures.selectors import vendor_recent_reviews

    vendor = _bookable_vendor(vendor_id)
    reviews, reviews_count = vendor_recent_reviews(vendor)
    return render(
        request,
        "bookings/vendor_profile.html",
        {
            "vendor": vendor,
            "reviews": reviews,
            "reviews_count": reviews_count,
            "pincodes": sorted(p.pincode for p in vendor.pincodes.all()),
        },
    )


# --- booking a vendor ------------------------------------------------------------------------------


def _offer(vendor, service_id):
    try:
        return VendorService.objects.select_related("service").get(
            vendor=vendor, service_id=int(service_id), is_active=True, service__is_active=True
        )
    except (VendorService.DoesNotExist, TypeError, ValueError, OverflowError):
        raise Http404 from None


def quote(*, offer, promo_code="", user=None):
    """The price the booking would get (§4) and the promo's refusal, if any, for the live
    breakdown: ``booking_quote``, the very function ``booking_create`` prices with."""
    line = PricedLine(
        service=offer.service, quantity=1, unit_price=offer.price, duration_minutes=offer.service.duration_minutes
    )
    try:
        return booking_quote(lines=[line], promo_code=promo_code or None, customer=user).price, ""
    except InvalidInput as error:
        promo_error = " ".join(str(m) for m in error.fields.get("promo_code", [error.message]))
    return booking_quote(lines=[line], customer=user).price, promo_error


@require_GET
def price_quote(request, vendor_id):
    """``GET /vendors/<id>/quote/?service=&promo_code=`` → the live price breakdown as JSON."""
    vendor = _bookable_vendor(vendor_id)
    offer = _offer(vendor, request.GET.get("service"))
    user = request.user if request.user.is_authenticated else None
    price, promo_error = quote(offer=offer, promo_code=(request.GET.get("promo_code") or "").strip()[:32], user=user)
    return JsonResponse(
        {
            "subtotal": str(price.subtotal),
            "discount": str(price.discount),
            "tax": str(price.tax),
            "total": str(price.total),
            "currency": price.currency,
            "promo_error": promo_error,
        }
    )


def _day_slots(vendor, offer, days):
    per_day = slots_by_day([vendor], timedelta(minutes=offer.service.duration_minutes), days).get(vendor.pk, {})
    return per_day


@customer_required
def book(request, vendor_id):
    vendor = _bookable_vendor(vendor_id)
    offer = _offer(vendor, request.POST.get("service") or request.GET.get("service"))
    addresses = list(Address.objects.filter(user=request.user).order_by("-is_default", "-created_at"))
    days = days_ahead()
    per_day = _day_slots(vendor, offer, days)
    first_free = next((day for day in days if per_day.get(day)), days[0])
    initial = {"service": offer.service_id, "date": first_free, "promo_code": request.GET.get("promo_code", "")}
    if request.method == "POST":
        form = f.BookingForm(request.POST, addresses=addresses, initial=initial)
    else:
        if request.GET.get("date"):
            initial["date"] = request.GET["date"]
        form = f.BookingForm(initial=initial, addresses=addresses)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            booking = booking_create(
                customer=request.user,
                lines=[{"service_id": offer.service_id, "quantity": 1}],
                scheduled_at=data["slot"],
                vendor_id=str(vendor.pk),
                notes=data["notes"],
                promo_code=data["promo_code"] or None,
                payment_method=data["payment_method"],
                **form.booking_address(),
            )
        except SlotTaken as error:
            form.add_error("slot", str(error.message))
        except ApplicationError as error:
            raise_for_page(error)
            apply_service_error(
                form, error, field_map={"scheduled_at": "slot", "address_id": "address_choice", "vendor_id": None}
            )
        else:
            checkout_start(booking=booking)
            if payment_pending(booking):
                return redirect("payments:checkout", booking_id=booking.pk)
            messages.success(request, _("Booking %(number)s is made.") % {"number": booking.booking_number})
            return redirect("bookings:booking-detail", booking_id=booking.pk)
    # The day whose times are listed: the one asked for, else the first day with a free time.
    shown_day = first_free
    raw_day = form["date"].value()
    for day in days:
        if str(raw_day) == day.isoformat():
            shown_day = day
    price, promo_error = quote(
        offer=offer, promo_code=(form["promo_code"].value() or "").strip()[:32], user=request.user
    )
    context = {
        "vendor": vendor,
        "offer": offer,
        "form": form,
        "shown_day": shown_day,
        "slots": [(slot_value(s.start), s.start) for s in per_day.get(shown_day, [])],
        "chosen_slot": form["slot"].value() or "",
        "days": days,
        "price": price,
        "promo_error": promo_error if request.method == "GET" and form["promo_code"].value() else "",
    }
    return render(request, "bookings/book.html", context)


# --- the customer's bookings ----------------------------------------------------------------------


@customer_required
def my_bookings(request):
    form = f.BookingFilterForm(request.GET or None)
    tab, status = "upcoming", ""
    if form.is_valid():
        tab = form.cleaned_data["tab"] or "upcoming"
        status = form.cleaned_data["status"]
    # "Upcoming" is everything still open (to be done, or to be signed off), soonest first;
    # "Past" is what is settled: signed, disputed, cancelled, expired.
    queryset = booking_list_queryset(request.user)
    if tab == "upcoming":
        queryset = queryset.filter(status__in=OPEN_STATUSES).order_by("scheduled_at", "pk")
    else:
        queryset = queryset.exclude(status__in=OPEN_STATUSES).order_by("-scheduled_at", "pk")
    if status:
        queryset = queryset.filter(status=status)
    page = Paginator(queryset, BOOKINGS_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "bookings/my_bookings.html",
        {
            "form": form,
            "page_obj": page,
            "tab": tab,
            "status": status,
            "query_prefix": query.urlencode() + "&" if query else "",
        },
    )


def _visible_booking(request, booking_id):
    booking = booking_detail_queryset(request.user).filter(pk=booking_id).first()
    if booking is None:
        raise Http404
    return booking


def _current_payment(booking):
    attempts = list(booking.payment_attempts.all())
    if not attempts:
        return None
    return next((a for a in attempts if a.is_active), None) or max(attempts, key=lambda a: a.created_at)


def _open_signature_request(booking):
    return booking.signature_requests.filter(status=SignatureRequestStatus.OPEN).order_by("-created_at").first()


def booking_detail(request, booking_id):
    if not request.user.is_authenticated:
        from django.contrib.auth.views import redirect_to_login

        return redirect_to_login(request.get_full_path())
    if request.user.role == Role.VENDOR:
        return redirect("bookings:vendor-job", booking_id=booking_id)
    booking = _visible_booking(request, booking_id)
    view = BookingSerializer(booking, context=_viewer(request)).data
    now = timezone.now()
    payment = _current_payment(booking)
    context = {
        "booking": booking,
        "view": view,
        "payment": payment,
        "needs_card": booking_awaits_card(booking),
        "photos": photo_list(booking=booking, user=request.user) if booking.vendor_id else [],
        "signature_request": _open_signature_request(booking)
        if booking.status == BookingStatus.AWAITING_SIGNATURE
        else None,
        "can_cancel": booking.status in transitions.CANCELLABLE_BY["customer"],
        "can_reschedule": transitions.booking_can_reschedule(booking, now=now),
        "can_complain": booking_can_complain(booking, now=now),
        "complaint_form": f.ComplaintForm(),
        "is_customer": request.user.pk == booking.customer_id,
        "chat": chat_context(request, booking),
    }
    return render(request, "bookings/booking_detail.html", context)


@customer_required
def booking_cancel(request, booking_id):
    booking = _visible_booking(request, booking_id)
    form = f.ReasonForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            booking = transitions.booking_cancel(booking=booking, user=request.user, reason=form.cleaned_data["reason"])
        except ApplicationError as error:
            message_service_error(request, error)
        else:
            messages.success(
                request,
                _("Booking %(number)s is cancelled. Refund: %(refund)s %(currency)s.")
                % {"number": booking.booking_number, "refund": booking.refund_amount, "currency": booking.currency},
            )
        return redirect("bookings:booking-detail", booking_id=booking.pk)
    if booking.status not in transitions.CANCELLABLE_BY["customer"]:
        messages.error(request, _("A %(s)s booking cannot be cancelled.") % {"s": booking.get_status_display()})
        return redirect("bookings:booking-detail", booking_id=booking.pk)
    cancel_quote = transitions.cancellation_quote(booking=booking, by="customer")
    return render(request, "bookings/cancel.html", {"booking": booking, "quote": cancel_quote, "form": form})


@customer_required
def booking_reschedule(request, booking_id):
    booking = _visible_booking(request, booking_id)
    if request.method == "GET":
        try:
            transitions.booking_reschedule_check(booking=booking)
        except ApplicationError as error:
            messages.error(request, str(error.message))
            return redirect("bookings:booking-detail", booking_id=booking.pk)
    days = days_ahead()
    duration = booking.ends_at - booking.scheduled_at
    form = f.RescheduleForm(
        request.POST if request.method == "POST" else None, initial={"date": request.GET.get("date") or days[0]}
    )
    if request.method == "POST" and form.is_valid():
        try:
            transitions.booking_reschedule(booking=booking, user=request.user, scheduled_at=form.cleaned_data["slot"])
        except ApplicationError as error:
            raise_for_page(error)
            apply_service_error(form, error, field_map={"scheduled_at": "slot"})
        else:
            messages.success(request, _("Booking %(number)s is moved.") % {"number": booking.booking_number})
            return redirect("bookings:booking-detail", booking_id=booking.pk)
    raw_day = str(form["date"].value())
    shown_day = next((day for day in days if day.isoformat() == raw_day), days[0])
    service_ids = sorted({line.service_id for line in booking.lines.all()})
    if booking.vendor is not None:
        # The booking's own current time is not busy for it: it may move to an overlapping time.
        per_day = slots_by_day([booking.vendor], duration, [shown_day], exclude_booking_id=booking.pk)
        slots = per_day.get(booking.vendor.pk, {}).get(shown_day, [])
    else:
        # No vendor holds it (the platform is still finding one): the times at which some vendor
        # it could offer the booking to is free, under the same notice and horizon rules.
        slots = platform_free_slots(
            service_ids=service_ids,
            pincode=booking.address_pincode,
            lat=booking.address_lat,
            lng=booking.address_lng,
            day=shown_day,
            duration=duration,
        )
    choices = [(slot_value(s.start), s.start) for s in slots]
    return render(
        request,
        "bookings/reschedule.html",
        {
            "booking": booking,
            "form": form,
            "days": days,
            "shown_day": shown_day,
            "slots": choices,
            "service_ids": ",".join(map(str, service_ids)),
            "chosen_slot": form["slot"].value() or "",
        },
    )


@customer_required
@require_POST
def booking_complaint(request, booking_id):
    booking = _visible_booking(request, booking_id)
    form = f.ComplaintForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Tell us what went wrong."))
    else:
        try:
            booking_complain(booking=booking, user=request.user, reason=form.cleaned_data["reason"])
        except ApplicationError as error:
            message_service_error(request, error)
        else:
            messages.success(request, _("Your complaint is with our team; the payment to the vendor is on hold."))
    return redirect("bookings:booking-detail", booking_id=booking.pk)


# --- vendor ----------------------------------------------------------------------------------------


@vendor_required
def vendor_dashboard(request):
    vendor = request.user.vendor_profile
    now = timezone.now()
    offers = list(
        BookingOffer.objects.filter(vendor=vendor, outcome=OfferOutcome.PENDING, expires_at__gt=now)
        .select_related("booking")
        .prefetch_related("booking__lines")
        .order_by("expires_at")
    )
    jobs = list(
        Booking.objects.filter(vendor=vendor, status__in=VENDOR_JOB_STATUSES, scheduled_at__gte=now - timedelta(days=1))
        .prefetch_related("lines")
        .order_by("scheduled_at", "pk")[:100]
    )
    today = timezone.localdate()
    context = {
        "vendor": vendor,
        "offers": offers,
        "today_jobs": [b for b in jobs if timezone.localdate(b.scheduled_at) <= today],
        "upcoming_jobs": [b for b in jobs if timezone.localdate(b.scheduled_at) > today],
    }
    return render(request, "vendor/dashboard.html", context)


def _vendor_booking(request, booking_id):
    return _visible_booking(request, booking_id)


@vendor_required
def vendor_job(request, booking_id):
    booking = _vendor_booking(request, booking_id)
    vendor = request.user.vendor_profile
    holds = booking.vendor_id == vendor.pk
    offer = next((o for o in reversed(list(booking.offers.all())) if o.vendor_id == vendor.pk), None)
    photos = list(booking.photos.all()) if holds else []
    context = {
        "booking": booking,
        "view": BookingSerializer(booking, context=_viewer(request)).data,
        "holds": holds,
        "offer": offer
        if offer and offer.outcome == OfferOutcome.PENDING and offer.expires_at > timezone.now()
        else None,
        "photos": photos,
        "before_count": sum(1 for p in photos if p.kind == "before"),
        "after_count": sum(1 for p in photos if p.kind == "after"),
        "photo_form": f.PhotoForm(
            initial={
                "kind": "before"
                if booking.status == BookingStatus.IN_PROGRESS and not any(p.kind == "before" for p in photos)
                else "after"
            }
        ),
        "signature_request": _open_signature_request(booking)
        if booking.status == BookingStatus.AWAITING_SIGNATURE
        else None,
        "chat": chat_context(request, booking) if holds else None,
    }
    return render(request, "vendor/job.html", context)


JOB_ACTIONS = {
    "accept": (
        lambda booking, user, post: transitions.booking_accept(booking=booking, user=user),
        _("You accepted the job."),
    ),
    "reject": (
        lambda booking, user, post: transitions.booking_reject(
            booking=booking, user=user, reason=post.get("reason", "")[:500]
        ),
        _("You declined the offer."),
    ),
    "start": (
        lambda booking, user, post: transitions.booking_start(booking=booking, user=user),
        _("The job is started."),
    ),
    "complete": (
        lambda booking, user, post: transitions.booking_complete(booking=booking, user=user),
        _("The job is completed."),
    ),
    "request-signature": (
        lambda booking, user, post: signature_request(booking=booking, user=user),
        _("We sent the customer a link to sign."),
    ),
    "cancel": (
        lambda booking, user, post: transitions.booking_cancel(
            booking=booking, user=user, reason=post.get("reason", "")[:500]
        ),
        _("You gave the job back; we are finding another vendor."),
    ),
}


@vendor_required
@require_POST
def vendor_job_action(request, booking_id, action):
    if action not in JOB_ACTIONS:
        raise Http404
    booking = _vendor_booking(request, booking_id)
    run, done_message = JOB_ACTIONS[action]
    try:
        run(booking, request.user, request.POST)
    except ApplicationError as error:
        message_service_error(request, error)
    else:
        messages.success(request, done_message)
    if action == "reject" or (action == "accept" and request.POST.get("next") == "dashboard"):
        return redirect("bookings:vendor-dashboard")
    return redirect("bookings:vendor-job", booking_id=booking.pk)


@vendor_required
@require_POST
def vendor_job_photo(request, booking_id):
    booking = _vendor_booking(request, booking_id)
    form = f.PhotoForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            photo_upload(
                booking=booking,
                user=request.user,
                kind=form.cleaned_data["kind"],
                image_file=form.cleaned_data["image"],
                caption=form.cleaned_data["caption"],
            )
        except ApplicationError as error:
            message_service_error(request, error)
        else:
            messages.success(request, _("The photo is added."))
    else:
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
    return redirect(reverse("bookings:vendor-job", kwargs={"booking_id": booking.pk}) + "#photos")
