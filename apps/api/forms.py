from __future__ import annotations

from datetime import date

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import KEY_ROLES


class ApiKeyForm(forms.Form):
    name = forms.CharField(label=_("Key name"), max_length=80)
    role = forms.ChoiceField(
        label=_("Role"),
        choices=KEY_ROLES,
        initial=KEY_ROLES[1][0],
        help_text=_("Viewers read and ask; members also upload and delete documents."),
    )
    expires_on = forms.DateField(
        label=_("Expires on (optional)"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def clean_expires_on(self) -> date | None:
        return self.cleaned_data["expires_on"]
