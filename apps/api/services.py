"""Writes for API keys: create one (its secret returned once), revoke one.

Only workspace admins and owners manage keys (`KeyError_` otherwise). The secret is never stored
or logged (nor put in the audit log, which records the key's name and visible prefix): the
caller shows it once and forgets it.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.audit import services as audit
from apps.audit.models import Action
from apps.workspaces.models import Membership, Role

from .models import ApiKey

SECRET_PREFIX = "dq_"  # noqa: S105 (a marker, not a secret)
VISIBLE_CHARS = 10  # "dq_" and 7 random characters: enough to tell keys apart, nothing to guess


class ApiKeyError(Exception):
    """A rule about API keys was broken; str(error) is a message for the user."""


@dataclass(frozen=True)
class NewKey:
    key: ApiKey
    secret: str  # shown once; only its hash is stored


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _require_manager(actor: Membership) -> None:
    if not actor.can_manage:
        raise ApiKeyError(_("Only workspace owners and admins can do this."))


@transaction.atomic
def create_key(
    *,
    actor: Membership,
    name: str,
    role: str,
    expires_at: datetime | None = None,
    request: HttpRequest | None = None,
) -> NewKey:
    """A new key of the actor's workspace acting as `role` (viewer or member)."""
    _require_manager(actor)
    name = " ".join(name.split())
    if not name:
        raise ApiKeyError(_("Give the key a name."))
    if role not in (Role.VIEWER, Role.MEMBER):
        raise ApiKeyError(_("An API key is a viewer or a member."))
    if expires_at is not None and expires_at <= timezone.now():
        raise ApiKeyError(_("The expiry date must be in the future."))
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        workspace=actor.workspace,
        name=name[:80],
        role=role,
        prefix=secret[:VISIBLE_CHARS],
        secret_hash=hash_secret(secret),
        created_by=actor.user,
        expires_at=expires_at,
    )
    audit.record(
        Action.API_KEY_CREATED,
        actor=actor.user,
        workspace=actor.workspace,
        target=key,
        target_label=f"{key.name} ({key.prefix}…)",
        request=request,
        details={"role": role, "prefix": key.prefix, "expires_at": expires_at},
    )
    return NewKey(key=key, secret=secret)


@transaction.atomic
def revoke_key(*, actor: Membership, key: ApiKey, request: HttpRequest | None = None) -> None:
    """Revoke a key of the actor's workspace; requests with it get 401 from now on."""
    _require_manager(actor)
    if key.workspace_id != actor.workspace_id:
        raise ApiKeyError(_("No such key."))
    now = timezone.now()
    if ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=now):
        audit.record(
            Action.API_KEY_REVOKED,
            actor=actor.user,
            workspace=actor.workspace,
            target=key,
            target_label=f"{key.name} ({key.prefix}…)",
            request=request,
            details={"prefix": key.prefix},
        )
