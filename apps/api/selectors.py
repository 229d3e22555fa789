"""Reads for API keys: the keys of a workspace, and the key a request presents."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.workspaces.models import Membership, Workspace

from .models import ApiKey
from .services import hash_secret

# last_used_at is written at most this often per key: one UPDATE a minute, not one per request.
LAST_USED_EVERY = timedelta(minutes=1)


def keys_of(workspace: Workspace) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(workspace=workspace).select_related("created_by")


class KeyRefused(Exception):
    """The presented secret opens nothing; `code` is stable, str(error) a message for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class KeyActor:
    key: ApiKey
    membership: Membership  # unsaved: the key acting as a member of its workspace


def authenticate(secret: str) -> KeyActor:
    """The key with this secret and the membership it acts as; KeyRefused when it is unknown,
    revoked or expired. Notes the use (at most once a minute per key)."""
    key = (
        ApiKey.objects.select_related("workspace", "created_by")
        .filter(secret_hash=hash_secret(secret.strip()))
        .first()
    )
    if key is None:
        raise KeyRefused("invalid_key", _("This API key is not valid."))
    now = timezone.now()
    if key.revoked_at is not None:
        raise KeyRefused("revoked_key", _("This API key was revoked."))
    if key.expires_at is not None and key.expires_at <= now:
        raise KeyRefused("expired_key", _("This API key has expired."))
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_EVERY:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    membership = Membership(workspace=key.workspace, user=key.created_by, role=key.role)
    return KeyActor(key=key, membership=membership)
