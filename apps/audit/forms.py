"""The audit page's filter form (GET): action or action group, actor, date range, workspace."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import GROUPS, Action
from .selectors import EventFilter

# Groups whose events have no workspace: not offered on a workspace's own page.
SITE_GROUPS = {"auth", "filestore", "audit"}


def action_choices(*, site: bool) -> list[tuple[Any, Any]]:
    """ "All events", then per group: every event of the group ("document.*"), then each action."""
    choices: list[tuple[Any, Any]] = [("", _("All events"))]
    for group, label in GROUPS.items():
        if not site and group in SITE_GROUPS:
            continue
        members = [(a.value, a.label) for a in Action if a.value.partition(".")[0] == group]
        choices.append((label, [(f"{group}.*", _("All of them")), *members]))
    return choices


class DateInput(forms.DateInput):
    input_type = "date"


class AuditFilterForm(forms.Form):
    action = forms.ChoiceField(label=_("Action"), required=False)
    actor = forms.CharField(
        label=_("Actor"),
        required=False,
        max_length=254,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": _("e-mail contains")}),
    )
    since = forms.DateField(label=_("From"), required=False, widget=DateInput)
    until = forms.DateField(label=_("To"), required=False, widget=DateInput)
    workspace = forms.CharField(
        label=_("Workspace"),
        required=False,
        max_length=90,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": _("name or slug")}),
    )

    def __init__(self, *args: Any, site: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        action = self.fields["action"]
        assert isinstance(action, forms.ChoiceField)
        action.choices = action_choices(site=site)
        if not site:
            del self.fields["workspace"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            self.add_error("until", _("The end date is before the start date."))
        return data

    def filters(self) -> EventFilter:
        """The filter of the fields that are valid (call after is_valid()); an invalid field
        filters nothing, and the page shows its error."""
        data = getattr(self, "cleaned_data", {})
        return EventFilter(
            action=data.get("action") or "",
            actor=(data.get("actor") or "").strip(),
            since=data.get("since"),
            until=data.get("until"),
            workspace=(data.get("workspace") or "").strip(),
        )
