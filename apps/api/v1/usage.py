"""/api/v1/usage: the workspace's chat tokens and cost per day, and its limits today."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, Sum
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Router

from apps.chat.models import Message, Role
from apps.workspaces.limits import day_bounds, usage_today

from ..auth import ApiRequest
from ..errors import ApiError
from .schemas import Error, UsageOut

router = Router(tags=["usage"])
MAX_DAYS = 366


@router.get("", response={200: UsageOut, 422: Error}, summary="Chat tokens per day")
def usage(request: ApiRequest, days: int = 30) -> Any:
    """The last `days` days (today included, site time zone), every day listed, zeros too."""
    if not 1 <= days <= MAX_DAYS:
        raise ApiError(
            422, "invalid_input", _("days must be between 1 and %(n)d.") % {"n": MAX_DAYS}
        )
    workspace = request.workspace
    today = timezone.localdate()
    first = today - timedelta(days=days - 1)
    start, _end = day_bounds(first)
    rows = (
        Message.objects.filter(workspace=workspace, role=Role.ASSISTANT, created_at__gte=start)
        .annotate(day=TruncDate("created_at", tzinfo=timezone.get_current_timezone()))
        .values("day")
        .order_by()
        .annotate(
            messages=Count("id"),
            prompt=Coalesce(Sum("prompt_tokens"), 0),
            cached=Coalesce(Sum("cached_tokens"), 0),
            completion=Coalesce(Sum("completion_tokens"), 0),
            cost=Coalesce(Sum("cost_cny"), Decimal(0)),
        )
    )
    by_day = {r["day"]: r for r in rows}
    now = usage_today(workspace)
    listed = []
    for i in range(days):
        day = first + timedelta(days=i)
        row = by_day.get(day, {})
        listed.append(
            {
                "date": day,
                "messages": row.get("messages", 0),
                "prompt_tokens": row.get("prompt", 0),
                "cached_tokens": row.get("cached", 0),
                "completion_tokens": row.get("completion", 0),
                "cost_cny": str(row.get("cost", Decimal(0))),
            }
        )
    return {
        "workspace": workspace.slug,
        "tokens_today": now.tokens_today,
        "max_tokens_per_day": workspace.max_tokens_per_day,
        "documents": now.documents,
        "bytes": now.bytes,
        "days": listed,
    }
