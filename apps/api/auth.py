"""Bearer-key authentication for the API: `Authorization: Bearer <key>`.

A valid key sets `request.api_key`, `request.membership` (the key acting as a member of its
workspace with the key's role, unsaved) and `request.workspace`, after counting the request
against the key's rate limit. An unknown, revoked or expired key is a 401 with its own code.
"""

from __future__ import annotations

from typing import Any, cast

from django.http import HttpRequest
from ninja.security import HttpBearer

from apps.workspaces.models import Membership, Workspace

from . import ratelimit
from .errors import ApiError
from .models import ApiKey
from .selectors import KeyRefused, authenticate


class ApiRequest(HttpRequest):
    """The request an /api/ route sees once `KeyAuth` accepted its key."""

    api_key: ApiKey
    membership: Membership
    workspace: Workspace


class KeyAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Any:
        try:
            actor = authenticate(token)
        except KeyRefused as refused:
            raise ApiError(
                401, refused.code, str(refused), headers={"WWW-Authenticate": "Bearer"}
            ) from None
        ratelimit.check(actor.key.pk)
        # Filled in here, the request becomes the ApiRequest the routes are annotated with.
        api_request = cast(ApiRequest, request)
        api_request.api_key = actor.key
        api_request.membership = actor.membership
        api_request.workspace = actor.key.workspace
        return actor
