"""Reads for accounts: what the login page offers (password form, single sign-on button)."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.urls import reverse
from django.utils.translation import gettext as _

from docqa.sso import PROVIDER_ID


@dataclass(frozen=True)
class SingleSignOn:
    name: str  # the button's label, DOCQA_OIDC_NAME
    login_url: str  # allauth's login view: a POST there starts the redirect to the provider


def single_sign_on() -> SingleSignOn | None:
    """The configured OIDC provider, or None when single sign-on is off. Never the secret."""
    apps = settings.SOCIALACCOUNT_PROVIDERS.get("openid_connect", {}).get("APPS", [])
    app = next((a for a in apps if a.get("provider_id") == PROVIDER_ID), None)
    if app is None:
        return None
    url = reverse("openid_connect_login", kwargs={"provider_id": PROVIDER_ID})
    return SingleSignOn(name=app["name"] or _("Single sign-on"), login_url=url)
