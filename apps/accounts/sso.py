"""allauth adapters: how an OpenID Connect login becomes a DocQA user.

allauth runs the protocol (discovery, state, PKCE, token, ID token and userinfo checks); these
adapters hold DocQA's rules on top:

* A local account is matched only by an e-mail the identity provider marks verified (allauth's
  email authentication); an unverified e-mail that belongs to an existing account is refused
  with a clear page instead of taking the account over or showing allauth's sign-up form.
* A new person gets a user named after their `name` claim and a personal workspace, as a
  password sign-up does; `DOCQA_SSO_AUTO_JOIN` adds the workspace of their verified domain.
* Every failure (cancelled, expired state, provider unreachable or refusing) ends on one human
  page (`sso_views.failure`), never a 500 and never allauth's own templates.
"""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.models import SocialLogin
from allauth.socialaccount.providers.base.constants import AuthError
from allauth.socialaccount.signals import social_account_added
from django.db import transaction
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from requests import RequestException

from . import services, sso_views
from .models import User


def verified_emails(sociallogin: SocialLogin) -> list[str]:
    return [a.email.lower() for a in sociallogin.email_addresses if a.verified]


class AccountAdapter(DefaultAccountAdapter):
    def respond_user_inactive(self, request: HttpRequest, user: Any) -> HttpResponse:
        return sso_views.failure(request, sso_views.Failure.INACTIVE)


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def pre_social_login(self, request: HttpRequest, sociallogin: SocialLogin) -> None:
        """Refuse before allauth would create or match anyone (see the module docstring)."""
        if sociallogin.is_existing:  # a linked account, or matched by a verified e-mail
            return
        emails = [a.email.lower() for a in sociallogin.email_addresses]
        if not emails:
            raise ImmediateHttpResponse(sso_views.failure(request, sso_views.Failure.NO_EMAIL))
        if User.objects.filter(email__in=emails).exists():
            raise ImmediateHttpResponse(
                sso_views.failure(request, sso_views.Failure.UNVERIFIED, email=emails[0])
            )

    def is_open_for_signup(self, request: HttpRequest, sociallogin: SocialLogin) -> bool:
        return True  # DOCQA_PASSWORD_LOGIN closes password sign-up only

    def populate_user(
        self, request: HttpRequest, sociallogin: SocialLogin, data: dict[str, Any]
    ) -> User:
        user = super().populate_user(request, sociallogin, data)
        user.email = (user.email or "").lower()
        full = " ".join(filter(None, [data.get("first_name"), data.get("last_name")]))
        user.display_name = (data.get("name") or full or data.get("username") or "")[:150]
        return user

    def save_user(self, request: HttpRequest, sociallogin: SocialLogin, form: Any = None) -> User:
        with transaction.atomic():
            user = super().save_user(request, sociallogin, form)
            services.registered_by_sso(user, verified_emails=verified_emails(sociallogin))
        return user

    def on_authentication_error(
        self,
        request: HttpRequest,
        provider: Any,
        error: str | None = None,
        exception: BaseException | None = None,
        extra_context: dict[str, Any] | None = None,
    ) -> None:
        context = extra_context or {}
        if isinstance(exception, RequestException):
            reason = sso_views.Failure.UNREACHABLE
        elif error == AuthError.CANCELLED:
            reason = sso_views.Failure.CANCELLED
        elif exception is None and "state" not in context:  # unknown or already used state
            reason = sso_views.Failure.EXPIRED
        else:
            reason = sso_views.Failure.REFUSED
        raise ImmediateHttpResponse(sso_views.failure(request, reason, exception=exception))


@receiver(social_account_added)
def _join_on_first_link(
    sender: Any, request: HttpRequest, sociallogin: SocialLogin, **_: Any
) -> None:
    """An existing user's first single sign-on (matched by verified e-mail) links the account:
    that is their first SSO login, so auto-join applies now, as for a new user."""
    if sociallogin.user is not None:
        services.linked_by_sso(sociallogin.user, verified_emails=verified_emails(sociallogin))
