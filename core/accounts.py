"""Password reset and e-mail verification (ARCHITECTURE §10, §11).

Password reset
- ``password_reset_request``: ``POST /auth/password-reset/`` {email}. The answer never says
  whether an account has the address: the same 200 and the same work either way (the account is
  looked up, a password hash is computed — as Django's ModelBackend does for an unknown username —
  and a reset token is made, for the account or for a throwaway stand-in). Only then, for an
  active account, is the e-mail queued; it is sent after commit by the delivery task, so the
  SMTP round trip never shows in the answer's timing. At most ``RESET_EMAILS_PER_HOUR`` e-mails per
  address per hour (a mail bomb against someone's inbox), on top of the per-address throttle.
- The link is ``{SITE_URL}/account/reset/<uid>/<token>/``. The token is Django's
  ``PasswordResetTokenGenerator``: an HMAC over the account's id, password hash, last sign-in and
  e-mail plus a timestamp. So it expires after ``PASSWORD_RESET_TIMEOUT`` (1 h), is spent by the
  reset it allows (the password hash changes), and dies with any other password change, sign-in
  or e-mail change. Nothing about it is stored.
- ``password_reset_confirm``: sets the new password under the §11 validators, with the account's
  row locked so two uses of one link cannot both succeed, then ends every session (Django checks a
  hash of the password hash on each request) and every refresh token (blacklisted), and — through
  ``SIMPLE_JWT["CHECK_REVOKE_TOKEN"]`` — every access token. Having received the link at the
  address also proves the address: it is marked verified.

E-mail verification
- A link ``{SITE_URL}/account/verify-email/<token>/`` is sent at sign-up, after an e-mail change and
  on request (``POST /auth/verify-email/resend/``). The token is signed with SECRET_KEY and names
  the account, the address it was sent to and when; it is refused after
  ``EMAIL_VERIFICATION_TIMEOUT`` and once the account's address is another one.
- Until verified, a person can browse and book, but receipts are not e-mailed to the address
  (core.notifications.RECEIPT_KIND_PREFIXES).

The links travel only in the task message of their ``NotificationDelivery`` (like a one-time
code), never in a stored notification: a database reader cannot take over accounts.
"""

import secrets
import uuid
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.hashers import make_password
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode
from django.utils.translation import gettext as _

from core.audit import audit_record
from core.errors import InvalidInput
from core.models import DeliveryChannel, NotificationDelivery, User
from core.notifications import dispatch_delivery_on_commit

PASSWORD_RESET_KIND = "account.password_reset"  # noqa: S105 (a notification kind, not a secret)
EMAIL_VERIFICATION_KIND = "account.email_verification"
RESET_EMAILS_PER_HOUR = 3
_VERIFY_SALT = "core.accounts.email_verification"


# --- tokens --------------------------------------------------------------------------------------


class _ResetTokens(PasswordResetTokenGenerator):
    """Django's reset-token generator, with the clock given by the caller (``now``)."""

    def __init__(self, now=None):
        super().__init__()
        self._fixed_now = now

    def _now(self):
        if self._fixed_now is None:
            return super()._now()
        # Django counts in naive local time (datetime.now()); give it the same.
        now = self._fixed_now
        return timezone.make_naive(now) if timezone.is_aware(now) else now


def password_reset_token(user: User, *, now=None) -> tuple[str, str]:
    """(uid, token) of a reset link for ``user``, as of ``now``."""
    return urlsafe_base64_encode(force_bytes(user.pk)), _ResetTokens(now).make_token(user)


def password_reset_link(uid: str, token: str) -> str:
    return f"{settings.SITE_URL}/account/reset/{uid}/{token}/"


def split_reset_token(token: str, uid: str | None = None) -> tuple[str, str]:
    """The API takes the link's two parts as ``uid`` + ``token``, or as one ``token`` written
    ``<uid>:<token>`` (neither part ever contains a colon)."""
    token = (token or "").strip()
    if uid:
        return uid.strip(), token
    uid, _sep, rest = token.partition(":")
    return uid, rest


def _user_for_uid(uid: str, *, lock: bool = False) -> User | None:
    try:
        pk = uuid.UUID(force_str(urlsafe_base64_decode(uid)))
    except (TypeError, ValueError, OverflowError, UnicodeDecodeError):
        return None
    queryset = User.objects.select_for_update() if lock else User.objects
    return queryset.filter(pk=pk, is_active=True).first()


def _link_invalid():
    return InvalidInput(
        fields={"token": [_("This password-reset link is invalid, used or expired. Ask for a new one.")]}
    )


# --- password reset -------------------------------------------------------------------------------


def _send_link_email(*, kind: str, to: str, text: str, now) -> NotificationDelivery:
    delivery = NotificationDelivery.objects.create(channel=DeliveryChannel.EMAIL, kind=kind, to=to, created_at=now)
    dispatch_delivery_on_commit(delivery.pk, text=text)
    return delivery


def _reset_email_text(link: str) -> str:
    return _(
        "Someone asked to reset the password of your HomeServe account.\n\n"
        "To choose a new password, open this link within one hour:\n%(link)s\n\n"
        "The link works once. If you did not ask for it, ignore this e-mail: your password stays as it is."
    ) % {"link": link}


def password_reset_request(*, email: str, now=None) -> None:
    """Send a reset link if an active account has ``email``; say nothing either way.

    Both paths run the same statements up to the final ``if``: the lookup, one password hash and
    one token."""
    now = now or timezone.now()
    email = (email or "").strip()
    with transaction.atomic():
        # Locked so that concurrent requests count the hourly e-mails of the address one by one.
        user = User.objects.select_for_update().filter(email__iexact=email, is_active=True).first() if email else None
        # One password hash on both paths (as Django's ModelBackend computes for an unknown
        # username), so the time taken does not tell either.
        equaliser = make_password(secrets.token_urlsafe(16))
        subject = user if user is not None else User(email=email, password=equaliser)
        uid, token = password_reset_token(subject, now=now)
        if user is not None and _reset_emails_sent(user.email, now) < RESET_EMAILS_PER_HOUR:
            _send_link_email(
                kind=PASSWORD_RESET_KIND,
                to=user.email,
                text=_reset_email_text(password_reset_link(uid, token)),
                now=now,
            )
            audit_record(actor=None, action="user.password_reset_requested", obj=user)


def _reset_emails_sent(email: str, now) -> int:
    return NotificationDelivery.objects.filter(
        kind=PASSWORD_RESET_KIND, to__iexact=email, created_at__gt=now - timedelta(hours=1)
    ).count()


def password_reset_check(*, uid: str, token: str, now=None) -> User | None:
    """The account a reset link is for while the link is still good, else None (for a page that
    shows "this link has expired" before asking for a password)."""
    user = _user_for_uid(uid)
    if user is None or not _ResetTokens(now).check_token(user, token):
        return None
    return user


def password_reset_confirm(*, uid: str, token: str, new_password: str, now=None) -> User:
    """Set a new password with a reset link. Raises ``InvalidInput`` on ``token`` for a bad,
    used or expired link and on ``new_password`` for a password the validators refuse (the link
    then stays good). Ends every session and token of the account."""
    with transaction.atomic():
        user = _user_for_uid(uid, lock=True)
        if user is None or not _ResetTokens(now).check_token(user, token):
            raise _link_invalid()
        try:
            password_validation.validate_password(new_password, user)
        except ValidationError as error:
            raise InvalidInput(fields={"new_password": list(error.messages)}) from None
        user.set_password(new_password)
        fields = ["password"]
        if not user.email_verified:
            user.email_verified = True
            fields.append("email_verified")
        user.save(update_fields=fields)
        ended = user_tokens_end(user=user, now=now)
        audit_record(
            actor=user,
            action="user.password_reset",
            obj=user,
            new={"refresh_tokens_ended": ended, **({"email_verified": True} if "email_verified" in fields else {})},
        )
        username = user.username
        transaction.on_commit(lambda: _clear_lockout(username), robust=True)
    return user


def _clear_lockout(username: str) -> None:
    """A person who proved they hold the address may sign in with the new password at once."""
    from axes.utils import reset

    reset(username=username)


def user_tokens_end(*, user: User, now=None) -> int:
    """Blacklist every refresh token of ``user`` still in date; returns how many. Access tokens
    die with the password hash they carry (SIMPLE_JWT CHECK_REVOKE_TOKEN) or with is_active."""
    from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

    now = now or timezone.now()
    live = list(
        OutstandingToken.objects.filter(user=user, expires_at__gt=now, blacklistedtoken__isnull=True).only("pk")
    )
    BlacklistedToken.objects.bulk_create([BlacklistedToken(token=token) for token in live], ignore_conflicts=True)
    return len(live)


# --- e-mail verification ----------------------------------------------------------------------------


def email_verification_token(user: User, *, now=None) -> str:
    now = now or timezone.now()
    payload = {"u": str(user.pk), "e": user.email.lower(), "t": int(now.timestamp())}
    return signing.Signer(salt=_VERIFY_SALT).sign_object(payload, compress=True)


def email_verification_link(token: str) -> str:
    return f"{settings.SITE_URL}/account/verify-email/{token}/"


def _verification_email_text(link: str) -> str:
    days = max(1, settings.EMAIL_VERIFICATION_TIMEOUT // 86400)
    return _(
        "Please confirm that this is your e-mail address for HomeServe by opening this link "
        "(it works for %(days)d days):\n%(link)s\n\n"
        "Until you do, we send booking and payment receipts only in the app.\n"
        "If you did not sign up for HomeServe, ignore this e-mail."
    ) % {"link": link, "days": days}


def email_verification_send(*, user: User, now=None) -> bool:
    """E-mail a verification link to the account's current address, in the caller's
    transaction (sent after commit). False when there is nothing to verify."""
    now = now or timezone.now()
    if not user.email or user.email_verified or not user.is_active:
        return False
    link = email_verification_link(email_verification_token(user, now=now))
    _send_link_email(kind=EMAIL_VERIFICATION_KIND, to=user.email, text=_verification_email_text(link), now=now)
    return True


def _verification_invalid(message=None):
    return InvalidInput(fields={"token": [message or _("This verification link is invalid. Ask for a new one.")]})


def email_verify(*, token: str, now=None) -> User:
    """Mark the address of a verification link verified. Raises ``InvalidInput`` on ``token``
    for a forged, expired or outdated (the address changed since) link. Verifying again is fine."""
    now = now or timezone.now()
    try:
        payload = signing.Signer(salt=_VERIFY_SALT).unsign_object((token or "").strip())
        user_id, email, issued = uuid.UUID(payload["u"]), str(payload["e"]), int(payload["t"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise _verification_invalid() from None
    if now - datetime.fromtimestamp(issued, tz=UTC) > timedelta(seconds=settings.EMAIL_VERIFICATION_TIMEOUT):
        raise _verification_invalid(_("This verification link has expired. Ask for a new one."))
    with transaction.atomic():
        user = User.objects.select_for_update().filter(pk=user_id, is_active=True).first()
        if user is None or user.email.lower() != email:
            raise _verification_invalid(
                _("This link was sent to an address that is no longer the account's. Ask for a new one.")
            )
        if not user.email_verified:
            user.email_verified = True
            user.save(update_fields=["email_verified"])
            audit_record(actor=user, action="user.email_verified", obj=user, new={"email_verified": True})
    return user
