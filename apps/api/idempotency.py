"""Idempotency-Key for the API's writes that must not happen twice (upload, ask).

The first request with a key claims a row (unique per workspace, route and key) before doing
the work and stores its outcome after; a repeat within a day gets that outcome back, and a
repeat while the first is still running gets 409 (a claim left by a request that died is taken
over after STALE_CLAIM). An upload stores whatever it answered, per-file refusals included; an
ask stores its question once saved, and a refused question (empty, over the limit) gives the
key up, like any exception, so a retry does the work.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.workspaces.models import Workspace

from .errors import ApiError
from .models import IdempotentRequest

KEEP = timedelta(hours=24)
# A claim still without an outcome after this long was left by a request that died (a killed
# process): a retry may take it over. Uploads and the start of an ask take seconds.
STALE_CLAIM = timedelta(minutes=10)
HEADER = "Idempotency-Key"


def key_of(request: HttpRequest) -> str:
    key = request.headers.get(HEADER, "").strip()
    if len(key) > 200:
        raise ApiError(400, "invalid_idempotency_key", _("The Idempotency-Key is too long."))
    return key


@dataclass(frozen=True)
class Outcome:
    """What the first request with a key answered."""

    status_code: int
    body: Any


def claim(workspace: Workspace, route: str, key: str) -> Outcome | None:
    """Claim `key` for a new request (None: the caller does the work) or return the stored
    outcome of the first one. 409 while that one still runs."""
    if not key:
        return None
    IdempotentRequest.objects.filter(
        workspace=workspace, created_at__lt=timezone.now() - KEEP
    ).delete()
    IdempotentRequest.objects.filter(
        workspace=workspace,
        route=route,
        key=key,
        status_code__isnull=True,
        created_at__lt=timezone.now() - STALE_CLAIM,
    ).delete()
    try:
        with transaction.atomic():
            IdempotentRequest.objects.create(workspace=workspace, route=route, key=key)
    except IntegrityError:
        first = IdempotentRequest.objects.get(workspace=workspace, route=route, key=key)
        if first.status_code is None:
            raise ApiError(
                409,
                "idempotency_in_progress",
                _("A request with this Idempotency-Key is still running; retry shortly."),
            ) from None
        return Outcome(first.status_code, first.body)
    return None


def store(workspace: Workspace, route: str, key: str, status: int, body: dict[str, Any]) -> None:
    if key:
        IdempotentRequest.objects.filter(workspace=workspace, route=route, key=key).update(
            status_code=status, body=body
        )


def release(workspace: Workspace, route: str, key: str) -> None:
    """The first attempt failed: forget the key so a retry does the work."""
    if key:
        IdempotentRequest.objects.filter(
            workspace=workspace, route=route, key=key, status_code__isnull=True
        ).delete()
