"""Signature requests, signing, reviews, complaints and disputes (ARCHITECTURE §5, §7; issue 5).

Every state change is one function here, in a transaction, with the booking row locked first
(``bookings.locks``), then the vendor row where the rating or the payout hold is concerned, then —
last, and only while a signature is appended — the chain head. That one order everywhere means no
two of these transactions ever wait on each other in a cycle. Booking status changes go through
``bookings.services.common.transition`` (timeline event, audit entry, WebSocket push after commit);
money moves through the payments functions, after commit.

The periodic sweeps (``signatures/tasks.py``) claim their rows with ``SELECT … FOR UPDATE SKIP
LOCKED`` and are safe to run twice or at once.
"""

import logging
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from types import SimpleNamespace

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, Count, F, Sum, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from bookings.events import booking_message
from bookings.locks import lock_booking, lock_vendors
from bookings.models import Booking, BookingEvent, BookingStatus, PaymentMethod
from bookings.search_index import search_entries_refresh
from bookings.services.common import BookingConflict, require_actor, transition, update_fields
from core.audit import audit_record
from core.errors import ApplicationError, Conflict, Forbidden, Gone, InvalidInput, NotFound
from core.models import AuditLog, Role, SystemSettings, User, VendorProfile
from core.money import ZERO, money
from core.notifications import notify, notify_ops
from core.realtime import booking_group
from core.request_context import current_request_context
from signatures.hashing import booking_photo_checksums, payload_hash, sha256_hex, signature_payload
from signatures.images import decode_signature_image
from signatures.models import (
    GENESIS_HASH,
    Review,
    Signature,
    SignatureChain,
    SignatureRequest,
    SignatureRequestStatus,
)
from signatures.notifications import Message, notify_bulk
from signatures.tokens import signing_path, token_for, token_hash, token_issue, token_matches

logger = logging.getLogger(__name__)

REMIND_BEFORE = timedelta(hours=24)
# Rows per INSERT in the sweeps' bulk writes (SQLite lowers it to its parameter limit).
BULK_BATCH = 5000
COMMENTS_MAX = 1000
SIGNER_NAME_MAX = 120
# A rating at or below this is a dispute (§7): capture held, ops decide.
DISPUTE_AT_OR_BELOW = 2

OUTCOME_CAPTURE_FULL = "capture_full"
OUTCOME_CAPTURE_PARTIAL = "capture_partial"
OUTCOME_CANCEL_REFUND = "cancel_refund"
DISPUTE_OUTCOMES = (OUTCOME_CAPTURE_FULL, OUTCOME_CAPTURE_PARTIAL, OUTCOME_CANCEL_REFUND)


class NotAuthenticated(ApplicationError):
    status_code = 401
    default_message = gettext_lazy("Log in, or sign with the link you were sent.")


def _is_ops(user) -> bool:
    return getattr(user, "role", None) in (Role.OPS_MANAGER, Role.SUPER_ADMIN)


def _local(value) -> str:
    return timezone.localtime(value).strftime("%d %b %H:%M")


# --- requests --------------------------------------------------------------------------------------


@transaction.atomic
def signature_request(*, booking: Booking, user=None, now=None) -> tuple[SignatureRequest, bool]:
    """Ask the booking's customer to sign (§7). By the vendor holding the booking, by ops, or by
    the system (``user`` None: the automatic request 2 h after completion).

    completed → awaiting_signature with a new open request. For a booking already awaiting a
    signature: its open request is returned as it is (a retry; ``created`` False) unless it is
    past its deadline, and after an expired (or cancelled) request a new one is made — the
    booking stays awaiting_signature. The customer gets the link by SMS and e-mail. Returns
    (request, created)."""
    now = now or timezone.now()
    booking = lock_booking(booking.pk)
    if user is not None:
        kind = require_actor(user, booking, "vendor", "ops")
        if kind == "vendor" and booking.vendor_id != user.vendor_profile.pk:
            raise BookingConflict(_("This booking is not assigned to you."), booking=booking)
    if booking.status not in (BookingStatus.COMPLETED, BookingStatus.AWAITING_SIGNATURE):
        raise BookingConflict(
            _("A %(s)s booking cannot be sent for signature; the job must be completed.") % {"s": booking.status},
            booking=booking,
        )
    current = SignatureRequest.objects.select_for_update().filter(booking=booking, status="open").first()
    if current is not None:
        if current.expires_at > now:
            return current, False
        # Past its deadline and not yet reached by the sweep: it expires now, replaced below.
        SignatureRequest.objects.filter(pk=current.pk).update(status=SignatureRequestStatus.EXPIRED, closed_at=now)
    hours = SystemSettings.load().signature_expiry_hours
    request = SignatureRequest(
        booking=booking, created_by=user, created_at=now, expires_at=now + timedelta(hours=hours)
    )
    token, request.token_nonce, request.token_hash = token_issue(request.pk)
    request.save(force_insert=True)
    note = _("Signature requested, open until %(until)s") % {"until": _local(request.expires_at)}
    if booking.status == BookingStatus.COMPLETED:
        transition(
            booking=booking,
            to_status=BookingStatus.AWAITING_SIGNATURE,
            actor=user,
            event="signature_requested",
            note=note,
            now=now,
        )
    else:
        update_fields(booking=booking, actor=user, event="signature_requested", note=note, fields={})
    audit_record(
        actor=user,
        action="signature_request.created",
        obj=request,
        new={"booking": booking.pk, "expires_at": request.expires_at.isoformat(), "automatic": user is None},
    )
    message = _customer_message(booking=booking, request=request, token=token, reminder=False)
    notify(user=message.user, kind=message.kind, title=message.title, body=message.body, data=message.data)
    return request, True


def _customer_message(*, booking, request, token, reminder: bool) -> Message:
    """The customer's signing link, as the first request or as the reminder."""
    params = {
        "number": booking.booking_number,
        "vendor": booking.vendor.display_name if booking.vendor_id else _("Your vendor"),
        # The full link people tap in the SMS or e-mail: the site's address (SITE_URL) and the path.
        "link": settings.SITE_URL + signing_path(token),
        "until": _local(request.expires_at),
    }
    if reminder:
        title = _("Reminder: sign off booking %(number)s") % params
        body = _(
            "Your signature for booking %(number)s is still needed. Rate the job and sign at %(link)s by %(until)s."
        )
    else:
        title = _("Please sign off booking %(number)s") % params
        body = _("%(vendor)s has finished booking %(number)s. Rate the job and sign at %(link)s by %(until)s.")
    return Message(
        user=booking.customer,
        kind="signature.reminder" if reminder else "signature.requested",
        title=title,
        body=body % params,
        data={
            "booking_id": str(booking.pk),
            "signature_request_id": str(request.pk),
            "sign_path": signing_path(token),
            "sign_url": params["link"],
            "expires_at": request.expires_at.isoformat(),
        },
    )


def signature_request_by_token(token: str) -> SignatureRequest | None:
    """The request a signing link names (for the signing page), or None."""
    if not isinstance(token, str) or not token or len(token) > 200:
        return None
    return SignatureRequest.objects.select_related("booking").filter(token_hash=token_hash(token)).first()


# --- signing ---------------------------------------------------------------------------------------


def _signer_via(request: SignatureRequest, booking: Booking, *, user, token) -> str:
    """How the caller proves they are the booking's customer: "token" (the link) or "session"
    (logged in). The token wins when given, so a customer can sign on someone else's logged-in
    device. NotFound for anyone else (the request is not theirs to see), NotAuthenticated for a
    caller with neither."""
    if token:
        if not token_matches(request, token):
            raise NotFound()
        return "token"
    if user is None or not getattr(user, "is_authenticated", False):
        raise NotAuthenticated()
    if user.role == Role.CUSTOMER and booking.customer_id == user.pk:
        return "session"
    raise NotFound()


def _check_signable(request: SignatureRequest, booking: Booking, now) -> None:
    if request.status == SignatureRequestStatus.SIGNED:
        raise Conflict(_("This job has already been signed."), extra={"status": booking.status})
    if request.status == SignatureRequestStatus.EXPIRED or (
        request.status == SignatureRequestStatus.OPEN and request.expires_at <= now
    ):
        raise Gone(_("This signature request has expired. Ask the vendor to send a new one."))
    if request.status == SignatureRequestStatus.CANCELLED:
        raise Gone(_("This signature request was withdrawn."))
    if booking.status != BookingStatus.AWAITING_SIGNATURE:
        raise BookingConflict(
            _("A %(s)s booking cannot be signed.") % {"s": booking.status},
            booking=booking,
        )


def _clean_rating(rating) -> int:
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        raise InvalidInput(fields={"satisfaction_rating": [_("Give a rating from 1 to 5.")]})
    return rating


def signature_sign(
    *,
    request: SignatureRequest,
    user=None,
    token: str | None = None,
    rating: int,
    comments: str = "",
    signer_name: str = "",
    signature_image: str | None = None,
    now=None,
) -> Signature:
    """The customer signs (§7): the booking's customer logged in (``user``) or holding the
    request's ``token``. Rating ≥ 3 → booking signed and the payment captured after commit
    (exactly once: ``booking_capture_payment`` is keyed per booking); rating ≤ 2 → disputed
    (comments required), capture held, ops told. Either way the rating becomes the vendor's
    review and their average, and the signature is appended to the hash chain.

    Expired → Gone (410); already signed → Conflict (409); not the customer → NotFound (404)."""
    from payments.operations import booking_capture_payment

    now = now or timezone.now()
    rating = _clean_rating(rating)
    comments = (comments or "").strip()
    signer_name = (signer_name or "").strip()
    if len(comments) > COMMENTS_MAX:
        raise InvalidInput(fields={"comments": [_("At most %(n)d characters.") % {"n": COMMENTS_MAX}]})
    if len(signer_name) > SIGNER_NAME_MAX:
        raise InvalidInput(fields={"signer_name": [_("At most %(n)d characters.") % {"n": SIGNER_NAME_MAX}]})
    # Decoded before any lock is taken: it is the slow part.
    image = decode_signature_image(signature_image) if signature_image else None
    with transaction.atomic():
        booking = lock_booking(request.booking_id)
        request = SignatureRequest.objects.select_for_update().get(pk=request.pk)
        via = _signer_via(request, booking, user=user, token=token)
        _check_signable(request, booking, now)
        if rating <= DISPUTE_AT_OR_BELOW and not comments:
            raise InvalidInput(fields={"comments": [_("Tell us what went wrong: a rating of 1 or 2 needs a comment.")]})
        customer = booking.customer
        SignatureRequest.objects.filter(pk=request.pk).update(status=SignatureRequestStatus.SIGNED, closed_at=now)
        params = {"number": booking.booking_number, "rating": rating}
        data = {"booking_id": str(booking.pk), "signature_id": str(request.pk), "rating": rating}
        if rating > DISPUTE_AT_OR_BELOW:
            transition(
                booking=booking,
                to_status=BookingStatus.SIGNED,
                actor=customer,
                event="signed",
                note=_("Signed with %(rating)d/5") % params,
                now=now,
            )
            booking_capture_payment(
                booking=booking, actor=customer, reason=_("Signed by the customer (%(rating)d/5)") % params
            )
            notify(
                user=booking.vendor.user,
                kind="signature.signed",
                title=_("Booking %(number)s signed") % params,
                body=_("The customer signed booking %(number)s and rated it %(rating)d/5. The payment is released.")
                % params,
                data=data,
            )
        else:
            transition(
                booking=booking,
                to_status=BookingStatus.DISPUTED,
                actor=customer,
                event="disputed",
                note=comments,
                now=now,
            )
            notify_ops(
                kind="booking.disputed",
                title=_("Dispute on booking %(number)s") % params,
                body=_("The customer rated booking %(number)s %(rating)d/5: %(comments)s")
                % {**params, "comments": comments[:300]},
                data=data,
            )
            notify(
                user=booking.vendor.user,
                kind="booking.disputed",
                title=_("Booking %(number)s is disputed") % params,
                body=_(
                    "The customer rated booking %(number)s %(rating)d/5. The payment is held while our team looks "
                    "into it."
                )
                % params,
                data=data,
            )
        # Last the vendor row (the rating) and then the chain head (bookings/locks.py order: booking,
        # vendor): both stay locked until the commit, so they are taken when little is left to do.
        Review.objects.create(
            vendor_id=booking.vendor_id,
            booking=booking,
            customer=customer,
            rating=rating,
            comments=comments,
            created_at=now,
        )
        vendor_rating_refresh(vendor_id=booking.vendor_id)
        signature = _chain_append(
            request=request,
            booking=booking,
            rating=rating,
            comments=comments,
            signer_name=signer_name or customer.get_full_name() or customer.username,
            image=image,
            via=via,
            now=now,
        )
        audit_record(
            actor=customer,
            action="signature.signed",
            obj=signature,
            new={
                "booking": booking.pk,
                "sequence": signature.sequence,
                "rating": rating,
                "signature_hash": signature.signature_hash,
                "via": via,
            },
        )
    return signature


def vendor_rating_refresh(*, vendor_id) -> VendorProfile:
    """Recompute the vendor's rating average and count from their reviews, under the vendor's row
    lock: two signings for one vendor take turns, and the second's aggregate (a new snapshot after
    the lock, in READ COMMITTED) sees the first's review, so no update is lost. Called inside the
    signing transaction, after the booking lock (the lock order of bookings/locks.py)."""
    lock_vendors([vendor_id])
    totals = Review.objects.filter(vendor_id=vendor_id).aggregate(total=Sum("rating"), count=Count("id"))
    count = totals["count"] or 0
    average = (
        (Decimal(totals["total"]) / Decimal(count)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        if count
        else Decimal("0.00")
    )
    VendorProfile.objects.filter(pk=vendor_id).update(rating_avg=average, rating_count=count)
    search_entries_refresh([vendor_id])  # the search sorts by rating; update() sends no signal
    return VendorProfile(pk=vendor_id, rating_avg=average, rating_count=count)


def _lock_chain_head() -> SignatureChain:
    # The row exists from the first signing on (a flushed test database has none: insert it, a
    # concurrent insert is ignored), then it is locked: signings append one at a time.
    SignatureChain.objects.bulk_create([SignatureChain(pk=1)], ignore_conflicts=True)
    return SignatureChain.objects.select_for_update().get(pk=1)


def _chain_append(*, request, booking, rating, comments, signer_name, image, via, now) -> Signature:
    """Hash what is signed and append it to the chain. Called last in the signing transaction
    (the chain head stays locked until it commits, so keep what follows short)."""
    comments_sha256 = sha256_hex(comments)
    image_sha256 = sha256_hex(image) if image is not None else ""
    photos = booking_photo_checksums(booking)
    head = _lock_chain_head()
    previous_hash = head.last_hash if head.last_sequence else GENESIS_HASH
    digest = payload_hash(
        signature_payload(
            booking_id=booking.pk,
            customer_id=booking.customer_id,
            vendor_id=booking.vendor_id,
            amount=booking.total,
            rating=rating,
            comments_sha256=comments_sha256,
            signed_at=now,
            photo_checksums=photos,
            signature_image_sha256=image_sha256,
            previous_hash=previous_hash,
        )
    )
    context = current_request_context()
    signature = Signature.objects.create(
        sequence=head.last_sequence + 1,
        request=request,
        booking=booking,
        customer_id=booking.customer_id,
        vendor_id=booking.vendor_id,
        amount=booking.total,
        currency=booking.currency,
        rating=rating,
        comments=comments,
        comments_sha256=comments_sha256,
        signer_name=signer_name[:SIGNER_NAME_MAX],
        signature_image=image,
        signature_image_sha256=image_sha256,
        photo_checksums=photos,
        signed_at=now,
        previous_hash=previous_hash,
        signature_hash=digest,
        signed_via=via,
        ip_address=context.ip_address,
        user_agent=context.user_agent,
    )
    SignatureChain.objects.filter(pk=1).update(last_sequence=signature.sequence, last_hash=digest, updated_at=now)
    return signature


@transaction.atomic
def signature_comments_erase(*, signature: Signature, actor, now=None) -> Signature:
    """Erase the comments text of a signature and its review for privacy (the customer's own, or
    ops). The chain stays valid: the hash covers the comments' SHA-256, which is kept."""
    now = now or timezone.now()
    if not (_is_ops(actor) or getattr(actor, "pk", None) == signature.customer_id):
        raise NotFound()
    Signature.objects.filter(pk=signature.pk).erase_comments(now=now)
    Review.objects.filter(booking_id=signature.booking_id).update(comments="")
    audit_record(actor=actor, action="signature.comments_erased", obj=signature, new={"erased_at": now.isoformat()})
    return Signature.objects.get(pk=signature.pk)


# --- reviews ----------------------------------------------------------------------------------------


@transaction.atomic
def review_hide(*, review: Review, actor, reason: str, now=None) -> Review:
    """Ops hide an abusive review from the vendor's page, with a reason (audited). The rating
    still counts in the vendor's average (it is part of a signed record). Hiding again is a no-op."""
    now = now or timezone.now()
    if not _is_ops(actor):
        raise Forbidden()
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(fields={"reason": [_("Give the reason for hiding this review.")]})
    review = Review.objects.select_for_update().get(pk=review.pk)
    if review.is_hidden:
        return review
    Review.objects.filter(pk=review.pk).update(
        is_hidden=True, hidden_by=actor, hidden_reason=reason[:500], hidden_at=now
    )
    audit_record(
        actor=actor,
        action="review.hidden",
        obj=review,
        old={"is_hidden": False},
        new={"is_hidden": True, "reason": reason},
    )
    review.refresh_from_db()
    return review


# --- complaints and disputes -----------------------------------------------------------------------


def _signed_at(booking) -> object | None:
    return (
        BookingEvent.objects.filter(booking=booking, to_status=BookingStatus.SIGNED)
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )


def complaint_window_open(booking: Booking, *, now) -> bool:
    """A customer may complain about a signed booking until its earning is paid out (§6: the
    payout hold is when they may still complain). A booking without an earning (cash, a zero
    total, or a capture not yet run) gives the same hold from the moment it was signed."""
    from payments.models import Earning

    earnings = Earning.objects.filter(booking=booking)
    if earnings.filter(payout__isnull=False).exists():
        return False
    if earnings.exists():
        return True
    signed_at = _signed_at(booking)
    hold = timedelta(hours=SystemSettings.load().payout_hold_hours)
    return signed_at is not None and now < signed_at + hold


def booking_complain_check(*, booking: Booking, now=None) -> None:
    """Raise ``BookingConflict`` unless the customer may complain about the booking now: it is
    signed, was not complained about before, and its earning is not paid out yet.

    ``booking_complain`` calls it with the booking and vendor rows locked (so a payout run cannot
    pay the earning out between the check and the dispute); pages call it unlocked to decide
    whether to offer the form."""
    now = now or timezone.now()
    if booking.status != BookingStatus.SIGNED:
        raise BookingConflict(_("Only a signed booking can be complained about."), booking=booking)
    if booking.events.filter(event="complained").exists():
        raise BookingConflict(_("A complaint about this booking was already settled."), booking=booking)
    if not complaint_window_open(booking, now=now):
        raise BookingConflict(_("The vendor has been paid for this booking; contact support instead."), booking=booking)


def booking_can_complain(booking: Booking, *, now=None) -> bool:
    """Whether ``booking_complain_check`` lets the customer complain now."""
    try:
        booking_complain_check(booking=booking, now=now)
    except BookingConflict:
        return False
    return True


@transaction.atomic
def booking_complain(*, booking: Booking, user, reason: str, now=None) -> Booking:
    """The customer complains about a signed booking: signed → disputed, ops told, the vendor's
    earning held from payouts (payments.payouts excludes disputed bookings). Allowed until the
    earning is paid out (``booking_complain_check``). The vendor row is locked too, so a payout
    run cannot pay the earning out between the check and the dispute. Repeating it while
    disputed returns the booking."""
    now = now or timezone.now()
    booking = lock_booking(booking.pk)
    require_actor(user, booking, "customer")
    if booking.status == BookingStatus.DISPUTED and booking.events.filter(event="complained").exists():
        return booking
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(fields={"reason": [_("Tell us what went wrong.")]})
    lock_vendors([booking.vendor_id])
    booking_complain_check(booking=booking, now=now)
    _open_dispute(booking=booking, actor=user, event="complained", reason=reason, now=now)
    return booking


@transaction.atomic
def booking_dispute_open(*, booking: Booking, actor=None, reason: str, now=None) -> Booking:
    """Ops (or, with ``actor`` None, a card chargeback) open a dispute on a booking awaiting its
    signature or signed: → disputed, payout held, ops and the vendor told. Already disputed → the
    booking as it is."""
    now = now or timezone.now()
    booking = lock_booking(booking.pk)
    if actor is not None:
        require_actor(actor, booking, "ops")
    if booking.status == BookingStatus.DISPUTED:
        return booking
    if booking.status not in (BookingStatus.AWAITING_SIGNATURE, BookingStatus.SIGNED):
        raise BookingConflict(_("A %(s)s booking cannot be disputed.") % {"s": booking.status}, booking=booking)
    lock_vendors([booking.vendor_id])
    _open_dispute(booking=booking, actor=actor, event="dispute_opened", reason=(reason or "").strip(), now=now)
    return booking


def _open_dispute(*, booking, actor, event, reason, now):
    transition(booking=booking, to_status=BookingStatus.DISPUTED, actor=actor, event=event, note=reason, now=now)
    params = {"number": booking.booking_number, "reason": reason[:300]}
    data = {"booking_id": str(booking.pk), "event": event}
    notify_ops(
        kind="booking.disputed",
        title=_("Dispute on booking %(number)s") % params,
        body=_("Booking %(number)s is disputed: %(reason)s") % params,
        data=data,
    )
    if booking.vendor_id:
        notify(
            user=booking.vendor.user,
            kind="booking.disputed",
            title=_("Booking %(number)s is disputed") % params,
            body=_("Booking %(number)s is disputed. Its payout is held while our team looks into it.") % params,
            data=data,
        )


def _capture_operation(booking):
    from payments.models import PaymentOperation

    return PaymentOperation.objects.filter(key=f"capture:{booking.pk}").first()


@transaction.atomic
def dispute_resolve(*, booking: Booking, user, outcome: str, amount=None, reason: str, now=None) -> Booking:
    """Ops settle a disputed booking (§5), with a reason; audited, both parties told, and every
    money movement posted to the ledger by the payments operations after commit:

    - ``capture_full``: disputed → signed; the payment is captured (or, captured already before a
      complaint, kept as it is).
    - ``capture_partial``: disputed → signed, the customer pays ``amount`` (0 < amount < total):
      captured partly (the rest of the hold released), or — captured already — the difference
      refunded.
    - ``cancel_refund``: disputed → cancelled with a full refund (the hold voided or the capture
      refunded), per ``booking_cancel``.

    While the capture of a complaint's booking is still running, a partial capture or a refund
    answers 409 (try again when it has finished). Cash the vendor collected cannot be refunded
    through the gateway: a partial or cancelled outcome of a cash booking whose cash was recorded
    answers 409 (ops settle it by hand and record an adjustment)."""
    from bookings.services.transitions import booking_cancel
    from payments.models import OperationState
    from payments.operations import active_attempt, booking_capture_payment, payment_refund, refundable_amount

    now = now or timezone.now()
    booking = lock_booking(booking.pk)
    require_actor(user, booking, "ops")
    if outcome not in DISPUTE_OUTCOMES:
        raise InvalidInput(fields={"outcome": [_("Choose capture_full, capture_partial or cancel_refund.")]})
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(fields={"reason": [_("Give the reason for the decision.")]})
    if booking.status != BookingStatus.DISPUTED:
        resolved = booking.events.filter(event="dispute_resolved").order_by("-created_at").first()
        if resolved is not None and booking.status in (BookingStatus.SIGNED, BookingStatus.CANCELLED):
            return booking  # a retry of the decision already made
        raise BookingConflict(_("Only a disputed booking can be resolved."), booking=booking)
    if outcome == OUTCOME_CAPTURE_PARTIAL:
        if amount is None:
            raise InvalidInput(fields={"amount": [_("Give the amount the customer pays.")]})
        amount = money(amount)
        if not ZERO < amount < booking.total:
            raise InvalidInput(
                fields={"amount": [_("The amount must be more than 0 and less than %(t)s.") % {"t": booking.total}]}
            )
    else:
        amount = None
    capture = _capture_operation(booking)
    captured = capture is not None and capture.state == OperationState.SUCCEEDED
    running = capture is not None and capture.state in (OperationState.PENDING, OperationState.RUNNING)
    if running and outcome != OUTCOME_CAPTURE_FULL:
        raise BookingConflict(_("The payment capture is still running; try again in a minute."), booking=booking)
    if captured and booking.payment_method == PaymentMethod.CASH and outcome != OUTCOME_CAPTURE_FULL:
        raise BookingConflict(
            _("The vendor collected this booking in cash: settle it by hand and record an adjustment."),
            booking=booking,
        )
    note = f"{outcome}: {reason}"
    if outcome == OUTCOME_CANCEL_REFUND:
        booking = booking_cancel(booking=booking, user=user, reason=reason, refund_amount=booking.total, now=now)
        record_event_only = True
    else:
        record_event_only = False
        transition(
            booking=booking, to_status=BookingStatus.SIGNED, actor=user, event="dispute_resolved", note=note, now=now
        )
        if capture is None:
            booking_capture_payment(booking=booking, actor=user, amount=amount, reason=reason)
        elif amount is not None:
            attempt = active_attempt(booking) or capture.attempt
            refund = money(refundable_amount(attempt) - amount)
            if refund <= 0:
                raise InvalidInput(fields={"amount": [_("The customer has paid no more than that already.")]})
            payment_refund(attempt=attempt, actor=user, reason=reason, amount=refund, now=now)
    if record_event_only:
        # booking_cancel wrote the "cancelled" event; the timeline also names the decision.
        update_fields(booking=booking, actor=user, event="dispute_resolved", note=note, fields={})
    audit_record(
        actor=user,
        action="dispute.resolved",
        obj=booking,
        old={"status": BookingStatus.DISPUTED},
        new={"status": booking.status, "outcome": outcome, "amount": amount, "reason": reason},
    )
    params = {"number": booking.booking_number, "amount": amount, "currency": booking.currency}
    messages = {
        OUTCOME_CAPTURE_FULL: (
            _("The dispute on booking %(number)s was settled: the booking is paid in full.") % params,
            _("The dispute on booking %(number)s was settled in your favour: you are paid in full.") % params,
        ),
        OUTCOME_CAPTURE_PARTIAL: (
            _("The dispute on booking %(number)s was settled: you pay %(amount)s %(currency)s.") % params,
            _("The dispute on booking %(number)s was settled: the customer pays %(amount)s %(currency)s.") % params,
        ),
        OUTCOME_CANCEL_REFUND: (
            _("The dispute on booking %(number)s was settled: the booking is cancelled with a full refund.") % params,
            _("The dispute on booking %(number)s was settled: the booking is cancelled and refunded.") % params,
        ),
    }
    to_customer, to_vendor = messages[outcome]
    data = {"booking_id": str(booking.pk), "outcome": outcome}
    title = _("Dispute on booking %(number)s settled") % params
    notify(user=booking.customer, kind="dispute.resolved", title=title, body=to_customer, data=data)
    if booking.vendor_id:
        notify(user=booking.vendor.user, kind="dispute.resolved", title=title, body=to_vendor, data=data)
    return booking


# --- sweeps -----------------------------------------------------------------------------------------


def signature_requests_expire(*, now=None, limit: int = 10_000) -> int:
    """Expire open requests past their deadline (§7), up to ``limit`` per call, in bulk:

    one claiming SELECT (``FOR UPDATE SKIP LOCKED``: a concurrent sweep takes other rows) and ONE
    UPDATE for all of them — ``expired`` where the booking still awaits its signature, and
    ``cancelled`` where it has moved on without one (ops captured or cancelled it) — then, in bulk
    inserts, a timeline event and an audit entry per expired booking and a notification to each
    vendor (SMS/e-mail copies queued after commit), and one message to ops. The expired bookings
    are the ops signature queue (``selectors.signature_attention_queue``) until the vendor or ops
    send a new request, capture by hand or cancel. Returns how many requests expired."""
    now = now or timezone.now()
    with transaction.atomic():
        if connection.vendor == "postgresql":
            rows = _expire_due_postgresql(now=now, limit=limit)
            waiting = [row for row in rows if row[2] == BookingStatus.AWAITING_SIGNATURE]
            if waiting:
                _expired_bookkeeping(waiting, now=now)
            return len(waiting)
        rows = list(
            SignatureRequest.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status=SignatureRequestStatus.OPEN, expires_at__lte=now)
            .order_by("expires_at", "pk")
            .values_list(
                "pk",
                "booking_id",
                "booking__status",
                "booking__booking_number",
                "booking__scheduled_at",
                "booking__ends_at",
                "booking__vendor_id",
                "booking__vendor__user_id",
            )[:limit]
        )
        if not rows:
            return 0
        waiting = [row for row in rows if row[2] == BookingStatus.AWAITING_SIGNATURE]
        waiting_ids = [row[0] for row in waiting]
        SignatureRequest.objects.filter(pk__in=[row[0] for row in rows]).update(
            status=Case(
                When(pk__in=waiting_ids, then=Value(SignatureRequestStatus.EXPIRED)),
                default=Value(SignatureRequestStatus.CANCELLED),
            ),
            closed_at=now,
        )
        if waiting:
            _expired_bookkeeping(waiting, now=now)
    return len(waiting)


def _expire_due_postgresql(*, now, limit):
    """The claim and the update as ONE statement: the overdue requests are locked (SKIP LOCKED),
    set to expired or cancelled by their booking's status, and returned with what the
    bookkeeping needs — the same rows as the portable path's SELECT and UPDATE, without sending
    every id back to the server (100,000 requests in about a second instead of several)."""
    requests, bookings, vendors = (
        SignatureRequest._meta.db_table,
        Booking._meta.db_table,
        VendorProfile._meta.db_table,
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH due AS (
                SELECT id FROM "{requests}"
                WHERE status = %(open)s AND expires_at <= %(now)s
                ORDER BY expires_at, id
                LIMIT %(limit)s
                FOR UPDATE SKIP LOCKED
            )
            UPDATE "{requests}" AS r
            SET status = CASE WHEN b.status = %(awaiting)s THEN %(expired)s ELSE %(cancelled)s END,
                closed_at = %(now)s
            FROM due
            JOIN "{bookings}" AS b ON TRUE
            LEFT JOIN "{vendors}" AS v ON v.id = b.vendor_id
            WHERE r.id = due.id AND b.id = r.booking_id
            RETURNING r.id, r.booking_id, b.status, b.booking_number, b.scheduled_at, b.ends_at,
                      b.vendor_id, v.user_id
            """,  # noqa: S608 - table names come from the models, values are parameters
            {
                "open": SignatureRequestStatus.OPEN,
                "now": now,
                "limit": limit,
                "awaiting": BookingStatus.AWAITING_SIGNATURE,
                "expired": SignatureRequestStatus.EXPIRED,
                "cancelled": SignatureRequestStatus.CANCELLED,
            },
        )
        return sorted(cursor.fetchall(), key=lambda row: row[3])  # by booking number: a stable order


def _expired_bookkeeping(rows, *, now):
    note = _("The customer did not sign in time: waiting for a new request or a manual capture.")
    BookingEvent.objects.bulk_create(
        [
            BookingEvent(
                booking_id=row[1],
                event="signature_expired",
                from_status=BookingStatus.AWAITING_SIGNATURE,
                to_status=BookingStatus.AWAITING_SIGNATURE,
                note=note,
                created_at=now,
            )
            for row in rows
        ],
        batch_size=BULK_BATCH,
    )
    context = current_request_context()
    # AuditLog is append-only: inserting in bulk is what audit_record does, row by row.
    AuditLog.objects.bulk_create(
        [
            AuditLog(
                action="signature_request.expired",
                object_type=SignatureRequest._meta.label_lower,
                object_id=str(row[0]),
                old_values={"status": "open"},
                new_values={"status": "expired", "booking": str(row[1])},
                ip_address=context.ip_address,
                user_agent=context.user_agent,
                created_at=now,
            )
            for row in rows
        ],
        batch_size=BULK_BATCH,
    )
    vendor_users = {
        user.pk: user
        for user in User.objects.filter(pk__in={row[7] for row in rows if row[7]}).only(
            "id", "phone", "email", "notify_sms", "notify_email", "is_active"
        )
    }
    messages = []
    pushes = []
    for request_id, booking_id, _status, number, scheduled_at, ends_at, vendor_id, user_id in rows:
        pushes.append(
            booking_message(
                SimpleNamespace(
                    pk=booking_id,
                    status=BookingStatus.AWAITING_SIGNATURE,
                    booking_number=number,
                    scheduled_at=scheduled_at,
                    ends_at=ends_at,
                    vendor_id=vendor_id,
                ),
                event="signature_expired",
            )
        )
        if user_id in vendor_users:
            messages.append(
                Message(
                    user=vendor_users[user_id],
                    kind="signature.expired",
                    title=_("Signature request for %(number)s expired") % {"number": number},
                    body=_("The customer did not sign booking %(number)s in time. You can send a new request.")
                    % {"number": number},
                    data={"booking_id": str(booking_id), "signature_request_id": str(request_id)},
                )
            )
    # The vendors' notifications and the bookings' pushes leave together, in one after-commit hook.
    notify_bulk(messages, pushes=[(booking_group(message["booking_id"]), message) for message in pushes])
    notify_ops(
        kind="signature.expired",
        title=_("%(n)d signature request(s) expired") % {"n": len(rows)},
        body=_(
            "%(n)d booking(s) wait in the signature queue: send a new request, capture by hand with a reason, "
            "or cancel."
        )
        % {"n": len(rows)},
        data={"count": len(rows), "booking_ids": [str(row[1]) for row in rows[:50]]},
    )


def signature_requests_auto(*, now=None, limit: int = 200) -> int:
    """Request the signature of bookings completed at least ``signature_auto_request_hours``
    (default 2) ago whose vendor has not asked (§7). Each in its own transaction, the booking
    claimed with SKIP LOCKED and re-checked; safe to run twice or at once."""
    now = now or timezone.now()
    hours = SystemSettings.load().signature_auto_request_hours
    due = list(
        Booking.objects.filter(status=BookingStatus.COMPLETED, completed_at__lte=now - timedelta(hours=hours))
        .order_by("completed_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    made = 0
    for booking_id in due:
        try:
            with transaction.atomic():
                booking = (
                    Booking.objects.select_for_update(skip_locked=True)
                    .filter(pk=booking_id, status=BookingStatus.COMPLETED)
                    .first()
                )
                if booking is None:
                    continue
                _request, created = signature_request(booking=booking, user=None, now=now)
                made += int(created)
        except Exception:  # one booking's failure must not hold back the others
            logger.exception("Could not request the signature of booking %s", booking_id)
    return made


def signature_reminders_send(*, now=None, limit: int = 1000) -> int:
    """Remind customers 24 h before their open request expires, once (``reminder_sent_at`` is
    the marker, set for the claimed rows in one UPDATE in the same transaction as the
    notifications). A request made with less than 24 h to run gets no reminder: it was just sent."""
    now = now or timezone.now()
    with transaction.atomic():
        requests = list(
            SignatureRequest.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(
                status=SignatureRequestStatus.OPEN,
                reminder_sent_at__isnull=True,
                booking__status=BookingStatus.AWAITING_SIGNATURE,
                expires_at__gt=now,
                expires_at__lte=now + REMIND_BEFORE,
            )
            .filter(expires_at__gt=F("created_at") + REMIND_BEFORE)
            .select_related("booking", "booking__customer", "booking__vendor")
            .order_by("expires_at", "pk")[:limit]
        )
        if not requests:
            return 0
        SignatureRequest.objects.filter(pk__in=[r.pk for r in requests]).update(reminder_sent_at=now)
        messages = []
        for request in requests:
            token = token_for(request)
            if token is None:  # SECRET_KEY was rotated: a fresh token, so the reminder's link works
                token, nonce, digest = token_issue(request.pk)
                SignatureRequest.objects.filter(pk=request.pk).update(token_nonce=nonce, token_hash=digest)
            messages.append(_customer_message(booking=request.booking, request=request, token=token, reminder=True))
        notify_bulk(messages)
    return len(requests)
