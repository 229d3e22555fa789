"""Bearer-key authentication for the API: `Authorization: Bearer <key>`.

A valid key sets `request.api_key`, `request.membership` (the key acting as a member of its
workspace with the key's role, unsaved) and `request.workspace`, after counting the request
against the key's rate limit. An unknown, revoked or expired key is a 401 with its own code.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer

from . import ratelimit
from .errors import ApiError
from .selectors import KeyRefused, authenticate


class KeyAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Any:
        try:
            actor = authenticate(token)
        except KeyRefused as refused:
            raise ApiError(
                401, refused.code, str(refused), headers={"WWW-Authenticate": "Bearer"}
            ) from None
        ratelimit.check(actor.key.pk)
        request.api_key = actor.key  # type: ignore[attr-defined]
        request.membership = actor.membership  # type: ignore[attr-defined]
        request.workspace = actor.key.workspace  # type: ignore[attr-defined]
        return actor
