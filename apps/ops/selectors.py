"""Reads for the site-admin dashboard (``/ops/``). Nothing here writes.

Figures come from Postgres (the file-store ledger, documents, chat messages) and from Redis (the
admission controller's counters). A section whose source is missing says so instead of failing
the page: the rate-limit section reports an unreachable Redis.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import redis
from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.chat.limits import tokens_today_by_workspace
from apps.chat.models import Message
from apps.documents.models import Document, Status
from apps.moonshot import filestore
from apps.moonshot.admission import DayCounts, get_controller
from apps.moonshot.client import provider_configured
from apps.moonshot.models import (
    FileStorePolicy,
    FileStoreQuota,
    ReconcileRun,
    RemoteFile,
    RemoteFileState,
    Retention,
)
from apps.workspaces.limits import Meter, day_bounds
from apps.workspaces.models import Workspace

logger = logging.getLogger(__name__)

# The provider's own caps per account (reference moonshot-api §4): the bars are drawn against
# these; the ledger stops a little short of them (settings.MOONSHOT_FILE_SLOTS / _BYTES).
PROVIDER_MAX_FILES = 1000
PROVIDER_MAX_BYTES = 10 * 1024**3
HISTORY_DAYS = 30
WORKSPACE_ROWS = 100
FAILED_ROWS = 200


# --- provider file store ------------------------------------------------------------------------
@dataclass(frozen=True)
class FileStoreFigures:
    """The ledger against the provider's caps, the last reconcile's view of the provider, and
    the retention policy in force."""

    ledger_files: int
    ledger_bytes: int
    uploaded_copies: int
    reserved: int
    cap_files: int
    cap_bytes: int
    policy: FileStorePolicy
    configured: bool
    last_run: ReconcileRun | None
    last_good_run: ReconcileRun | None

    @property
    def meters(self) -> list[Meter]:
        bars = [
            Meter(_("Files in the ledger"), self.ledger_files, PROVIDER_MAX_FILES, "count"),
            Meter(_("Bytes in the ledger"), self.ledger_bytes, PROVIDER_MAX_BYTES, "bytes"),
        ]
        run = self.last_good_run
        if self.configured and run is not None:
            bars += [
                Meter(_("Files at the provider"), run.remote_count, PROVIDER_MAX_FILES, "count"),
                Meter(_("Bytes at the provider"), run.remote_bytes, PROVIDER_MAX_BYTES, "bytes"),
            ]
        return bars

    @property
    def keeps_copies(self) -> bool:
        return self.policy.retention == Retention.KEEP

    @property
    def keep_limit(self) -> tuple[int, int]:
        """How many uploaded copies (files, bytes) the policy allows: none under "delete"."""
        if self.keeps_copies:
            return self.policy.keep_files, self.policy.keep_bytes
        return 0, 0


def current_policy() -> FileStorePolicy:
    """The policy row, created from settings on first read (the one write a read may do: the
    row is a singleton whose defaults live in settings)."""
    return FileStorePolicy.current()


def file_store() -> FileStoreFigures:
    quota = FileStoreQuota.objects.filter(pk=1).first()
    states = dict(
        RemoteFile.objects.filter(state__in=filestore.HOLDING)
        .values_list("state")
        .annotate(n=Count("pk"))
        .order_by()
    )
    runs = ReconcileRun.objects.order_by("-started_at")
    caps = filestore.caps()
    return FileStoreFigures(
        ledger_files=quota.files_used if quota else 0,
        ledger_bytes=quota.bytes_used if quota else 0,
        uploaded_copies=states.get(RemoteFileState.UPLOADED, 0),
        reserved=states.get(RemoteFileState.RESERVED, 0),
        cap_files=caps.files,
        cap_bytes=caps.bytes,
        policy=current_policy(),
        configured=provider_configured(),
        last_run=runs.first(),
        last_good_run=runs.filter(error="", finished_at__isnull=False).first(),
    )


def recent_reconciles(count: int = 5) -> list[ReconcileRun]:
    return list(ReconcileRun.objects.order_by("-started_at", "-pk")[:count])


def kept_orphan_ids() -> list[str]:
    """Ids of the orphans the last finished reconcile reported and did not delete."""
    run = ReconcileRun.objects.filter(finished_at__isnull=False).order_by("-started_at").first()
    orphans = (run.findings or {}).get("orphans", []) if run else []
    return [str(o["id"]) for o in orphans if not o.get("deleted")]


# --- workspaces ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class WorkspaceRow:
    """One workspace's documents, bytes, tokens and chat use today, against its limits."""

    workspace: Workspace
    documents: int
    bytes: int
    tokens: int  # tokens of the extracted text of its ready documents (what chat may send)
    failed: int
    tokens_today: int

    @property
    def meters(self) -> list[Meter]:
        ws = self.workspace
        return [
            Meter(_("Documents"), self.documents, ws.max_documents, "count"),
            Meter(_("Storage"), self.bytes, ws.max_bytes, "bytes"),
            Meter(_("Chat tokens today"), self.tokens_today, ws.max_tokens_per_day, "tokens"),
        ]


def workspace_rows(limit: int = WORKSPACE_ROWS) -> tuple[list[WorkspaceRow], int]:
    """The workspaces storing the most bytes first (at most ``limit``), and how many there are."""
    workspaces = (
        Workspace.objects.annotate(
            n_documents=Count("documents"),
            n_bytes=Coalesce(Sum("documents__size"), 0),
            n_tokens=Coalesce(Sum("documents__text__token_count"), 0),
            n_failed=Count("documents", filter=Q(documents__status=Status.FAILED)),
        )
        .order_by("-n_bytes", "name")
        .only("pk", "name", "slug", "max_documents", "max_bytes", "max_tokens_per_day")
    )
    chosen = list(workspaces[:limit])
    today = tokens_today_by_workspace([w.pk for w in chosen])
    rows = [
        WorkspaceRow(
            workspace=w,
            documents=w.n_documents,
            bytes=w.n_bytes,
            tokens=w.n_tokens,
            failed=w.n_failed,
            tokens_today=today.get(w.pk, 0),
        )
        for w in chosen
    ]
    return rows, Workspace.objects.count()


# --- chat usage ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class UsageRow:
    """Token use and cost of one group (a day, a model or a workspace). ``prompt`` includes the
    cached tokens, as the provider reports them; ``fresh`` is the part billed at full price."""

    label: Any
    messages: int = 0
    prompt: int = 0
    cached: int = 0
    completion: int = 0
    cost: Decimal = Decimal(0)

    @property
    def fresh(self) -> int:
        return max(self.prompt - self.cached, 0)

    @property
    def total(self) -> int:
        return self.prompt + self.completion


@dataclass(frozen=True)
class UsageReport:
    days: int
    by_day: list[UsageRow] = field(default_factory=list)
    by_model: list[UsageRow] = field(default_factory=list)
    by_workspace: list[UsageRow] = field(default_factory=list)
    totals: UsageRow = field(default_factory=lambda: UsageRow(label=""))

    @property
    def busiest_day_tokens(self) -> int:
        return max((row.total for row in self.by_day), default=0)


_SUMS = {
    "messages": Count("pk"),
    "prompt": Coalesce(Sum("prompt_tokens"), 0),
    "cached": Coalesce(Sum("cached_tokens"), 0),
    "completion": Coalesce(Sum("completion_tokens"), 0),
    "cost": Coalesce(Sum("cost_cny"), Decimal(0)),
}


def _usage_row(label: Any, values: dict[str, Any]) -> UsageRow:
    return UsageRow(
        label=label,
        messages=int(values["messages"]),
        prompt=int(values["prompt"]),
        cached=int(values["cached"]),
        completion=int(values["completion"]),
        cost=Decimal(values["cost"]),
    )


def chat_usage(days: int = HISTORY_DAYS) -> UsageReport:
    """Tokens (fresh and cached prompt, completion) and cost per day, model and workspace over
    the last ``days`` days (today included, site time zone). Every day appears, zeros too."""
    today = timezone.localdate()
    first = today - timedelta(days=days - 1)
    start, _end = day_bounds(first)
    rows = Message.objects.filter(created_at__gte=start).exclude(
        prompt_tokens=0, completion_tokens=0
    )
    grouped_days = {
        r["day"]: r
        for r in rows.annotate(day=TruncDate("created_at", tzinfo=timezone.get_current_timezone()))
        .values("day")
        .order_by()
        .annotate(**_SUMS)
    }
    empty = {"messages": 0, "prompt": 0, "cached": 0, "completion": 0, "cost": 0}
    by_day = [
        _usage_row(day, grouped_days.get(day, empty))
        for day in (first + timedelta(days=i) for i in range(days))
    ]
    by_model = [
        _usage_row(r["model"] or "—", r)
        for r in rows.values("model").order_by().annotate(**_SUMS).order_by("-cost", "model")
    ]
    by_workspace = [
        _usage_row(r["workspace__name"], r)
        for r in rows.values("workspace__name")
        .order_by()
        .annotate(**_SUMS)
        .order_by("-cost", "workspace__name")
    ]
    totals = _usage_row(_("All"), rows.aggregate(**_SUMS))
    return UsageReport(
        days=days,
        by_day=by_day,
        by_model=by_model,
        by_workspace=by_workspace,
        totals=totals,
    )


# --- rate limits --------------------------------------------------------------------------------
@dataclass(frozen=True)
class RateLimitReport:
    """The admission controller's state now and its daily waits and 429s, or why it is missing."""

    days: list[DayCounts]
    stats: dict[str, Any] | None
    error: str = ""

    @property
    def busiest(self) -> int:
        return max((max(d.waits, d.rate_limited_total) for d in self.days), default=0)

    @property
    def meters(self) -> list[Meter]:
        """Use of each provider limit right now (the day's tokens against TPD)."""
        if self.stats is None:
            return []
        lim = self.stats["limits"]
        return [
            Meter(_("Requests in flight"), self.stats["holders"], lim["concurrency"], "count"),
            Meter(_("Requests this minute"), self.stats["rpm_used"], lim["rpm"], "count"),
            Meter(_("Tokens this minute"), self.stats["tpm_used"], lim["tpm"], "tokens"),
            Meter(_("Tokens today"), self.stats["tpd_used"], lim["tpd"], "tokens"),
        ]

    @property
    def cooldown_until(self) -> datetime | None:
        until = self.stats and self.stats["cooldown_until"]
        return datetime.fromtimestamp(until, tz=UTC) if until else None

    @property
    def total_waits(self) -> int:
        return sum(d.waits for d in self.days)

    @property
    def total_rate_limited(self) -> int:
        return sum(d.rate_limited_total for d in self.days)


def rate_limits(days: int = HISTORY_DAYS) -> RateLimitReport:
    try:
        controller = get_controller()
        return RateLimitReport(days=controller.history(days), stats=controller.stats())
    except (redis.RedisError, OSError) as exc:
        logger.warning("admission counters unavailable: %s", exc)
        return RateLimitReport(days=[], stats=None, error=str(_("Redis could not be reached.")))


# --- documents ----------------------------------------------------------------------------------
def failed_documents(limit: int = FAILED_ROWS) -> QuerySet[Document]:
    """The most recently failed documents of every workspace, with the reason kept for admins."""
    return (
        Document.objects.filter(status=Status.FAILED)
        .select_related("workspace")
        .only(
            "pk",
            "name",
            "size",
            "extension",
            "status",
            "status_changed_at",
            "failure_code",
            "failure_params",
            "failure_reason",
            "attempts",
            "workspace__name",
            "workspace__slug",
        )
        .order_by("-status_changed_at", "-pk")[:limit]
    )


def failed_count() -> int:
    return Document.objects.filter(status=Status.FAILED).count()


def status_counts() -> list[tuple[str, int]]:
    """Documents per status across the site (label, count), every status present."""
    counts = dict(Document.objects.values_list("status").annotate(n=Count("pk")).order_by())
    return [(str(label), counts.get(value, 0)) for value, label in Status.choices]
