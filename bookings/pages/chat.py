"""The chat panel of the customer's booking page and the vendor's job page (issue 9): the thread
as the server renders it, a form that posts without JavaScript, and static/js/chat.js, which takes
over on the booking's socket (``chat.message``, ``chat.read``, sending with ``chat.send``). Every
read and write goes through bookings.services.chat."""

from django.contrib.auth.views import redirect_to_login
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.http import require_POST

from bookings.models import MESSAGE_MAX_LENGTH, BookingStatus
from bookings.services.chat import chat_booking, chat_open_problem, chat_role, message_latest, message_post
from core.errors import ApplicationError
from core.pages.common import message_service_error, raise_for_page

SHOWN = 200  # the newest messages rendered with the page; older ones stay in the API's pages


def chat_context(request, booking) -> dict | None:
    """What the panel needs, or None for someone who may not read this thread."""
    role = chat_role(request.user, booking)
    if role is None:
        return None
    rows, earlier = message_latest(booking=booking, user=request.user, limit=SHOWN)
    problem = chat_open_problem(booking, now=timezone.now())
    return {
        "messages": [
            {
                "message": row,
                "mine": row.sender_id == request.user.pk,
                "customer": row.sender_id == booking.customer_id,
            }
            for row in rows
        ],
        "earlier": earlier,
        "can_write": role in ("customer", "vendor") and problem is None,
        "closed": problem,
        "masked": booking.status == BookingStatus.PENDING,
        "max_length": MESSAGE_MAX_LENGTH,
        "role": role,
    }


@require_POST
def chat_post(request, booking_id):
    """The panel's form without JavaScript: post, then back to the page it came from."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    try:
        booking = chat_booking(user=request.user, booking_id=booking_id)
    except ApplicationError as error:
        raise_for_page(error)  # not theirs: 404
        raise
    try:
        message_post(booking=booking, user=request.user, body=request.POST.get("body", ""))
    except ApplicationError as error:
        message_service_error(request, error)
    target = "bookings:vendor-job" if chat_role(request.user, booking) == "vendor" else "bookings:booking-detail"
    response = redirect(target, booking_id=booking_id)
    response["Location"] += "#chat"
    return response
