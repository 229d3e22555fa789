"""Single sign-on views: allauth's OIDC login and callback behind a guard, and the failure page.

allauth's views fetch the provider's discovery document before their own error handling
starts, so a provider that is down would be a 500; the guard turns any `requests` error into
the "cannot be reached" page. Every other failure reaches `failure` through the adapter
(apps/accounts/sso.py). Log lines name the reason and the exception's type, never a token or the
client secret.
"""

from __future__ import annotations

import enum
import logging
from typing import Any

from allauth.socialaccount.providers.openid_connect import views as oidc
from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from requests import RequestException

from .selectors import single_sign_on

logger = logging.getLogger(__name__)


class Failure(enum.Enum):
    CANCELLED = 200
    EXPIRED = 400
    REFUSED = 401
    UNVERIFIED = 403
    NO_EMAIL = 422
    INACTIVE = 423
    UNREACHABLE = 502


def _message(reason: Failure, name: str, email: str) -> str:
    values = {"name": name, "email": email}
    return {
        Failure.CANCELLED: _("You cancelled signing in with %(name)s."),
        Failure.EXPIRED: _(
            "This sign-in attempt has expired or was already used. Start again from the login page."
        ),
        Failure.REFUSED: _(
            "%(name)s did not confirm the sign-in. Try again; if it keeps failing, ask your "
            "administrator."
        ),
        Failure.UNVERIFIED: _(
            "An account with the e-mail %(email)s already exists, and %(name)s did not confirm "
            "that this address is yours, so it cannot sign you in to that account. Sign in with "
            "your password, or ask your administrator to have the address verified."
        ),
        Failure.NO_EMAIL: _(
            "%(name)s did not tell DocQA your e-mail address, which DocQA needs to sign you in. "
            "Ask your administrator to share the e-mail claim with DocQA."
        ),
        Failure.INACTIVE: _("This account is deactivated. Ask your administrator."),
        Failure.UNREACHABLE: _("%(name)s cannot be reached right now. Try again in a few minutes."),
    }[reason] % values


def failure(
    request: HttpRequest, reason: Failure, *, email: str = "", exception: Any = None
) -> HttpResponse:
    """The one page every single sign-on failure ends on, with the status that fits it."""
    sso = single_sign_on()
    name = sso.name if sso else _("Single sign-on")
    logger.warning(
        "Single sign-on failed: %s%s",
        reason.name.lower(),
        f" ({type(exception).__name__})" if exception is not None else "",
    )
    context = {"message": _message(reason, name, email), "cancelled": reason is Failure.CANCELLED}
    return render(request, "accounts/sso_failed.html", context, status=reason.value)


def oidc_login(request: HttpRequest, provider_id: str) -> HttpResponse:
    try:
        return oidc.login(request, provider_id)
    except RequestException as error:
        return failure(request, Failure.UNREACHABLE, exception=error)


def oidc_callback(request: HttpRequest, provider_id: str) -> HttpResponse:
    try:
        return oidc.callback(request, provider_id)
    except RequestException as error:
        return failure(request, Failure.UNREACHABLE, exception=error)


def admin_login(request: HttpRequest) -> HttpResponse:
    """With password login off, the admin's own password form is closed too: staff sign in
    on the login page (single sign-on) and come back."""
    if settings.DOCQA_PASSWORD_LOGIN:
        return admin.site.login(request)
    next_url = request.GET.get("next", "/admin/")
    return redirect(f"{reverse('accounts:login')}?{urlencode({'next': next_url})}")
