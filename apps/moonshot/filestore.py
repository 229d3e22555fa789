"""Services for the provider's file store: reserve, confirm, release, evict (reconcile is in
``reconcile.py``).

Invariants (design.md #2): a slot is reserved atomically before any upload; a slot is released
exactly once, when the remote copy is confirmed gone (or never existed); a copy that must go
but could not be deleted stays held and queued (``request_release`` / ``release_due``, with
backoff), so the ledger never forgets a file the provider holds; remote files are named
`docqa-<uuid><ext>` so a reconcile sweep maps every remote file back to its ledger row.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone

from apps.audit import services as audit
from apps.audit.models import Action

from .client import MoonshotClient
from .errors import MoonshotError
from .models import FileStorePolicy, FileStoreQuota, RemoteFile, RemoteFileState

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
    """The slot this owner already holds (a re-run after a crash picks up where it stopped).
    A slot queued for release is not offered: it is on its way out."""
    return (
        RemoteFile.objects.filter(owner=owner, state__in=HOLDING, release_requested_at__isnull=True)
        .order_by("reserved_at")
        .first()
    )


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


def mark_uploaded(slot: RemoteFile, remote_id: str) -> bool:
    """Record the remote id in its own transaction, the moment the upload returns.

    Returns False when the slot was released while the upload travelled (its document was
    deleted): the row is then held again with the id and queued for release, so the ledger
    never forgets a file the provider holds. The caller must stop and discard the copy.
    """
    now = timezone.now()
    with transaction.atomic():
        adopted = RemoteFile.objects.filter(pk=slot.pk, state=RemoteFileState.RESERVED).update(
            remote_id=remote_id, state=RemoteFileState.UPLOADED, uploaded_at=now, last_used_at=now
        )
        if not adopted:
            held_again = RemoteFile.objects.filter(
                pk=slot.pk, state=RemoteFileState.DELETED, remote_id=""
            ).update(
                remote_id=remote_id,
                state=RemoteFileState.UPLOADED,
                uploaded_at=now,
                deleted_at=None,
                release_requested_at=now,
                next_release_at=now,
                note="uploaded after its slot was released",
            )
            if held_again:
                FileStoreQuota.objects.filter(pk=1).update(
                    files_used=F("files_used") + 1, bytes_used=F("bytes_used") + slot.size
                )
    slot.remote_id, slot.state, slot.uploaded_at = remote_id, RemoteFileState.UPLOADED, now
    return bool(adopted)


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

    A 404 counts as deleted. Raises the provider error when the delete fails, keeping the slot
    held; callers that cannot wait use ``discard`` instead, which queues a retry.
    """
    if slot.remote_id and not _shared(slot):
        client.delete_file(slot.remote_id)
    release(slot, note=note)


def _shared(slot: RemoteFile) -> bool:
    """Another held row names the same remote file: it still needs the copy."""
    return (
        RemoteFile.objects.filter(remote_id=slot.remote_id, state__in=HOLDING)
        .exclude(pk=slot.pk)
        .exclude(release_requested_at__isnull=False)
        .exists()
    )


# --- the release queue: copies that must go, retried with backoff until the provider agrees ---
RELEASE_BACKOFF_BASE = 5.0  # seconds; doubled per failed attempt
RELEASE_BACKOFF_CAP = 3600.0


def request_release(*, owner: str | None = None, slot: RemoteFile | None = None) -> int:
    """Queue the held copies of ``owner`` (or one ``slot``) for deletion at the provider.

    Only marks rows (one UPDATE, safe inside the caller's transaction); ``release_due`` does
    the provider calls. Returns how many rows were newly queued.
    """
    rows = RemoteFile.objects.filter(state__in=HOLDING, release_requested_at__isnull=True)
    if slot is not None:
        rows = rows.filter(pk=slot.pk)
    elif owner is not None:
        rows = rows.filter(owner=owner)
    else:
        raise ValueError("request_release needs an owner or a slot")
    now = timezone.now()
    return rows.update(release_requested_at=now, next_release_at=now)


def discard(slot: RemoteFile, client: MoonshotClient, note: str) -> bool:
    """Delete the copy now if the provider answers, else queue it for a retry. True if gone."""
    try:
        delete_remote(slot, client, note=note)
    except MoonshotError as error:
        logger.warning("could not delete remote copy %s: %s", slot.remote_name, error)
        request_release(slot=slot)
        _note_failure(slot.pk, error)
        return False
    return True


def pending_releases() -> int:
    return RemoteFile.objects.filter(state__in=HOLDING, release_requested_at__isnull=False).count()


def next_release_in() -> float | None:
    """Seconds until the earliest queued release is due (0 when overdue), None when none."""
    due = (
        RemoteFile.objects.filter(state__in=HOLDING, release_requested_at__isnull=False)
        .order_by("next_release_at")
        .values_list("next_release_at", flat=True)
        .first()
    )
    if due is None:
        return None
    return max((due - timezone.now()).total_seconds(), 0.0)


def _note_failure(pk: int, error: Exception) -> None:
    row = RemoteFile.objects.filter(pk=pk).values_list("release_attempts", flat=True).first()
    attempts = (row or 0) + 1
    wait = min(RELEASE_BACKOFF_CAP, RELEASE_BACKOFF_BASE * 2 ** (attempts - 1))
    RemoteFile.objects.filter(pk=pk).update(
        release_attempts=attempts,
        next_release_at=timezone.now() + timedelta(seconds=wait),
        last_error=str(error)[:255],
    )


def release_due(client: MoonshotClient, *, limit: int = 200) -> int:
    """Delete the queued copies that are due; returns how many were released.

    A copy whose id was never saved (killed after the upload) is looked up by its unique name
    in the provider's list; not found, it is released once it is older than the reconcile grace
    (an upload still in flight re-holds its row, see ``mark_uploaded``). A failure reschedules
    the row with exponential backoff and stops the batch: the provider is probably down.
    """
    now = timezone.now()
    due = list(
        RemoteFile.objects.filter(
            state__in=HOLDING, release_requested_at__isnull=False, next_release_at__lte=now
        ).order_by("next_release_at")[:limit]
    )
    listed: dict[str, str] | None = None
    grace = timedelta(seconds=settings.MOONSHOT_RECONCILE_GRACE_SECONDS)
    released = 0
    for slot in due:
        try:
            if not slot.remote_id:
                if listed is None:
                    listed = {f.filename: f.id for f in client.list_files()}
                remote_id = listed.get(slot.remote_name, "")
                if remote_id:
                    slot.remote_id = remote_id
                    RemoteFile.objects.filter(pk=slot.pk).update(remote_id=remote_id)
                elif slot.reserved_at > now - grace:
                    _note_failure(slot.pk, RuntimeError("upload not at the provider (yet)"))
                    continue
            delete_remote(slot, client, note="released: no longer needed")
            released += 1
        except MoonshotError as error:
            logger.warning("release of %s failed, retried later: %s", slot.remote_name, error)
            _note_failure(slot.pk, error)
            break
    return released


POLICY_FIELDS = ("retention", "keep_files", "keep_bytes")


def save_policy(policy: FileStorePolicy, *, actor: Any = None, request: Any = None) -> None:
    """Save the retention policy row and, when it changed, record who changed it from what to
    what (a site event); the dashboard and the Django admin both save through here."""
    with transaction.atomic():
        before = FileStorePolicy.objects.filter(pk=policy.pk).values(*POLICY_FIELDS).first()
        policy.save()
        after = {name: getattr(policy, name) for name in POLICY_FIELDS}
        if before != after:
            audit.record(
                Action.POLICY_CHANGED,
                actor=actor,
                request=request,
                details={"from": before, "to": after},
            )


EVICTED_NAMES_KEPT = 50  # remote names listed in one audit event; the count is always exact


def evict_beyond(
    client: MoonshotClient,
    keep_files: int,
    keep_bytes: int,
    *,
    spare: Collection[str] = (),
    reason: str = "policy",
) -> int:
    """Delete least recently used uploaded copies until at most keep_files/keep_bytes remain.

    Copies whose owner is in ``spare`` (e.g. documents being extracted right now) are never
    deleted, though they count towards what remains. A run that evicted anything is one
    site-level audit event, with ``reason`` ("cap": room for a new upload, "policy": the
    retention policy, "admin:<mode>": the dashboard), also when a provider error stops it.
    """
    evicted: list[RemoteFile] = []
    try:
        return _evict(client, keep_files, keep_bytes, spare, evicted)
    finally:
        if evicted:
            audit.record(
                Action.EVICTED,
                details={
                    "reason": reason,
                    "evicted": len(evicted),
                    "remote_names": [s.remote_name for s in evicted[:EVICTED_NAMES_KEPT]],
                    "owners": [s.owner for s in evicted[:EVICTED_NAMES_KEPT]],
                    "keep_files": keep_files,
                    "keep_bytes": keep_bytes,
                },
            )


def _evict(
    client: MoonshotClient,
    keep_files: int,
    keep_bytes: int,
    spare: Collection[str],
    evicted: list[RemoteFile],
) -> int:
    uploaded = RemoteFile.objects.filter(state=RemoteFileState.UPLOADED)
    count = uploaded.count()
    total = uploaded.aggregate(total=Sum("size"))["total"] or 0
    candidates = uploaded.exclude(owner__in=list(spare)).filter(release_requested_at__isnull=True)
    for slot in candidates.order_by("last_used_at"):
        if count <= keep_files and total <= keep_bytes:
            break
        delete_remote(slot, client, note="evicted (least recently used)")
        evicted.append(slot)
        count, total = count - 1, total - slot.size
    return len(evicted)


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
