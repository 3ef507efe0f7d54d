"""Domain errors raised by services; the API and pages map them to responses.

``ApplicationError`` subclasses are things to tell the user (bad input, a conflict); anything
else escaping a service is a fault.
"""

from django.utils.translation import gettext_lazy as _


class ApplicationError(Exception):
    status_code = 400
    default_message = _("The request could not be completed.")
    # Seconds after which a retry may work (a 503 from a dependency): sent as Retry-After.
    retry_after: int | None = None

    def __init__(self, message=None, *, extra=None):
        self.message = message or self.default_message
        self.extra = extra or {}
        super().__init__(str(self.message))


class InvalidInput(ApplicationError):
    """Bad input. ``fields`` maps field names to lists of messages."""

    status_code = 400

    def __init__(self, message=None, *, fields=None, extra=None):
        self.fields = fields or {}
        super().__init__(message, extra=extra)


class NotFound(ApplicationError):
    status_code = 404
    default_message = _("Not found.")


class Forbidden(ApplicationError):
    status_code = 403
    default_message = _("You do not have permission to perform this action.")


class Conflict(ApplicationError):
    status_code = 409
    default_message = _("The request conflicts with the current state.")


class PayloadTooLarge(ApplicationError):
    status_code = 413
    default_message = _("The upload is too large.")


class Gone(ApplicationError):
    status_code = 410
    default_message = _("This is no longer available.")
