from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from .models import Status


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one field. Empty files pass here on purpose: the ingest service refuses
    each bad file with its own message, so one empty file does not sink the others."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        kwargs.setdefault("allow_empty_file", True)
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        single = super().clean
        items = data if isinstance(data, list | tuple) else [data]
        return [single(item, initial) for item in items if item]


class UploadForm(forms.Form):
    file = MultipleFileField(label=_("Files"))

    def clean_file(self) -> list[Any]:
        files = self.cleaned_data["file"]
        if not files:
            raise forms.ValidationError(_("Choose at least one file."))
        if len(files) > settings.DATA_UPLOAD_MAX_NUMBER_FILES:
            raise forms.ValidationError(
                _("Upload at most %(n)s files at once.")
                % {"n": settings.DATA_UPLOAD_MAX_NUMBER_FILES}
            )
        return files


class FilterForm(forms.Form):
    q = forms.CharField(label=_("Search by name"), required=False, max_length=200)
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("All statuses")), *Status.choices],
    )
