"""One-time codes by SMS: proving a phone number, and signing in with it (ARCHITECTURE §10, §11).

- A code is 6 random digits (``secrets``), valid 5 minutes, good for one successful check.
- Only an HMAC-SHA256 of it is stored (keyed with SECRET_KEY, salted per code, bound to the
  number): a leaked table alone does not give codes away, even though there are only 10^6.
- 5 checks per code. The 5th wrong one kills it; checking a dead code answers 429 with
  Retry-After (seconds until a new code may be requested, 0 when it may be right away).
- 3 codes per number per rolling hour, counted on the ``PhoneOTP`` rows; the 4th request is 429
  with Retry-After (when the oldest of the three leaves the hour). Sends for one number are
  serialised on its ``PhoneOTPLock`` row, so concurrent requests cannot overshoot the limit.
- A new code makes the older ones for that number worthless.
- The SMS leaves through the same delivery task as notification SMS (retries, backoff, one send
  per delivery row). The code itself travels only in the task message, never in the database.
  Since sending is asynchronous, a number the provider rejects (invalid, landline, opted out) is
  recorded on the delivery row; the next request for that number within the hour gets a 400
  ``{"phone": [...]}`` saying why, instead of another futile send.
"""

import math
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from core import services
from core.errors import ApplicationError, InvalidInput
from core.models import STAFF_ROLES, DeliveryChannel, DeliveryStatus, NotificationDelivery, PhoneOTP, PhoneOTPLock, User
from core.notifications import dispatch_delivery_on_commit
from core.sms import RECIPIENT_ERROR_CODES, SMSRejected

OTP_DIGITS = 6
OTP_TTL = timedelta(minutes=5)
OTP_MAX_ATTEMPTS = 5
OTP_MAX_SENDS = 3
OTP_SEND_WINDOW = timedelta(hours=1)
OTP_KIND = "otp"


class OTPThrottled(ApplicationError):
    """Past a limit: 429 with ``Retry-After: retry_after`` (seconds)."""

    status_code = 429
    default_message = gettext_lazy("Too many requests.")

    def __init__(self, message=None, *, retry_after: int):
        self.retry_after = max(0, int(retry_after))
        super().__init__(message)


@dataclass(frozen=True)
class OTPVerified:
    """The outcome of a correct code. ``user`` is the account holding the number (now marked
    phone-verified), or None. ``sign_in`` says whether the code may sign that account in."""

    phone: str
    user: User | None
    sign_in: bool


def _code_hash(*, phone: str, salt: str, code: str) -> str:
    return salted_hmac("core.otp.PhoneOTP", f"{phone}:{salt}:{code}", algorithm="sha256").hexdigest()


def _new_code() -> str:
    return f"{secrets.randbelow(10**OTP_DIGITS):0{OTP_DIGITS}d}"


def _otp_sms_text(code: str) -> str:
    return _("%(code)s is your HomeServe verification code. It expires in 5 minutes. Never share it.") % {"code": code}


def _lock_phone(phone: str) -> None:
    """Serialise everything that counts or creates codes for ``phone``. The row is created on
    first use; a concurrent first use loses the insert race inside get_or_create and reads it."""
    PhoneOTPLock.objects.get_or_create(phone=phone)
    PhoneOTPLock.objects.select_for_update().get(phone=phone)


def _seconds_until_send_allowed(*, phone: str, now) -> int:
    recent = list(
        PhoneOTP.objects.filter(phone=phone, created_at__gt=now - OTP_SEND_WINDOW)
        .order_by("-created_at")
        .values_list("created_at", flat=True)[:OTP_MAX_SENDS]
    )
    if len(recent) < OTP_MAX_SENDS:
        return 0
    # The oldest of the last three sends frees a place when it leaves the window.
    return max(1, math.ceil((recent[-1] + OTP_SEND_WINDOW - now).total_seconds()))


def _recent_rejection(*, phone: str, now) -> SMSRejected | None:
    """The provider's verdict on the last code SMS to this number, if it refused the number
    within the hour (so another attempt cannot work)."""
    last = (
        NotificationDelivery.objects.filter(
            channel=DeliveryChannel.SMS, kind=OTP_KIND, to=phone, created_at__gt=now - OTP_SEND_WINDOW
        )
        .order_by("-created_at", "-id")
        .values("status", "error_code")
        .first()
    )
    if not last or last["status"] != DeliveryStatus.FAILED or not last["error_code"].isdigit():
        return None
    code = int(last["error_code"])
    return SMSRejected(code=code) if code in RECIPIENT_ERROR_CODES else None


def otp_send(*, phone: str) -> PhoneOTP:
    """Send a new code to ``phone`` (E.164, already validated). Raises ``OTPThrottled`` past the
    send limit and ``InvalidInput`` for a number the SMS provider refused within the hour."""
    with transaction.atomic():
        _lock_phone(phone)
        now = timezone.now()
        rejection = _recent_rejection(phone=phone, now=now)
        if rejection is not None:
            raise InvalidInput(fields={"phone": [str(rejection.user_message)]})
        wait = _seconds_until_send_allowed(phone=phone, now=now)
        if wait:
            raise OTPThrottled(
                _("Too many codes were sent to this number. Try again in %(minutes)d minutes.")
                % {"minutes": math.ceil(wait / 60)},
                retry_after=wait,
            )
        PhoneOTP.objects.filter(phone=phone, used_at__isnull=True, superseded_at__isnull=True).update(superseded_at=now)
        code, salt = _new_code(), secrets.token_hex(8)
        delivery = NotificationDelivery.objects.create(
            channel=DeliveryChannel.SMS, kind=OTP_KIND, to=phone, created_at=now
        )
        otp = PhoneOTP.objects.create(
            phone=phone,
            code_hash=_code_hash(phone=phone, salt=salt, code=code),
            salt=salt,
            created_at=now,
            expires_at=now + OTP_TTL,
            delivery=delivery,
        )
        dispatch_delivery_on_commit(delivery.pk, text=_otp_sms_text(code))
    return otp


def otp_verify(*, phone: str, code: str) -> OTPVerified:
    """Check ``code`` against the newest code sent to ``phone``.

    Raises ``InvalidInput`` (400) for no code sent / a used, expired or wrong code, and
    ``OTPThrottled`` (429) for a code killed by too many wrong tries. A wrong try is counted
    even though an error is raised: the count is committed first.
    """
    with transaction.atomic():
        error, result = _check_and_consume(phone=phone, code=code)
    if error is not None:
        raise error
    return result


def _check_and_consume(*, phone: str, code: str):
    now = timezone.now()
    otp = (
        PhoneOTP.objects.select_for_update()
        .filter(phone=phone, superseded_at__isnull=True)
        .order_by("-created_at", "-id")
        .first()
    )
    if otp is None:
        return InvalidInput(fields={"phone": [_("No code was sent to this number. Ask for a new code.")]}), None
    if otp.used_at is not None:
        return InvalidInput(fields={"otp": [_("This code was already used. Ask for a new code.")]}), None
    if otp.attempts >= OTP_MAX_ATTEMPTS:
        return OTPThrottled(
            _("Too many wrong codes. Ask for a new code."),
            retry_after=_seconds_until_send_allowed(phone=phone, now=now),
        ), None
    if now >= otp.expires_at:
        return InvalidInput(fields={"otp": [_("This code has expired. Ask for a new code.")]}), None
    if not constant_time_compare(otp.code_hash, _code_hash(phone=phone, salt=otp.salt, code=code)):
        otp.attempts += 1
        otp.save(update_fields=["attempts"])
        left = OTP_MAX_ATTEMPTS - otp.attempts
        if left:
            message = ngettext("Wrong code. %(left)d attempt left.", "Wrong code. %(left)d attempts left.", left) % {
                "left": left
            }
        else:
            message = _("Wrong code. No attempts left: ask for a new code.")
        return InvalidInput(fields={"otp": [message]}), None

    otp.used_at = now
    otp.save(update_fields=["used_at"])
    user = User.objects.filter(phone=phone, is_active=True).first()
    if user is not None:
        user = services.user_mark_phone_verified(user=user)
    # Staff accounts guard money and personal data: a code by SMS proves the number, but they
    # sign in with their password (a SIM swap must not open the back office).
    sign_in = user is not None and user.role not in STAFF_ROLES
    return None, OTPVerified(phone=phone, user=user, sign_in=sign_in)
