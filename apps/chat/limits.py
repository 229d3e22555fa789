"""The workspace daily chat-token limit, and the usage it is measured against.

Usage is the prompt + completion tokens of the workspace's messages created today, in the site's
time zone. The check runs before a question goes to the provider, on what was already used, so
the question that crosses the limit is answered and the next one is refused: an answer is never
cut off half-way.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import F, Sum
from django.utils.translation import gettext as _

from apps.workspaces.limits import LimitReached, day_bounds
from apps.workspaces.models import Workspace

from .models import Message


def tokens_today_by_workspace(workspace_ids: Iterable[int] | None = None) -> dict[int, int]:
    """Prompt + completion tokens of today's chat messages, per workspace id (absent = 0)."""
    start, end = day_bounds()
    rows = Message.objects.filter(created_at__gte=start, created_at__lt=end)
    if workspace_ids is not None:
        rows = rows.filter(workspace_id__in=list(workspace_ids))
    totals = (
        rows.values("workspace_id")
        .order_by()
        .annotate(total=Sum(F("prompt_tokens") + F("completion_tokens")))
    )
    return {row["workspace_id"]: int(row["total"] or 0) for row in totals}


def tokens_today(workspace: Workspace) -> int:
    """Prompt + completion tokens the workspace's chat used today."""
    return tokens_today_by_workspace([workspace.pk]).get(workspace.pk, 0)


def check_chat_allowed(workspace: Workspace) -> None:
    """Raise LimitReached when the workspace's chat tokens today reached its daily limit."""
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
