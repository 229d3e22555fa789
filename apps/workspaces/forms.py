from django import forms
from django.utils.translation import gettext_lazy as _

from .models import Role


class WorkspaceForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=80)


class InvitationForm(forms.Form):
    email = forms.EmailField(
        label=_("E-mail (optional)"),
        required=False,
        help_text=_("Leave empty to create a link you can share yourself."),
    )
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices, initial=Role.MEMBER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)
