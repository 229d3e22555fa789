"""Sign-in, failed sign-in and sign-out, from Django's auth signals.

Password logins (apps.accounts) and django-allauth's SSO logins both send ``user_logged_in``
and ``user_login_failed``, so every way in is recorded by these handlers. Failed sign-ins are
site-level events with no actor: the attempted username is kept (as the actor label and in the
details), the password never (Django hands it over masked; it is not read at all here).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed

from . import services
from .models import Action

USERNAME_KEYS = ("username", "email", "login")


def on_login(sender: Any, request: Any = None, user: Any = None, **_kwargs: Any) -> None:
    services.record(Action.LOGIN, actor=user, request=request, target=user)


def on_login_failed(
    sender: Any, credentials: dict[str, Any] | None = None, request: Any = None, **_kwargs: Any
) -> None:
    credentials = credentials or {}
    attempted = next((str(credentials[k]) for k in USERNAME_KEYS if credentials.get(k)), "")
    attempted = attempted[:254]
    details: dict[str, Any] = {"username": attempted}
    if credentials.get("throttled"):  # refused by the login throttle before any password check
        details["throttled"] = True
    services.record(Action.LOGIN_FAILED, actor_label=attempted, request=request, details=details)


def on_logout(sender: Any, request: Any = None, user: Any = None, **_kwargs: Any) -> None:
    if user is None:  # a session that was not signed in: nothing happened
        return
    services.record(Action.LOGOUT, actor=user, request=request, target=user)


def connect() -> None:
    user_logged_in.connect(on_login, dispatch_uid="audit.login")
    user_login_failed.connect(on_login_failed, dispatch_uid="audit.login_failed")
    user_logged_out.connect(on_logout, dispatch_uid="audit.logout")
