from django import forms
from django.utils.translation import gettext_lazy as _

RATINGS = [(str(n), str(n)) for n in range(5, 0, -1)]


class SignForm(forms.Form):
    satisfaction_rating = forms.TypedChoiceField(
        label=_("How happy are you with the job?"),
        choices=RATINGS,
        coerce=int,
        error_messages={"required": _("Choose a rating from 1 to 5 stars.")},
    )
    comments = forms.CharField(
        label=_("Comments"),
        max_length=1000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Needed for a rating of 1 or 2: tell us what went wrong."),
    )
    signer_name = forms.CharField(
        label=_("Your name"), max_length=120, required=False, widget=forms.TextInput(attrs={"autocomplete": "name"})
    )
    # The drawn signature as a PNG data URL, filled in by static/js/signature-pad.js.
    signature_image = forms.CharField(required=False, widget=forms.HiddenInput, max_length=1_500_000)
