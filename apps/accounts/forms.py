from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.signals import user_login_failed
from django.utils.translation import gettext_lazy as _

from apps.core.client_address import client_address

from . import throttle
from .models import User


class SignupForm(forms.Form):
    email = forms.EmailField(label=_("E-mail"), widget=forms.EmailInput(attrs={"autofocus": True}))
    display_name = forms.CharField(label=_("Your name"), max_length=150, required=False)
    password1 = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("At least 8 characters, not too common, not only digits."),
    )
    password2 = forms.CharField(
        label=_("Repeat password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(
                _("An account with this e-mail already exists. Log in or reset your password.")
            )
        return email

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        p1, p2 = data.get("password1"), data.get("password2")
        if p1 and p2 and p1 != p2:
            self.add_error("password2", _("The two passwords do not match."))
        elif p1:
            candidate = User(email=data.get("email", ""), display_name=data.get("display_name", ""))
            try:
                password_validation.validate_password(p1, candidate)
            except forms.ValidationError as error:
                self.add_error("password1", error)
        return data


class ThrottledLoginForm(AuthenticationForm):
    """Refuses further attempts after too many failures for this address or e-mail."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": _("That e-mail and password do not match an account."),
        "throttled": _("Too many failed attempts. Wait a few minutes and try again."),
    }

    def clean(self) -> dict[str, Any]:
        email = self.data.get("username", "")
        ip = client_address(self.request)
        if throttle.is_locked(ip, email):
            # Refused before authenticate() runs, so Django would send no signal: send it, so
            # the audit log (and any other listener) sees this failed sign-in too.
            credentials = {"username": email, "throttled": True}
            user_login_failed.send(sender=__name__, credentials=credentials, request=self.request)
            raise forms.ValidationError(self.error_messages["throttled"], code="throttled")
        try:
            data = super().clean()
        except forms.ValidationError:
            throttle.record_failure(ip, email)
            raise
        throttle.clear(ip, email)
        return data
