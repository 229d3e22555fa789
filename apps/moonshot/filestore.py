"""Services for the provider's file store: reserve, confirm, release, evict and reconcile.

Invariants (design.md #2): a slot is reserved atomically before any upload; a slot is released
exactly once, when the remote copy is confirmed gone (or never existed); remote files are named
`docqa-<uuid><ext>` so a reconcile sweep maps every remote file back to its ledger row, deletes
orphans (crashes, other tools on the same key) and repairs rows whose remote file vanished.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone

from .client import MoonshotClient
from .models import FileStoreQuota, ReconcileRun, RemoteFile, RemoteFileState

logger = logging.getLogger(__name__)
REMOTE_PREFIX = "docqa-"
HOLDING = (RemoteFileState.RESERVED, RemoteFileState.UPLOADED)


@dataclass(frozen=True)
class Caps:
    files: int
    bytes: int


def caps() -> Caps:
    """The ledger's caps: the provider's, minus headroom for in-flight uploads and orphans."""
    return Caps(files=settings.MOONSHOT_FILE_SLOTS, bytes=settings.MOONSHOT_FILE_BYTES)


def _quota_row() -> None:
    FileStoreQuota.objects.get_or_create(pk=1)


def remote_name_for(original_name: str) -> str:
    ext = os.path.splitext(original_name)[1].lower()[:16]
    return f"{REMOTE_PREFIX}{uuid.uuid4().hex}{ext}"


def current_slot(owner: str) -> RemoteFile | None:
    """The slot this owner already holds (a re-run after a crash picks up where it stopped)."""
    return RemoteFile.objects.filter(owner=owner, state__in=HOLDING).order_by("reserved_at").first()


def reserve(owner: str, size: int, original_name: str) -> RemoteFile | None:
    """Take one file slot and `size` bytes, or return None when the store is full.

    One conditional UPDATE: under READ COMMITTED a concurrent UPDATE of the same row waits and
    then re-evaluates the WHERE clause, so two workers can never both take the last slot.
    """
    existing = current_slot(owner)
    if existing is not None:
        return existing
    _quota_row()
    limit = caps()
    with transaction.atomic():
        taken = FileStoreQuota.objects.filter(
            pk=1, files_used__lte=limit.files - 1, bytes_used__lte=limit.bytes - size
        ).update(files_used=F("files_used") + 1, bytes_used=F("bytes_used") + size)
        if not taken:
            return None
        return RemoteFile.objects.create(
            owner=owner, remote_name=remote_name_for(original_name), size=size
        )


def mark_uploaded(slot: RemoteFile, remote_id: str) -> None:
    """Record the remote id in its own transaction, the moment the upload returns."""
    now = timezone.now()
    RemoteFile.objects.filter(pk=slot.pk).update(
        remote_id=remote_id, state=RemoteFileState.UPLOADED, uploaded_at=now, last_used_at=now
    )
    slot.remote_id, slot.state, slot.uploaded_at = remote_id, RemoteFileState.UPLOADED, now


def touch(slot: RemoteFile) -> None:
    RemoteFile.objects.filter(pk=slot.pk).update(last_used_at=timezone.now())


def release(slot: RemoteFile, note: str = "") -> bool:
    """Give the slot back, exactly once; False when it was already released."""
    with transaction.atomic():
        changed = RemoteFile.objects.filter(pk=slot.pk, state__in=HOLDING).update(
            state=RemoteFileState.DELETED, deleted_at=timezone.now(), note=note[:255]
        )
        if changed:
            FileStoreQuota.objects.filter(pk=1).update(
                files_used=F("files_used") - 1, bytes_used=F("bytes_used") - slot.size
            )
    slot.state = RemoteFileState.DELETED
    return bool(changed)


def delete_remote(slot: RemoteFile, client: MoonshotClient, note: str = "deleted") -> None:
    """Delete the remote copy (if it was ever uploaded) and release the slot.

    Raises the provider error when the delete fails, keeping the slot held: a later sweep
    retries, so a flaky delete never leaves an untracked file behind.
    """
    if slot.remote_id:
        client.delete_file(slot.remote_id)
    release(slot, note=note)


def evict_beyond(
    client: MoonshotClient, keep_files: int, keep_bytes: int, *, spare: Collection[str] = ()
) -> int:
    """Delete least recently used uploaded copies until at most keep_files/keep_bytes remain.

    Copies whose owner is in ``spare`` (e.g. documents being extracted right now) are never
    deleted, though they count towards what remains.
    """
    evicted = 0
    uploaded = RemoteFile.objects.filter(state=RemoteFileState.UPLOADED)
    count = uploaded.count()
    total = uploaded.aggregate(total=Sum("size"))["total"] or 0
    for slot in uploaded.exclude(owner__in=list(spare)).order_by("last_used_at"):
        if count <= keep_files and total <= keep_bytes:
            break
        delete_remote(slot, client, note="evicted (least recently used)")
        count, total, evicted = count - 1, total - slot.size, evicted + 1
    return evicted


def recount() -> FileStoreQuota:
    """Recompute the quota row from the ledger (the ledger is the truth).

    The quota row is locked first. A reservation increments the row and inserts its ledger row
    in one transaction under that lock, so once we hold it every committed reservation is
    counted; a release marks its row and then decrements under the lock, so one still in flight
    is counted as holding now and subtracts itself afterwards. Without the lock a reservation
    between the count and the write would be lost, and the cap overrun by one.
    """
    _quota_row()
    with transaction.atomic():
        FileStoreQuota.objects.select_for_update().get(pk=1)
        holding = RemoteFile.objects.filter(state__in=HOLDING)
        files = holding.count()
        size = holding.aggregate(total=Sum("size"))["total"] or 0
        FileStoreQuota.objects.filter(pk=1).update(files_used=files, bytes_used=size)
    return FileStoreQuota.objects.get(pk=1)


def reconcile(client: MoonshotClient, *, trigger: str = "schedule") -> ReconcileRun:
    """Match the provider's full file list against the ledger and repair both sides.

    - a remote file no slot knows (or whose slot is released), older than the grace period:
      an orphan, deleted;
    - an UPLOADED slot whose remote file is gone: released ("vanished");
    - a RESERVED slot whose upload did reach the provider (crash before the id was saved):
      adopted as UPLOADED; a RESERVED slot older than the grace period with no remote file:
      released.
    The grace period keeps the sweep away from uploads in flight.
    """
    run = ReconcileRun.objects.create(trigger=trigger)
    grace = timedelta(seconds=settings.MOONSHOT_RECONCILE_GRACE_SECONDS)
    now = timezone.now()
    try:
        remote = client.list_files()
        run.remote_count = len(remote)
        run.remote_bytes = sum(f.bytes for f in remote)
        slots = {s.remote_name: s for s in RemoteFile.objects.filter(state__in=HOLDING)}
        by_id = {s.remote_id: s for s in slots.values() if s.remote_id}
        seen: set[int] = set()
        for item in remote:
            slot = by_id.get(item.id) or slots.get(item.filename)
            if slot is not None:
                seen.add(slot.pk)
                if slot.state == RemoteFileState.RESERVED:
                    mark_uploaded(slot, item.id)
                continue
            age = now.timestamp() - item.created_at
            if age >= grace.total_seconds():
                client.delete_file(item.id)
                run.orphans_deleted += 1
        for slot in slots.values():
            if slot.pk in seen:
                continue
            if slot.state == RemoteFileState.UPLOADED:
                release(slot, note="vanished from the provider")
                run.vanished_repaired += 1
            elif slot.reserved_at <= now - grace:
                release(slot, note="reservation never reached the provider")
                run.reservations_released += 1
        recount()
    except Exception as exc:
        run.error = str(exc)[:2000]
        logger.exception("Reconcile failed")
        raise
    finally:
        run.finished_at = timezone.now()
        run.save()
    return run
