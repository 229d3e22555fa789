"""Per-workspace limits set by site admins, and the usage page figures they are measured against.

A limit is a nullable field on ``Workspace`` (empty means unlimited). The checks live next to
their callers: documents and stored bytes in ``apps.documents.limits`` (at upload), chat tokens
per day in ``apps.chat.limits`` (before a question goes to the provider). This module holds what
they share -- the refusal, the site's day and the meters a page draws -- and knows neither app:
each one hands its reader to ``provide_usage`` in its ``AppConfig.ready``, so the arrows point
from documents and chat down into workspaces, never back up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, NoReturn

from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy

from apps.audit import services as audit
from apps.audit.models import Action

from .models import Workspace

if TYPE_CHECKING:
    from django.utils.functional import Promise

__all__ = [
    "LIMIT_FIELDS",
    "LimitReached",
    "Meter",
    "Usage",
    "day_bounds",
    "limits_of",
    "provide_usage",
    "record_change",
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


def day_bounds(day: date | None = None) -> tuple[datetime, datetime]:
    """Start and end of a calendar day in the site's time zone (aware datetimes), so a range
    query on ``created_at`` can use its index."""
    day = day or timezone.localdate()
    zone = timezone.get_current_timezone()
    start = timezone.make_aware(datetime.combine(day, time.min), zone)
    end = timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min), zone)
    return start, end


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


StoredTotals = Callable[[Workspace], tuple[int, int]]
TokensToday = Callable[[Workspace], int]


def _unregistered(workspace: Workspace) -> NoReturn:
    raise LookupError("a usage reader was not registered: is its app in INSTALLED_APPS?")


@dataclass
class _Readers:
    stored_totals: StoredTotals = _unregistered
    tokens_today: TokensToday = _unregistered


_readers = _Readers()


def provide_usage(
    *, stored_totals: StoredTotals | None = None, tokens_today: TokensToday | None = None
) -> None:
    """Register the reader of a usage figure; called once by the app that owns the figure."""
    if stored_totals is not None:
        _readers.stored_totals = stored_totals
    if tokens_today is not None:
        _readers.tokens_today = tokens_today


def usage_today(workspace: Workspace) -> Usage:
    """Documents, bytes and today's chat tokens of the workspace, with its limits.

    Raises LookupError if an owning app has not registered its reader: a wrong zero on a
    limits page would be worse than an error.
    """
    documents, size = _readers.stored_totals(workspace)
    return Usage(
        documents=documents,
        bytes=size,
        tokens_today=_readers.tokens_today(workspace),
        max_documents=workspace.max_documents,
        max_bytes=workspace.max_bytes,
        max_tokens_per_day=workspace.max_tokens_per_day,
    )
