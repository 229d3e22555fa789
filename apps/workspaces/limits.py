"""Per-workspace limits set by site admins, and the usage they are measured against.

A limit is a nullable field on ``Workspace`` (empty means unlimited): documents and stored bytes
are checked when a file is uploaded (``apps.documents.services.ingest_upload`` calls
``check_upload_allowed``), chat tokens per day before a question goes to the provider (the chat
app calls ``check_chat_allowed``).

Token usage is read from the chat app's ``Message`` rows (prompt + completion tokens of the
workspace's messages created today, in the site's time zone). The model is looked up by name,
never imported, so this module works before the chat app has its models: usage is then zero.
``tokens_today`` is the one seam where that figure comes from; tests without the chat models
patch it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.db.models import Count, F, Sum
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.audit import services as audit
from apps.audit.models import Action

from .models import Workspace

if TYPE_CHECKING:
    from django.utils.functional import Promise

    from apps.chat.models import Message  # for its type only; looked up by name at run time

__all__ = [
    "LIMIT_FIELDS",
    "LimitReached",
    "Meter",
    "Usage",
    "check_chat_allowed",
    "check_upload_allowed",
    "day_bounds",
    "has_upload_limits",
    "limits_of",
    "message_model",
    "record_change",
    "stored_totals",
    "tokens_today",
    "tokens_today_by_workspace",
    "usage_today",
]


LIMIT_FIELDS = ("max_documents", "max_bytes", "max_tokens_per_day")


def limits_of(workspace: Workspace) -> dict[str, int | None]:
    return {name: getattr(workspace, name) for name in LIMIT_FIELDS}


def record_change(
    workspace: Workspace,
    before: dict[str, int | None],
    *,
    actor: Any = None,
    request: HttpRequest | None = None,
) -> None:
    """Record in the workspace's audit log that a site admin changed its limits, from
    ``before`` to what the workspace holds now; nothing when they are the same. Every place
    that sets limits (the ops page, the Django admin) calls this after saving."""
    after = limits_of(workspace)
    if after != before:
        audit.record(
            Action.WORKSPACE_LIMITS_CHANGED,
            actor=actor,
            workspace=workspace,
            target=workspace,
            request=request,
            details={"from": before, "to": after},
        )


class LimitReached(Exception):
    """A workspace limit refuses the action; ``str(error)`` tells the user why (translated)."""


def message_model() -> type[Message] | None:
    """The chat app's ``Message`` model, or None while the chat app has none installed."""
    try:
        return apps.get_model("chat", "Message")
    except LookupError:
        return None


def day_bounds(day: date | None = None) -> tuple[datetime, datetime]:
    """Start and end of a calendar day in the site's time zone (aware datetimes), so a range
    query on ``created_at`` can use its index."""
    day = day or timezone.localdate()
    zone = timezone.get_current_timezone()
    start = timezone.make_aware(datetime.combine(day, time.min), zone)
    end = timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min), zone)
    return start, end


def tokens_today_by_workspace(workspace_ids: Iterable[int] | None = None) -> dict[int, int]:
    """Prompt + completion tokens of today's chat messages, per workspace id (absent = 0)."""
    message = message_model()
    if message is None:
        return {}
    start, end = day_bounds()
    rows = message.objects.filter(created_at__gte=start, created_at__lt=end)
    if workspace_ids is not None:
        rows = rows.filter(workspace_id__in=list(workspace_ids))
    totals = (
        rows.values("workspace_id")
        .order_by()
        .annotate(total=Sum(F("prompt_tokens") + F("completion_tokens")))
    )
    return {row["workspace_id"]: int(row["total"] or 0) for row in totals}


def tokens_today(workspace: Workspace) -> int:
    """Prompt + completion tokens the workspace's chat used today (0 without chat models)."""
    return tokens_today_by_workspace([workspace.pk]).get(workspace.pk, 0)


def stored_totals(workspace: Workspace) -> tuple[int, int]:
    """(documents, bytes) the workspace stores: every document counts, failed ones too, since
    their originals take the same space."""
    document = apps.get_model("documents", "Document")
    totals = document.objects.filter(workspace=workspace).aggregate(
        n=Count("pk"), size=Coalesce(Sum("size"), 0)
    )
    return int(totals["n"]), int(totals["size"])


@dataclass(frozen=True)
class Meter:
    """One figure against its limit, for a bar on a page. ``limit`` None means unlimited."""

    label: Promise | str
    used: int
    limit: int | None
    unit: str  # "count", "bytes" or "tokens": how the template formats the numbers

    @property
    def percent(self) -> int:
        if not self.limit:
            return 0
        return min(100, round(self.used * 100 / self.limit))

    @property
    def level(self) -> str:
        """ "full" at or over the limit, "high" from 80 %, else "ok" (a CSS modifier)."""
        if self.limit is None:
            return "ok"
        if self.used >= self.limit:
            return "full"
        return "high" if self.percent >= 80 else "ok"


@dataclass(frozen=True)
class Usage:
    """What a workspace uses now, beside the limits an admin set for it."""

    documents: int
    bytes: int
    tokens_today: int
    max_documents: int | None
    max_bytes: int | None
    max_tokens_per_day: int | None

    @property
    def has_limits(self) -> bool:
        return any(
            limit is not None
            for limit in (self.max_documents, self.max_bytes, self.max_tokens_per_day)
        )

    @property
    def meters(self) -> list[Meter]:
        return [
            Meter(gettext_lazy("Documents"), self.documents, self.max_documents, "count"),
            Meter(gettext_lazy("Storage"), self.bytes, self.max_bytes, "bytes"),
            Meter(
                gettext_lazy("Chat tokens today"),
                self.tokens_today,
                self.max_tokens_per_day,
                "tokens",
            ),
        ]


def usage_today(workspace: Workspace) -> Usage:
    """Documents, bytes and today's chat tokens of the workspace, with its limits."""
    documents, size = stored_totals(workspace)
    return Usage(
        documents=documents,
        bytes=size,
        tokens_today=tokens_today(workspace),
        max_documents=workspace.max_documents,
        max_bytes=workspace.max_bytes,
        max_tokens_per_day=workspace.max_tokens_per_day,
    )


def has_upload_limits(workspace: Workspace) -> bool:
    return workspace.max_documents is not None or workspace.max_bytes is not None


def check_upload_allowed(workspace: Workspace, *, name: str, size: int) -> None:
    """Raise LimitReached when one more file of ``size`` bytes would break the workspace's
    document or storage limit. The message names the file, so a batch upload says which files
    were refused.

    Called twice by the upload service: before the file is stored (cheap refusal) and again with
    the workspace row locked, so two concurrent uploads cannot both take the last place.
    """
    if not has_upload_limits(workspace):
        return
    documents, used = stored_totals(workspace)
    if workspace.max_documents is not None and documents + 1 > workspace.max_documents:
        raise LimitReached(
            _(
                "%(name)s was not uploaded: this workspace has reached its limit of "
                "%(limit)s documents."
            )
            % {"name": name, "limit": workspace.max_documents}
        )
    if workspace.max_bytes is not None and used + size > workspace.max_bytes:
        raise LimitReached(
            _(
                "%(name)s was not uploaded: at %(size)s it would take this workspace over its "
                "storage limit of %(limit)s (%(used)s used)."
            )
            % {
                "name": name,
                "size": filesizeformat(size),
                "limit": filesizeformat(workspace.max_bytes),
                "used": filesizeformat(used),
            }
        )


def check_chat_allowed(workspace: Workspace) -> None:
    """Raise LimitReached when the workspace's chat tokens today reached its daily limit.

    The chat app calls this before it sends a question to the provider. The check is on what
    was already used, so the question that crosses the limit is answered and the next one is
    refused: an answer is never cut off half-way.
    """
    limit = workspace.max_tokens_per_day
    if limit is None:
        return
    used = tokens_today(workspace)
    if used >= limit:
        raise LimitReached(
            _(
                "This workspace has used its %(limit)s chat tokens for today (%(used)s used). "
                "Chat works again tomorrow, or ask a site administrator to raise the limit."
            )
            % {"limit": f"{limit:,}", "used": f"{used:,}"}
        )
