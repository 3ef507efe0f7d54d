"""The SMS adapter (ARCHITECTURE §2, CONVENTIONS "one adapter per outside system").

One small interface, ``backend.send(to=..., body=...) -> SentSMS``, with two backends chosen by
the ``SMS_BACKEND`` setting:

- ``console`` (the embedded default): writes the message to the log and always succeeds.
- ``twilio``: the real twilio SDK against the Messages API.

Failures come in two kinds, so callers know whether trying again can help:

- ``SMSRejected``: this message can never be delivered as asked (an invalid or landline number,
  a recipient who replied STOP, a malformed request). Not retried; ``user_message`` says what to
  tell the person.
- ``SMSProviderFault``: the provider or the network is in trouble (5xx, 429, timeouts, refused
  connections, bad credentials). Retried by the sending task with backoff.
"""

import functools
import logging
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _

logger = logging.getLogger(__name__)


class SMSError(Exception):
    def __init__(self, message: str = "", *, code: int | str | None = None, status: int | None = None):
        self.message = message
        self.code = code
        self.status = status
        super().__init__(message)


class SMSRejected(SMSError):
    """The provider refused this message for good; sending it again gives the same answer."""

    @property
    def user_message(self):
        return RECIPIENT_MESSAGES.get(self.code, _("We could not send a text message to this number."))


class SMSProviderFault(SMSError):
    """The provider could not take the message now; it may succeed later."""


# Twilio error codes that mean "this recipient cannot get this SMS", with what to tell them.
# https://www.twilio.com/docs/api/errors
INVALID_NUMBER = _("This is not a valid mobile number. Check it and include the country code, e.g. +919812345678.")
RECIPIENT_MESSAGES = {
    21211: INVALID_NUMBER,  # invalid 'To' phone number
    21217: INVALID_NUMBER,  # phone number does not appear to be valid
    21401: INVALID_NUMBER,  # invalid phone number
    21614: _("This number cannot receive text messages (it is not a mobile number)."),
    21407: _("This number cannot receive text messages."),
    21612: _("Text messages cannot be delivered to this number."),
    21408: _("We cannot send text messages to this country yet."),
    21610: _("This number has opted out of our text messages (it replied STOP). Reply START to opt back in."),
}
RECIPIENT_ERROR_CODES = frozenset(RECIPIENT_MESSAGES)


@dataclass(frozen=True)
class SentSMS:
    provider_id: str
    status: str = "queued"


class SMSBackend:
    def send(self, *, to: str, body: str) -> SentSMS:
        raise NotImplementedError


class ConsoleSMSBackend(SMSBackend):
    """Writes each message to the log (the embedded default: there is no SMS provider to reach)."""

    def send(self, *, to: str, body: str) -> SentSMS:
        provider_id = f"console-{uuid.uuid4().hex}"
        logger.info("SMS to %s (%s): %s", to, provider_id, body)
        return SentSMS(provider_id=provider_id, status="sent")


def _twilio_http_client(*, api_base_url: str, timeout: float):
    from twilio.http.http_client import TwilioHttpClient

    class BaseURLHttpClient(TwilioHttpClient):
        """The SDK's own HTTP client, with every ``https://*.twilio.com`` URL re-based onto
        ``api_base_url`` (a local fake of the Twilio API in tests). Everything else the SDK
        does — paths, form encoding, Basic auth, error parsing — is unchanged."""

        def request(self, method, url, *args, **kwargs):
            if api_base_url:
                parts = urlsplit(url)
                if (parts.hostname or "").endswith("twilio.com"):
                    base = urlsplit(api_base_url)
                    url = urlunsplit(
                        (base.scheme, base.netloc, base.path.rstrip("/") + parts.path, parts.query, parts.fragment)
                    )
            return super().request(method, url, *args, **kwargs)

    # The SDK waits forever by default; a hung provider must become a retryable fault instead.
    return BaseURLHttpClient(timeout=timeout)


class TwilioSMSBackend(SMSBackend):
    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        from_number: str = "",
        messaging_service_sid: str = "",
        api_base_url: str = "",
        timeout: float = 10.0,
    ):
        if not account_sid or not auth_token:
            raise ImproperlyConfigured("SMS_BACKEND=twilio needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN.")
        if not from_number and not messaging_service_sid:
            raise ImproperlyConfigured("SMS_BACKEND=twilio needs TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID.")
        from twilio.rest import Client

        self.from_number = from_number
        self.messaging_service_sid = messaging_service_sid
        self.client = Client(
            account_sid, auth_token, http_client=_twilio_http_client(api_base_url=api_base_url, timeout=timeout)
        )

    def send(self, *, to: str, body: str) -> SentSMS:
        import requests
        from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException

        sender = (
            {"messaging_service_sid": self.messaging_service_sid}
            if self.messaging_service_sid
            else {"from_": self.from_number}
        )
        try:
            message = self.client.messages.create(to=to, body=body, **sender)
        except (TwilioRestException, TwilioServiceException) as exc:
            raise _classify_twilio_error(exc) from exc
        except requests.RequestException as exc:  # timeouts, refused or dropped connections
            raise SMSProviderFault(f"Twilio unreachable: {exc.__class__.__name__}: {exc}") from exc
        except TwilioException as exc:
            raise SMSProviderFault(f"Twilio client error: {exc}") from exc
        return SentSMS(provider_id=message.sid or "", status=message.status or "queued")


def _classify_twilio_error(exc) -> SMSError:
    status = int(getattr(exc, "status", 0) or 0)
    try:
        code = int(getattr(exc, "code", None))
    except (TypeError, ValueError):
        code = None
    text = getattr(exc, "msg", None) or getattr(exc, "detail", None) or getattr(exc, "title", None) or ""
    message = f"Twilio {status} error {code}: {text}"
    if status == 429 or status >= 500 or status in (401, 403, 404):
        # Overload, outage, or our own credentials/account: nothing the recipient can fix, and
        # it may work later (or after ops fix the configuration).
        return SMSProviderFault(message, code=code, status=status)
    return SMSRejected(message, code=code, status=status)


@functools.lru_cache(maxsize=8)
def _build_backend(path: str, options: tuple) -> SMSBackend:
    aliases = {"console": ConsoleSMSBackend, "twilio": TwilioSMSBackend}
    backend_class = aliases.get(path) or import_string(path)
    return backend_class(**dict(options)) if backend_class is TwilioSMSBackend else backend_class()


def get_sms_backend() -> SMSBackend:
    """The configured backend. Instances are reused (the Twilio client keeps a connection pool)
    for as long as the settings they were built from stay the same."""
    path = getattr(settings, "SMS_BACKEND", "console") or "console"
    options = ()
    if path == "twilio":
        options = (
            ("account_sid", settings.TWILIO_ACCOUNT_SID),
            ("auth_token", settings.TWILIO_AUTH_TOKEN),
            ("from_number", settings.TWILIO_FROM_NUMBER),
            ("messaging_service_sid", settings.TWILIO_MESSAGING_SERVICE_SID),
            ("api_base_url", settings.TWILIO_API_BASE_URL),
            ("timeout", float(settings.TWILIO_TIMEOUT_SECONDS)),
        )
    return _build_backend(path, options)


def send_sms(*, to: str, body: str) -> SentSMS:
    return get_sms_backend().send(to=to, body=body)
