"""/api/v1/ops: the site dashboard's figures for a site admin's scripts (read only).

Open to a key whose creator is an active staff user, whatever its workspace; for any other
key every route here is a 404, as the dashboard is to non-staff (its existence not confirmed).
The figures come from the dashboard's own selectors (apps.ops.selectors).
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from ninja import Router

from apps.ops import selectors

from ..auth import ApiRequest
from ..errors import ApiError, not_found

router = Router(tags=["ops (site admins)"])


def _require_staff(request: ApiRequest) -> None:
    creator = request.api_key.created_by
    if not (creator.is_active and creator.is_staff):
        raise not_found()


def _row(row: selectors.UsageRow) -> dict[str, Any]:
    return {
        "label": str(row.label),
        "messages": row.messages,
        "prompt_tokens": row.prompt,
        "cached_tokens": row.cached,
        "completion_tokens": row.completion,
        "cost_cny": str(row.cost),
    }


@router.get("/usage", summary="Chat tokens and cost per day, model and workspace, site-wide")
def usage(request: ApiRequest, days: int = selectors.HISTORY_DAYS) -> Any:
    _require_staff(request)
    if not 1 <= days <= 366:
        raise ApiError(422, "invalid_input", _("days must be between 1 and %(n)d.") % {"n": 366})
    report = selectors.chat_usage(days)
    return {
        "days": days,
        "by_day": [_row(r) for r in report.by_day],
        "by_model": [_row(r) for r in report.by_model],
        "by_workspace": [_row(r) for r in report.by_workspace],
        "totals": _row(report.totals),
    }


@router.get("/rate-limits", summary="The admission controller now, and its daily waits and 429s")
def rate_limits(request: ApiRequest) -> Any:
    _require_staff(request)
    report = selectors.rate_limits()
    return {
        "stats": report.stats,
        "error": report.error,
        "days": [
            {"day": d.day, "waits": d.waits, "rate_limited": d.rate_limited} for d in report.days
        ],
    }


@router.get("/file-store", summary="The provider file store: ledger, caps, last reconcile")
def file_store(request: ApiRequest) -> Any:
    _require_staff(request)
    store = selectors.file_store()
    return {
        "ledger_files": store.ledger_files,
        "ledger_bytes": store.ledger_bytes,
        "uploaded_copies": store.uploaded_copies,
        "reserved": store.reserved,
        "cap_files": store.cap_files,
        "cap_bytes": store.cap_bytes,
        "configured": store.configured,
    }


@router.get("/documents/failed", summary="Recently failed documents of every workspace")
def failed_documents(request: ApiRequest) -> Any:
    _require_staff(request)
    return {
        "count": selectors.failed_count(),
        "items": [
            {
                "id": d.pk,
                "workspace": d.workspace.slug,
                "name": d.name,
                "attempts": d.attempts,
                "failed_at": d.status_changed_at,
                "failure_message": str(d.failure_message),
            }
            for d in selectors.failed_documents()
        ],
    }
