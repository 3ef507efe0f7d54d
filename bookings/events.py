"""What booking changes tell the world (ARCHITECTURE §8): WebSocket messages and notifications.

Called by the booking services inside their transaction; everything here leaves after commit
(``publish_on_commit``, ``notify``), so a rolled-back change says nothing."""

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.notifications import notify
from core.realtime import booking_group, publish_on_commit, vendor_jobs_group


def _iso(value):
    return value.isoformat() if value is not None else None


def booking_message(booking, *, event: str, note: str = "") -> dict:
    """The ``booking.update`` message. Its data holds nothing that depends on who listens:
    clients fetch the full booking from the API when they need it."""
    return {
        "type": "booking.update",
        "booking_id": str(booking.pk),
        "status": booking.status,
        "event": event,
        "at": timezone.now().isoformat(),
        "data": {
            "booking_number": booking.booking_number,
            "scheduled_at": _iso(booking.scheduled_at),
            "ends_at": _iso(booking.ends_at),
            "vendor_id": str(booking.vendor_id) if booking.vendor_id else None,
            "note": note,
        },
    }


def job_message(kind: str, booking, *, expires_at=None, reason: str = "") -> dict:
    message = {
        "type": kind,
        "booking_id": str(booking.pk),
        "booking_number": booking.booking_number,
        "status": booking.status,
        "starts_at": _iso(booking.scheduled_at),
        "ends_at": _iso(booking.ends_at),
        "expires_at": _iso(expires_at),
        "vendor_earning": str(booking.vendor_earning),
        "currency": booking.currency,
        "city": booking.address_city,
        "pincode": booking.address_pincode,
    }
    if reason:
        message["reason"] = reason
    return message


def booking_changed(booking, *, event: str, note: str = "", previous_vendor_id=None) -> None:
    """A booking's state or schedule changed: tell its socket and the vendor(s) concerned."""
    publish_on_commit(booking_group(booking.pk), booking_message(booking, event=event, note=note))
    # While a booking is pending its vendor hears only of offers (job.offer) and withdrawals.
    if booking.vendor_id and booking.status != "pending":
        publish_on_commit(vendor_jobs_group(booking.vendor_id), job_message("job.update", booking))
    if previous_vendor_id and previous_vendor_id != booking.vendor_id:
        publish_on_commit(vendor_jobs_group(previous_vendor_id), job_message("job.withdrawn", booking, reason=event))
    _notify_parties(booking, event)


def offer_sent(offer) -> None:
    booking = offer.booking
    publish_on_commit(
        vendor_jobs_group(offer.vendor_id), job_message("job.offer", booking, expires_at=offer.expires_at)
    )
    notify(
        user=offer.vendor.user,
        kind="job.offer",
        title=_("New job offer %(number)s") % {"number": booking.booking_number},
        body=_("%(when)s in %(pincode)s. Accept before %(deadline)s.")
        % {
            "when": timezone.localtime(booking.scheduled_at).strftime("%d %b %H:%M"),
            "pincode": booking.address_pincode,
            "deadline": timezone.localtime(offer.expires_at).strftime("%H:%M"),
        },
        data={"booking_id": str(booking.pk), "offer_expires_at": _iso(offer.expires_at)},
    )


# Which party hears about which event, and what they read. Vendors hear about offers through
# ``offer_sent``; the socket carries everything else to both sides.
CUSTOMER_MESSAGES = {
    "accepted": (gettext_lazy("Booking confirmed"), gettext_lazy("%(vendor)s accepted booking %(number)s.")),
    "started": (gettext_lazy("Your job has started"), gettext_lazy("%(vendor)s started work on booking %(number)s.")),
    "completed": (gettext_lazy("Job completed"), gettext_lazy("%(vendor)s completed booking %(number)s.")),
    "vendor_cancelled": (
        gettext_lazy("Your vendor cancelled"),
        gettext_lazy(
            "The vendor cancelled booking %(number)s. We are finding another vendor at the same time and price."
        ),
    ),
    "expired": (gettext_lazy("Booking expired"), gettext_lazy("No vendor could take booking %(number)s in time.")),
}
VENDOR_MESSAGES = {
    "cancelled": (gettext_lazy("Booking cancelled"), gettext_lazy("Booking %(number)s was cancelled.")),
    "rescheduled": (gettext_lazy("Booking rescheduled"), gettext_lazy("Booking %(number)s moved to a new time.")),
}


def _notify_parties(booking, event: str) -> None:
    params = {
        "number": booking.booking_number,
        "vendor": booking.vendor.display_name if booking.vendor_id else _("The vendor"),
    }
    data = {"booking_id": str(booking.pk), "event": event}
    if event in CUSTOMER_MESSAGES:
        title, body = CUSTOMER_MESSAGES[event]
        notify(user=booking.customer, kind=f"booking.{event}", title=str(title), body=str(body) % params, data=data)
    if event == "cancelled" and booking.cancelled_by != "customer":
        notify(
            user=booking.customer,
            kind="booking.cancelled",
            title=_("Booking cancelled"),
            body=_("Booking %(number)s was cancelled. Refund: %(refund)s %(currency)s.")
            % {**params, "refund": booking.refund_amount, "currency": booking.currency},
            data=data,
        )
    if event in VENDOR_MESSAGES and booking.vendor_id and booking.status != "pending":
        title, body = VENDOR_MESSAGES[event]
        notify(user=booking.vendor.user, kind=f"booking.{event}", title=str(title), body=str(body) % params, data=data)
