import re

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class CardForm(forms.Form):
    """The fake gateway's card form (the embedded default). With Stripe the card never reaches
    our server: Stripe Elements confirms it in the browser."""

    card_number = forms.CharField(
        label=_("Card number"),
        max_length=23,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "cc-number"}),
    )
    exp_month = forms.IntegerField(
        label=_("Expiry month"),
        min_value=1,
        max_value=12,
        widget=forms.NumberInput(attrs={"autocomplete": "cc-exp-month"}),
    )
    exp_year = forms.IntegerField(
        label=_("Expiry year"),
        min_value=2000,
        max_value=2100,
        widget=forms.NumberInput(attrs={"autocomplete": "cc-exp-year"}),
    )
    cvc = forms.RegexField(
        r"^\d{3,4}$",
        label=_("CVC"),
        error_messages={"invalid": _("3 or 4 digits.")},
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "cc-csc", "maxlength": "4"}),
    )

    def clean_card_number(self):
        number = re.sub(r"[\s-]", "", self.cleaned_data["card_number"])
        if not re.fullmatch(r"\d{12,19}", number):
            raise forms.ValidationError(_("Enter the 12 to 19 digits of the card."))
        return number

    def clean(self):
        data = super().clean()
        month, year = data.get("exp_month"), data.get("exp_year")
        if month and year:
            today = timezone.localdate()
            if (year, month) < (today.year, today.month):
                self.add_error("exp_month", _("This card has expired."))
        return data


class AuthenticationForm(forms.Form):
    authentication = forms.ChoiceField(choices=[("pass", "pass"), ("fail", "fail")], widget=forms.HiddenInput)
