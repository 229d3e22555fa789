"""Dashboard forms. Sizes are entered in MB (bytes are unreadable at this scale) and stored in
bytes; an empty limit means unlimited."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.validators import MaxValueValidator
from django.utils.translation import gettext_lazy as _

from apps.moonshot import filestore
from apps.moonshot.models import FileStorePolicy, Retention
from apps.workspaces.models import Workspace

MB = 1024**2


class PolicyForm(forms.Form):
    retention = forms.ChoiceField(
        label=_("Retention"), choices=Retention.choices, widget=forms.RadioSelect
    )
    keep_files = forms.IntegerField(
        label=_("Keep at most (files)"),
        min_value=0,
        help_text=_("Only for “keep”: copies beyond this are evicted, least recently used first."),
    )
    keep_megabytes = forms.IntegerField(label=_("Keep at most (MB)"), min_value=0)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        caps = filestore.caps()  # settings may change at run time, so not at import time
        for name, top in (("keep_files", caps.files), ("keep_megabytes", caps.bytes // MB)):
            self.fields[name].validators.append(MaxValueValidator(top))
            self.fields[name].widget.attrs["max"] = top

    @classmethod
    def for_policy(cls, policy: FileStorePolicy) -> PolicyForm:
        return cls(
            initial={
                "retention": policy.retention,
                "keep_files": policy.keep_files,
                "keep_megabytes": policy.keep_bytes // MB,
            }
        )

    @property
    def keep_bytes(self) -> int:
        return int(self.cleaned_data["keep_megabytes"]) * MB


class WorkspaceLimitsForm(forms.Form):
    max_documents = forms.IntegerField(label=_("Maximum documents"), min_value=0, required=False)
    max_megabytes = forms.IntegerField(
        label=_("Maximum storage (MB)"),
        min_value=0,
        required=False,
        help_text=_("Total size of the uploaded originals."),
    )
    max_tokens_per_day = forms.IntegerField(
        label=_("Maximum chat tokens per day"),
        min_value=0,
        required=False,
        help_text=_("Prompt and answer tokens of all chats in a day."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.widget.attrs["placeholder"] = _("unlimited")

    @classmethod
    def for_workspace(cls, workspace: Workspace) -> WorkspaceLimitsForm:
        size = workspace.max_bytes
        return cls(
            initial={
                "max_documents": workspace.max_documents,
                "max_megabytes": None if size is None else -(-size // MB),
                "max_tokens_per_day": workspace.max_tokens_per_day,
            }
        )

    @property
    def max_bytes(self) -> int | None:
        megabytes = self.cleaned_data["max_megabytes"]
        return None if megabytes is None else int(megabytes) * MB
