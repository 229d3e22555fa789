"""Login options for every page: the top bar hides "Sign up" when passwords are off."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from .selectors import single_sign_on


def login_options(request: HttpRequest) -> dict[str, Any]:
    return {"password_login": settings.DOCQA_PASSWORD_LOGIN, "single_sign_on": single_sign_on}
