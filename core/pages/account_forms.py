from django import forms
from django.utils.translation import gettext_lazy as _

from core.pages.forms import PhoneFormField
from core.validators import validate_pincode


class PasswordResetRequestForm(forms.Form):
    email = forms.EmailField(
        label=_("E-mail"), max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )


class NewPasswordForm(forms.Form):
    new_password = forms.CharField(
        label=_("New password"),
        max_length=128,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("At least 8 characters with upper and lower case letters, a digit and a symbol."),
    )
    new_password_again = forms.CharField(
        label=_("New password, again"),
        max_length=128,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self):
        data = super().clean()
        if (
            data.get("new_password")
            and data.get("new_password_again")
            and data["new_password"] != data["new_password_again"]
        ):
            self.add_error("new_password_again", _("The two passwords differ."))
        return data


class ProfileForm(forms.Form):
    first_name = forms.CharField(label=_("First name"), max_length=150)
    last_name = forms.CharField(label=_("Last name"), max_length=150, required=False)
    email = forms.EmailField(label=_("E-mail"), max_length=254)
    phone = PhoneFormField(label=_("Mobile phone"), required=False)
    notify_sms = forms.BooleanField(label=_("Send me text messages"), required=False)
    notify_email = forms.BooleanField(label=_("Send me e-mails"), required=False)


class AddressForm(forms.Form):
    label = forms.CharField(label=_("Label"), max_length=40, required=False, help_text=_("e.g. Home, Office"))
    line1 = forms.CharField(label=_("House, street"), max_length=200)
    line2 = forms.CharField(label=_("Area, landmark"), max_length=200, required=False)
    city = forms.CharField(label=_("City"), max_length=100)
    pincode = forms.CharField(label=_("Pincode"), max_length=6, validators=[validate_pincode])
    is_default = forms.BooleanField(label=_("Use as my default address"), required=False)


class DeleteAccountForm(forms.Form):
    password = forms.CharField(
        label=_("Your password"),
        max_length=128,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text=_(
            "We remove your name, contact details and addresses. Bookings and payments stay, without your name."
        ),
    )
