"""Writes for the audit log: record an event, purge the expired ones.

``record`` is called from the services that do the recorded work, inside their transaction
when they have one: an action that rolls back leaves no event, and an event is never written
for something that did not happen. It must never block or break that action, so the INSERT runs
in a savepoint (inside a transaction) and any error is logged and swallowed. The log line names
the action and the error's class, never the event's values (a label or a detail could carry
something private). It is one INSERT: labels come from objects the caller already holds.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, models, transaction
from django.http import HttpRequest
from django.utils import timezone

from apps.core.client_address import client_address

from .models import Action, AuditEvent

logger = logging.getLogger(__name__)

PURGE_BATCH = 5000
_FIELD_MAX = {f.name: f.max_length for f in AuditEvent._meta.fields if f.max_length}


def _cut(field: str, value: Any) -> str:
    return str(value or "")[: _FIELD_MAX[field]]


def record(
    action: Action | str,
    *,
    actor: Any = None,
    workspace: Any = None,
    target: models.Model | None = None,
    target_label: str | None = None,
    request: HttpRequest | None = None,
    details: Mapping[str, Any] | None = None,
    actor_label: str | None = None,
) -> AuditEvent | None:
    """Write one event; return it, or None when the write failed (logged, never raised).

    ``actor`` is a user (an anonymous one counts as none), ``workspace`` a Workspace or None for
    a site-level event (sign-in, reconcile). ``target`` is the object acted on; its label is
    ``target_label`` or ``str(target)``. ``request`` gives the client address (trusted proxies
    only, apps.core.client_address) and user agent, and for a request made with an API key
    the key's visible prefix. ``details`` must be JSON-serialisable (dates and decimals are
    fine) and must never hold a secret: no password, token or API key.
    """
    try:
        event = _event(
            action, actor, workspace, target, target_label, request, details, actor_label
        )
        if connection.in_atomic_block:
            with transaction.atomic():  # a savepoint: a failed INSERT spoils nothing around it
                event.save(force_insert=True)
        else:
            event.save(force_insert=True)
    except Exception as exc:  # any failure at all: the action it records must go on
        logger.error("audit event %s not recorded: %s", action, type(exc).__name__)
        return None
    return event


def _event(
    action: Action | str,
    actor: Any,
    workspace: Any,
    target: models.Model | None,
    target_label: str | None,
    request: HttpRequest | None,
    details: Mapping[str, Any] | None,
    actor_label: str | None,
) -> AuditEvent:
    """The unsaved row, every label cut to its column (an overlong name is no reason to lose
    the event)."""
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    meta = request.META if request is not None else {}
    details = dict(details or {})
    key = getattr(request, "api_key", None)  # set by apps.api on a request made with a key
    if key is not None:
        details.setdefault("api_key", getattr(key, "prefix", ""))
    return AuditEvent(
        action=str(action),
        actor=actor,
        actor_label=_cut("actor_label", actor_label or getattr(actor, "email", "")),
        workspace=workspace,
        workspace_slug=_cut("workspace_slug", getattr(workspace, "slug", "")),
        workspace_name=_cut("workspace_name", getattr(workspace, "name", "")),
        target_type=(target._meta.model_name or "") if target is not None else "",
        target_id=_cut("target_id", target.pk if target is not None else ""),
        target_label=_cut("target_label", target_label if target_label is not None else target),
        client_address=_cut("client_address", client_address(request) if request else ""),
        user_agent=_cut("user_agent", meta.get("HTTP_USER_AGENT", "")),
        details=details,
    )


def retention_cutoff() -> datetime | None:
    """The moment before which events are purged, or None when they are kept forever."""
    days = settings.DOCQA_AUDIT_RETENTION_DAYS
    return timezone.now() - timedelta(days=days) if days > 0 else None


def purge_expired() -> int:
    """Delete the events older than DOCQA_AUDIT_RETENTION_DAYS (none when it is 0); return how
    many. The only path allowed to delete: each batch runs in a transaction that switches the
    append-only trigger off for itself alone (SET LOCAL), so no other session is affected and
    an error rolls the batch back. Records one ``audit.purged`` event when it deleted any."""
    cutoff = retention_cutoff()
    if cutoff is None:
        return 0
    deleted = 0
    while True:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL docqa.audit_purge = 'on'")
            batch = list(
                AuditEvent.objects.filter(at__lt=cutoff).values_list("pk", flat=True)[:PURGE_BATCH]
            )
            if batch:
                deleted += AuditEvent.objects.filter(pk__in=batch).delete()[0]
        if len(batch) < PURGE_BATCH:
            break
    if deleted:
        record(
            Action.AUDIT_PURGED,
            details={"deleted": deleted, "before": cutoff},
        )
    return deleted
