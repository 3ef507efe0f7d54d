from django import forms
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _

from bookings.models import BookingStatus, PaymentMethod
from core.validators import validate_pincode

NEW_ADDRESS = "new"


class SearchForm(forms.Form):
    service = forms.ModelChoiceField(label=_("Service"), queryset=None, empty_label=_("Choose a service"))
    pincode = forms.CharField(
        label=_("Pincode"),
        max_length=6,
        validators=[validate_pincode],
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "postal-code", "maxlength": "6"}),
    )
    ordering = forms.ChoiceField(
        label=_("Sort by"),
        required=False,
        choices=[("", _("Best rated")), ("price", _("Lowest price")), ("distance", _("Nearest"))],
    )

    def __init__(self, *args, services=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["service"].queryset = services


class SlotField(forms.CharField):
    """A slot start as an ISO 8601 time with its UTC offset (what the slot picker posts)."""

    default_error_messages = {"invalid": _("Choose one of the free times.")}

    def to_python(self, value):
        value = super().to_python(value)
        if not value:
            return None
        try:
            parsed = parse_datetime(value.strip())
        except ValueError:
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return parsed


class BookingForm(forms.Form):
    service = forms.IntegerField(widget=forms.HiddenInput, min_value=1, max_value=2**63 - 1)
    date = forms.DateField(label=_("Day"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    slot = SlotField(label=_("Time"), error_messages={"required": _("Choose a time.")})
    address_choice = forms.ChoiceField(label=_("Address"), widget=forms.RadioSelect)
    line1 = forms.CharField(
        label=_("House, street"),
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "address-line1"}),
    )
    line2 = forms.CharField(
        label=_("Area, landmark"),
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "address-line2"}),
    )
    city = forms.CharField(
        label=_("City"),
        max_length=100,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "address-level2"}),
    )
    pincode = forms.CharField(
        label=_("Pincode"),
        max_length=6,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "postal-code"}),
    )
    notes = forms.CharField(
        label=_("Notes for the vendor"), max_length=1000, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    promo_code = forms.CharField(label=_("Promo code"), max_length=32, required=False)
    payment_method = forms.ChoiceField(
        label=_("Payment"),
        choices=[
            (PaymentMethod.CARD, _("Card (held now, charged when you sign off the job)")),
            (PaymentMethod.CASH, _("Cash to the vendor after the job")),
        ],
        initial=PaymentMethod.CARD,
        widget=forms.RadioSelect,
    )

    def __init__(self, *args, addresses=(), **kwargs):
        super().__init__(*args, **kwargs)
        choices = [(str(a.pk), f"{a.label + ': ' if a.label else ''}{a}") for a in addresses]
        choices.append((NEW_ADDRESS, _("A new address")))
        self.fields["address_choice"].choices = choices
        if not self.initial.get("address_choice"):
            default = next((a for a in addresses if a.is_default), addresses[0] if addresses else None)
            self.initial["address_choice"] = str(default.pk) if default else NEW_ADDRESS

    def clean(self):
        data = super().clean()
        if data.get("address_choice") == NEW_ADDRESS:
            for name in ("line1", "city", "pincode"):
                if not data.get(name):
                    self.add_error(name, _("This field is required."))
            if data.get("pincode"):
                try:
                    validate_pincode(data["pincode"])
                except forms.ValidationError as error:
                    self.add_error("pincode", error)
        return data

    def booking_address(self):
        data = self.cleaned_data
        if data["address_choice"] == NEW_ADDRESS:
            return {"address": {k: data[k] for k in ("line1", "line2", "city", "pincode")}}
        return {"address_id": int(data["address_choice"])}


class BookingFilterForm(forms.Form):
    tab = forms.ChoiceField(choices=[("upcoming", _("Upcoming")), ("past", _("Past"))], required=False)
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("Any status")), *BookingStatus.choices]
    )


class RescheduleForm(forms.Form):
    date = forms.DateField(label=_("Day"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    slot = SlotField(label=_("New time"), error_messages={"required": _("Choose a time.")})


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"), max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )


class ComplaintForm(forms.Form):
    reason = forms.CharField(label=_("What went wrong?"), max_length=500, widget=forms.Textarea(attrs={"rows": 3}))


class PhotoForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("Photo of"),
        choices=[("before", _("Before the work")), ("after", _("After the work"))],
        widget=forms.RadioSelect,
    )
    image = forms.FileField(
        label=_("Photo"),
        widget=forms.ClearableFileInput(attrs={"accept": "image/*", "capture": "environment"}),
        help_text=_("JPEG, PNG or WebP, at most 10 MB."),
    )
    caption = forms.CharField(label=_("Caption"), max_length=200, required=False)
