from __future__ import annotations

from datetime import datetime, timedelta

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .models import Visibility

EXPIRY_CHOICES = [
    ("", _("Never")),
    ("1", _("In 1 day")),
    ("7", _("In 7 days")),
    ("30", _("In 30 days")),
    ("90", _("In 90 days")),
]


class ShareForm(forms.Form):
    visibility = forms.ChoiceField(
        label=_("Who can open it"),
        choices=Visibility.choices,
        initial=Visibility.WORKSPACE,
        widget=forms.RadioSelect,
        required=False,  # left out: members of the workspace only, the safe default
    )
    expires_in = forms.ChoiceField(label=_("Expires"), choices=EXPIRY_CHOICES, required=False)

    def clean_visibility(self) -> str:
        return self.cleaned_data.get("visibility") or Visibility.WORKSPACE

    def expires_at(self) -> datetime | None:
        """When the link stops working, from the valid form's choice (None: never)."""
        days = self.cleaned_data.get("expires_in") or ""
        return timezone.now() + timedelta(days=int(days)) if days else None
