"""Periodic file-store upkeep. Thin: each task calls one filestore service."""

from __future__ import annotations

from celery import shared_task

from . import filestore
from .client import MoonshotClient, provider_configured
from .models import FileStorePolicy, Retention


@shared_task(name="moonshot.reconcile_files")
def reconcile_files(trigger: str = "schedule") -> None:
    """Match remote files to the ledger (every 15 minutes and after a file-limit error)."""
    if provider_configured():
        filestore.reconcile(MoonshotClient(), trigger=trigger)


@shared_task(name="moonshot.enforce_retention")
def enforce_retention() -> None:
    """Under the "keep" policy, evict least recently used copies above the high-water mark."""
    if not provider_configured():
        return
    policy = FileStorePolicy.current()
    if policy.retention == Retention.KEEP:
        filestore.evict_beyond(MoonshotClient(), policy.keep_files, policy.keep_bytes)
