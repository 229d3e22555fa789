"""The audit log as JSON lines: one object per event, the same keys in the same order always.

Streamed from an async generator in batches (keyset on when/id, newest first), so neither ASGI
nor the process holds the whole log in memory, and no database connection is held between
batches.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import sync_to_async
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Q, QuerySet

from apps.core.db import release_db_connections

from .models import AuditEvent

BATCH = 500
KEYS = (
    "id",
    "at",
    "action",
    "actor_id",
    "actor",
    "workspace_id",
    "workspace_slug",
    "workspace",
    "target_type",
    "target_id",
    "target",
    "client_address",
    "user_agent",
    "details",
)


def as_dict(event: AuditEvent) -> dict[str, Any]:
    values = (
        event.pk,
        event.at.isoformat(),
        event.action,
        event.actor_id,
        event.actor_label,
        event.workspace_id,
        event.workspace_slug,
        event.workspace_name,
        event.target_type,
        event.target_id,
        event.target_label,
        event.client_address,
        event.user_agent,
        event.details,
    )
    return dict(zip(KEYS, values, strict=True))


def line(event: AuditEvent) -> bytes:
    text = json.dumps(as_dict(event), cls=DjangoJSONEncoder, ensure_ascii=False)
    return (text + "\n").encode()


def _batch(queryset: QuerySet[AuditEvent], after: AuditEvent | None) -> list[AuditEvent]:
    page = queryset.order_by("-at", "-pk")
    if after is not None:
        page = page.filter(Q(at__lt=after.at) | Q(at=after.at, pk__lt=after.pk))
    rows = list(page[:BATCH])
    release_db_connections()
    return rows


async def lines(queryset: QuerySet[AuditEvent]) -> AsyncIterator[bytes]:
    after: AuditEvent | None = None
    while True:
        rows = await sync_to_async(_batch)(queryset, after)
        for event in rows:
            yield line(event)
        if len(rows) < BATCH:
            return
        after = rows[-1]
