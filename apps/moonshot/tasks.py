"""Periodic file-store upkeep. Thin: each task calls one filestore service."""

from __future__ import annotations

from celery import shared_task
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from . import filestore, reconcile
from .client import MoonshotClient, provider_configured
from .models import FileStorePolicy, ReconcileRun, Retention


@shared_task(name="moonshot.reconcile_files")
def reconcile_files(
    trigger: str = "schedule", run_id: int | None = None, delete_ids: list[str] | None = None
) -> None:
    """Match remote files to the ledger (every 15 minutes, after a file-limit error, and when
    an admin asks: then ``run_id`` is the row the dashboard already shows)."""
    if not provider_configured():
        if run_id is not None:  # an admin's run: the dashboard shows why it did nothing
            ReconcileRun.objects.filter(pk=run_id, finished_at__isnull=True).update(
                finished_at=timezone.now(), error="No Moonshot API key is configured."
            )
        return
    run = ReconcileRun.objects.filter(pk=run_id).first() if run_id else None
    reconcile.reconcile(
        MoonshotClient(), trigger=trigger, run=run, delete_ids=tuple(delete_ids or ())
    )


@shared_task(name="moonshot.release_files")
def release_files() -> None:
    """Delete remote copies queued for release (a deleted document's, a failed delete's);
    schedules itself again while some wait for their backoff (beat runs it every minute too)."""
    if not provider_configured():
        return
    filestore.release_due(MoonshotClient())
    wait = filestore.next_release_in()
    if wait is not None and cache.add("moonshot:release-scheduled", 1, timeout=max(wait, 1)):
        release_files.apply_async(countdown=max(wait, 1))


def schedule_release() -> None:
    """Run ``release_files`` once the current transaction commits."""
    transaction.on_commit(release_files.delay)


@shared_task(name="moonshot.enforce_retention")
def enforce_retention() -> None:
    """Under the "keep" policy, evict least recently used copies above the high-water mark."""
    if not provider_configured():
        return
    policy = FileStorePolicy.current()
    if policy.retention == Retention.KEEP:
        filestore.evict_beyond(MoonshotClient(), policy.keep_files, policy.keep_bytes)
