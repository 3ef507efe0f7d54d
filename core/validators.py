import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

E164_RE = re.compile(r"^\+[1-9]\d{7,14}$")
PINCODE_RE = re.compile(r"^[1-9]\d{5}$")


def validate_e164(value):
    if value and not E164_RE.match(value):
        raise ValidationError(
            _("Enter the phone number in international format, e.g. +919812345678."),
            code="invalid_phone",
        )


def validate_pincode(value):
    if not PINCODE_RE.match(str(value or "")):
        raise ValidationError(_("A pincode is 6 digits and does not start with 0."), code="invalid_pincode")


class CharacterClassPasswordValidator:
    """Requires an upper-case letter, a lower-case letter, a digit and a special character."""

    checks = (
        (re.compile(r"[A-Z]"), "an upper-case letter"),
        (re.compile(r"[a-z]"), "a lower-case letter"),
        (re.compile(r"\d"), "a digit"),
        (re.compile(r"[^A-Za-z0-9]"), "a special character"),
    )

    def validate(self, password, user=None):
        missing = [label for pattern, label in self.checks if not pattern.search(password or "")]
        if missing:
            raise ValidationError(
                _("The password must contain %(missing)s.") % {"missing": ", ".join(_(m) for m in missing)},
                code="password_character_classes",
            )

    def get_help_text(self):
        return _(
            "Your password must contain an upper-case letter, a lower-case letter, a digit and a special character."
        )
