"""Writes for the site-admin dashboard: reconcile, evict, retry, retention policy, limits.

Views call these after checking that the user is staff. Work at the provider (a reconcile sweep,
evictions) runs in Celery tasks, never inside the request: under the provider's low rate limits
(Tier0: 3 requests a minute) a sweep can take minutes, longer than a web request may live.
Broken rules raise ``OpsError`` with a message for the admin. Each change is recorded in the
audit log with the admin as actor (``request``, when given, says from where): policy and
reconcile/eviction requests as site events, limits in the workspace's own log too.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import timedelta
from functools import partial
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.audit import services as audit
from apps.audit.models import Action
from apps.documents.models import IN_PROGRESS, Document, Status
from apps.documents.services import requeue_as_admin
from apps.moonshot import filestore
from apps.moonshot.client import MoonshotClient, provider_configured
from apps.moonshot.models import (
    FileStorePolicy,
    ReconcileRun,
    RemoteFile,
    RemoteFileState,
    Retention,
)
from apps.workspaces import limits
from apps.workspaces.models import Workspace

RECONCILE_DEBOUNCE_SECONDS = 30
# A run unfinished after this long died with its worker; it no longer blocks a new one.
RECONCILE_RUNNING_MAX = timedelta(minutes=15)


class OpsError(Exception):
    """An admin action cannot run now; ``str(error)`` says why."""


class EvictMode(enum.StrEnum):
    ALL = "all"  # every uploaded copy not in use by an extraction
    POLICY = "policy"  # only what the retention policy does not allow (all under "delete")


def _require_provider() -> None:
    if not provider_configured():
        raise OpsError(
            _("No Moonshot API key is configured, so there are no files at the provider.")
        )


def request_reconcile(
    *, delete_ids: Iterable[str] = (), actor: Any = None, request: HttpRequest | None = None
) -> ReconcileRun:
    """Queue one reconcile sweep (trigger "admin") and return its ReconcileRun, created now so
    the dashboard shows the request at once and then, as the worker fills it in, what the sweep
    found and did. ``delete_ids``: orphans (from an earlier run's findings) the admin chose to
    delete; the sweep deletes them only if no ledger row claims them by then.

    Raises OpsError without a provider key, while a sweep is running, or when a plain sweep
    was requested moments ago (a double click, two admins at once): sweeps must not overlap,
    or both would try to delete the same orphans.
    """
    from apps.moonshot.tasks import reconcile_files

    _require_provider()
    recent = timezone.now() - RECONCILE_RUNNING_MAX
    if ReconcileRun.objects.filter(finished_at__isnull=True, started_at__gte=recent).exists():
        raise OpsError(_("A reconcile is running now; its result will appear below."))
    ids = sorted({str(i) for i in delete_ids if i})
    # A deletion the admin picked from the last run's findings is a deliberate second request.
    debounced = not cache.add("ops:reconcile-requested", 1, timeout=RECONCILE_DEBOUNCE_SECONDS)
    if debounced and not ids:
        raise OpsError(_("A reconcile was requested moments ago; its result will appear below."))
    run = ReconcileRun.objects.create(trigger="admin")
    audit.record(
        Action.RECONCILE_REQUESTED,
        actor=actor,
        target=run,
        target_label=f"reconcile #{run.pk}",
        request=request,
        details={"delete_ids": ids},
    )
    transaction.on_commit(
        partial(reconcile_files.delay, trigger="admin", run_id=run.pk, delete_ids=ids)
    )
    return run


def request_eviction(
    mode: EvictMode, *, actor: Any = None, request: HttpRequest | None = None
) -> None:
    """Queue the deletion of remote copies (see ``evict_remote_copies``)."""
    from .tasks import evict_remote_copies as task

    _require_provider()
    audit.record(
        Action.EVICTION_REQUESTED, actor=actor, request=request, details={"mode": str(mode)}
    )
    transaction.on_commit(partial(task.delay, str(EvictMode(mode))))


def busy_owners() -> set[str]:
    """Ledger owners whose documents are being extracted: their copies must not be deleted."""
    ids = Document.objects.filter(status__in=IN_PROGRESS).values_list("pk", flat=True)
    return {f"document:{pk}" for pk in ids}


def evict_remote_copies(client: MoonshotClient, mode: EvictMode) -> int:
    """Delete uploaded remote copies, least recently used first; returns how many.

    ``ALL`` deletes every copy, ``POLICY`` those beyond the retention policy (every copy under
    "delete", which keeps none). Copies of documents being extracted right now are spared.
    Raises the provider error of a failed delete; what was deleted before it stays deleted and
    the rest is left for a later run.
    """
    keep_files, keep_bytes = 0, 0
    policy = FileStorePolicy.current()
    if mode == EvictMode.POLICY and policy.retention == Retention.KEEP:
        keep_files, keep_bytes = policy.keep_files, policy.keep_bytes
    return filestore.evict_beyond(
        client, keep_files, keep_bytes, spare=busy_owners(), reason=f"admin:{mode}"
    )


def retry_failed_documents(
    document_ids: Iterable[int], *, actor: Any = None, request: HttpRequest | None = None
) -> int:
    """Queue the given FAILED documents (any workspace) again; returns how many were queued."""
    return requeue_as_admin(document_ids, statuses=[Status.FAILED], actor=actor, request=request)


def all_failed_ids() -> list[int]:
    return list(Document.objects.filter(status=Status.FAILED).values_list("pk", flat=True))


@transaction.atomic
def update_policy(
    *,
    retention: str,
    keep_files: int,
    keep_bytes: int,
    actor: Any = None,
    request: HttpRequest | None = None,
) -> FileStorePolicy:
    """Save the retention policy. Lowering the keep marks takes effect at the next retention
    run (every five minutes); it is queued at once when a provider key is configured."""
    from apps.moonshot.tasks import enforce_retention

    caps = filestore.caps()
    if retention not in Retention.values:
        raise OpsError(_("Unknown retention policy."))
    if not 0 <= keep_files <= caps.files or not 0 <= keep_bytes <= caps.bytes:
        raise OpsError(_("The keep marks must stay within the file store's caps."))
    policy = FileStorePolicy.current()
    policy.retention, policy.keep_files, policy.keep_bytes = retention, keep_files, keep_bytes
    filestore.save_policy(policy, actor=actor, request=request)
    if retention == Retention.KEEP and provider_configured():
        transaction.on_commit(enforce_retention.delay)
    return policy


def kept_copies() -> int:
    """Uploaded copies in the ledger (left from the "keep" policy, or not yet deleted)."""
    return RemoteFile.objects.filter(state=RemoteFileState.UPLOADED).count()


def set_workspace_limits(
    workspace: Workspace,
    *,
    max_documents: int | None,
    max_bytes: int | None,
    max_tokens_per_day: int | None,
    actor: Any = None,
    request: HttpRequest | None = None,
) -> Workspace:
    """Set (or clear, with None) a workspace's limits. A limit below current use is allowed: it
    refuses new uploads or chats until use drops below it, and removes nothing."""
    for value in (max_documents, max_bytes, max_tokens_per_day):
        if value is not None and value < 0:
            raise OpsError(_("Limits cannot be negative."))
    before = limits.limits_of(workspace)
    with transaction.atomic():
        workspace.max_documents = max_documents
        workspace.max_bytes = max_bytes
        workspace.max_tokens_per_day = max_tokens_per_day
        workspace.save(update_fields=list(limits.LIMIT_FIELDS))
        limits.record_change(workspace, before, actor=actor, request=request)
    return workspace
