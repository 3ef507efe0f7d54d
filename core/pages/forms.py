import re

from django import forms
from django.utils.translation import gettext_lazy as _

from core.models import MONEY_DIGITS, MONEY_PLACES, DocumentKind, Role
from core.validators import validate_e164, validate_pincode

_PHONE_SEPARATORS = re.compile(r"[\s\-().]")
WEEKDAYS = [_("Monday"), _("Tuesday"), _("Wednesday"), _("Thursday"), _("Friday"), _("Saturday"), _("Sunday")]


class PhoneFormField(forms.CharField):
    """An E.164 number; the separators people type are dropped (as in the API)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 32)
        kwargs.setdefault("widget", forms.TextInput(attrs={"type": "tel", "autocomplete": "tel"}))
        kwargs.setdefault("help_text", _("With the country code, e.g. +91 98765 43210."))
        super().__init__(**kwargs)

    def to_python(self, value):
        value = super().to_python(value)
        return _PHONE_SEPARATORS.sub("", value) if value else value

    def validate(self, value):
        super().validate(value)
        if value:
            validate_e164(value)


class LoginForm(forms.Form):
    username = forms.CharField(
        label=_("E-mail or username"), max_length=254, widget=forms.TextInput(attrs={"autocomplete": "username"})
    )
    password = forms.CharField(
        label=_("Password"), max_length=128, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )


class SignupForm(forms.Form):
    role = forms.ChoiceField(
        label=_("I want to"),
        choices=[(Role.CUSTOMER, _("Book services")), (Role.VENDOR, _("Offer my services as a vendor"))],
        initial=Role.CUSTOMER,
        widget=forms.RadioSelect,
    )
    first_name = forms.CharField(
        label=_("First name"), max_length=150, widget=forms.TextInput(attrs={"autocomplete": "given-name"})
    )
    last_name = forms.CharField(
        label=_("Last name"),
        max_length=150,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "family-name"}),
    )
    email = forms.EmailField(
        label=_("E-mail"), max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )
    phone = PhoneFormField(label=_("Mobile phone"), required=False)
    password = forms.CharField(
        label=_("Password"),
        max_length=128,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("At least 8 characters with upper and lower case letters, a digit and a symbol."),
    )


class OTPPhoneForm(forms.Form):
    phone = PhoneFormField(label=_("Mobile phone"))


class OTPCodeForm(forms.Form):
    phone = forms.CharField(widget=forms.HiddenInput)
    otp = forms.RegexField(
        r"^\d{6}$",
        label=_("Code"),
        error_messages={"invalid": _("The code is the 6 digits from the text message.")},
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code", "maxlength": "6"}),
    )


class VendorProfileForm(forms.Form):
    display_name = forms.CharField(label=_("Business name"), max_length=120)
    bio = forms.CharField(
        label=_("About you"), max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    experience_years = forms.IntegerField(label=_("Years of experience"), min_value=0, max_value=70)
    base_pincode = forms.CharField(
        label=_("Base pincode"),
        max_length=6,
        required=False,
        validators=[validate_pincode],
        help_text=_("Where you start from; the radius is measured from here."),
    )
    radius_km = forms.DecimalField(label=_("Radius (km)"), min_value=0, max_value=200, decimal_places=1)
    pincodes = forms.CharField(
        label=_("Pincodes you serve"),
        required=False,
        help_text=_("Separated by commas or spaces, e.g. 560034, 560038."),
    )

    def clean_pincodes(self):
        values = [part for part in re.split(r"[\s,]+", self.cleaned_data["pincodes"]) if part]
        for value in values:
            validate_pincode(value)
        return sorted(set(values))


class ServicePriceField(forms.DecimalField):
    """A vendor's price for one service (one row of the application's services form): money, at
    least 0, at most 2 decimal places and as many digits as the database keeps. Django's
    DecimalField also refuses NaN, sNaN and infinities (``is_finite``), which plain ``Decimal()``
    accepts; every refusal reads the same, as the row has room for one short message."""

    def __init__(self, **kwargs):
        message = _("Enter a price like 499 or 499.50.")
        codes = ("invalid", "min_value", "max_digits", "max_decimal_places", "max_whole_digits")
        kwargs.setdefault("required", False)
        super().__init__(
            min_value=0,
            max_digits=MONEY_DIGITS,
            decimal_places=MONEY_PLACES,
            error_messages=dict.fromkeys(codes, message),
            **kwargs,
        )


class DocumentForm(forms.Form):
    kind = forms.ChoiceField(label=_("Document"), choices=DocumentKind.choices)
    # What a document may be (type by content, size) is checked by the service, for the API too.
    file = forms.FileField(label=_("File"), help_text=_("PDF, JPEG, PNG or WebP, at most 10 MB."))


class WorkingHoursForm(forms.Form):
    """One text field per weekday: ``09:00-13:00, 14:00-18:00`` (empty = day off)."""

    def __init__(self, *args, hours=None, **kwargs):
        super().__init__(*args, **kwargs)
        for day, name in enumerate(WEEKDAYS):
            intervals = (hours or {}).get(str(day), [])
            self.fields[f"day_{day}"] = forms.CharField(
                label=name,
                required=False,
                initial=", ".join(f"{start}-{end}" for start, end in intervals),
                help_text=_("e.g. 09:00-13:00, 14:00-18:00; empty for a day off") if day == 0 else "",
            )

    def clean(self):
        data = super().clean()
        hours = {}
        for day in range(7):
            text = (data.get(f"day_{day}") or "").strip()
            if not text:
                continue
            intervals = []
            for part in re.split(r"\s*,\s*", text):
                match = re.fullmatch(r"(\d{1,2}:\d{2})\s*[-–]\s*(\d{1,2}:\d{2})", part)
                if not match:
                    self.add_error(f"day_{day}", _("Write times as HH:MM-HH:MM."))
                    break
                intervals.append([match.group(1).zfill(5), match.group(2).zfill(5)])
            hours[str(day)] = intervals
        data["working_hours"] = hours
        return data


class TimeOffForm(forms.Form):
    starts_at = forms.DateTimeField(
        label=_("From"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
    )
    ends_at = forms.DateTimeField(
        label=_("Until"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
    )
    reason = forms.CharField(label=_("Reason"), max_length=200, required=False)

    def clean(self):
        data = super().clean()
        if data.get("starts_at") and data.get("ends_at") and data["ends_at"] <= data["starts_at"]:
            self.add_error("ends_at", _("The end must be after the start."))
        return data
