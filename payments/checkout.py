"""Checkout: a booking's payment attempts up to the point where the payment is *ready*
(ARCHITECTURE §5 "Offers and assignment", §6).

- ``attempt_open`` (inside ``booking_create``'s transaction): the booking's first attempt. A cash
  booking or a zero total is ready at once; a card booking waits for its card.
- ``attempt_prepare`` (after commit — never under a lock): creates the gateway side, a
  PaymentIntent with manual capture, or for a booking more than ``SAVE_CARD_ONLY_AFTER`` ahead a
  SetupIntent that only saves the card (an authorisation would lapse before the visit; the sweep
  ``authorize_due_bookings`` authorises 24 h before the start).
- ``payment_confirm``: the fake gateway's card form (card details, or ``authentication`` to
  finish 3-D Secure), or with Stripe a re-read of the intent the browser confirmed. The status
  always comes from the gateway's answer, never from the browser.
- ``attempt_sync``: the one place a gateway intent's state is applied to an attempt — by
  ``payment_confirm``, the webhooks and the reconciliation. An authorisation (or a saved card)
  makes the booking ready (``booking_mark_ready``); if the booking has meanwhile expired or been
  cancelled, the hold is released instead.

A declined card ends its attempt (``failed``) and opens a new one, so the customer can retry
with another card while the booking stays pending and unoffered; a card booking not ready within
``unpaid_expiry()`` (system setting ``unpaid_expiry_minutes``, default 15)
expires and frees its slot (bookings.services.transitions.expire_unpaid_bookings).
"""

import contextlib
import logging
import uuid
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from bookings.models import Booking, BookingStatus, PaymentMethod
from core.errors import ApplicationError, Conflict, InvalidInput, NotFound
from payments.gateways import get_gateway
from payments.gateways.base import CardDetails, IntentStatus, SetupIntentStatus
from payments.gateways.errors import GatewayError, InvalidPaymentRequest, PaymentDeclined
from payments.models import AttemptStatus, GatewayCustomer, PaymentAttempt
from payments.services import attempt_advance

logger = logging.getLogger(__name__)

# A booking further ahead than this only saves the card at checkout (§6: holds lapse after ~7 days).
SAVE_CARD_ONLY_AFTER = timedelta(days=3)


def unpaid_expiry() -> timedelta:
    """How soon after it was made a card booking must be ready (authorised or card saved), §5."""
    from core.models import SystemSettings

    return timedelta(minutes=SystemSettings.load().unpaid_expiry_minutes)


# The sweep authorises a saved card this long before the start (§6).
AUTHORIZE_BEFORE_START = timedelta(hours=24)

WAITING_FOR_CARD = (AttemptStatus.REQUIRES_PAYMENT_METHOD, AttemptStatus.REQUIRES_ACTION)
READY_STATUSES = (AttemptStatus.AUTHORIZED, AttemptStatus.CARD_SAVED)


class PaymentRefused(ApplicationError):
    """The card was declined: the customer should try another (402). ``attempt`` is the new
    attempt to confirm next (None when the booking can no longer be paid)."""

    status_code = 402
    default_message = gettext_lazy("The card was declined.")

    def __init__(self, message=None, *, code: str = "", attempt=None):
        super().__init__(message, extra={"code": code})
        self.attempt = attempt


class GatewayDown(ApplicationError):
    status_code = 503
    default_message = gettext_lazy("The payment service is not answering. Please try again in a minute.")
    retry_after = 60


def active_attempt(booking) -> PaymentAttempt | None:
    return PaymentAttempt.objects.filter(booking=booking, is_active=True).first()


def _needs_card(booking) -> bool:
    return booking.payment_method == PaymentMethod.CARD and booking.total > 0


def attempt_open(*, booking: Booking, now=None) -> PaymentAttempt | None:
    """Open the booking's payment attempt inside its creating transaction. Returns None for a
    zero total (nothing to pay). The caller marks a booking ready unless ``payment_pending``."""
    now = now or timezone.now()
    if booking.total == 0:
        return None
    return PaymentAttempt.objects.create(
        booking=booking, method=booking.payment_method, amount=booking.total, currency=booking.currency, created_at=now
    )


def payment_pending(booking) -> bool:
    """True while the booking waits for its card (so it must not be offered yet)."""
    return _needs_card(booking)


def booking_awaits_card(booking) -> bool:
    """Whether the customer still has a card to give for this booking: it is pending, not yet
    ready (no card authorised or saved) and paid by card with something to pay. The checkout
    page takes a card only then; the booking page links to it only then."""
    return booking.status == BookingStatus.PENDING and booking.ready_at is None and payment_pending(booking)


def _saves_card_only(booking, now) -> bool:
    return booking.scheduled_at - now > SAVE_CARD_ONLY_AFTER


def _gateway_customer(gateway, user) -> str:
    found = GatewayCustomer.objects.filter(user=user, gateway=gateway.name).values_list("customer_id", flat=True)
    if found:
        return found[0]
    customer = gateway.create_customer(
        email=user.email,
        name=user.get_full_name() or user.username,
        idempotency_key=f"customer-{user.pk}",
        metadata={"user_id": str(user.pk)},
    )
    GatewayCustomer.objects.get_or_create(user=user, gateway=gateway.name, defaults={"customer_id": customer.id})
    return GatewayCustomer.objects.get(user=user, gateway=gateway.name).customer_id


def attempt_prepare(*, attempt: PaymentAttempt, now=None) -> PaymentAttempt:
    """Create the gateway side of a card attempt (outside any transaction: it calls the gateway).
    Idempotent: the gateway calls carry keys derived from the attempt, and an attempt that has
    its intent is returned as it is. Raises ``GatewayDown`` when the gateway does not answer —
    the attempt stays, and the next confirm prepares it again."""
    now = now or timezone.now()
    if attempt.method != PaymentMethod.CARD or attempt.gateway_intent_id or attempt.gateway_setup_intent_id:
        return attempt
    booking = attempt.booking
    gateway = get_gateway()
    metadata = {"booking_id": str(booking.pk), "booking_number": booking.booking_number, "attempt_id": str(attempt.pk)}
    try:
        customer_id = _gateway_customer(gateway, booking.customer)
        if _saves_card_only(booking, now):
            setup = gateway.create_setup_intent(
                customer_id=customer_id, idempotency_key=f"setup-{attempt.pk}", metadata=metadata
            )
            fields = {"gateway_setup_intent_id": setup.id, "client_secret": setup.client_secret or ""}
        else:
            intent = gateway.create_payment_intent(
                amount=attempt.amount,
                currency=attempt.currency,
                customer_id=customer_id,
                metadata=metadata,
                idempotency_key=f"intent-{attempt.pk}",
            )
            fields = {"gateway_intent_id": intent.id, "client_secret": intent.client_secret or ""}
    except GatewayError as error:
        logger.warning("Preparing payment %s failed: %r", attempt.pk, error)
        raise GatewayDown() from error
    fields.update(gateway=gateway.name, gateway_customer_id=customer_id)
    PaymentAttempt.objects.filter(pk=attempt.pk, gateway_intent_id="", gateway_setup_intent_id="").update(
        **fields, updated_at=now
    )
    attempt.refresh_from_db()
    return attempt


def checkout_start(*, booking: Booking) -> PaymentAttempt | None:
    """Right after a booking committed (under no lock): its card payment gets its gateway intent
    and client_secret. If the gateway is down the booking stands and the confirm call prepares
    the payment again. Returns the active attempt, if any."""
    attempt = active_attempt(booking)
    if attempt is not None and attempt.method == PaymentMethod.CARD:
        with contextlib.suppress(GatewayDown):
            attempt = attempt_prepare(attempt=attempt)
    return attempt


def payment_get_for_customer(*, payment_id, user) -> PaymentAttempt:
    """The caller's own attempt, else 404 (also for a malformed id)."""
    try:
        payment_id = uuid.UUID(str(payment_id))
    except ValueError:
        raise NotFound() from None
    attempt = PaymentAttempt.objects.select_related("booking").filter(pk=payment_id, booking__customer=user).first()
    if attempt is None:
        raise NotFound()
    return attempt


def payment_confirm(
    *, attempt: PaymentAttempt, user, card: CardDetails | None = None, authentication: str | None = None, now=None
) -> PaymentAttempt:
    """Authorise (or save) the card of the caller's booking. Returns the attempt as the gateway
    left it: ``authorized`` / ``card_saved`` (the booking is now offered) or ``requires_action``
    (3-D Secure: confirm again with ``authentication``). Raises ``PaymentRefused`` (402) with a
    fresh attempt when the card is declined, ``Conflict`` when the booking can no longer be paid."""
    now = now or timezone.now()
    if attempt.booking.customer_id != user.pk:
        raise NotFound()
    if attempt.method != PaymentMethod.CARD:
        raise Conflict(_("This booking is paid in cash; there is no card to confirm."))
    if attempt.status not in WAITING_FOR_CARD:
        if attempt.is_active:
            return attempt  # a repeated confirm after success
        current = active_attempt(attempt.booking)
        detail = _("This payment has ended (%(status)s).") % {"status": attempt.status}
        if current is not None and current.pk != attempt.pk:
            detail += " " + _("Confirm the booking's current payment %(id)s instead.") % {"id": current.pk}
        raise Conflict(detail)
    booking = attempt.booking
    if booking.status != BookingStatus.PENDING:
        raise Conflict(_("A %(status)s booking can no longer be paid.") % {"status": booking.status})
    if now - booking.created_at > unpaid_expiry():
        raise Conflict(_("The time to pay for this booking has run out; please book again."))
    if card is None and authentication is None and get_gateway().name == "fake":
        raise InvalidInput(fields={"card_number": [_("Give the card details.")]})
    attempt = attempt_prepare(attempt=attempt, now=now)
    gateway = get_gateway()
    try:
        if attempt.gateway_setup_intent_id:
            if card is None and authentication is None:
                result = _unless_declined(gateway.retrieve_setup_intent(attempt.gateway_setup_intent_id))
            else:
                result = gateway.confirm_setup_intent(
                    attempt.gateway_setup_intent_id, card=card, authentication=authentication
                )
            return setup_sync(attempt=attempt, setup=result, now=now)
        if card is None and authentication is None:
            result = _unless_declined(gateway.retrieve_payment_intent(attempt.gateway_intent_id))
        else:
            result = gateway.confirm_payment_intent(attempt.gateway_intent_id, card=card, authentication=authentication)
        return attempt_sync(attempt=attempt, intent=result, now=now)
    except PaymentDeclined as error:
        retry = _decline(attempt=attempt, error=error, now=now)
        raise PaymentRefused(error.user_message, code=error.decline_code or error.code or "", attempt=retry) from None
    except InvalidPaymentRequest as error:
        raise InvalidInput(fields={"card_number": [_("The card details are not valid.")]}) from error
    except GatewayError as error:
        logger.warning("Confirming payment %s failed: %r", attempt.pk, error)
        raise GatewayDown() from error


def _unless_declined(result):
    """A re-read intent (the browser confirmed it with Stripe.js) that the bank declined is a
    decline like one our own confirm call gets: waiting for a card again, with the error kept."""
    if result.status == IntentStatus.REQUIRES_PAYMENT_METHOD and result.last_error_code:
        raise PaymentDeclined(
            decline_code=result.last_error_decline_code, code=result.last_error_code, intent_id=result.id
        )
    return result


def _decline(*, attempt, error, now) -> PaymentAttempt | None:
    retry = attempt_declined(
        attempt=attempt, code=error.decline_code or error.code or "declined", message=error.user_message, now=now
    )
    # The declined intent is closed at the gateway: a browser still holding its client_secret
    # must not authorise it later, a hold no active attempt would track. The retry gets its own
    # intent now, so the 402 answer carries the client_secret Stripe.js needs.
    if attempt.gateway_intent_id:
        try:
            get_gateway().cancel_payment_intent(
                attempt.gateway_intent_id, idempotency_key=f"void-{attempt.pk}", reason="abandoned"
            )
        except GatewayError as gateway_error:
            logger.warning("Closing declined payment %s failed: %r", attempt.pk, gateway_error)
    if retry is not None:
        with contextlib.suppress(GatewayDown):  # then the next confirm prepares it
            retry = attempt_prepare(attempt=retry, now=now)
    return retry


def attempt_declined(*, attempt, code: str, message: str = "", now=None) -> PaymentAttempt | None:
    """End a declined attempt and open the next one while the booking still waits for its card
    (it stays pending and unoffered). Returns the attempt to confirm next, or None."""
    now = now or timezone.now()
    with transaction.atomic():
        attempt_advance(
            attempt=attempt,
            to_status=AttemptStatus.FAILED,
            now=now,
            failure_code=str(code)[:60],
            failure_message=str(message)[:300],
        )
        booking = Booking.objects.select_for_update().get(pk=attempt.booking_id)
        if booking.status != BookingStatus.PENDING or booking.ready_at is not None:
            return None
        current = active_attempt(booking)
        if current is not None:
            return current
        return PaymentAttempt.objects.create(
            booking=booking,
            method=booking.payment_method,
            amount=booking.total,
            currency=booking.currency,
            created_at=now,
        )


def _became_ready(attempt_id, now):
    """After an attempt became authorised or saved its card: offer the booking, or — if it is no
    longer waiting (expired, cancelled) — release the money through the cancellation settlement."""
    from bookings.services.offers import booking_mark_ready
    from payments.operations import settle_booking_money

    attempt = PaymentAttempt.objects.select_related("booking").get(pk=attempt_id)
    booking = attempt.booking
    if booking.status == BookingStatus.PENDING:
        booking_mark_ready(booking=booking, now=now, actor=None)
    elif booking.status in (BookingStatus.CANCELLED, BookingStatus.EXPIRED):
        settle_booking_money(booking=booking, reason=f"booking {booking.status}")


def attempt_sync(*, attempt: PaymentAttempt, intent, now=None) -> PaymentAttempt:
    """Apply a PaymentIntent as the gateway reports it (confirm answer, re-read, webhook)."""
    now = now or timezone.now()
    with transaction.atomic():
        if intent.status == IntentStatus.REQUIRES_ACTION:
            attempt, _moved = attempt_advance(attempt=attempt, to_status=AttemptStatus.REQUIRES_ACTION, now=now)
        elif intent.status == IntentStatus.REQUIRES_CAPTURE:
            attempt = attempt_authorized(attempt=attempt, payment_method_id=intent.payment_method_id, now=now)
        elif intent.status == IntentStatus.CANCELED:
            attempt, _moved = attempt_advance(attempt=attempt, to_status=AttemptStatus.CANCELLED, now=now)
        elif intent.status == IntentStatus.SUCCEEDED:
            from payments.operations import record_capture

            attempt = record_capture(attempt=attempt, amount=intent.amount_received, now=now)
    attempt.refresh_from_db()
    return attempt


def attempt_authorized(*, attempt: PaymentAttempt, payment_method_id: str | None = None, now=None) -> PaymentAttempt:
    """The gateway holds the money (confirm answer, re-read or webhook): the attempt is
    authorised and the booking offered — once, however many signals say so."""
    now = now or timezone.now()
    with transaction.atomic():
        attempt, moved = attempt_advance(
            attempt=attempt,
            to_status=AttemptStatus.AUTHORIZED,
            now=now,
            gateway_payment_method_id=payment_method_id or attempt.gateway_payment_method_id,
        )
        if moved:
            _became_ready(attempt.pk, now)
    return attempt


def setup_sync(*, attempt: PaymentAttempt, setup, now=None) -> PaymentAttempt:
    """Apply a SetupIntent as the gateway reports it: saved → ``card_saved`` and ready."""
    now = now or timezone.now()
    with transaction.atomic():
        if setup.status == SetupIntentStatus.REQUIRES_ACTION:
            attempt, _moved = attempt_advance(attempt=attempt, to_status=AttemptStatus.REQUIRES_ACTION, now=now)
        elif setup.status == SetupIntentStatus.SUCCEEDED:
            attempt, _moved = attempt_advance(
                attempt=attempt,
                to_status=AttemptStatus.CARD_SAVED,
                now=now,
                gateway_payment_method_id=setup.payment_method_id or "",
            )
            if attempt.status == AttemptStatus.CARD_SAVED:
                _became_ready(attempt.pk, now)
        elif setup.status == SetupIntentStatus.CANCELED:
            attempt, _moved = attempt_advance(attempt=attempt, to_status=AttemptStatus.CANCELLED, now=now)
    attempt.refresh_from_db()
    return attempt
